/* The SIMD fill kernels, written once over the primitives of an ISA file
 * (fi_avx512.c, fi_avx2.c, fi_neon.c).  Each kernel runs the scalar kernel of
 * fi_fill.c on the few elements before the first block boundary and after
 * the last whole group, and the vector code on whole groups of FI_NREG
 * registers in between; both give the same bits.
 *
 * The distribution math (fi_vmath.h) runs on "math vectors" of FI_R
 * registers: GCC lowers each operation on them to FI_R independent machine
 * instructions, which interleaves FI_R dependency chains and keeps the
 * core busy through the long latencies of the Box-Muller and AS 241 code.
 *
 * Primitives the includer defines (after fi_vmath.h):
 *   FI_VI, FI_RL                register type and its 32-bit lanes; FI_R registers per math vector
 *   rvu32, rvf32, rvu64, rvf64  register-sized vector-extension types
 *   FI_NREG                     registers per group, a multiple of 2 FI_R
 *   FI_V(philox_setup)(s, ctx), FI_V(philox_group)(ctx, b, r): words of blocks b, b+1, ...
 *                               into r[FI_NREG], in stream order
 *   FI_V(split32)(a, b, &even, &odd), FI_V(join32)(e, o, &a, &b)   pairs of 32-bit words
 *   FI_V(split64)(a, b, &even, &odd), FI_V(join64)(e, o, &a, &b)   pairs of 64-bit words
 *   FI_V(store_u32), FI_V(store_f32), FI_V(store_f16), FI_V(store_bf16), FI_V(store_f64):
 *                               (pointer, register, nt) with nt: streaming store to an aligned address
 *   FI_STORE_FENCE()            orders streaming stores before the kernel returns
 */
#include "fi_fill.h"
#include "fi_kernels.h"
#include "fi_runtime.h"

#define FI_G32 (FI_NREG * FI_RL)        /* 32-bit elements per group */
#define FI_G64 (FI_NREG * FI_RL / 2)    /* 64-bit elements per group */

typedef union { vu32 w; rvu32 r[FI_R]; } fi_wu32;
typedef union { vf32 w; rvf32 r[FI_R]; } fi_wf32;
typedef union { vu64 w; rvu64 r[FI_R]; } fi_wu64;
typedef union { vf64 w; rvf64 r[FI_R]; } fi_wf64;

/* FI_R consecutive registers as one math vector */
static inline vu32 FI_V(wide32)(const FI_VI *r)
{
    fi_wu32 u;
    for (int j = 0; j < FI_R; j++)
        u.r[j] = (rvu32)r[j];
    return u.w;
}

static inline vu64 FI_V(wide64)(const FI_VI *r)
{
    fi_wu64 u;
    for (int j = 0; j < FI_R; j++)
        u.r[j] = (rvu64)r[j];
    return u.w;
}

#define FI_STORE_WIDE(STORE, o, v, T, PER_REG)                                    \
    do {                                                                          \
        T u_ = {v};                                                               \
        for (int j_ = 0; j_ < FI_R; j_++)                                         \
            STORE((o) + j_ * (PER_REG), u_.r[j_], nt);                                \
    } while (0)

/* Split [first, first + n) into a scalar head up to a block boundary, whole
 * vector groups, and a scalar tail; the body (last argument) fills one group
 * at element index e (a multiple of PER) into o = out + i. */
#define FI_VDRIVE(NAME, OUT_T, PER, GROUP, SCALAR, ...)                           \
    static void NAME(void *out_, uint64_t n, const fi_stream *s, uint64_t first,  \
                     const void *p_)                                              \
    {                                                                             \
        OUT_T *out = (OUT_T *)out_;                                               \
        uint64_t head = (PER - first % PER) % PER;                                \
        /* 16-bit outputs measured faster with ordinary stores */                 \
        const int stream_ok = fi_stream_stores && sizeof(OUT_T) >= 4;             \
        if (stream_ok) {                                                          \
            /* streaming stores need 64-byte aligned groups: lengthen the       \
               scalar head to the first block boundary that is also aligned */  \
            for (uint64_t h = head; h < head + 64; h += PER)                      \
                if (((uintptr_t)(out + h) & 63) == 0) {                           \
                    head = h;                                                     \
                    break;                                                        \
                }                                                                 \
        }                                                                         \
        if (head > n)                                                             \
            head = n;                                                             \
        if (head)                                                                 \
            SCALAR(out, head, s, first, p_);                                      \
        uint64_t i = head;                                                        \
        if (n - i >= GROUP) {                                                     \
            FI_V(philox_ctx) ctx;                                                 \
            FI_V(philox_setup)(s, &ctx);                                          \
            /* groups are whole multiples of 64 bytes: aligned once, aligned always */ \
            const int nt = stream_ok && ((uintptr_t)(out + i) & 63) == 0;        \
            for (; n - i >= GROUP; i += GROUP) {                                  \
                uint64_t e = first + i;                                           \
                FI_VI r[FI_NREG];                                                 \
                FI_V(philox_group)(&ctx, e / PER, r);                             \
                OUT_T *o = out + i;                                               \
                __VA_ARGS__                                                       \
            }                                                                     \
            if (nt)                                                               \
                FI_STORE_FENCE();                                                 \
        }                                                                         \
        if (i < n)                                                                \
            SCALAR(out + i, n - i, s, first + i, p_);                             \
    }

/* ---- raw words ----------------------------------------------------------- */

FI_VDRIVE(FI_V(kernel_bits_u32), uint32_t, 4, FI_G32, fi_bits_u32, {
    (void)p_;
    for (int k = 0; k < FI_NREG; k++)
        FI_V(store_u32)(o + k * FI_RL, r[k], nt);
})

/* ---- uniform ------------------------------------------------------------- */

#define FI_UNIFORM32(NAME, OUT_T, SCALAR, STORE)                                  \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_uniform_f32_params *p = (const fi_uniform_f32_params *)p_;      \
        for (int k = 0; k < FI_NREG; k += FI_R)                                   \
            FI_STORE_WIDE(STORE, o + k * FI_RL,                                   \
                          FI_V(uniform_f32)(FI_V(wide32)(r + k), p->lo, p->width), fi_wf32, FI_RL); \
    })

FI_UNIFORM32(FI_V(kernel_uniform_f32), float, fi_uniform_f32, FI_V(store_f32))
FI_UNIFORM32(FI_V(kernel_uniform_f16), uint16_t, fi_uniform_f16, FI_V(store_f16))
FI_UNIFORM32(FI_V(kernel_uniform_bf16), uint16_t, fi_uniform_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_uniform_f64), double, 2, FI_G64, fi_uniform_f64, {
    const fi_uniform_f64_params *p = (const fi_uniform_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k += FI_R)
        FI_STORE_WIDE(FI_V(store_f64), o + k * (FI_RL / 2),
                      FI_V(uniform_f64)(FI_V(wide64)(r + k), p->lo, p->width), fi_wf64, FI_RL / 2);
})

/* ---- normal: radius from even words, angle from odd words ---------------- */

#define FI_NORMAL32(NAME, OUT_T, SCALAR, STORE)                                   \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_normal_f32_params *p = (const fi_normal_f32_params *)p_;        \
        for (int k = 0; k < FI_NREG; k += 2 * FI_R) {                             \
            fi_wu32 x1, x2;                                                       \
            for (int j = 0; j < FI_R; j++)                                        \
                FI_V(split32)(r[k + 2 * j], r[k + 2 * j + 1], &x1.r[j], &x2.r[j]); \
            vf32 rad = FI_V(bm_radius_f32)(x1.w);                                 \
            vf32 c, sn;                                                           \
            FI_V(bm_angle_f32)(x2.w, &c, &sn);                                    \
            vf32 mean = FI_K(p->mean), std = FI_K(p->std);                        \
            fi_wf32 ve = {FI_V(fma)(std, rad * c, mean)};                         \
            fi_wf32 vo = {FI_V(fma)(std, rad * sn, mean)};                        \
            for (int j = 0; j < FI_R; j++) {                                      \
                rvf32 a, b;                                                       \
                FI_V(join32)(ve.r[j], vo.r[j], &a, &b);                           \
                STORE(o + (k + 2 * j) * FI_RL, a, nt);                                \
                STORE(o + (k + 2 * j + 1) * FI_RL, b, nt);                            \
            }                                                                     \
        }                                                                         \
    })

FI_NORMAL32(FI_V(kernel_normal_f32), float, fi_normal_f32, FI_V(store_f32))
FI_NORMAL32(FI_V(kernel_normal_f16), uint16_t, fi_normal_f16, FI_V(store_f16))
FI_NORMAL32(FI_V(kernel_normal_bf16), uint16_t, fi_normal_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_normal_f64), double, 2, FI_G64, fi_normal_f64, {
    const fi_normal_f64_params *p = (const fi_normal_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k += 2 * FI_R) {
        fi_wu64 X1, X2;
        for (int j = 0; j < FI_R; j++)
            FI_V(split64)(r[k + 2 * j], r[k + 2 * j + 1], &X1.r[j], &X2.r[j]);
        vf64 rad = FI_V(bm_radius_f64)(X1.w);
        vf64 c, sn;
        FI_V(bm_angle_f64)(X2.w, &c, &sn);
        fi_wf64 ve = {p->mean + p->std * (rad * c)};
        fi_wf64 vo = {p->mean + p->std * (rad * sn)};
        for (int j = 0; j < FI_R; j++) {
            rvf64 a, b;
            FI_V(join64)(ve.r[j], vo.r[j], &a, &b);
            FI_V(store_f64)(o + (k + 2 * j) * (FI_RL / 2), a, nt);
            FI_V(store_f64)(o + (k + 2 * j + 1) * (FI_RL / 2), b, nt);
        }
    }
})

/* ---- truncated normal ------------------------------------------------------ */

/* the inverse CDF a piece at a time over the group's registers (fi_vmath.h) */
#define FI_TRUNC32(NAME, OUT_T, SCALAR, STORE)                                    \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_trunc_f32_params *p = (const fi_trunc_f32_params *)p_;          \
        enum { M = FI_NREG / FI_R };                                              \
        vf32 pr[M], z[M];                                                         \
        vs32 low[M], central[M];                                                  \
        int any_central = 0, any_tail = 0;                                        \
        for (int m = 0; m < M; m++) {                                             \
            pr[m] = FI_V(trunc_p_f32)(FI_V(wide32)(r + m * FI_R), p, &low[m]);    \
            central[m] = (vs32)(pr[m] >= p->pc);                                  \
            any_central |= FI_VANY(central[m]);                                   \
            any_tail |= FI_VANY(~central[m]);                                     \
        }                                                                         \
        for (int m = 0; m < M; m++)                                               \
            z[m] = any_central ? FI_V(ndtri_central_f32)(pr[m]) : FI_K(0.0f);      \
        if (any_tail)                                                             \
            for (int m = 0; m < M; m++)                                           \
                if (FI_VANY(~central[m]))                                         \
                    z[m] = FI_V(sel_f32)(central[m], z[m],                        \
                                         FI_V(ndtri_tail_f32)(pr[m], central[m], p->lnS)); \
        for (int m = 0; m < M; m++)                                               \
            FI_STORE_WIDE(STORE, o + m * FI_R * FI_RL, FI_V(trunc_out_f32)(z[m], low[m], p), \
                          fi_wf32, FI_RL);                                        \
    })

FI_TRUNC32(FI_V(kernel_trunc_f32), float, fi_trunc_f32, FI_V(store_f32))
FI_TRUNC32(FI_V(kernel_trunc_f16), uint16_t, fi_trunc_f16, FI_V(store_f16))
FI_TRUNC32(FI_V(kernel_trunc_bf16), uint16_t, fi_trunc_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_trunc_f64), double, 2, FI_G64, fi_trunc_f64, {
    const fi_trunc_f64_params *p = (const fi_trunc_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k += FI_R)
        FI_STORE_WIDE(FI_V(store_f64), o + k * (FI_RL / 2), FI_V(trunc_f64)(FI_V(wide64)(r + k), p),
                      fi_wf64, FI_RL / 2);
})

const fi_kernel_table FI_V(fi_kernels) = {
    FI_V(kernel_bits_u32),
    {FI_V(kernel_uniform_f32), FI_V(kernel_uniform_f64), FI_V(kernel_uniform_f16), FI_V(kernel_uniform_bf16)},
    {FI_V(kernel_normal_f32), FI_V(kernel_normal_f64), FI_V(kernel_normal_f16), FI_V(kernel_normal_bf16)},
    {FI_V(kernel_trunc_f32), FI_V(kernel_trunc_f64), FI_V(kernel_trunc_f16), FI_V(kernel_trunc_bf16)},
    /* narrow intervals are rare: the scalar f64 path serves every level */
    {fi_trunc_wide_f32, FI_V(kernel_trunc_f64), fi_trunc_wide_f16, fi_trunc_wide_bf16},
};
