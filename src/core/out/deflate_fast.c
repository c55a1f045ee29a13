/* The fast deflate encoder of deflate_fast.h. Written here because no library offers this
 * trade: zlib's fastest strategies and libdeflate level 1 both cost 35-100 MB/s per core on a
 * noisy 4096x4096 image, most of it in match finding that finds little.
 * Per block of input (BLOCK_BYTES, plus the end of a run reaching past it): one pass finds the runs
 * and counts symbols, then both Huffman tables are built (lengths limited to 15 bits by halving
 * the counts until the tree fits), then a second pass writes the codes through a 64-bit bit
 * buffer. Each block is sent stored instead when that is smaller. */
#include "core/out/deflate_fast.h"

#include <assert.h>
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>
#include <zlib.h>

#define BLOCK_BYTES ((size_t)256 * 1024)
#define MAX_RUNS (BLOCK_BYTES / 8 + 1) /* runs are at least 8 bytes long */
#define MAX_RUN 258
#define LIT_CODES 286 /* 0-255 literals, 256 end of block, 257-285 lengths */
#define DIST_CODES 30
#define CL_CODES 19
#define MAX_BITS 15
#define MAX_CL_BITS 7
#define STORED_MAX 65535

typedef struct bitw {
    unsigned char *p;
    uint64_t buf;
    unsigned n; /* bits held in buf, < 32 between calls */
} bitw;

static inline void put(bitw *w, uint32_t bits, unsigned n)
{
    w->buf |= (uint64_t)bits << w->n;
    w->n += n;
    if (w->n >= 32) {
        uint32_t v = (uint32_t)w->buf;
        w->p[0] = (unsigned char)v;
        w->p[1] = (unsigned char)(v >> 8);
        w->p[2] = (unsigned char)(v >> 16);
        w->p[3] = (unsigned char)(v >> 24);
        w->p += 4;
        w->buf >>= 32;
        w->n -= 32;
    }
}

static void align(bitw *w)
{
    while (w->n > 0) {
        *w->p++ = (unsigned char)w->buf;
        w->buf >>= 8;
        w->n = w->n > 8 ? w->n - 8 : 0;
    }
    w->buf = 0;
}

/* Length symbols and extra bits of RFC 1951 3.2.5. */
static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_xbits[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint32_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,   25,
                                       33,   49,   65,   97,   129,  193,   257,   385,   513,  769,
                                       1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385, 24577};
static const uint8_t dist_xbits[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t cl_order[CL_CODES] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

typedef struct run {
    uint32_t at;  /* offset from the block's start */
    uint16_t len; /* 8..MAX_RUN */
} run;

typedef struct state {
    uint8_t len_sym[MAX_RUN + 1]; /* run length -> symbol index 0..28 */
    unsigned period, dist_sym;
    uint32_t lit_freq[LIT_CODES], dist_freq[DIST_CODES];
    uint8_t lit_len[LIT_CODES], dist_len[DIST_CODES];
    uint16_t lit_code[LIT_CODES], dist_code[DIST_CODES];
    run *runs;
} state;

/* Huffman code lengths for n symbols (zero frequency: length 0). At least two frequencies must
 * be nonzero. A tree deeper than maxbits is rebuilt from halved counts (rare: it takes
 * Fibonacci-like counts), which keeps every code complete, as inflate requires. */
static void huff_lengths(const uint32_t *freq, int n, int maxbits, uint8_t *len)
{
    int sym[LIT_CODES];
    uint64_t w[LIT_CODES], iw[LIT_CODES];
    int lparent[LIT_CODES], iparent[LIT_CODES], depth[LIT_CODES];
    int shift = 0;
    for (;;) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            len[i] = 0;
            if (freq[i])
                sym[m++] = i;
        }
        /* sort by (count, symbol): insertion sort, n <= 286 and mostly run once per block */
        for (int i = 1; i < m; i++) {
            int s = sym[i];
            uint64_t ws = ((uint64_t)freq[s] >> shift) | 1;
            int k = i - 1;
            while (k >= 0 && (((uint64_t)freq[sym[k]] >> shift) | 1) > ws)
                sym[k + 1] = sym[k], k--;
            sym[k + 1] = s;
        }
        for (int i = 0; i < m; i++)
            w[i] = ((uint64_t)freq[sym[i]] >> shift) | 1;
        /* two queues: sorted leaves, and internal nodes in the (sorted) order they are made */
        int li = 0, ii = 0, ic = 0;
        for (int k = 0; k < m - 1; k++) {
            int pick[2];
            uint64_t sum = 0;
            for (int t = 0; t < 2; t++) {
                if (li < m && (ii >= ic || w[li] <= iw[ii])) {
                    pick[t] = li;
                    sum += w[li++];
                } else {
                    pick[t] = -1 - ii;
                    sum += iw[ii++];
                }
            }
            iw[ic] = sum;
            for (int t = 0; t < 2; t++) {
                if (pick[t] >= 0)
                    lparent[pick[t]] = ic;
                else
                    iparent[-1 - pick[t]] = ic;
            }
            ic++;
        }
        depth[ic - 1] = 0;
        for (int k = ic - 2; k >= 0; k--)
            depth[k] = depth[iparent[k]] + 1;
        int deepest = 0;
        for (int i = 0; i < m; i++) {
            int d = depth[lparent[i]] + 1;
            len[sym[i]] = (uint8_t)(d > 255 ? 255 : d);
            if (d > deepest)
                deepest = d;
        }
        if (deepest <= maxbits)
            return;
        shift++;
    }
}

/* Canonical codes (RFC 1951 3.2.2), bit-reversed for LSB-first output. */
static void huff_codes(const uint8_t *len, int n, uint16_t *code)
{
    unsigned count[MAX_BITS + 1] = {0}, next[MAX_BITS + 2];
    for (int i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    unsigned c = 0;
    for (int b = 1; b <= MAX_BITS; b++) {
        c = (c + count[b - 1]) << 1;
        next[b] = c;
    }
    for (int i = 0; i < n; i++) {
        if (!len[i]) {
            code[i] = 0;
            continue;
        }
        unsigned v = next[len[i]]++, r = 0;
        for (int b = 0; b < len[i]; b++, v >>= 1)
            r = (r << 1) | (v & 1);
        code[i] = (uint16_t)r;
    }
}

/* Makes sure a tree has two symbols: inflate accepts only complete codes. */
static void two_symbols(uint32_t *freq, int n)
{
    int used = 0, first = -1;
    for (int i = 0; i < n && used < 2; i++)
        if (freq[i]) {
            used++;
            if (first < 0)
                first = i;
        }
    if (used == 0)
        freq[0] = freq[1] = 1;
    else if (used == 1)
        freq[first == 0 ? 1 : 0] = 1;
}

typedef struct cl_tok {
    uint8_t sym, extra;
} cl_tok;

/* The run-length coded sequence of code lengths (RFC 1951 3.2.7). Returns its token count. */
static int cl_tokens(const uint8_t *lens, int total, cl_tok *out)
{
    int nt = 0;
    for (int i = 0; i < total;) {
        int v = lens[i], r = 1;
        while (i + r < total && lens[i + r] == v)
            r++;
        i += r;
        if (v == 0) {
            while (r >= 11) {
                int k = r < 138 ? r : 138;
                out[nt++] = (cl_tok){18, (uint8_t)(k - 11)};
                r -= k;
            }
            if (r >= 3) {
                out[nt++] = (cl_tok){17, (uint8_t)(r - 3)};
                r = 0;
            }
        } else {
            out[nt++] = (cl_tok){(uint8_t)v, 0};
            r--;
            while (r >= 3) {
                int k = r < 6 ? r : 6;
                out[nt++] = (cl_tok){16, (uint8_t)(k - 3)};
                r -= k;
            }
        }
        while (r-- > 0)
            out[nt++] = (cl_tok){(uint8_t)v, 0};
    }
    return nt;
}

static const uint8_t cl_xbits[CL_CODES] = {[16] = 2, [17] = 3, [18] = 7};

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Writes one block of src[start, end) as stored blocks of at most STORED_MAX bytes. */
static void write_stored(bitw *w, const unsigned char *src, size_t start, size_t end, int final)
{
    do {
        size_t n = end - start < STORED_MAX ? end - start : STORED_MAX;
        put(w, final && start + n == end ? 1 : 0, 1);
        put(w, 0, 2);
        align(w);
        w->p[0] = (unsigned char)n;
        w->p[1] = (unsigned char)(n >> 8);
        w->p[2] = (unsigned char)~n;
        w->p[3] = (unsigned char)(~n >> 8);
        if (n)
            memcpy(w->p + 4, src + start, n);
        w->p += 4 + n;
        start += n;
    } while (start < end);
}

/* Finds the runs of src[start, ...) and counts symbols; returns the block's end. Literals are
 * counted in four tables by position, so that a value repeating every other byte (the high
 * bytes of 16-bit data) does not wait on its own counter's last store. */
static size_t scan_block(state *s, const unsigned char *src, size_t len, size_t start,
                         unsigned period, size_t *nruns)
{
    uint32_t f[4][256];
    memset(f, 0, sizeof f);
    memset(s->lit_freq, 0, sizeof s->lit_freq);
    memset(s->dist_freq, 0, sizeof s->dist_freq);
    size_t end = len - start < BLOCK_BYTES ? len : start + BLOCK_BYTES;
    size_t pos = start, nr = 0, lit_from = start;
    /* Runs are looked for every 4 bytes with one 8-byte compare: any run of 11 bytes or more
     * covers such a window, and is then extended backwards (at most 3 bytes, else the window
     * before would have matched) and forwards. */
    while (pos < end) {
        if (period && pos >= period && len - pos >= 8 &&
            load64(src + pos) == load64(src + pos - period)) {
            size_t a = pos;
            while (a > lit_from && a - 1 >= period && src[a - 1] == src[a - 1 - period]) {
                a--;
                f[0][src[a]]--; /* counted as a literal in some table; only their sum matters */
            }
            size_t max = len - a < MAX_RUN ? len - a : MAX_RUN, l = pos - a + 8;
            while (l + 8 <= max && load64(src + a + l) == load64(src + a + l - period))
                l += 8;
            while (l < max && src[a + l] == src[a + l - period])
                l++;
            if (l > max)
                l = max;
            s->runs[nr++] = (run){(uint32_t)(a - start), (uint16_t)l};
            s->lit_freq[257 + s->len_sym[l]]++;
            pos = lit_from = a + l;
            if (nr == MAX_RUNS) {
                end = pos;
                break;
            }
            continue;
        }
        if (pos + 4 <= end) {
            f[0][src[pos]]++;
            f[1][src[pos + 1]]++;
            f[2][src[pos + 2]]++;
            f[3][src[pos + 3]]++;
            pos += 4;
        } else {
            f[pos & 3][src[pos]]++;
            pos++;
        }
    }
    if (pos > end)
        end = pos; /* a run may reach past BLOCK_BYTES */
    for (int i = 0; i < 256; i++)
        s->lit_freq[i] = f[0][i] + f[1][i] + f[2][i] + f[3][i];
    if (nr)
        s->dist_freq[s->dist_sym] = (uint32_t)nr;
    s->lit_freq[256] = 1;
    *nruns = nr;
    return end;
}

/* Codes src[start, end) as one dynamic Huffman block, or stored when that is smaller. */
/* A dynamic block's code lengths, and the code-length codes that send them. */
typedef struct block_plan {
    int nlit, ndist, ncl, nt;
    cl_tok toks[LIT_CODES + DIST_CODES];
    uint8_t cl_len[CL_CODES];
    uint16_t cl_code[CL_CODES];
} block_plan;

static void plan_block(state *s, block_plan *b)
{
    two_symbols(s->lit_freq, LIT_CODES);
    two_symbols(s->dist_freq, DIST_CODES);
    huff_lengths(s->lit_freq, LIT_CODES, MAX_BITS, s->lit_len);
    huff_lengths(s->dist_freq, DIST_CODES, MAX_BITS, s->dist_len);
    b->nlit = LIT_CODES;
    b->ndist = DIST_CODES;
    while (b->nlit > 257 && !s->lit_len[b->nlit - 1])
        b->nlit--;
    while (b->ndist > 1 && !s->dist_len[b->ndist - 1])
        b->ndist--;
    uint8_t lens[LIT_CODES + DIST_CODES];
    memcpy(lens, s->lit_len, (size_t)b->nlit);
    memcpy(lens + b->nlit, s->dist_len, (size_t)b->ndist);
    b->nt = cl_tokens(lens, b->nlit + b->ndist, b->toks);
    uint32_t cl_freq[CL_CODES] = {0};
    for (int i = 0; i < b->nt; i++)
        cl_freq[b->toks[i].sym]++;
    two_symbols(cl_freq, CL_CODES);
    huff_lengths(cl_freq, CL_CODES, MAX_CL_BITS, b->cl_len);
    b->ncl = CL_CODES;
    while (b->ncl > 4 && !b->cl_len[cl_order[b->ncl - 1]])
        b->ncl--;
}

/* Cost in bits of the coded block. */
static uint64_t coded_bits(const state *s, const block_plan *b, size_t nruns)
{
    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)b->ncl;
    for (int i = 0; i < b->nt; i++)
        bits += b->cl_len[b->toks[i].sym] + cl_xbits[b->toks[i].sym];
    for (int i = 0; i < LIT_CODES; i++)
        bits += (uint64_t)s->lit_freq[i] * s->lit_len[i];
    for (int i = 0; i < 29; i++)
        bits += (uint64_t)s->lit_freq[257 + i] * len_xbits[i];
    bits += (uint64_t)nruns * (s->dist_len[s->dist_sym] + dist_xbits[s->dist_sym]);
    return bits;
}

/* The dynamic block's header: its type and the code lengths, coded. */
static void write_block_header(state *s, bitw *w, block_plan *b, int final)
{
    huff_codes(s->lit_len, LIT_CODES, s->lit_code);
    huff_codes(s->dist_len, DIST_CODES, s->dist_code);
    huff_codes(b->cl_len, CL_CODES, b->cl_code);
    put(w, final ? 1 : 0, 1);
    put(w, 2, 2);
    put(w, (uint32_t)(b->nlit - 257), 5);
    put(w, (uint32_t)(b->ndist - 1), 5);
    put(w, (uint32_t)(b->ncl - 4), 4);
    for (int i = 0; i < b->ncl; i++)
        put(w, b->cl_len[cl_order[i]], 3);
    for (int i = 0; i < b->nt; i++) {
        put(w, b->cl_code[b->toks[i].sym], b->cl_len[b->toks[i].sym]);
        if (cl_xbits[b->toks[i].sym])
            put(w, b->toks[i].extra, cl_xbits[b->toks[i].sym]);
    }
}

/* The block's literals and runs, and its end. */
static void write_symbols(const state *s, bitw *w, const unsigned char *src, size_t start,
                          size_t end, size_t nruns)
{
    /* The hot loop keeps the bit buffer in locals (stores through w->p could alias w) and
     * flushes whole bytes with one 8-byte store after every three literals (<= 45 bits). */
    const uint16_t *lc = s->lit_code;
    const uint8_t *ll = s->lit_len;
    uint32_t dcode = s->dist_code[s->dist_sym];
    unsigned dlen = s->dist_len[s->dist_sym], dx = dist_xbits[s->dist_sym];
    uint32_t dextra = s->period - dist_base[s->dist_sym];
    unsigned char *p = w->p;
    uint64_t buf = w->buf;
    unsigned nb = w->n;
#define FLUSH()                                                                                    \
    do {                                                                                           \
        uint64_t le_ = htole64(buf);                                                               \
        memcpy(p, &le_, 8);                                                                        \
        p += nb >> 3;                                                                              \
        buf = (nb & ~7u) == 64 ? 0 : buf >> (nb & ~7u);                                            \
        nb &= 7;                                                                                   \
    } while (0)
#define PUT(bits, n)                                                                               \
    do {                                                                                           \
        buf |= (uint64_t)(bits) << nb;                                                             \
        nb += (n);                                                                                 \
    } while (0)
    FLUSH();
    size_t pos = start;
    for (size_t r = 0; r <= nruns; r++) {
        size_t stop = r < nruns ? start + s->runs[r].at : end;
        for (; pos + 3 <= stop; pos += 3) {
            unsigned a = src[pos], b = src[pos + 1], c = src[pos + 2];
            PUT(lc[a], ll[a]);
            PUT(lc[b], ll[b]);
            PUT(lc[c], ll[c]);
            FLUSH();
        }
        for (; pos < stop; pos++) {
            PUT(lc[src[pos]], ll[src[pos]]);
            FLUSH();
        }
        if (r == nruns)
            break;
        unsigned l = s->runs[r].len, k = s->len_sym[l];
        PUT(lc[257 + k], ll[257 + k]);
        PUT(l - len_base[k], len_xbits[k]);
        FLUSH();
        PUT(dcode, dlen);
        PUT(dextra, dx);
        FLUSH();
        pos += l;
    }
    PUT(lc[256], ll[256]);
    FLUSH();
#undef PUT
#undef FLUSH
    w->p = p;
    w->buf = buf;
    w->n = nb;
}

static void write_block(state *s, bitw *w, const unsigned char *src, size_t start, size_t end,
                        size_t nruns, int final)
{
    block_plan b;
    plan_block(s, &b);
    size_t span = end - start;
    uint64_t stored = 3 + 7 + 8 * (uint64_t)span + 32 * (uint64_t)(span / STORED_MAX + 1);
    if (coded_bits(s, &b, nruns) >= stored) {
        write_stored(w, src, start, end, final);
        return;
    }
    write_block_header(s, w, &b, final);
    write_symbols(s, w, src, start, end, nruns);
}

size_t ff_deflate_fast_bound(size_t len)
{
    /* every block is at most its stored form: 5 bytes per 64 KiB piece, 1 of alignment, plus
     * the zlib header, the Adler-32 and the bit writer's last partial word */
    size_t pieces = len / STORED_MAX + len / BLOCK_BYTES + 2;
    return len + pieces * 5 + 2 + 4 + 8;
}

struct ff_deflate_stream {
    state s;
    run *runs;
    unsigned period_given; /* 0: no runs */
    int started, ended;
    uLong adler;
};

ff_deflate_stream *ff_deflate_stream_new(unsigned period, ff_err *err)
{
    if (period > 32768) {
        ff_err_set(err, "deflate: run distance %u is beyond 32768", period);
        return NULL;
    }
    ff_deflate_stream *z = malloc(sizeof *z);
    run *runs = malloc(MAX_RUNS * sizeof *runs);
    if (!z || !runs) {
        free(z);
        free(runs);
        ff_err_set(err, "deflate: out of memory");
        return NULL;
    }
    state *s = &z->s;
    s->runs = z->runs = runs;
    for (int k = 0; k < 29; k++)
        for (unsigned l = len_base[k]; l < (k == 28 ? 259u : len_base[k + 1]) && l <= MAX_RUN; l++)
            s->len_sym[l] = (uint8_t)k;
    s->len_sym[MAX_RUN] = 28;
    s->period = period ? period : 1;
    s->dist_sym = 0;
    if (period)
        while (s->dist_sym < 29 && dist_base[s->dist_sym + 1] <= period)
            s->dist_sym++;
    z->period_given = period;
    z->started = z->ended = 0;
    z->adler = 1; /* Adler-32 of nothing */
    return z;
}

void ff_deflate_stream_free(ff_deflate_stream *z)
{
    if (!z)
        return;
    free(z->runs);
    free(z);
}

size_t ff_deflate_piece_bound(size_t len)
{
    /* the whole stream's bound for this piece alone, and an empty stored block (5 bytes) */
    return ff_deflate_fast_bound(len) + 5;
}

size_t ff_deflate_stream_piece(ff_deflate_stream *z, const void *src_, size_t len, int last,
                               unsigned char *dst, size_t cap, ff_err *err)
{
    const unsigned char *src = src_;
    assert(!z->ended); /* no piece after the last */
    if (cap < ff_deflate_piece_bound(len)) {
        ff_err_set(err, "deflate: output buffer too small");
        return 0;
    }
    if (len && !src) {
        ff_err_set(err, "deflate: no input");
        return 0;
    }
    unsigned char *p = dst;
    if (!z->started) {
        p[0] = 0x78; /* deflate, 32 KiB window */
        p[1] = 0x01; /* fastest; (0x78 << 8 | 0x01) is a multiple of 31 */
        p += 2;
        z->started = 1;
    }
    bitw w = {.p = p};
    if (len || last) {
        size_t pos = 0;
        do {
            size_t nruns;
            size_t end = scan_block(&z->s, src, len, pos, z->period_given, &nruns);
            write_block(&z->s, &w, src, pos, end, nruns, last && end == len);
            pos = end;
        } while (pos < len);
    }
    if (!last) /* an empty stored block ends the piece on a byte, as zlib's sync flush does */
        write_stored(&w, src, 0, 0, 0);
    align(&w);
    if (len)
        z->adler = libdeflate_adler32((uint32_t)z->adler, src, len); /* SIMD: 8x zlib's speed here */
    if (last) {
        uLong a = z->adler;
        w.p[0] = (unsigned char)(a >> 24);
        w.p[1] = (unsigned char)(a >> 16);
        w.p[2] = (unsigned char)(a >> 8);
        w.p[3] = (unsigned char)a;
        w.p += 4;
        z->ended = 1;
    }
    return (size_t)(w.p - dst);
}

size_t ff_deflate_fast(const void *src, size_t len, unsigned period, unsigned char *dst,
                       size_t cap, ff_err *err)
{
    if (cap < ff_deflate_fast_bound(len)) {
        ff_err_set(err, "deflate: output buffer too small");
        return 0;
    }
    if (len && !src) {
        ff_err_set(err, "deflate: no input");
        return 0;
    }
    ff_deflate_stream *z = ff_deflate_stream_new(period, err);
    if (!z)
        return 0;
    /* one piece, the last: no empty stored block, so the stream bound holds */
    size_t n = ff_deflate_stream_piece(z, src, len, 1, dst, ff_deflate_piece_bound(len), err);
    ff_deflate_stream_free(z);
    return n;
}
