/* The memory and thread check of the C kernels (tools/check_memory.sh), with
 * no Python in the way: run under valgrind memcheck, or built with
 * -fsanitize=thread (or address,undefined), every kernel of the table, every
 * output type, the mask and tile wrappers, the pruning entry points and the
 * allocator, at every SIMD level asked for and several thread counts, over
 * odd lengths and offsets.  Every output lies between guard bytes that are
 * checked afterwards, and every result is compared bit for bit with the
 * scalar kernel called directly on one thread (pruning: with one thread).
 * The output region itself is left uninitialised before a fill, so that
 * memcheck reports any element a kernel forgets to write.
 *
 *   driver [--quick] [--levels scalar,avx2,...] [--threads 1,2,3,8]
 *
 * --quick: smaller big sizes and fewer offsets (for valgrind).  Prints one
 * line per section and exits 1 on any difference or guard overwrite, 2 on
 * bad arguments (such as a level this CPU does not have). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fi_alloc.h"
#include "fi_fill.h"
#include "fi_kernels.h"
#include "fi_prune.h"
#include "fi_runtime.h"
#include "fi_wrap.h"

#define SEED UINT64_C(0x0123456789ABCDEF)
#define STREAM UINT64_C(7)
#define GUARD 64
#define GUARD_BYTE 0xA5
#define STREAMING_TOTAL ((uint64_t)64 << 20)   /* a slice of a fill this big streams its stores */

static long failures;
static int quick;
static int levels[FI_LEVEL_COUNT], nlevels;
static int threads[16], nthreads;

#define FAIL(...)                                   \
    do {                                            \
        if (failures < 20) {                        \
            printf("FAIL: ");                       \
            printf(__VA_ARGS__);                    \
            printf("\n");                           \
        }                                           \
        failures++;                                 \
    } while (0)

/* ---- the fills --------------------------------------------------------------- */

typedef union {
    fi_uniform_f32_params u32;
    fi_uniform_f64_params u64;
    fi_normal_f32_params n32;
    fi_normal_f64_params n64;
    fi_trunc_f32_params t32;
    fi_trunc_f64_params t64;
    fi_pattern_params pat;
} params_t;

typedef struct {
    char name[48];
    int kind, code;
    params_t p;
} fill_case;

/* Truncated-normal parameters (mean, std, a, b) -> the kernels' ten values,
 * pasted from fastinit._truncation (stream version 2):
 *   v, narrow = _truncation.trunc_params(mean, std, a, b)   # the f64 values
 *   _truncation.f32_values(v)                               # a 32-bit TRUNC's
 * printed with float.hex().  A narrow interval (the last) runs as TRUNC_WIDE,
 * with the f64 values, for the 32-bit outputs. */
typedef struct {
    const char *name;
    int narrow;
    double f64[10];
    float f32[10];
} trunc_set;

static const trunc_set trunc_sets[] = {
    {"std0.02[-2,2]", 0,
     {0x0.0p+0, 0x1.47ae147ae147bp-6, -0x1.0p+1, 0x1.0p+1, 0x0.0p+0, 0x0.0p+0, 0x1.0p+0, 0x1.0p-1,
      0x1.3333333333333p-4, 0x0.0p+0},
     {0x0.0p+0f, 0x1.47ae14p-6f, -0x1.0p+1f, 0x1.0p+1f, 0x0.0p+0f, 0x0.0p+0f, 0x1.0p+0f, 0x1.0p-1f,
      0x1.0p-8f, 0x0.0p+0f}},
    {"m0.1[-1,3]", 0,
     {0x1.999999999999ap-4, 0x1.0p+0, -0x1.0p+0, 0x1.8p+1, 0x1.15d8167788ec6p-3, 0x1.e91c9c6c201dep-10,
      0x1.b9956c13e7b4dp-1, 0x1.0p-1, 0x1.3333333333333p-4, 0x0.0p+0},
     {0x1.99999ap-4f, 0x1.0p+0f, -0x1.0p+0f, 0x1.8p+1f, 0x1.15d816p-3f, 0x1.e91c9cp-10f, 0x1.b9956cp-1f,
      0x1.0p-1f, 0x1.0p-8f, 0x0.0p+0f}},
    {"[5,6]", 0,
     {0x0.0p+0, 0x1.0p+0, 0x1.4p+2, 0x1.8p+2, 0x0.0p+0, 0x1.0f30ef0092d5ap-30, 0x1.32bafe3232f0ep-22, -INFINITY,
      0x1.3333333333333p-4, 0x0.0p+0},
     {0x0.0p+0f, 0x1.0p+0f, 0x1.4p+2f, 0x1.8p+2f, 0x0.0p+0f, 0x1.0f30fp-30f, 0x1.32bafep-22f, -INFINITY,
      0x1.0p-8f, 0x0.0p+0f}},
    {"[-12,-11.5]", 0,
     {0x0.0p+0, 0x1.0p+0, -0x1.8p+3, -0x1.7p+3, 0x1.272b313666283p-9, 0x0.0p+0, 0x1.aaefe1ccb7a98p-1, INFINITY,
      INFINITY, 0x1.1542457337d43p+6},
     {0x0.0p+0f, 0x1.0p+0f, -0x1.8p+3f, -0x1.7p+3f, 0x1.272b32p-9f, 0x0.0p+0f, 0x1.aaefe2p-1f, INFINITY,
      INFINITY, 0x1.154246p+6f}},
    {"[-37,-36.5]", 0,
     {0x0.0p+0, 0x1.0p+0, -0x1.28p+5, -0x1.24p+5, 0x1.eaccc6bfeb485p-28, 0x0.0p+0, 0x1.621fd790b288ap-1,
      INFINITY, INFINITY, 0x1.4f22fc448cc35p+9},
     {0x0.0p+0f, 0x1.0p+0f, -0x1.28p+5f, -0x1.24p+5f, 0x1.eaccc6p-28f, 0x0.0p+0f, 0x1.621fd8p-1f, INFINITY,
      INFINITY, 0x1.4f22fcp+9f}},
    {"narrow[0.3,0.3001]", 1,
     {0x0.0p+0, 0x1.0p+0, 0x1.3333333333333p-2, 0x1.334d6a161e4f7p-2, 0x0.0p+0, 0x1.87383afe0bbf1p-2,
      0x1.3fed2e5a3c000p-15, -INFINITY, 0x1.3333333333333p-4, 0x0.0p+0},
     {0}},
};

static const char *const out_names[FI_OUT_COUNT] = {"f32", "f64", "f16", "bf16"};

static fill_case cases[64];
static int ncases;

static fill_case *add_case(int kind, int code, const char *what)
{
    fill_case *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->code = code;
    snprintf(c->name, sizeof c->name, "%s/%s", what, kind == FI_KIND_BITS ? "u32" : out_names[code]);
    return c;
}

static void make_cases(void)
{
    add_case(FI_KIND_BITS, FI_OUT_F32, "bits");
    for (int code = 0; code < FI_OUT_COUNT; code++) {
        int f64 = code == FI_OUT_F64;
        fill_case *c = add_case(FI_KIND_UNIFORM, code, "uniform");
        if (f64) { c->p.u64.lo = -0.5; c->p.u64.width = 2.5; }
        else { c->p.u32.lo = -0.5f; c->p.u32.width = 2.5f; }
        c = add_case(FI_KIND_NORMAL, code, "normal");
        if (f64) { c->p.n64.mean = 0.25; c->p.n64.std = 1.5; }
        else { c->p.n32.mean = 0.25f; c->p.n32.std = 1.5f; }
        for (size_t t = 0; t < sizeof trunc_sets / sizeof trunc_sets[0]; t++) {
            const trunc_set *ts = &trunc_sets[t];
            int wide = ts->narrow && !f64;
            char what[40];
            snprintf(what, sizeof what, "%s%s", wide ? "trunc_wide" : "trunc", ts->name);
            c = add_case(wide ? FI_KIND_TRUNC_WIDE : FI_KIND_TRUNC, code, what);
            const double *v = ts->f64;
            const float *w = ts->f32;
            if (f64 || wide) {
                fi_trunc_f64_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
                c->p.t64 = p;
            } else {
                fi_trunc_f32_params p = {w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9]};
                c->p.t32 = p;
            }
        }
        c = add_case(FI_KIND_PATTERN, code, "pattern");
        c->p.pat.itemsize = fi_out_itemsize[code];
        for (size_t i = 0; i < c->p.pat.itemsize; i++)
            c->p.pat.value[i] = (unsigned char)(0x31 + 7 * i);
    }
}

static fi_kernel kernel_at(const fill_case *c, int level, size_t *item)
{
    return fi_kernel_for(fi_table_for(level), c->kind, c->code, item);
}

/* ---- guarded buffers ------------------------------------------------------------ */

/* bytes at out, `lead` bytes after a 64-byte aligned point, GUARD guard bytes
 * each side; the bytes at out are left uninitialised */
typedef struct {
    unsigned char *base, *out;
    size_t bytes, lead;
} gbuf;

static void gbuf_make(gbuf *g, size_t bytes, size_t lead)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, GUARD + lead + bytes + GUARD) != 0) {
        printf("out of memory\n");
        exit(2);
    }
    g->base = p;
    g->out = g->base + GUARD + lead;
    g->bytes = bytes;
    g->lead = lead;
    memset(g->base, GUARD_BYTE, GUARD + lead);
    memset(g->out + bytes, GUARD_BYTE, GUARD);
}

static int gbuf_guards_ok(const gbuf *g)
{
    for (size_t i = 0; i < GUARD + g->lead; i++)
        if (g->base[i] != GUARD_BYTE)
            return 0;
    for (size_t i = 0; i < GUARD; i++)
        if (g->out[g->bytes + i] != GUARD_BYTE)
            return 0;
    return 1;
}

static void gbuf_free(gbuf *g) { free(g->base); }

/* --quick: the wrappers around one kernel of each kind and each output type
 * (the wrappers do not look at the values; the fills section covers every
 * kernel) */
static int wrapper_case_quick(const fill_case *c)
{
    switch (c->kind) {
    case FI_KIND_BITS:
    case FI_KIND_UNIFORM: return 1;
    case FI_KIND_NORMAL: return c->code == FI_OUT_F32;
    case FI_KIND_TRUNC: return c->code == FI_OUT_F64 && strstr(c->name, trunc_sets[0].name) != NULL;
    case FI_KIND_TRUNC_WIDE: return c->code == FI_OUT_F16;
    default: return c->code == FI_OUT_BF16;
    }
}

/* ---- fills: every level and thread count against the scalar kernel ---------------- */

static int set_runtime(int level, int nthr)
{
    if (fi_set_level(level) != level || fi_get_level() != level) {
        FAIL("fi_set_level(%d) did not take", level);
        return 0;
    }
    fi_set_num_threads(nthr);
    if (fi_get_num_threads() != nthr) {
        FAIL("fi_set_num_threads(%d) did not take", nthr);
        return 0;
    }
    return 1;
}

/* stream index of the first element: the offset, moved down where the fill
 * would run past the last stream index 2^64 - 1 */
static uint64_t first_for(uint64_t offset, uint64_t n) { return offset > UINT64_MAX - n ? UINT64_MAX - n + 1 : offset; }

static long fills_compared;

static void check_one(const char *what, const fill_case *c, uint64_t n, uint64_t first, int level, int nthr,
                      const gbuf *g, const unsigned char *want)
{
    fills_compared++;
    if (!gbuf_guards_ok(g))
        FAIL("%s %s n=%llu first=%llu level=%s threads=%d: guard bytes overwritten", what, c->name,
             (unsigned long long)n, (unsigned long long)first, fi_level_names[level], nthr);
    else if (memcmp(g->out, want, g->bytes) != 0)
        FAIL("%s %s n=%llu first=%llu level=%s threads=%d: bits differ from the scalar kernel", what, c->name,
             (unsigned long long)n, (unsigned long long)first, fi_level_names[level], nthr);
}

/* Fill n elements at stream index first with every level and thread count
 * (through fi_run, aligned and one element off, plain and as a slice of a
 * fill big enough to stream its stores) and with each level's kernel called
 * directly; compare with the scalar kernel. */
static void sweep_fill(const fill_case *c, uint64_t n, uint64_t first, int nthr_list, int both_variants)
{
    size_t item;
    fi_kernel ref = kernel_at(c, FI_LEVEL_SCALAR, &item);
    size_t bytes = (size_t)n * item;
    unsigned char *want = malloc(bytes ? bytes : 1);
    fi_stream s = {SEED, STREAM};
    ref(want, n, &s, first, &c->p);
    for (int li = 0; li < nlevels; li++) {
        int level = levels[li];
        fi_kernel fn = kernel_at(c, level, &item);
        for (int lead = 0; lead < (nthr_list ? 1 : 2); lead++) {
            gbuf g;
            gbuf_make(&g, bytes, lead ? item : 0);
            fn(g.out, n, &s, first, &c->p);
            check_one("direct", c, n, first, level, 1, &g, want);
            gbuf_free(&g);
        }
        for (int ti = 0; ti < (nthr_list ? nthreads : 1); ti++) {
            int nthr = nthr_list ? threads[ti] : 3;
            if (!set_runtime(level, nthr))
                continue;
            /* big fills alternate: plain, then a misaligned slice of a 64 MiB fill */
            for (int v = both_variants ? ti % 2 : 0; v < (both_variants ? ti % 2 + 1 : 1); v++) {
                gbuf g;
                gbuf_make(&g, bytes, v ? item : 0);
                fi_run(fi_kernel_for(fi_table(), c->kind, c->code, &item), g.out, item, n, &s, first, &c->p,
                       v ? STREAMING_TOTAL : bytes);
                check_one(v ? "fi_run(slice of 64 MiB, misaligned)" : "fi_run", c, n, first, level, nthr, &g,
                          want);
                gbuf_free(&g);
            }
        }
    }
    free(want);
}

static void section_fills(void)
{
    static const uint64_t small[] = {0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 1000, 4099};
    static const uint64_t offsets[] = {0, 1, 2, 3, 5, UINT64_C(4294967293), UINT64_C(4294967296) + 1,
                                       UINT64_MAX - 999};
    /* big fills (shared by the pool): every offset at one length, one at another */
    static const uint64_t big_off_full[] = {0, 1, UINT64_C(4294967293), UINT64_MAX - 999};
    static const uint64_t big_off_quick[] = {UINT64_C(4294967293)};
    long before = fills_compared, failed = failures;
    for (int ci = 0; ci < ncases; ci++) {
        const fill_case *c = &cases[ci];
        for (size_t li = 0; li < sizeof small / sizeof small[0]; li++)
            for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
                if (quick && oi % 2 && li % 2)
                    continue;
                sweep_fill(c, small[li], first_for(offsets[oi], small[li]), 0, 0);
            }
        /* --quick: the shared fills for one kernel of each kind and output
         * (the same subset as the wrappers'); small ones for every kernel */
        if (quick && !wrapper_case_quick(c))
            continue;
        const uint64_t *boff = quick ? big_off_quick : big_off_full;
        size_t nboff = quick ? 1 : sizeof big_off_full / sizeof big_off_full[0];
        for (size_t oi = 0; oi < nboff; oi++)
            sweep_fill(c, FI_PARALLEL_MIN + 3, first_for(boff[oi], FI_PARALLEL_MIN + 3), 1, 1);
        if (!quick)
            sweep_fill(c, 1000003, UINT64_C(4294967293), 1, 1);
    }
    printf("fills: %d kernels x outputs, %ld fills compared with the scalar kernel, %ld failures\n", ncases,
           fills_compared - before, failures - failed);
}

/* ---- the wrappers: masked fills and tiles ------------------------------------------ */

static void section_wrappers(void)
{
    long failed = failures, runs = 0;
    uint64_t n = FI_PARALLEL_MIN + 11, first = UINT64_C(4294967293);
    unsigned char *mask = malloc(n);
    for (uint64_t i = 0; i < n; i++)
        mask[i] = (unsigned char)((i * 2654435761u >> 7) % 3 != 0);
    for (int ci = 0; ci < ncases; ci++) {
        const fill_case *c = &cases[ci];
        if (quick && !wrapper_case_quick(c))
            continue;
        size_t item;
        fi_kernel ref = kernel_at(c, FI_LEVEL_SCALAR, &item);
        fi_stream s = {SEED, STREAM};
        /* masked: the kernel's values where the mask is set, zero elsewhere */
        unsigned char *want = malloc(n * item);
        ref(want, n, &s, first, &c->p);
        for (uint64_t i = 0; i < n; i++)
            if (!mask[i])
                memset(want + i * item, 0, item);
        /* a tile: columns [c0, c0 + w) of every row of a rows x cols tensor */
        const uint64_t rows = quick ? 530 : 1201, cols = 1013, c0 = 17, w = 501;
        uint64_t *local = malloc(rows * sizeof *local), *tfirst = malloc(rows * sizeof *tfirst);
        unsigned char *twant = malloc(rows * w * item);
        for (uint64_t r = 0; r < rows; r++) {
            local[r] = r * w;
            tfirst[r] = 3 + r * cols + c0;
            ref(twant + r * w * item, w, &s, tfirst[r], &c->p);
        }
        for (int li = 0; li < nlevels; li++)
            for (int ti = 0; ti < nthreads; ti++) {
                int level = levels[li], nthr = threads[ti];
                if (!set_runtime(level, nthr))
                    continue;
                fi_kernel fn = fi_kernel_for(fi_table(), c->kind, c->code, &item);
                gbuf g;
                gbuf_make(&g, n * item, item);
                fi_masked_params mp = {fn, &c->p, item, mask, first};
                fi_run(fi_masked_fill, g.out, item, n, &s, first, &mp, n * item);
                runs++;
                if (!gbuf_guards_ok(&g) || memcmp(g.out, want, n * item) != 0)
                    FAIL("masked %s level=%s threads=%d: wrong bits or guards", c->name, fi_level_names[level],
                         nthr);
                gbuf_free(&g);
                gbuf_make(&g, rows * w * item, 0);
                fi_runs_params rp = {fn, &c->p, item, g.out, local, tfirst, w};
                fi_run(fi_runs_fill, g.out, 0, rows * w, &s, 0, &rp, rows * w * item);
                runs++;
                if (!gbuf_guards_ok(&g) || memcmp(g.out, twant, rows * w * item) != 0)
                    FAIL("tile %s level=%s threads=%d: wrong bits or guards", c->name, fi_level_names[level], nthr);
                gbuf_free(&g);
            }
        free(want);
        free(twant);
        free(local);
        free(tfirst);
    }
    free(mask);
    printf("wrappers: %ld masked and tile fills compared, %ld failures\n", runs, failures - failed);
}

/* ---- pruning --------------------------------------------------------------------------- */

/* n elements of dtype code, normal values (some repeated, so that ties
 * occur), in a guarded buffer */
static void prune_data(gbuf *g, int code, uint64_t n, uint64_t stream)
{
    size_t item = fi_out_itemsize[code];
    gbuf_make(g, n * item, code == FI_OUT_F16 ? 2 : 0);
    fill_case c;
    memset(&c, 0, sizeof c);
    c.kind = FI_KIND_NORMAL;
    c.code = code;
    if (code == FI_OUT_F64) { c.p.n64.mean = 0.0; c.p.n64.std = 1.0; }
    else { c.p.n32.mean = 0.0f; c.p.n32.std = 1.0f; }
    size_t it;
    fi_stream s = {SEED, stream};
    kernel_at(&c, FI_LEVEL_SCALAR, &it)(g->out, n, &s, 0, &c.p);
    for (uint64_t i = 0; i + 7 < n; i += 97)      /* ties: copy one value over the next few */
        for (int j = 1; j < 4; j++)
            memcpy(g->out + (i + (uint64_t)j) * item, g->out + i * item, item);
}

typedef struct {
    int code;
    uint64_t n;
} prune_spec;

/* Prune k over bufs (copies of the data) at every thread count;
 * compare data and masks with the one-thread scalar result, check guards
 * and that exactly k entries are masked out. */
static long prune_runs;

static void sweep_prune(const prune_spec *spec, int nb, uint64_t k)
{
    gbuf data[8], ref[8], refmask[8];
    memset(ref, 0, sizeof ref);
    memset(refmask, 0, sizeof refmask);
    uint64_t total = 0;
    for (int b = 0; b < nb; b++) {
        prune_data(&data[b], spec[b].code, spec[b].n, 100 + (uint64_t)b);
        total += spec[b].n;
    }
    /* pruning does not depend on the SIMD level (its scan loops are chosen
     * by the loader), only the thread count could change a result */
    for (int pass = 0; pass <= nthreads; pass++) {
        int level = levels[nlevels - 1];
        int nthr = pass == 0 ? 1 : threads[pass - 1];
        if (!set_runtime(level, nthr))
            continue;
        gbuf out[8], mask[8];
        fi_prune_buf bufs[8];
        for (int b = 0; b < nb; b++) {
            gbuf_make(&out[b], data[b].bytes, data[b].lead);
            memcpy(out[b].out, data[b].out, data[b].bytes);
            gbuf_make(&mask[b], spec[b].n, 1);
            bufs[b].ptr = spec[b].n ? out[b].out : NULL;
            bufs[b].n = spec[b].n;
            bufs[b].dtype = spec[b].code;
            bufs[b].mask = spec[b].n ? mask[b].out : NULL;
        }
        int rc = fi_prune_magnitude(bufs, nb, k);
        prune_runs++;
        uint64_t pruned = 0;
        for (int b = 0; b < nb; b++) {
            for (uint64_t i = 0; i < spec[b].n; i++)
                pruned += mask[b].out[i] == 0;
            if (!gbuf_guards_ok(&out[b]) || !gbuf_guards_ok(&mask[b]))
                FAIL("prune buf %d/%d n=%llu k=%llu level=%s threads=%d: guard bytes overwritten", b, nb,
                     (unsigned long long)spec[b].n, (unsigned long long)k, fi_level_names[level], nthr);
        }
        if (rc != FI_PRUNE_OK || pruned != k)
            FAIL("prune %d bufs k=%llu of %llu level=%s threads=%d: rc %d, %llu masked out", nb,
                 (unsigned long long)k, (unsigned long long)total, fi_level_names[level], nthr, rc,
                 (unsigned long long)pruned);
        for (int b = 0; b < nb; b++) {
            if (pass == 0) {
                ref[b] = out[b];
                refmask[b] = mask[b];
                continue;
            }
            if (memcmp(out[b].out, ref[b].out, out[b].bytes) != 0 || memcmp(mask[b].out, refmask[b].out, spec[b].n))
                FAIL("prune buf %d/%d k=%llu level=%s threads=%d: differs from one thread", b, nb,
                     (unsigned long long)k, fi_level_names[level], nthr);
            gbuf_free(&out[b]);
            gbuf_free(&mask[b]);
        }
    }
    for (int b = 0; b < nb; b++) {
        gbuf_free(&data[b]);
        gbuf_free(&ref[b]);
        gbuf_free(&refmask[b]);
    }
}

static int nan_untouched(int code, uint64_t n, uint64_t at)
{
    gbuf g;
    prune_data(&g, code, n, 9);
    size_t item = fi_out_itemsize[code];
    static const unsigned char qnan[4][8] = {{0, 0, 0xC0, 0x7F}, {0, 0, 0, 0, 0, 0, 0xF8, 0x7F}, {0, 0x7E}, {0xC0, 0x7F}};
    memcpy(g.out + at * item, qnan[code], item);
    unsigned char *copy = malloc(g.bytes);
    memcpy(copy, g.out, g.bytes);
    int ok = fi_has_nan(g.out, n, code) == 1;
    fi_prune_buf b = {g.out, n, code, NULL};
    ok = ok && fi_prune_magnitude(&b, 1, n / 2) == FI_PRUNE_NAN && memcmp(copy, g.out, g.bytes) == 0;
    ok = ok && gbuf_guards_ok(&g);
    free(copy);
    gbuf_free(&g);
    return ok;
}

static void section_prune(void)
{
    long failed = failures;
    uint64_t window = quick ? (UINT64_C(1) << 20) + 5 : (UINT64_C(1) << 21) + 3;  /* the sample-window path */
    for (int code = 0; code < FI_OUT_COUNT; code++) {
        static const uint64_t sizes[] = {1, 7, 1000, FI_PARALLEL_MIN + 3};
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            prune_spec one = {code, sizes[si]};
            sweep_prune(&one, 1, 0);
            sweep_prune(&one, 1, sizes[si] / 3);
            sweep_prune(&one, 1, sizes[si]);
        }
        prune_spec big = {code, window};
        if (code == FI_OUT_F32 || !quick)
            sweep_prune(&big, 1, window / 5 + 1);
    }
    /* global pruning over mixed dtypes: 32-bit keys, then 64-bit keys (a float64 buffer) */
    prune_spec mixed32[] = {{FI_OUT_F32, window}, {FI_OUT_BF16, 1001}, {FI_OUT_F16, 70001}, {FI_OUT_F32, 0}};
    sweep_prune(mixed32, 4, (window + 71002) / 2);
    prune_spec mixed64[] = {{FI_OUT_F32, 300007}, {FI_OUT_F64, 5001}, {FI_OUT_F16, 333}, {FI_OUT_BF16, 65537}};
    sweep_prune(mixed64, 4, 123457);
    /* NaN: reported, nothing written */
    for (int code = 0; code < FI_OUT_COUNT; code++)
        if (!nan_untouched(code, 1001, 1000) || !nan_untouched(code, FI_PARALLEL_MIN + 3, 5))
            FAIL("NaN in a %s buffer: not reported, or the buffer changed", out_names[code]);
    /* N:M, masks, NaN checks on odd shapes */
    long nm = 0;
    for (int code = 0; code < FI_OUT_COUNT; code++) {
        size_t item = fi_out_itemsize[code];
        static const uint64_t shapes[][3] = {{1, 4, 1}, {3, 64, 5}, {2, 12, 7}, {7, 1024, 3}};
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            uint64_t o = shapes[si][0], l = shapes[si][1], in = shapes[si][2], n = o * l * in;
            for (unsigned m = 4; m <= 4 && l % m == 0; m++)
                for (unsigned keep = 0; keep <= m; keep++) {
                    gbuf g, mk;
                    prune_data(&g, code, n, 11);
                    gbuf_make(&mk, n, 3);
                    int rc = fi_prune_n_m(g.out, code, o, l, in, keep, m, mk.out);
                    uint64_t kept = 0;
                    for (uint64_t i = 0; i < n; i++)
                        kept += mk.out[i];
                    nm++;
                    if (rc != 0 || kept != n / m * keep || !gbuf_guards_ok(&g) || !gbuf_guards_ok(&mk))
                        FAIL("n:m %u:%u %s (%llu,%llu,%llu): rc %d, kept %llu", keep, m, out_names[code],
                             (unsigned long long)o, (unsigned long long)l, (unsigned long long)in, rc,
                             (unsigned long long)kept);
                    gbuf_free(&mk);
                    gbuf_free(&g);
                }
        }
        static const uint64_t lens[] = {1, 7, 63, 1000003};
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            uint64_t n = lens[li];
            gbuf g, mk;
            prune_data(&g, code, n, 12);
            gbuf_make(&mk, n, 1);
            for (uint64_t i = 0; i < n; i++)
                mk.out[i] = (unsigned char)(i % 3 == 1);
            int nan_before = fi_has_nan(g.out, n, code);
            fi_apply_mask(g.out, n, item, mk.out);
            uint64_t zeros = 0;
            for (uint64_t i = 0; i < n; i++) {
                int z = 1;
                for (size_t j = 0; j < item; j++)
                    z &= g.out[i * item + j] == 0;
                zeros += (uint64_t)z;
            }
            nm++;
            if (nan_before != 0 || zeros < n - n / 3 || !gbuf_guards_ok(&g) || !gbuf_guards_ok(&mk))
                FAIL("apply_mask/has_nan %s n=%llu", out_names[code], (unsigned long long)n);
            gbuf_free(&mk);
            gbuf_free(&g);
        }
    }
    printf("pruning: %ld magnitude prunes compared, %ld N:M / mask / NaN checks, %ld failures\n", prune_runs,
           nm, failures - failed);
}

/* ---- the allocator ------------------------------------------------------------------- */

static void section_alloc(void)
{
    long failed = failures;
    static const size_t sizes[] = {0, 1, 63, 1000, FI_MAP_MIN - 1, FI_MAP_MIN, 3 * FI_MAP_MIN + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fi_allocation a;
        if (fi_alloc(sizes[i], &a) != 0) {
            FAIL("fi_alloc(%zu) failed", sizes[i]);
            continue;
        }
        size_t align = a.length ? FI_HUGE_PAGE : 64;
        if ((uintptr_t)a.ptr % align != 0)
            FAIL("fi_alloc(%zu): %p not %zu-byte aligned", sizes[i], a.ptr, align);
        memset(a.ptr, 0x5A, sizes[i]);
        fi_free(&a);
        fi_free(&a);          /* a second free is a no-op */
    }
    printf("alloc: %zu sizes, %ld failures\n", sizeof sizes / sizeof sizes[0], failures - failed);
}

/* ---- concurrency: callers racing each other and the runtime settings ---------------- */

typedef struct {
    int index;
    const fill_case *c;
    const unsigned char *want;
    uint64_t n, first;
    size_t item;
    int bad;
} racer;

static int first_levels[8];

static void *first_use(void *arg)
{
    /* the level's lazy initialisation, raced by several threads */
    first_levels[*(int *)arg] = fi_get_level();
    return NULL;
}

static atomic_int stop_toggling;

static void *toggler(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !atomic_load(&stop_toggling); i++) {
        fi_set_num_threads(1 + (int)(i % 3));
        fi_set_level(levels[i % (unsigned)nlevels]);
        (void)fi_get_num_threads();
        (void)fi_get_level();
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *fill_racer(void *arg)
{
    racer *r = (racer *)arg;
    unsigned char *out = malloc(r->n * r->item);
    fi_stream s = {SEED, STREAM};
    for (int rep = 0; rep < (quick ? 3 : 6); rep++) {
        size_t item;
        fi_kernel fn = fi_kernel_for(fi_table(), r->c->kind, r->c->code, &item);
        fi_run(fn, out, item, r->n, &s, r->first, &r->c->p, r->n * item);
        if (memcmp(out, r->want, r->n * item) != 0)
            r->bad++;
    }
    free(out);
    return NULL;
}

static void section_concurrency(void)
{
    long failed = failures;
    pthread_t t[8];
    int idx[8];
    for (int i = 0; i < 8; i++) {
        idx[i] = i;
        pthread_create(&t[i], NULL, first_use, &idx[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        if (first_levels[i] != fi_detect_level())
            FAIL("first fi_get_level in thread %d gave %d, not the detected %d", i, first_levels[i],
                 fi_detect_level());
    /* four callers fill at once (one gets the pool, the others run alone)
     * while a fifth changes the thread count and the level */
    /* uniform f32, normal f64, truncated normal f32, bits */
    const fill_case *pick[4] = {&cases[1], &cases[11], &cases[3], &cases[0]};
    racer r[4];
    unsigned char *want[4];
    for (int i = 0; i < 4; i++) {
        size_t item;
        r[i].index = i;
        r[i].c = pick[i];
        r[i].n = FI_PARALLEL_MIN + 5 + (uint64_t)i * 4099;
        r[i].first = (uint64_t)i * UINT64_C(1000000007);
        fi_kernel ref = kernel_at(pick[i], FI_LEVEL_SCALAR, &item);
        r[i].item = item;
        want[i] = malloc(r[i].n * item);
        fi_stream s = {SEED, STREAM};
        ref(want[i], r[i].n, &s, r[i].first, &pick[i]->p);
        r[i].want = want[i];
        r[i].bad = 0;
    }
    atomic_store(&stop_toggling, 0);
    pthread_t tog;
    pthread_create(&tog, NULL, toggler, NULL);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fill_racer, &r[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop_toggling, 1);
    pthread_join(tog, NULL);
    for (int i = 0; i < 4; i++) {
        if (r[i].bad)
            FAIL("concurrent fill %s: %d of its fills differ", pick[i]->name, r[i].bad);
        free(want[i]);
    }
    printf("concurrency: 8 racing first uses of the level, 4 racing callers under changing settings, "
           "%ld failures\n", failures - failed);
}

/* ---- main ------------------------------------------------------------------------------ */

/* the CPU time of the section just ended */
static void lap(void)
{
    static clock_t last;
    clock_t now = clock();
    printf("  (%.1f s CPU)\n", (double)(now - last) / CLOCKS_PER_SEC);
    last = now;
    fflush(stdout);
}

static int parse_list(const char *s, int *out, int max, int levels_list)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max)
            return -1;
        int v = -1;
        if (levels_list) {
            for (int k = 0; k < FI_LEVEL_COUNT; k++)
                if (strcmp(tok, fi_level_names[k]) == 0)
                    v = k;
        } else {
            v = atoi(tok);
        }
        if (v < (levels_list ? 0 : 1))
            return -1;
        out[n++] = v;
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *lv = NULL, *th = "1,2,3,8";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--levels") == 0 && i + 1 < argc)
            lv = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            th = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--levels scalar,avx2,...] [--threads 1,2,3,8]\n", argv[0]);
            return 2;
        }
    }
    int detected = fi_detect_level();
    if (lv) {
        nlevels = parse_list(lv, levels, FI_LEVEL_COUNT, 1);
    } else {
        for (int k = 0; k <= detected; k++)
            levels[nlevels++] = k;
    }
    nthreads = parse_list(th, threads, 16, 0);
    if (nlevels < 1 || nthreads < 1) {
        fprintf(stderr, "bad --levels or --threads\n");
        return 2;
    }
    for (int i = 0; i < nlevels; i++)
        if (levels[i] > detected) {
            fprintf(stderr, "level %s asked for, but this CPU has at most %s\n", fi_level_names[levels[i]],
                    fi_level_names[detected]);
            return 2;
        }
    make_cases();
    printf("driver: levels");
    for (int i = 0; i < nlevels; i++)
        printf(" %s", fi_level_names[levels[i]]);
    printf(", threads");
    for (int i = 0; i < nthreads; i++)
        printf(" %d", threads[i]);
    printf("%s\n", quick ? " (quick)" : "");
    fflush(stdout);
    section_concurrency();     /* first: it races the level's first use */
    lap();
    section_fills();
    lap();
    section_wrappers();
    lap();
    section_prune();
    lap();
    section_alloc();
    fi_set_num_threads(1);     /* joins the pool's workers */
    printf("%s: %ld failures\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
