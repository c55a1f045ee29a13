/* The front door: accepts connections on the listening socket, waits until each one's first
 * request header has arrived, and hands it to one of two libmicrohttpd daemons. A connection that
 * opens with "PUT " (an upload to a presigned URL) goes to the upload daemon, whose connections
 * have a large read buffer; everything else goes to the main daemon, whose small pool keeps short
 * requests cheap. Why two: libmicrohttpd 0.9.75 reads a body through the connection's memory pool
 * and zeroes the whole pool before every request on a kept-alive connection, so no single pool
 * size is right for both 100 MB uploads and 25 us presigns (bench/serve).
 *
 * It also keeps what libmicrohttpd 0.9.75 cannot be trusted with:
 *  - Connection limits, in total and per address, across both daemons. A connection counts from
 *    accept until its daemon reports it closed, with no gap at the hand-over, so the daemons never
 *    hold more than the front admitted; they are started with limits they cannot reach, because
 *    0.9.75 deadlocks a worker thread that reaches its own (new_connection_process_ returns with
 *    cleanup_connection_mutex locked).
 *  - One deadline for a whole request header (FITSFLOW_HEADER_TIMEOUT, nginx's
 *    client_header_timeout): for the first request here, by peeking until the header is in; for
 *    later requests on a kept-alive connection, by following each connection from the daemons'
 *    notifications (ff_front_request_in / ff_front_request_done) and shutting down one whose next
 *    header has not come within the deadline since its previous request ended.
 *  - Strict framing of the first request (ff_http_head_scan), before the daemon parses it: 0.9.75
 *    answers a malformed Content-Length itself, with its header block twice.
 *  - Lingering close (nginx's lingering_close): a connection answered before its request body was
 *    read (a refused upload) is not closed under the client, which would then see a reset instead
 *    of the answer; its descriptor is duplicated when the daemon reports it closed, and the rest of
 *    the body is read and dropped here, for a bounded time and size, before the close.
 *  - When every connection is taken, a new one evicts the connection that has waited longest for
 *    a request header (or is lingering), so that slow or idle clients cannot starve the others.
 */
#include "server/http/httpd_impl.h"
#include "server/http/protocol.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "server/http/conncount.h"

#define EV_LISTEN 0
#define EV_STOP 1
#define EV_CONN (1ull << 63) /* | generation << 32 | slot */

#define LINGER_SECONDS 30.0 /* a lingering connection is closed this long after its answer, */
#define LINGER_IDLE 5.0     /* or after this long without a byte, */
#define LINGER_MAX_BYTES ((uint64_t)1 << 30) /* or after this many bytes */
#define PEEK_MAX (64 * 1024)

enum { C_FREE, C_FRONT, C_HANDED, C_LIVE, C_LINGER };

/* One connection. FRONT and LINGER connections belong to the front thread (their fd is ours and
 * in its epoll set); HANDED and LIVE ones to a daemon (the fd is the daemon's). State changes and
 * the fields the daemons' threads touch are under ff_front.lock. */
typedef struct conn {
    int state;
    int fd;
    uint32_t gen; /* tells a stale epoll event from a reused slot */
    int next_free;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    socklen_t addrlen;
    double since;     /* FRONT: accepted; LIVE: waiting for a request header since; LINGER: closed */
    double last;      /* FRONT, LINGER: last bytes seen */
    uint64_t drained; /* LINGER: bytes read and dropped */
    unsigned char waiting; /* LIVE: between requests, or inside a request's header or small body */
    unsigned char shut;    /* LIVE: shut down here (deadline or eviction), not yet reported closed */
    unsigned char linger;  /* LIVE: answered before its body was read: linger at close */
    unsigned char upload;  /* HANDED, LIVE: served by the upload daemon */
    unsigned char scans;   /* FRONT: times its bytes were peeked at (saturates) */
    unsigned char dirty;   /* FRONT: bytes came that were not looked at yet (see first_bytes) */
    uint32_t seen;         /* FRONT: bytes there at the last look */
} conn;

struct ff_front_side {
    ff_front *f;
    int upload;
};

struct ff_front {
    const ff_server_config *cfg;
    ff_conncount *counts;
    struct ff_front_side main_side, upload_side;
    struct MHD_Daemon *main_d, *upload_d;
    size_t upload_max;
    int listen_fd, epfd, stopfd;
    int listening; /* the listening socket is in the epoll set */
    double listen_resume;
    pthread_mutex_t lock;
    conn *slots;
    size_t nslots;
    int free_head;
    int32_t *slot_of_fd; /* descriptor -> slot, while handed to a daemon and not yet started */
    size_t fd_cap;
    size_t shutting; /* LIVE connections shut down and not yet reported closed */
    int stopping;    /* no more lingering: the front thread is stopping */
    int any_dirty;   /* some FRONT connection has bytes not looked at yet */
    char *buf;       /* the front thread's peek and drain buffer */
    size_t peek_cap;
    double last_refusal_log, last_bad_log;
    atomic_ulong refused, header_timeouts, evicted, bad_requests;
    atomic_size_t uploads_open;
    pthread_t thread;
    int started;
};

static uint64_t conn_tag(const ff_front *f, int i)
{
    return EV_CONN | ((uint64_t)(f->slots[i].gen & 0x7fffffffu) << 32) | (uint32_t)i;
}

/* Called with the lock held. */
static int slot_alloc(ff_front *f)
{
    int i = f->free_head;
    if (i < 0)
        return -1;
    f->free_head = f->slots[i].next_free;
    f->slots[i].gen++;
    return i;
}

static void slot_free(ff_front *f, int i)
{
    conn *c = &f->slots[i];
    c->state = C_FREE;
    c->fd = -1;
    c->gen++;
    c->next_free = f->free_head;
    f->free_head = i;
}

/* Closes a FRONT or LINGER connection and releases its count; the lock is held. Bytes peeked at
 * and not read would make the close a reset: what is there is read first (a client that sent
 * part of a header then sees the connection end, not an error). */
static void end_conn(ff_front *f, int i)
{
    conn *c = &f->slots[i];
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->state == C_FRONT) {
        char sink[4096];
        for (int k = 0; k < 64 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++) {
        }
    }
    close(c->fd);
    ff_conncount_release(f->counts, &c->addr);
    slot_free(f, i);
}

ff_front *ff_front_new(const ff_server_config *cfg, ff_err *err)
{
    ff_front *f = calloc(1, sizeof *f);
    if (!f) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    f->cfg = cfg;
    f->listen_fd = f->epfd = f->stopfd = -1;
    f->main_side.f = f->upload_side.f = f;
    f->upload_side.upload = 1;
    f->upload_max = cfg->upload_connections;
    pthread_mutex_init(&f->lock, NULL);
    /* Counted at once: at most max_connections admitted plus as many shut down and on their way
     * out (those no longer count for admission). */
    f->nslots = (size_t)cfg->max_connections * 2 + 16;
    f->counts = ff_conncount_new(f->nslots + 48);
    f->slots = calloc(f->nslots, sizeof(conn));
    struct rlimit rl;
    f->fd_cap = (size_t)1 << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < f->fd_cap)
        f->fd_cap = rl.rlim_cur;
    f->slot_of_fd = malloc(f->fd_cap * sizeof(int32_t));
    f->peek_cap = (size_t)cfg->max_header_bytes + 4096;
    if (f->peek_cap > PEEK_MAX)
        f->peek_cap = PEEK_MAX;
    f->buf = malloc(PEEK_MAX);
    if (!f->counts || !f->slots || !f->slot_of_fd || !f->buf) {
        ff_front_free(f);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < f->fd_cap; i++)
        f->slot_of_fd[i] = -1;
    for (size_t i = 0; i < f->nslots; i++) {
        f->slots[i].fd = -1;
        f->slots[i].next_free = i + 1 < f->nslots ? (int)(i + 1) : -1;
    }
    f->free_head = 0;
    return f;
}

void *ff_front_notify_cls(ff_front *f, int upload)
{
    return upload ? &f->upload_side : &f->main_side;
}

static void start_lingering(ff_front *f, int i, int fd, double now)
{
    conn *c = &f->slots[i];
    c->state = C_LINGER;
    c->fd = fd;
    c->since = c->last = now;
    c->drained = 0;
    c->gen++;
    shutdown(fd, SHUT_WR); /* the answer is out: the client sees its end */
    /* Level-triggered: a drain may stop before the socket is empty and be called again. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = conn_tag(f, i)};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        end_conn(f, i);
}

void ff_front_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    struct ff_front_side *side = cls;
    ff_front *f = side->f;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        conn *c = NULL;
        pthread_mutex_lock(&f->lock);
        if (fd >= 0 && (size_t)fd < f->fd_cap && f->slot_of_fd[fd] >= 0) {
            c = &f->slots[f->slot_of_fd[fd]];
            f->slot_of_fd[fd] = -1;
            c->state = C_LIVE;
        }
        pthread_mutex_unlock(&f->lock);
        if (c && side->upload)
            atomic_fetch_add(&f->uploads_open, 1);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn *c = *socket_context;
        *socket_context = NULL;
        if (!c)
            return;
        if (side->upload)
            atomic_fetch_sub(&f->uploads_open, 1);
        int i = (int)(c - f->slots);
        pthread_mutex_lock(&f->lock);
        if (c->shut)
            f->shutting--;
        /* The daemon closes the descriptor after this returns. When the client may still be
         * sending (we answered before its body was read, or bytes are waiting), closing would
         * reset the connection and the client could lose our answer: linger instead. */
        int unread = 0, dup_fd = -1;
        if (!f->stopping && !c->shut &&
            (c->linger || (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0)))
            dup_fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
        if (dup_fd >= 0) {
            start_lingering(f, i, dup_fd, ff_clock_now());
        } else {
            ff_conncount_release(f->counts, &c->addr);
            slot_free(f, i);
        }
        pthread_mutex_unlock(&f->lock);
    }
}

static conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void ff_front_request_in(ff_front *f, struct MHD_Connection *mc)
{
    conn *c = conn_of(mc);
    if (!c)
        return;
    pthread_mutex_lock(&f->lock);
    c->waiting = 0;
    pthread_mutex_unlock(&f->lock);
}

void ff_front_request_done(ff_front *f, struct MHD_Connection *mc, int linger)
{
    conn *c = conn_of(mc);
    if (!c)
        return;
    pthread_mutex_lock(&f->lock);
    c->waiting = 1;
    c->since = ff_clock_now();
    if (linger)
        c->linger = 1;
    pthread_mutex_unlock(&f->lock);
}

void ff_front_stats(ff_front *f, ff_front_counts *out)
{
    out->open = ff_conncount_total(f->counts);
    out->uploads_open = atomic_load(&f->uploads_open);
    out->refused = atomic_load(&f->refused);
    out->header_timeouts = atomic_load(&f->header_timeouts);
    out->evicted = atomic_load(&f->evicted);
    out->bad_requests = atomic_load(&f->bad_requests);
}

static void rate_log(double *last, const char *fmt, const char *why)
{
    double now = ff_clock_now();
    if (now - *last < 1.0)
        return;
    *last = now;
    ff_log(FF_LOG_WARN, NULL, NULL, fmt, why);
}

static void refusal_log(ff_front *f, const char *why)
{
    atomic_fetch_add(&f->refused, 1);
    rate_log(&f->last_refusal_log, "connection refused: %s", why);
}

/* The connection that has waited longest for a request header, lingering ones first; -1 when
 * every connection is busy with a request. The lock is held. */
static int pick_victim(ff_front *f)
{
    int best = -1, best_rank = 2;
    double best_since = 0;
    for (size_t i = 0; i < f->nslots; i++) {
        const conn *c = &f->slots[i];
        int rank;
        if (c->state == C_LINGER)
            rank = 0;
        else if (c->state == C_FRONT || (c->state == C_LIVE && c->waiting && !c->shut))
            rank = 1;
        else
            continue;
        if (rank < best_rank || (rank == best_rank && c->since < best_since)) {
            best = (int)i;
            best_rank = rank;
            best_since = c->since;
        }
    }
    return best;
}

/* Shuts down a LIVE connection: its daemon sees the end and closes it. The lock is held, so the
 * daemon cannot close the descriptor meanwhile (its CLOSED notification takes the lock). */
static void shut_live(ff_front *f, conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->shut = 1;
    f->shutting++;
}

/* Admits an accepted connection: NULL with it in a slot, or why it is refused. The lock is held. */
static const char *admit(ff_front *f, int fd, const struct sockaddr_storage *addr, socklen_t addrlen, double now)
{
    if ((size_t)fd >= f->fd_cap)
        return "descriptor number beyond the process limit seen at start";
    if (f->slot_of_fd[fd] >= 0) {
        /* Handed to a daemon under this number and never started (the daemon could not take it
         * and closed it): that connection is gone. */
        int j = f->slot_of_fd[fd];
        f->slot_of_fd[fd] = -1;
        ff_conncount_release(f->counts, &f->slots[j].addr);
        slot_free(f, j);
    }
    int victim = -1;
    if (ff_conncount_total(f->counts) - f->shutting >= f->cfg->max_connections) {
        victim = pick_victim(f);
        if (victim < 0)
            return "FITSFLOW_MAX_CONNECTIONS reached";
    }
    if (ff_conncount_add(f->counts, addr, f->cfg->max_connections_per_ip) != 0)
        return "FITSFLOW_MAX_CONNECTIONS_PER_IP reached";
    if (victim >= 0) {
        atomic_fetch_add(&f->evicted, 1);
        if (f->slots[victim].state == C_LIVE)
            shut_live(f, &f->slots[victim]);
        else
            end_conn(f, victim);
    }
    int i = slot_alloc(f);
    if (i < 0) {
        ff_conncount_release(f->counts, addr);
        return "no room for another connection";
    }
    conn *c = &f->slots[i];
    c->state = C_FRONT;
    c->fd = fd;
    memcpy(&c->addr, addr, addrlen <= sizeof c->addr ? addrlen : sizeof c->addr);
    c->addrlen = addrlen <= sizeof c->addr ? addrlen : sizeof c->addr;
    c->since = c->last = now;
    c->waiting = 1;
    c->shut = c->linger = c->upload = c->scans = c->dirty = 0;
    c->seen = 0;
    /* Edge-triggered: the bytes are only peeked at, so the socket stays readable. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = conn_tag(f, i)};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ff_conncount_release(f->counts, addr);
        slot_free(f, i);
        return "cannot watch the connection";
    }
    return NULL;
}

static void accept_some(ff_front *f)
{
    for (int n = 0; n < 64; n++) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof addr;
        int fd = accept4(f->listen_fd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop polling the socket for a moment instead of spinning */
                refusal_log(f, strerror(errno));
                epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->listen_fd, NULL);
                f->listening = 0;
                f->listen_resume = ff_clock_now() + 0.1;
            }
            return; /* EAGAIN, or a connection that went away before it was accepted */
        }
        pthread_mutex_lock(&f->lock);
        const char *why = admit(f, fd, &addr, addrlen, ff_clock_now());
        pthread_mutex_unlock(&f->lock);
        if (why) {
            refusal_log(f, why);
            close(fd);
        }
    }
}

/* A lingering connection: reads and drops what the client still sends, up to 1 MiB a turn. */
static void drain(ff_front *f, int i)
{
    conn *c = &f->slots[i];
    int done = 0;
    for (size_t turn = 0; turn < (1u << 20); ) {
        ssize_t n = recv(c->fd, f->buf, PEEK_MAX, 0);
        if (n > 0) {
            turn += (size_t)n;
            c->drained += (uint64_t)n;
            c->last = ff_clock_now();
            if (c->drained > LINGER_MAX_BYTES) {
                done = 1;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        done = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        break;
    }
    if (done) {
        pthread_mutex_lock(&f->lock);
        end_conn(f, i);
        pthread_mutex_unlock(&f->lock);
    }
}

/* A first request refused before any daemon sees it: a JSON answer, then lingering. */
static void refuse_request(ff_front *f, int i, unsigned status, const char *why)
{
    conn *c = &f->slots[i];
    char body[400], head[600];
    int bl = snprintf(body, sizeof body, "{\"error\":\"%s\"}", why);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s",
                      status, status == 501 ? "Not Implemented" : "Bad Request", bl, body);
    if (hl > 0 && (size_t)hl < sizeof head && send(c->fd, head, (size_t)hl, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client is gone or its window is full: lingering closes it soon either way */
    }
    atomic_fetch_add(&f->bad_requests, 1);
    rate_log(&f->last_bad_log, "request refused before it was read: %s", why);
    pthread_mutex_lock(&f->lock);
    int fd = c->fd;
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
    start_lingering(f, i, fd, ff_clock_now());
    int lingering = c->state == C_LINGER;
    pthread_mutex_unlock(&f->lock);
    if (lingering)
        drain(f, i);
}

/* The connection's first bytes have come (or it closed): refuse it, hand it over once its whole
 * header is in, or keep waiting. Bytes are peeked at from the start each time, so a header sent
 * one byte per packet would cost a copy of everything so far per byte (quadratic: 20 KB sent,
 * 200 MB copied): after a few looks, a connection is looked at again on an event only when 256
 * bytes or more came since the last look, else at most every 100 ms (timer: the front loop). */
static void first_bytes(ff_front *f, int i, uint32_t events, int timer)
{
    conn *c = &f->slots[i];
    int queued = 0;
    if (!timer && c->scans >= 4 && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
        ioctl(c->fd, FIONREAD, &queued) == 0 && queued >= 0 && (size_t)queued < f->peek_cap &&
        (uint32_t)queued < c->seen + 256) {
        c->dirty = 1;
        f->any_dirty = 1;
        return;
    }
    c->dirty = 0;
    if (c->scans < 255)
        c->scans++;
    ssize_t n = recv(c->fd, f->buf, f->peek_cap, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    double now = ff_clock_now();
    if (n <= 0) {
        pthread_mutex_lock(&f->lock);
        end_conn(f, i); /* closed or reset before a request */
        pthread_mutex_unlock(&f->lock);
        return;
    }
    c->last = now;
    c->seen = (uint32_t)n;
    size_t end = 0;
    unsigned status = 0;
    const char *why = NULL;
    int scan = ff_http_head_scan(f->buf, (size_t)n, &end, &status, &why);
    if (scan == FF_HEAD_BAD) {
        refuse_request(f, i, status, why);
        return;
    }
    if (scan == FF_HEAD_MORE && (size_t)n < f->peek_cap) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            pthread_mutex_lock(&f->lock);
            end_conn(f, i); /* the client stopped sending before its header was complete */
            pthread_mutex_unlock(&f->lock);
        }
        return;
    }
    /* A whole header, or more than a header may be: the daemon answers that one (431). */
    int put = n >= 4 && memcmp(f->buf, "PUT ", 4) == 0;
    struct MHD_Daemon *d = f->main_d;
    int upload = 0;
    if (put && f->upload_d && atomic_load(&f->uploads_open) < f->upload_max)
        d = f->upload_d, upload = 1;
    int fd = c->fd;
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
    pthread_mutex_lock(&f->lock);
    c->state = C_HANDED;
    c->upload = (unsigned char)upload;
    if (scan == FF_HEAD_DONE)
        c->since = now; /* the header is in: the deadline now covers its small body */
    f->slot_of_fd[fd] = i;
    struct sockaddr_storage addr;
    socklen_t addrlen = c->addrlen;
    memcpy(&addr, &c->addr, addrlen);
    pthread_mutex_unlock(&f->lock);
    /* Counted all along: the daemon cannot be handed more than was admitted. On failure it has
     * closed the socket already, without starting it. */
    if (MHD_add_connection(d, fd, (const struct sockaddr *)&addr, addrlen) != MHD_YES) {
        pthread_mutex_lock(&f->lock);
        if (f->slot_of_fd[fd] == i) {
            f->slot_of_fd[fd] = -1;
            ff_conncount_release(f->counts, &addr);
            slot_free(f, i);
        }
        pthread_mutex_unlock(&f->lock);
        refusal_log(f, "the HTTP daemon could not take the connection");
    }
}

/* Deadlines, once a second: a header that has not come within FITSFLOW_HEADER_TIMEOUT (or a
 * silence of FITSFLOW_REQUEST_TIMEOUT before it), and lingering that has lasted long enough. */
static void sweep(ff_front *f, double now)
{
    double header = f->cfg->header_timeout, silence = f->cfg->request_timeout;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nslots; i++) {
        conn *c = &f->slots[i];
        if (c->state == C_FRONT) {
            if (now - c->since >= header || now - c->last >= silence) {
                atomic_fetch_add(&f->header_timeouts, 1);
                end_conn(f, (int)i);
            }
        } else if (c->state == C_LIVE) {
            if (c->waiting && !c->shut && now - c->since >= header) {
                atomic_fetch_add(&f->header_timeouts, 1);
                shut_live(f, c);
            }
        } else if (c->state == C_LINGER) {
            if (now - c->since >= LINGER_SECONDS || now - c->last >= LINGER_IDLE)
                end_conn(f, (int)i);
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (!f->listening && now >= f->listen_resume) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->listen_fd, &ev) == 0)
            f->listening = 1;
    }
}

static void conn_event(ff_front *f, uint64_t tag, uint32_t events)
{
    int i = (int)(uint32_t)tag;
    uint32_t gen = (uint32_t)(tag >> 32) & 0x7fffffffu;
    if ((size_t)i >= f->nslots)
        return;
    pthread_mutex_lock(&f->lock);
    int state = (f->slots[i].gen & 0x7fffffffu) == gen ? f->slots[i].state : C_FREE;
    pthread_mutex_unlock(&f->lock);
    if (state == C_FRONT)
        first_bytes(f, i, events, 0);
    else if (state == C_LINGER)
        drain(f, i);
}

/* Looks at the FRONT connections whose last bytes were left for later (first_bytes). */
static void look_again(ff_front *f)
{
    f->any_dirty = 0;
    for (size_t i = 0; i < f->nslots; i++) {
        pthread_mutex_lock(&f->lock);
        int due = f->slots[i].state == C_FRONT && f->slots[i].dirty;
        pthread_mutex_unlock(&f->lock);
        if (due)
            first_bytes(f, (int)i, 0, 1);
    }
}

static void *front_main(void *arg)
{
    ff_front *f = arg;
    struct epoll_event evs[64];
    double next_sweep = ff_clock_now() + 1.0, next_look = 0;
    for (;;) {
        int n = epoll_wait(f->epfd, evs, 64, f->listening && !f->any_dirty ? 1000 : 100);
        if (n < 0 && errno != EINTR) {
            ff_log(FF_LOG_ERROR, NULL, NULL, "connection front: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == EV_STOP)
                return NULL;
            if (tag == EV_LISTEN)
                accept_some(f);
            else
                conn_event(f, tag, evs[k].events);
        }
        double now = ff_clock_now();
        if (f->any_dirty && now >= next_look) {
            look_again(f);
            next_look = now + 0.1;
        }
        if (now >= next_sweep || !f->listening) {
            sweep(f, now);
            next_sweep = now + 1.0;
        }
    }
    return NULL;
}

int ff_front_start(ff_front *f, int listen_fd, struct MHD_Daemon *main_d,
                   struct MHD_Daemon *upload_d, ff_err *err)
{
    f->main_d = main_d;
    f->upload_d = upload_d;
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    f->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->epfd < 0 || f->stopfd < 0)
        return ff_err_set(err, "cannot set up the connection front: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_STOP};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->stopfd, &ev) != 0)
        return ff_err_set(err, "cannot set up the connection front: %s", strerror(errno));
    ev.data.u64 = EV_LISTEN;
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0)
        return ff_err_set(err, "cannot set up the connection front: %s", strerror(errno));
    f->listen_fd = listen_fd; /* ours from here on: closed by ff_front_stop */
    f->listening = 1;
    if (pthread_create(&f->thread, NULL, front_main, f) != 0) {
        f->listen_fd = -1; /* still the caller's to close */
        return ff_err_set(err, "cannot start the connection front thread");
    }
    f->started = 1;
    return 0;
}

void ff_front_stop(ff_front *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_mutex_unlock(&f->lock);
    if (f->started) {
        uint64_t one = 1;
        if (write(f->stopfd, &one, sizeof one) < 0) {
            /* an eventfd write only fails when the counter would overflow: it is signalled */
        }
        pthread_join(f->thread, NULL);
        f->started = 0;
    }
    if (f->listen_fd >= 0) {
        close(f->listen_fd); /* new connections are refused from here on */
        f->listen_fd = -1;
    }
    if (!f->slots)
        return;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nslots; i++)
        if (f->slots[i].state == C_FRONT || f->slots[i].state == C_LINGER)
            end_conn(f, (int)i);
    pthread_mutex_unlock(&f->lock);
}

void ff_front_free(ff_front *f)
{
    if (!f)
        return;
    ff_front_stop(f);
    if (f->epfd >= 0)
        close(f->epfd);
    if (f->stopfd >= 0)
        close(f->stopfd);
    ff_conncount_free(f->counts);
    pthread_mutex_destroy(&f->lock);
    free(f->slots);
    free(f->slot_of_fd);
    free(f->buf);
    free(f);
}
