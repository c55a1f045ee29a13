/* The front door: accepts connections on the listening socket, waits for each one's first bytes,
 * and hands it to one of two libmicrohttpd daemons. A connection that opens with "PUT " (an
 * upload to a presigned URL) goes to the upload daemon, whose connections have a large read
 * buffer; everything else goes to the main daemon, whose small pool keeps short requests cheap.
 * Why two: libmicrohttpd 0.9.75 reads a body through the connection's memory pool and zeroes
 * the whole pool before every request on a kept-alive connection, so no single pool size is
 * right for both 100 MB uploads and 25 us presigns (bench/serve).
 *
 * Because connections now live in two daemons, the connection limits are kept here: a
 * connection counts from accept until its daemon reports it closed, in total and per address. */
#include "server/http_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "server/conncount.h"

#define EV_LISTEN 0
#define EV_STOP 1
#define EV_FIRST_PENDING 2

typedef struct pending {
    int fd; /* -1 = free */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    double deadline;
    int next_free;
} pending;

struct ff_front_side {
    ff_front *f;
    atomic_size_t open; /* connections this daemon has started and not yet closed */
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
    pending *slots;
    size_t nslots, npending;
    int free_head;
    double last_refusal_log;
    atomic_ulong refused;
    pthread_t thread;
    int started;
};

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
    f->upload_max = cfg->upload_connections;
    /* Room for twice the connection limit: a connection handed to a daemon is counted again
     * when the daemon starts it, so for a moment both may hold it. */
    f->counts = ff_conncount_new((size_t)cfg->max_connections * 2 + 64);
    f->nslots = cfg->max_connections;
    f->slots = calloc(f->nslots, sizeof(pending));
    if (!f->counts || !f->slots) {
        ff_front_free(f);
        ff_err_set(err, "out of memory");
        return NULL;
    }
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

void ff_front_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    struct ff_front_side *side = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const void *sa = ci ? ci->client_addr : NULL;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&side->open, 1);
        /* Admitted already at accept: counted without a limit. The mark says whether it was
         * counted at all (a full table would refuse), so that closing releases only what was. */
        *socket_context = ff_conncount_add(side->f->counts, sa, 0) == 0 ? (void *)1 : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&side->open, 1);
        if (*socket_context)
            ff_conncount_release(side->f->counts, sa);
        *socket_context = NULL;
    }
}

void ff_front_stats(ff_front *f, ff_front_counts *out)
{
    out->open = ff_conncount_total(f->counts);
    out->uploads_open = atomic_load(&f->upload_side.open);
    out->refused = atomic_load(&f->refused);
}

static void refusal_log(ff_front *f, const char *why)
{
    atomic_fetch_add(&f->refused, 1);
    double now = ff_http_now();
    if (now - f->last_refusal_log < 1.0)
        return;
    f->last_refusal_log = now;
    ff_log(FF_LOG_WARN, NULL, NULL, "connection refused: %s", why);
}

static void close_pending(ff_front *f, int i, int release)
{
    pending *p = &f->slots[i];
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    if (release)
        ff_conncount_release(f->counts, &p->addr);
    p->fd = -1;
    p->next_free = f->free_head;
    f->free_head = i;
    f->npending--;
}

static void accept_some(ff_front *f)
{
    for (int n = 0; n < 64; n++) {
        pending tmp;
        tmp.addrlen = sizeof tmp.addr;
        int fd = accept4(f->listen_fd, (struct sockaddr *)&tmp.addr, &tmp.addrlen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop polling the socket for a moment instead of spinning */
                refusal_log(f, strerror(errno));
                epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->listen_fd, NULL);
                f->listening = 0;
                f->listen_resume = ff_http_now() + 0.1;
            }
            return; /* EAGAIN, or a connection that went away before it was accepted */
        }
        const char *why = NULL;
        if (f->free_head < 0)
            why = "too many connections waiting for their first request";
        else if (ff_conncount_total(f->counts) >= f->cfg->max_connections)
            why = "FITSFLOW_MAX_CONNECTIONS reached";
        else if (ff_conncount_add(f->counts, &tmp.addr, f->cfg->max_connections_per_ip) != 0)
            why = "FITSFLOW_MAX_CONNECTIONS_PER_IP reached";
        if (why) {
            refusal_log(f, why);
            close(fd);
            continue;
        }
        int i = f->free_head;
        pending *p = &f->slots[i];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = (uint64_t)i + EV_FIRST_PENDING};
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ff_conncount_release(f->counts, &tmp.addr);
            close(fd);
            continue;
        }
        f->free_head = p->next_free;
        memcpy(&p->addr, &tmp.addr, tmp.addrlen);
        p->addrlen = tmp.addrlen;
        p->fd = fd;
        p->deadline = ff_http_now() + f->cfg->request_timeout;
        f->npending++;
    }
}

/* The connection's first bytes have come (or it closed): route it, or keep waiting. */
static void first_bytes(ff_front *f, int i, uint32_t events)
{
    pending *p = &f->slots[i];
    char b[4];
    ssize_t n = recv(p->fd, b, sizeof b, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        close_pending(f, i, 1); /* closed or reset before a request */
        return;
    }
    int put = memcmp(b, "PUT ", (size_t)n) == 0;
    if (put && n < 4) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            close_pending(f, i, 1); /* closed after part of a method: no request will come */
        return; /* "P", "PU" or "PUT" so far: wait for the rest */
    }
    struct MHD_Daemon *d = f->main_d;
    if (put && f->upload_d && atomic_load(&f->upload_side.open) < f->upload_max)
        d = f->upload_d;
    int fd = p->fd;
    struct sockaddr_storage addr = p->addr;
    socklen_t addrlen = p->addrlen;
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
    ff_conncount_release(f->counts, &addr); /* counted again when the daemon starts it */
    p->fd = -1;
    p->next_free = f->free_head;
    f->free_head = i;
    f->npending--;
    /* On failure libmicrohttpd has closed the socket already. */
    if (MHD_add_connection(d, fd, (const struct sockaddr *)&addr, addrlen) != MHD_YES)
        refusal_log(f, "the HTTP daemon could not take the connection");
}

static void sweep(ff_front *f, double now)
{
    for (size_t i = 0; i < f->nslots && f->npending; i++)
        if (f->slots[i].fd >= 0 && f->slots[i].deadline <= now)
            close_pending(f, (int)i, 1); /* sent nothing within FITSFLOW_REQUEST_TIMEOUT */
    if (!f->listening && now >= f->listen_resume) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->listen_fd, &ev) == 0)
            f->listening = 1;
    }
}

static void *front_main(void *arg)
{
    ff_front *f = arg;
    struct epoll_event evs[64];
    double next_sweep = ff_http_now() + 1.0;
    for (;;) {
        int timeout = -1;
        if (f->npending || !f->listening)
            timeout = f->listening ? 1000 : 100;
        int n = epoll_wait(f->epfd, evs, 64, timeout);
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
            else if (f->slots[tag - EV_FIRST_PENDING].fd >= 0)
                first_bytes(f, (int)(tag - EV_FIRST_PENDING), evs[k].events);
        }
        double now = ff_http_now();
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
    for (size_t i = 0; i < f->nslots; i++)
        if (f->slots[i].fd >= 0)
            close_pending(f, (int)i, 1);
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
    free(f->slots);
    free(f);
}
