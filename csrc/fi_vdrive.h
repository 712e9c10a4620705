/* The SIMD fill kernels, written once over the primitives of an ISA file
 * (fi_avx512.c, fi_avx2.c).  Each kernel runs the scalar kernel of
 * fi_fill.c on the few elements before the first block boundary and after
 * the last whole group, and the vector code on whole groups of FI_NREG
 * registers in between; both give the same bits.
 *
 * Primitives the includer defines (after fi_vmath.h):
 *   FI_VI                       integer register type
 *   FI_NREG                     registers per group (words of FI_NREG * FI_VL / 4 blocks)
 *   FI_V(philox_setup)(s, ctx)  per-call key schedule
 *   FI_V(philox_group)(ctx, b, r)   words of blocks b, b+1, ... into r[FI_NREG], in stream order
 *   FI_V(split32)(a, b, &even, &odd), FI_V(join32)(e, o, &a, &b)   pairs of 32-bit words
 *   FI_V(split64)(a, b, &even, &odd), FI_V(join64)(e, o, &a, &b)   pairs of 64-bit words
 *   FI_V(store_u32), FI_V(store_f32), FI_V(store_f16), FI_V(store_bf16), FI_V(store_f64)
 */
#include "fi_fill.h"
#include "fi_kernels.h"

#define FI_G32 (FI_NREG * FI_VL)        /* 32-bit elements per group */
#define FI_G64 (FI_NREG * FI_VL / 2)    /* 64-bit elements per group */

/* Split [first, first + n) into a scalar head up to a block boundary, whole
 * vector groups, and a scalar tail; the body (last argument) fills one group at element index
 * e (a multiple of PER) into o = out + i. */
#define FI_VDRIVE(NAME, OUT_T, PER, GROUP, SCALAR, ...)                           \
    static void NAME(void *out_, uint64_t n, const fi_stream *s, uint64_t first,  \
                     const void *p_)                                              \
    {                                                                             \
        OUT_T *out = (OUT_T *)out_;                                               \
        uint64_t head = (PER - first % PER) % PER;                                \
        if (head > n)                                                             \
            head = n;                                                             \
        if (head)                                                                 \
            SCALAR(out, head, s, first, p_);                                      \
        uint64_t i = head;                                                        \
        if (n - i >= GROUP) {                                                     \
            FI_V(philox_ctx) ctx;                                                 \
            FI_V(philox_setup)(s, &ctx);                                          \
            for (; n - i >= GROUP; i += GROUP) {                                  \
                uint64_t e = first + i;                                           \
                FI_VI r[FI_NREG];                                                 \
                FI_V(philox_group)(&ctx, e / PER, r);                             \
                OUT_T *o = out + i;                                               \
                __VA_ARGS__                                                       \
            }                                                                     \
        }                                                                         \
        if (i < n)                                                                \
            SCALAR(out + i, n - i, s, first + i, p_);                             \
    }

/* ---- raw words ----------------------------------------------------------- */

FI_VDRIVE(FI_V(kernel_bits_u32), uint32_t, 4, FI_G32, fi_bits_u32, {
    (void)p_;
    for (int k = 0; k < FI_NREG; k++)
        FI_V(store_u32)(o + k * FI_VL, r[k]);
})

/* ---- uniform ------------------------------------------------------------- */

#define FI_UNIFORM32(NAME, OUT_T, SCALAR, STORE)                                  \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_uniform_f32_params *p = (const fi_uniform_f32_params *)p_;      \
        for (int k = 0; k < FI_NREG; k++)                                         \
            STORE(o + k * FI_VL, FI_V(uniform_f32)((vu32)r[k], p->lo, p->width)); \
    })

FI_UNIFORM32(FI_V(kernel_uniform_f32), float, fi_uniform_f32, FI_V(store_f32))
FI_UNIFORM32(FI_V(kernel_uniform_f16), uint16_t, fi_uniform_f16, FI_V(store_f16))
FI_UNIFORM32(FI_V(kernel_uniform_bf16), uint16_t, fi_uniform_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_uniform_f64), double, 2, FI_G64, fi_uniform_f64, {
    const fi_uniform_f64_params *p = (const fi_uniform_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k++)
        FI_V(store_f64)(o + k * (FI_VL / 2), FI_V(uniform_f64)((vu64)r[k], p->lo, p->width));
})

/* ---- normal: radius from even words, angle from odd words ---------------- */

#define FI_NORMAL32(NAME, OUT_T, SCALAR, STORE)                                   \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_normal_f32_params *p = (const fi_normal_f32_params *)p_;        \
        for (int k = 0; k < FI_NREG; k += 2) {                                    \
            vu32 x1, x2;                                                          \
            FI_V(split32)(r[k], r[k + 1], &x1, &x2);                              \
            vf32 rad = FI_V(bm_radius_f32)(x1);                                   \
            vf32 c, sn;                                                           \
            FI_V(bm_angle_f32)(x2, &c, &sn);                                      \
            vf32 ve = p->mean + p->std * (rad * c);                               \
            vf32 vo = p->mean + p->std * (rad * sn);                              \
            vf32 a, b;                                                            \
            FI_V(join32)(ve, vo, &a, &b);                                         \
            STORE(o + k * FI_VL, a);                                              \
            STORE(o + (k + 1) * FI_VL, b);                                        \
        }                                                                         \
    })

FI_NORMAL32(FI_V(kernel_normal_f32), float, fi_normal_f32, FI_V(store_f32))
FI_NORMAL32(FI_V(kernel_normal_f16), uint16_t, fi_normal_f16, FI_V(store_f16))
FI_NORMAL32(FI_V(kernel_normal_bf16), uint16_t, fi_normal_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_normal_f64), double, 2, FI_G64, fi_normal_f64, {
    const fi_normal_f64_params *p = (const fi_normal_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k += 2) {
        vu64 X1, X2;
        FI_V(split64)(r[k], r[k + 1], &X1, &X2);
        vf64 rad = FI_V(bm_radius_f64)(X1);
        vf64 c, sn;
        FI_V(bm_angle_f64)(X2, &c, &sn);
        vf64 ve = p->mean + p->std * (rad * c);
        vf64 vo = p->mean + p->std * (rad * sn);
        vf64 a, b;
        FI_V(join64)(ve, vo, &a, &b);
        FI_V(store_f64)(o + k * (FI_VL / 2), a);
        FI_V(store_f64)(o + (k + 1) * (FI_VL / 2), b);
    }
})

/* ---- truncated normal ------------------------------------------------------ */

#define FI_TRUNC32(NAME, OUT_T, SCALAR, STORE)                                    \
    FI_VDRIVE(NAME, OUT_T, 4, FI_G32, SCALAR, {                                   \
        const fi_trunc_f32_params *p = (const fi_trunc_f32_params *)p_;          \
        for (int k = 0; k < FI_NREG; k++)                                         \
            STORE(o + k * FI_VL, FI_V(trunc_f32)((vu32)r[k], p));                 \
    })

FI_TRUNC32(FI_V(kernel_trunc_f32), float, fi_trunc_f32, FI_V(store_f32))
FI_TRUNC32(FI_V(kernel_trunc_f16), uint16_t, fi_trunc_f16, FI_V(store_f16))
FI_TRUNC32(FI_V(kernel_trunc_bf16), uint16_t, fi_trunc_bf16, FI_V(store_bf16))

FI_VDRIVE(FI_V(kernel_trunc_f64), double, 2, FI_G64, fi_trunc_f64, {
    const fi_trunc_f64_params *p = (const fi_trunc_f64_params *)p_;
    for (int k = 0; k < FI_NREG; k++)
        FI_V(store_f64)(o + k * (FI_VL / 2), FI_V(trunc_f64)((vu64)r[k], p));
})

const fi_kernel_table FI_V(fi_kernels) = {
    FI_V(kernel_bits_u32),
    {FI_V(kernel_uniform_f32), FI_V(kernel_uniform_f64), FI_V(kernel_uniform_f16), FI_V(kernel_uniform_bf16)},
    {FI_V(kernel_normal_f32), FI_V(kernel_normal_f64), FI_V(kernel_normal_f16), FI_V(kernel_normal_bf16)},
    {FI_V(kernel_trunc_f32), FI_V(kernel_trunc_f64), FI_V(kernel_trunc_f16), FI_V(kernel_trunc_bf16)},
};
