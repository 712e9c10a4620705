/* Magnitude pruning by exact selection (see fi_prune.h): a window from a
 * sample for big 32-bit-key selections, radix selection otherwise.  Every pass runs on
 * the thread pool; per-chunk work never depends on how chunks are shared, so
 * the result is the same for every thread count. */
#include "fi_prune.h"

#include <stdlib.h>
#include <string.h>

#include "fi_kernels.h"
#include "fi_runtime.h"

#define FI_DIGIT_BITS 16
#define FI_BINS (1u << FI_DIGIT_BITS)
#define FI_HIST_TABLES 4         /* interleaved tables per thread (first level) */

/* The scan loops are compiled twice on x86-64 (AVX2 and baseline) and the
 * loader picks one: plain loops that the compiler vectorises.  Not under
 * ThreadSanitizer: the loader runs the clones' resolvers before the TSan
 * runtime exists, and their instrumented code crashes at start-up. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define FI_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FI_CLONES
#endif

/* ---- keys: the bits of |w|, monotonic in |w| ------------------------------ */

static inline uint32_t fi_f16_to_f32_bits(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0x1F)                                   /* inf / NaN */
        return sign | 0x7F800000u | (m << 13);
    if (e != 0)                                      /* normal */
        return sign | ((e + 112u) << 23) | (m << 13);
    if (m == 0)
        return sign;
    /* subnormal: normalise */
    e = 113;
    while (!(m & 0x400u)) {
        m <<= 1;
        e--;
    }
    return sign | (e << 23) | ((m & 0x3FFu) << 13);
}

/* |w| as float32 bits, for 32-bit and narrower dtypes */
static inline uint32_t fi_key32(const void *p, uint64_t i, int dtype)
{
    uint32_t b;
    switch (dtype) {
    case FI_OUT_F32: memcpy(&b, (const char *)p + 4 * i, 4); break;
    case FI_OUT_F16: { uint16_t h; memcpy(&h, (const char *)p + 2 * i, 2); b = fi_f16_to_f32_bits(h); break; }
    default: { uint16_t h; memcpy(&h, (const char *)p + 2 * i, 2); b = (uint32_t)h << 16; break; }
    }
    return b & 0x7FFFFFFFu;
}

/* |w| as float64 bits, for any dtype (exact widening) */
static inline uint64_t fi_key64(const void *p, uint64_t i, int dtype)
{
    uint64_t b;
    if (dtype == FI_OUT_F64) {
        memcpy(&b, (const char *)p + 8 * i, 8);
    } else {
        uint32_t k = fi_key32(p, i, dtype);
        float f;
        memcpy(&f, &k, 4);
        double d = (double)f;
        memcpy(&b, &d, 8);
    }
    return b & UINT64_C(0x7FFFFFFFFFFFFFFF);
}

#define FI_KEY(wide, p, i, dt) ((wide) ? fi_key64((p), (i), (dt)) : (uint64_t)fi_key32((p), (i), (dt)))

static inline void fi_zero(void *p, uint64_t i, int dtype)
{
    switch (dtype) {
    case FI_OUT_F32: memset((char *)p + 4 * i, 0, 4); break;
    case FI_OUT_F64: memset((char *)p + 8 * i, 0, 8); break;
    default: memset((char *)p + 2 * i, 0, 2); break;
    }
}

/* ---- pass contexts ----------------------------------------------------------- */

typedef struct {
    int dtype, wide;
    unsigned shift;
    uint64_t prefix, pmask;
    uint64_t *hist;          /* nhist tables of FI_BINS counters */
    int nhist;
    uint64_t nan_key;        /* keys above this are NaN */
    int *nan_seen;
} fi_hist_ctx;

/* Histogram of one digit of the keys that match the prefix so far.  The
 * first level counts every key into four interleaved tables (runs of equal
 * keys, such as the zeros of an already pruned buffer, would otherwise
 * serialise on one counter); the loops are written per key type so that the
 * dtype switch stays out of them. */
#define FI_HIST_LOOP(KEYT, KEYF)                                                  \
    do {                                                                          \
        const KEYT pm = (KEYT)c->pmask, pf = (KEYT)c->prefix, nk = (KEYT)c->nan_key; \
        const unsigned sh = c->shift;                                             \
        if (shared) {                                                             \
            for (uint64_t i = 0; i < n; i++) {                                    \
                KEYT k = KEYF(i);                                                 \
                nan |= k > nk;                                                    \
                if ((k & pm) == pf)                                               \
                    __atomic_fetch_add(&h[(unsigned)(k >> sh) & (FI_BINS - 1)], 1, __ATOMIC_RELAXED); \
            }                                                                     \
        } else if (pm == 0) {                                                     \
            uint64_t i = 0;                                                       \
            KEYT any = 0;                                                         \
            for (; i + 4 <= n; i += 4) {                                          \
                KEYT k0, k1, k2, k3;                                              \
                k0 = KEYF(i);                                                     \
                k1 = KEYF(i + 1);                                                 \
                k2 = KEYF(i + 2);                                                 \
                k3 = KEYF(i + 3);                                                 \
                any |= (KEYT)(k0 > nk) | (KEYT)(k1 > nk) | (KEYT)(k2 > nk) | (KEYT)(k3 > nk); \
                h[(k0 >> sh) & (FI_BINS - 1)]++;                                  \
                h[FI_BINS + ((k1 >> sh) & (FI_BINS - 1))]++;                      \
                h[2 * FI_BINS + ((k2 >> sh) & (FI_BINS - 1))]++;                  \
                h[3 * FI_BINS + ((k3 >> sh) & (FI_BINS - 1))]++;                  \
            }                                                                     \
            for (; i < n; i++) {                                                  \
                KEYT k = KEYF(i);                                                 \
                any |= (KEYT)(k > nk);                                            \
                h[(k >> sh) & (FI_BINS - 1)]++;                                   \
            }                                                                     \
            nan |= any != 0;                                                      \
        } else {                                                                  \
            for (uint64_t i = 0; i < n; i++) {                                    \
                KEYT k = KEYF(i);                                                 \
                if ((k & pm) == pf)                                               \
                    h[(unsigned)(k >> sh) & (FI_BINS - 1)]++;                     \
            }                                                                     \
        }                                                                         \
    } while (0)

FI_CLONES
static void fi_hist_chunk(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)
{
    const fi_hist_ctx *c = (const fi_hist_ctx *)params;
    (void)s;
    (void)first;
    int t = fi_thread_index;
    /* a thread beyond the tables (the pool grew meanwhile) counts atomically
     * into the extra table after them, never into another thread's */
    int shared = t >= c->nhist;
    uint64_t *h = c->hist + (uint64_t)(shared ? c->nhist : t) * FI_HIST_TABLES * FI_BINS;
    int nan = 0;
    if (!c->wide && c->dtype == FI_OUT_F32) {
        const uint32_t *p = (const uint32_t *)out;
#define FI_K(x) (p[(x)] & 0x7FFFFFFFu)
        FI_HIST_LOOP(uint32_t, FI_K);
#undef FI_K
    } else if (c->dtype == FI_OUT_F64) {
        const uint64_t *p = (const uint64_t *)out;
#define FI_K(x) (p[(x)] & UINT64_C(0x7FFFFFFFFFFFFFFF))
        FI_HIST_LOOP(uint64_t, FI_K);
#undef FI_K
    } else if (c->wide) {
#define FI_K(x) fi_key64(out, (x), c->dtype)
        FI_HIST_LOOP(uint64_t, FI_K);
#undef FI_K
    } else {
#define FI_K(x) fi_key32(out, (x), c->dtype)
        FI_HIST_LOOP(uint32_t, FI_K);
#undef FI_K
    }
    if (nan)
        __atomic_store_n(c->nan_seen, 1, __ATOMIC_RELAXED);
}

typedef struct {
    int dtype, wide;
    uint64_t threshold;
    uint64_t base;           /* index of this buffer's first chunk in counts */
    uint64_t buf_first;      /* global index of the buffer's first element */
    uint64_t *counts;        /* ties per chunk (tie pass) or ties before it (write pass) */
    uint64_t *counts_here;   /* write pass: ties in each chunk */
    uint64_t ties_to_prune;  /* write pass: ties zeroed in all, lowest index first */
    int count_ties;          /* write pass: counts[] holds prefix sums */
    uint8_t *mask;
} fi_cut_ctx;

/* The tie and write passes index per-chunk counts by FI_CHUNK-aligned ranges
 * of each buffer, whatever range fi_run hands them (a whole buffer when the
 * pool is busy elsewhere, single chunks otherwise): they split here. */
#define FI_EACH_CHUNK(BODY)                                                       \
    do {                                                                          \
        uint64_t done_ = 0;                                                       \
        while (done_ < n_all) {                                                   \
            uint64_t local = first_all - c->buf_first + done_;                    \
            uint64_t room = FI_CHUNK - local % FI_CHUNK;                          \
            uint64_t n = n_all - done_ < room ? n_all - done_ : room;             \
            char *out = (char *)out_all + done_ * fi_out_itemsize[c->dtype];      \
            uint64_t chunk = c->base + local / FI_CHUNK;                          \
            BODY                                                                  \
            done_ += n;                                                           \
        }                                                                         \
    } while (0)

static void fi_tie_chunk(void *out_all, uint64_t n_all, const fi_stream *s, uint64_t first_all,
                         const void *params)
{
    const fi_cut_ctx *c = (const fi_cut_ctx *)params;
    (void)s;
    FI_EACH_CHUNK({
        uint64_t ties = 0;
        for (uint64_t i = 0; i < n; i++)
            ties += FI_KEY(c->wide, out, i, c->dtype) == c->threshold;
        c->counts[chunk] = ties;
    });
}

/* The write pass: below the threshold is pruned; at it, the first ties. */
#define FI_CUT_LOOP(KEYT, KEY, ZERO)                                              \
    do {                                                                          \
        const KEYT th = (KEYT)c->threshold;                                       \
        for (uint64_t i = 0; i < n; i++) {                                        \
            KEYT k = KEY;                                                         \
            int prune = k < th;                                                   \
            if (k == th && budget) {                                              \
                prune = 1;                                                        \
                budget--;                                                         \
            }                                                                     \
            if (prune)                                                            \
                ZERO;                                                             \
            if (m)                                                                \
                m[i] = (uint8_t)!prune;                                           \
        }                                                                         \
    } while (0)

/* Without a partial tie budget in this chunk the rule is a plain threshold
 * (keys below lim are pruned), written branch-free so that it vectorises. */
#define FI_CUT_FAST(KEYT, KEYF, T)                                                \
    do {                                                                          \
        T *q = (T *)out;                                                          \
        const KEYT lim = (KEYT)lim64;                                             \
        if (m) {                                                                  \
            for (uint64_t i = 0; i < n; i++) {                                    \
                KEYT keep = (KEYT)(KEYF(i) >= lim);                               \
                q[i] = q[i] & (T)(0 - (T)keep);                                   \
                m[i] = (uint8_t)keep;                                             \
            }                                                                     \
        } else {                                                                  \
            for (uint64_t i = 0; i < n; i++)                                      \
                q[i] = q[i] & (T)(0 - (T)(KEYF(i) >= lim));                       \
        }                                                                         \
    } while (0)

FI_CLONES
static void fi_cut_range(void *out, uint64_t n, uint64_t first, const fi_cut_ctx *c)
{
    uint64_t local = first - c->buf_first;
    uint64_t budget;
    if (c->count_ties) {
        uint64_t before = c->counts[c->base + local / FI_CHUNK];
        budget = before >= c->ties_to_prune ? 0 : c->ties_to_prune - before;
    } else {
        budget = c->ties_to_prune;       /* 0 or every tie */
    }
    uint8_t *m = c->mask ? c->mask + local : NULL;
    /* every tie of this chunk pruned, or none: a threshold */
    int all = c->count_ties ? 0 : budget > 0;
    if (c->count_ties) {
        uint64_t ties_here = c->counts_here ? c->counts_here[c->base + local / FI_CHUNK] : UINT64_MAX;
        if (budget == 0)
            all = 0;
        else if (budget >= ties_here)
            all = 1;
        else
            all = -1;                    /* a partial budget: the exact loop */
    }
    if (all >= 0) {
        uint64_t lim64 = c->threshold + (uint64_t)all;
        if (!c->wide && c->dtype == FI_OUT_F32) {
            const uint32_t *p = (const uint32_t *)out;
#define FI_K(x) (p[(x)] & 0x7FFFFFFFu)
            FI_CUT_FAST(uint32_t, FI_K, uint32_t);
#undef FI_K
            return;
        }
        if (c->dtype == FI_OUT_F64) {
            const uint64_t *p = (const uint64_t *)out;
#define FI_K(x) (p[(x)] & UINT64_C(0x7FFFFFFFFFFFFFFF))
            FI_CUT_FAST(uint64_t, FI_K, uint64_t);
#undef FI_K
            return;
        }
    }
    if (!c->wide && c->dtype == FI_OUT_F32) {
        uint32_t *p = (uint32_t *)out;
        FI_CUT_LOOP(uint32_t, p[i] & 0x7FFFFFFFu, p[i] = 0);
    } else if (c->dtype == FI_OUT_F64) {
        uint64_t *p = (uint64_t *)out;
        FI_CUT_LOOP(uint64_t, p[i] & UINT64_C(0x7FFFFFFFFFFFFFFF), p[i] = 0);
    } else if (c->wide) {
        FI_CUT_LOOP(uint64_t, fi_key64(out, i, c->dtype), fi_zero(out, i, c->dtype));
    } else {
        FI_CUT_LOOP(uint32_t, fi_key32(out, i, c->dtype), fi_zero(out, i, c->dtype));
    }
}

static void fi_cut_chunk(void *out_all, uint64_t n_all, const fi_stream *s, uint64_t first_all,
                         const void *params)
{
    const fi_cut_ctx *c = (const fi_cut_ctx *)params;
    (void)s;
    FI_EACH_CHUNK({
        (void)chunk;
        fi_cut_range(out, n, c->buf_first + local, c);
    });
}

static void fi_run_buf(fi_kernel fn, const fi_prune_buf *b, uint64_t global_first, const void *ctx)
{
    fi_stream unused = {0, 0};
    fi_run(fn, b->ptr, fi_out_itemsize[b->dtype], b->n, &unused, global_first, ctx, 0);
}

/* The per-thread tables a pass over bufs needs: one for each thread fi_run
 * will hand a chunk to (a buffer below FI_PARALLEL_MIN runs on the calling
 * thread alone; a thread beyond the tables counts into the shared one), so
 * that the scratch of a small prune does not grow with the thread setting. */
static int fi_pass_threads(const fi_prune_buf *bufs, int nbufs)
{
    uint64_t most = 0;
    for (int b = 0; b < nbufs; b++)
        if (bufs[b].n > most)
            most = bufs[b].n;
    int threads = fi_get_num_threads();
    if (threads <= 1 || most < FI_PARALLEL_MIN)
        return 1;
    uint64_t chunks = (most + FI_CHUNK - 1) / FI_CHUNK;
    return chunks < (uint64_t)threads ? (int)chunks : threads;
}

/* ---- radix selection -----------------------------------------------------------
 * The k-th smallest key of the concatenation of bufs (1-based; with k = 0 the
 * smallest key present) by histograms of FI_DIGIT_BITS at a time: *thr, and
 * how many keys are below it (*less) and equal to it (*at). */
static int fi_radix_select(fi_prune_buf *bufs, int nbufs, int wide, uint64_t k, uint64_t *thr, uint64_t *less,
                           uint64_t *at)
{
    unsigned bits = wide ? 64 : 32;
    uint64_t prefix = 0, pmask = 0, remaining = k, below = 0, at_ = 0;
    int nhist = fi_pass_threads(bufs, nbufs);
    size_t tables = (size_t)nhist * FI_HIST_TABLES + 1;      /* + the shared overflow table */
    uint64_t *hist = malloc(tables * FI_BINS * sizeof(uint64_t));
    uint64_t *sum = malloc(FI_BINS * sizeof(uint64_t));
    if (!hist || !sum) {
        free(hist);
        free(sum);
        return FI_PRUNE_NOMEM;
    }

    /* radix select of the k-th smallest key: T, and how many keys below it */
    int nan_seen = 0;
    for (int level = 0; level < (int)(bits / FI_DIGIT_BITS); level++) {
        unsigned shift = bits - FI_DIGIT_BITS * (unsigned)(level + 1);
        fi_hist_ctx ctx = {0, wide, shift, prefix, pmask, hist, nhist,
                           wide ? UINT64_C(0x7FF0000000000000) : UINT64_C(0x7F800000), &nan_seen};
        memset(hist, 0, tables * FI_BINS * sizeof(uint64_t));
        uint64_t g = 0;
        for (int b = 0; b < nbufs; b++) {
            ctx.dtype = bufs[b].dtype;
            fi_run_buf(fi_hist_chunk, &bufs[b], g, &ctx);
            g += bufs[b].n;
        }
        if (nan_seen) {
            free(hist);
            free(sum);
            return FI_PRUNE_NAN;
        }
        for (unsigned d = 0; d < FI_BINS; d++) {
            uint64_t s = 0;
            for (size_t t = 0; t < tables; t++)
                s += hist[(uint64_t)t * FI_BINS + d];
            sum[d] = s;
        }
        /* the digit holding the remaining-th smallest key (1-based); with
         * nothing to prune, the lowest digit present, pruning none of it */
        unsigned d = 0;
        uint64_t before = 0;
        if (remaining == 0) {
            while (d < FI_BINS - 1 && sum[d] == 0)
                d++;
        } else {
            while (before + sum[d] < remaining) {
                before += sum[d];
                d++;
            }
        }
        remaining -= before;
        below += before;
        at_ = sum[d];
        prefix |= (uint64_t)d << shift;
        pmask |= (uint64_t)(FI_BINS - 1) << shift;
    }
    free(hist);
    free(sum);
    *thr = prefix;
    *less = below;
    *at = at_;
    return FI_PRUNE_OK;
}

/* ---- a first guess from a sample ----------------------------------------------
 * For big 32-bit-key selections the threshold is bracketed first: a strided
 * sample of the keys gives a window [lo, hi] that holds the k-th smallest key
 * with overwhelming probability, one read pass counts the keys below, at and
 * between the window's ends and collects the few keys strictly inside it, and
 * the threshold is selected exactly among those.  The sample only decides how
 * fast this goes, never the result: when the k-th key is not in the window (or
 * too many keys fall inside it) the radix passes below run instead, and both
 * find the same exact threshold. */

#define FI_WINDOW_MIN_N ((uint64_t)1 << 20)     /* below this the radix passes are cheap */
#define FI_WINDOW_MAX_KEYS ((uint64_t)2 << 20)  /* 8 MiB of keys inside the window at most */
#define FI_WINDOW_BLOCK 32

typedef struct {
    int dtype;
    uint32_t lo, hi;                 /* lo < hi, or lo == hi */
    uint64_t *counts;                /* 4 per slot: below lo, at lo, inside, at hi */
    int nslots;                      /* threads with a slot; others use the last one atomically */
    uint32_t *keys;                  /* the keys strictly inside (lo, hi) */
    uint64_t cap, *used;
    int *overflow, *nan_seen;
} fi_window_ctx;

static void fi_window_flush(const fi_window_ctx *c, const uint32_t *buf, unsigned nb)
{
    if (nb == 0)
        return;
    uint64_t pos = __atomic_fetch_add(c->used, (uint64_t)nb, __ATOMIC_RELAXED);
    if (pos + nb <= c->cap)
        memcpy(c->keys + pos, buf, nb * sizeof(uint32_t));
    else
        __atomic_store_n(c->overflow, 1, __ATOMIC_RELAXED);
}

/* blocks of keys: counted with branch-free (vectorisable) loops, scanned one
 * by one only when a key falls strictly inside the window */
#define FI_WINDOW_LOOP(KEYF)                                                      \
    do {                                                                          \
        for (uint64_t b0 = 0; b0 < n; b0 += FI_WINDOW_BLOCK) {                    \
            uint64_t e = n - b0 < FI_WINDOW_BLOCK ? n : b0 + FI_WINDOW_BLOCK;     \
            uint32_t nan = 0, in = 0, bl = 0, el = 0, eh = 0;                     \
            for (uint64_t i = b0; i < e; i++) {                                   \
                uint32_t k = KEYF(i);                                             \
                nan |= k > 0x7F800000u;                                           \
                bl += k < lo;                                                     \
                el += k == lo;                                                    \
                eh += k == hi;                                                    \
                in |= (uint32_t)(k - lo - 1u) < span;                             \
            }                                                                     \
            any_nan |= nan;                                                       \
            below += bl;                                                          \
            at_lo += el;                                                          \
            at_hi += eh;                                                          \
            if (in)                                                               \
                for (uint64_t i = b0; i < e; i++) {                               \
                    uint32_t k = KEYF(i);                                         \
                    if ((uint32_t)(k - lo - 1u) < span) {                         \
                        inside++;                                                 \
                        buf[nb++] = k;                                            \
                        if (nb == sizeof buf / sizeof buf[0]) {                   \
                            fi_window_flush(c, buf, nb);                          \
                            nb = 0;                                               \
                        }                                                         \
                    }                                                             \
                }                                                                 \
        }                                                                         \
    } while (0)

/* float32 keys, eight at a time in vector-extension registers: the counts
 * stay in lanes, and a register with a key strictly inside the window stores
 * its keys to buf branch-free (each key written, the count advanced only for
 * those inside).  buf has room for 8 more keys than FI_WINDOW_BUF. */
typedef uint32_t fi_u32x8 __attribute__((vector_size(32)));
typedef int32_t fi_i32x8 __attribute__((vector_size(32)));
#define FI_WINDOW_BUF 512
#define FI_WINDOW_RUN ((uint64_t)1 << 20)      /* keys per run of lane counts (no int32 overflow) */

FI_CLONES
static uint64_t fi_window_f32(const fi_window_ctx *c, const uint32_t *p, uint64_t n, uint32_t lo, uint32_t span,
                              uint32_t *buf, unsigned *nbuf, uint64_t cnt[3], uint32_t *any_nan)
{
    const uint32_t hi = c->hi;
    const fi_u32x8 zero = {0}, vlo = zero + lo, vhi = zero + hi, vsp = zero + span, vlo1 = zero + (lo + 1u),
                   mag = zero + 0x7FFFFFFFu, inf = zero + 0x7F800000u;
    unsigned nb = *nbuf;
    uint64_t inside = 0, i = 0;
    while (n - i >= 8) {
        uint64_t e = n - i < FI_WINDOW_RUN ? i + (n - i) / 8 * 8 : i + FI_WINDOW_RUN;
        fi_i32x8 bl = {0}, el = {0}, eh = {0}, nan = {0};
        for (; i < e; i += 8) {
            fi_u32x8 k;
            memcpy(&k, p + i, sizeof k);
            k &= mag;
            bl += (fi_i32x8)(k < vlo);                  /* -1 per true lane */
            el += (fi_i32x8)(k == vlo);
            eh += (fi_i32x8)(k == vhi);
            nan |= (fi_i32x8)(k > inf);
            fi_i32x8 in = (fi_i32x8)(k - vlo1 < vsp);
            uint64_t q[4];
            memcpy(q, &in, sizeof q);
            if (q[0] | q[1] | q[2] | q[3]) {
                for (int j = 0; j < 8; j++) {
                    buf[nb] = k[j];
                    nb -= (unsigned)in[j];
                }
                if (nb >= FI_WINDOW_BUF) {
                    inside += nb;
                    fi_window_flush(c, buf, nb);
                    nb = 0;
                }
            }
        }
        for (int j = 0; j < 8; j++) {
            cnt[0] -= (uint64_t)(int64_t)bl[j];
            cnt[1] -= (uint64_t)(int64_t)el[j];
            cnt[2] -= (uint64_t)(int64_t)eh[j];
            *any_nan |= (uint32_t)nan[j];
        }
    }
    for (; i < n; i++) {
        uint32_t k = p[i] & 0x7FFFFFFFu;
        *any_nan |= k > 0x7F800000u;
        cnt[0] += k < lo;
        cnt[1] += k == lo;
        cnt[2] += k == hi;
        buf[nb] = k;
        nb += (uint32_t)(k - lo - 1u) < span;
    }
    if (nb >= FI_WINDOW_BUF) {
        inside += nb;
        fi_window_flush(c, buf, nb);
        nb = 0;
    }
    *nbuf = nb;
    return inside;
}

FI_CLONES
static void fi_window_chunk(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)
{
    const fi_window_ctx *c = (const fi_window_ctx *)params;
    (void)s;
    (void)first;
    const uint32_t lo = c->lo, hi = c->hi;
    const uint32_t span = hi - lo > 0 ? hi - lo - 1u : 0;   /* keys lo+1 .. hi-1 are inside */
    uint32_t buf[FI_WINDOW_BUF + 8];
    unsigned nb = 0;
    uint64_t below = 0, at_lo = 0, at_hi = 0, inside = 0;
    uint32_t any_nan = 0;
    if (c->dtype == FI_OUT_F32) {
        uint64_t cnt[3] = {0, 0, 0};
        inside = fi_window_f32(c, (const uint32_t *)out, n, lo, span, buf, &nb, cnt, &any_nan);
        inside += nb;
        below = cnt[0], at_lo = cnt[1], at_hi = cnt[2];
    } else {
#define FI_K(x) fi_key32(out, (x), c->dtype)
        FI_WINDOW_LOOP(FI_K);
#undef FI_K
    }
    fi_window_flush(c, buf, nb);
    if (lo == hi)
        at_hi = 0;                   /* counted once, as at lo */
    if (any_nan)
        __atomic_store_n(c->nan_seen, 1, __ATOMIC_RELAXED);
    int t = fi_thread_index < c->nslots ? fi_thread_index : c->nslots;
    uint64_t *slot = c->counts + 4 * (uint64_t)t;
    uint64_t add[4] = {below, at_lo, inside, at_hi};
    for (int j = 0; j < 4; j++) {
        if (t == c->nslots)
            __atomic_fetch_add(&slot[j], add[j], __ATOMIC_RELAXED);
        else
            slot[j] += add[j];
    }
}

/* the sample sorted in place by three stable counting passes of 11 bits
 * (tmp holds m keys); a comparison sort took ten times as long */
static void fi_sort_u32(uint32_t *a, uint32_t *tmp, uint64_t m)
{
    uint32_t *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 11) {
        uint64_t count[2048] = {0};
        for (uint64_t i = 0; i < m; i++)
            count[(src[i] >> shift) & 2047u]++;
        uint64_t run = 0;
        for (unsigned d = 0; d < 2048; d++) {
            uint64_t t = count[d];
            count[d] = run;
            run += t;
        }
        for (uint64_t i = 0; i < m; i++)
            dst[count[(src[i] >> shift) & 2047u]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)                       /* three passes end in tmp */
        memcpy(a, src, m * sizeof(uint32_t));
}

/* Try the window.  Returns 1 with the threshold T (*thr), the keys below it
 * (*less) and at it (*at) found, 0 when the radix passes must decide,
 * FI_PRUNE_NAN or FI_PRUNE_NOMEM. */
static int fi_prune_window(fi_prune_buf *bufs, int nbufs, uint64_t total, uint64_t k, uint64_t *thr,
                           uint64_t *less, uint64_t *at)
{
    /* the sample: every stride-th key of the concatenation, 1/256 of them (a
     * bigger sample narrows the window; 1/64 measured slower, its gather
     * reading a quarter of the cache lines) */
    uint64_t m = total / 256 > 65536 ? total / 256 : 65536;
    if (m > total)
        m = total;
    uint64_t stride = total / m;
    uint32_t *sample = malloc(2 * m * sizeof(uint32_t));     /* the keys, then the sort's scratch */
    if (!sample)
        return FI_PRUNE_NOMEM;
    uint64_t j = 0, g = 0;
    for (int b = 0; b < nbufs && j < m; b++) {
        for (; j < m && j * stride < g + bufs[b].n; j++)
            sample[j] = fi_key32(bufs[b].ptr, j * stride - g, bufs[b].dtype);
        g += bufs[b].n;
    }
    m = j;
    fi_sort_u32(sample, sample + m, m);
    /* the k-th smallest key is near rank k m / total of the sample: take 4.5
     * standard deviations of that rank on each side (a miss only costs the
     * radix passes) */
    double q = (double)k / (double)total;
    double r = q * (double)m, sd = 4.5 * __builtin_sqrt((double)m * q * (1.0 - q)) + 2.0;
    uint64_t rlo = r - sd > 0 ? (uint64_t)(r - sd) : 0;
    uint64_t rhi = r + sd < (double)(m - 1) ? (uint64_t)(r + sd) + 1 : m - 1;
    /* a window clamped at an end of the sample reaches the end of the keys,
     * so that it brackets small and large k too (keys above 0x7F800000 are
     * NaN, refused) */
    uint32_t lo = rlo == 0 ? 0 : sample[rlo], hi = rhi == m - 1 ? 0x7F800000u : sample[rhi];
    /* the keys strictly inside: a few times the share of the sample there,
     * and never more than FI_WINDOW_MAX_KEYS (a layout that puts more inside
     * goes to the radix passes, and the memory stays bounded) */
    uint64_t cap = (uint64_t)(((double)(rhi - rlo) + 1.0) / (double)m * (double)total * 3.0) + 65536;
    if (cap > FI_WINDOW_MAX_KEYS)
        cap = FI_WINDOW_MAX_KEYS;
    free(sample);
    int nslots = fi_pass_threads(bufs, nbufs);
    uint64_t *counts = calloc(4 * ((size_t)nslots + 1), sizeof(uint64_t));
    uint32_t *keys = malloc(cap * sizeof(uint32_t));
    if (!counts || !keys) {
        free(counts);
        free(keys);
        return FI_PRUNE_NOMEM;
    }
    uint64_t used = 0;
    int overflow = 0, nan_seen = 0;
    fi_window_ctx ctx = {0, lo, hi, counts, nslots, keys, cap, &used, &overflow, &nan_seen};
    g = 0;
    for (int b = 0; b < nbufs; b++) {
        ctx.dtype = bufs[b].dtype;
        fi_run_buf(fi_window_chunk, &bufs[b], g, &ctx);
        g += bufs[b].n;
    }
    uint64_t below = 0, at_lo = 0, inside = 0, at_hi = 0;
    for (int t = 0; t <= nslots; t++) {
        below += counts[4 * t];
        at_lo += counts[4 * t + 1];
        inside += counts[4 * t + 2];
        at_hi += counts[4 * t + 3];
    }
    free(counts);
    int found = 0;
    if (nan_seen) {
        found = FI_PRUNE_NAN;
    } else if (k > below && !overflow) {
        uint64_t rank = k - below;                   /* 1-based, among the keys >= lo */
        if (rank <= at_lo) {
            *thr = lo, *less = below, *at = at_lo, found = 1;
        } else if (rank <= at_lo + inside) {
            /* the inside keys are |w| bits of finite values: select among them
             * as a float32 buffer */
            fi_prune_buf in_buf = {keys, inside, FI_OUT_F32, NULL};
            uint64_t l;
            found = fi_radix_select(&in_buf, 1, 0, rank - at_lo, thr, &l, at);
            if (found == FI_PRUNE_OK)
                *less = below + at_lo + l, found = 1;
        } else if (rank <= at_lo + inside + at_hi) {
            *thr = hi, *less = below + at_lo + inside, *at = at_hi, found = 1;
        }
    }
    free(keys);
    return found;
}

int fi_prune_magnitude(fi_prune_buf *bufs, int nbufs, uint64_t k)
{
    int wide = 0;
    uint64_t total = 0, nchunks = 0;
    for (int b = 0; b < nbufs; b++) {
        wide |= bufs[b].dtype == FI_OUT_F64;
        total += bufs[b].n;
        nchunks += (bufs[b].n + FI_CHUNK - 1) / FI_CHUNK;
    }
    /* the threshold T, the keys below it and at it */
    uint64_t prefix = 0, below = 0, at = 0;
    int rc = 0;                              /* the window: 1 found, 0 missed, < 0 an error */
    if (!wide && total >= FI_WINDOW_MIN_N && k > 0 && k < total)
        rc = fi_prune_window(bufs, nbufs, total, k, &prefix, &below, &at);
    if (rc == 0)
        rc = fi_radix_select(bufs, nbufs, wide, k, &prefix, &below, &at);   /* FI_PRUNE_OK or < 0 */
    if (rc < 0)
        return rc;
    uint64_t remaining = k - below;          /* keys equal to T to prune, lowest index first */

    /* ties at the threshold: when only some are pruned, count them per chunk
     * so that each chunk knows how many lower-index ties precede it */
    uint64_t *counts = NULL;
    int count_ties = remaining > 0 && remaining < at;
    if (count_ties) {
        counts = calloc(2 * (nchunks + 1), sizeof(uint64_t));
        if (!counts)
            return FI_PRUNE_NOMEM;
        uint64_t g = 0, base = 0;
        for (int b = 0; b < nbufs; b++) {
            fi_cut_ctx ctx = {bufs[b].dtype, wide, prefix, base, g, counts, NULL, 0, 0, NULL};
            fi_run_buf(fi_tie_chunk, &bufs[b], g, &ctx);
            g += bufs[b].n;
            base += (bufs[b].n + FI_CHUNK - 1) / FI_CHUNK;
        }
        uint64_t run = 0;                    /* exclusive prefix sums */
        for (uint64_t c = 0; c < nchunks; c++) {
            uint64_t t = counts[c];
            counts[nchunks + 1 + c] = t;
            counts[c] = run;
            run += t;
        }
    }
    uint64_t g = 0, base = 0;
    for (int b = 0; b < nbufs; b++) {
        fi_cut_ctx ctx = {bufs[b].dtype, wide, prefix, base, g, counts,
                          counts ? counts + nchunks + 1 : NULL, remaining, count_ties, bufs[b].mask};
        fi_run_buf(fi_cut_chunk, &bufs[b], g, &ctx);
        g += bufs[b].n;
        base += (bufs[b].n + FI_CHUNK - 1) / FI_CHUNK;
    }
    free(counts);
    return FI_PRUNE_OK;
}

/* ---- N:M ------------------------------------------------------------------- */

int fi_prune_n_m(void *ptr, int dtype, uint64_t outer, uint64_t len, uint64_t inner,
                 unsigned n, unsigned m, uint8_t *mask)
{
    if (m == 0 || m > 64 || n > m || len % m)
        return -1;
    for (uint64_t o = 0; o < outer; o++) {
        for (uint64_t g = 0; g < len; g += m) {
            for (uint64_t in = 0; in < inner; in++) {
                uint64_t idx[64], key[64];
                for (unsigned j = 0; j < m; j++) {
                    idx[j] = (o * len + g + j) * inner + in;
                    key[j] = fi_key64(ptr, idx[j], dtype);
                }
                /* entry j is kept when fewer than n entries beat it; an entry
                 * beats j when larger, or equal and at a lower index */
                for (unsigned j = 0; j < m; j++) {
                    unsigned beat = 0;
                    for (unsigned q = 0; q < m; q++)
                        beat += key[q] > key[j] || (key[q] == key[j] && q < j);
                    int keep = beat < n;
                    if (!keep)
                        fi_zero(ptr, idx[j], dtype);
                    if (mask)
                        mask[idx[j]] = (uint8_t)keep;
                }
            }
        }
    }
    return 0;
}

/* ---- masks and checks -------------------------------------------------------- */

void fi_apply_mask(void *out, uint64_t n, size_t itemsize, const uint8_t *mask)
{
    char *o = (char *)out;
    for (uint64_t i = 0; i < n; i++)
        if (!mask[i])
            memset(o + i * itemsize, 0, itemsize);
}

int fi_has_nan(const void *ptr, uint64_t n, int dtype)
{
    int wide = dtype == FI_OUT_F64;
    uint64_t nan_key = wide ? UINT64_C(0x7FF0000000000000) : UINT64_C(0x7F800000);
    for (uint64_t i = 0; i < n; i++)
        if (FI_KEY(wide, ptr, i, dtype) > nan_key)
            return 1;
    return 0;
}
