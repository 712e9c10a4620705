/* Portable scalar fill kernels (the reference path every SIMD path must
 * match bit for bit). */
#include "fi_fill.h"
#include "fi_kernels.h"

/* Values of one Philox block for each distribution: 4 for 32-bit working
 * precision, 2 for float64 (two words per element). */

static inline void blk_uniform_f32(fi_block w, const fi_uniform_f32_params *p, float v[4])
{
    for (int k = 0; k < 4; k++)
        v[k] = p->lo + p->width * fi_u01_f32(w.v[k]);
}

static inline void blk_uniform_f64(fi_block w, const fi_uniform_f64_params *p, double v[2])
{
    for (int k = 0; k < 2; k++) {
        uint64_t X = (uint64_t)w.v[2 * k] | ((uint64_t)w.v[2 * k + 1] << 32);
        v[k] = p->lo + p->width * fi_u01_f64(X);
    }
}

static inline void blk_normal_f32(fi_block w, const fi_normal_f32_params *p, float v[4])
{
    for (int k = 0; k < 4; k += 2) {
        float r = fi_bm_radius_f32(w.v[k]);
        float c, s;
        fi_bm_angle_f32(w.v[k + 1], &c, &s);
        v[k] = fi_fmaf(p->std, r * c, p->mean);
        v[k + 1] = fi_fmaf(p->std, r * s, p->mean);
    }
}

static inline void blk_normal_f64(fi_block w, const fi_normal_f64_params *p, double v[2])
{
    uint64_t X1 = (uint64_t)w.v[0] | ((uint64_t)w.v[1] << 32);
    uint64_t X2 = (uint64_t)w.v[2] | ((uint64_t)w.v[3] << 32);
    double r = fi_bm_radius_f64(X1);
    double c, s;
    fi_bm_angle_f64(X2, &c, &s);
    v[0] = p->mean + p->std * (r * c);
    v[1] = p->mean + p->std * (r * s);
}

static inline void blk_trunc_f32(fi_block w, const fi_trunc_f32_params *p, float v[4])
{
    for (int k = 0; k < 4; k++)
        v[k] = fi_trunc_value_f32(w.v[k], p);
}

static inline void blk_trunc_f64(fi_block w, const fi_trunc_f64_params *p, double v[2])
{
    for (int k = 0; k < 2; k++) {
        uint64_t X = (uint64_t)w.v[2 * k] | ((uint64_t)w.v[2 * k + 1] << 32);
        v[k] = fi_trunc_value_f64(X, p);
    }
}

static inline void blk_trunc_f32_wide(fi_block w, const fi_trunc_f64_params *p, float v[4])
{
    for (int k = 0; k < 4; k++)
        v[k] = fi_trunc_value_f32_wide(w.v[k], p);
}

static inline float store_f32(float x) { return x; }
static inline double store_f64(double x) { return x; }

/* One driver per (distribution, output type): walk the blocks that cover
 * elements [first, first + n), computing each block once and storing the
 * words that fall inside the range. */
#define FI_DEFINE_FILL(NAME, OUT_T, VAL_T, PER, BLOCK, STORE, PARAMS_T)          \
    void NAME(void *out_, uint64_t n, const fi_stream *s, uint64_t first,       \
              const void *p_)                                                    \
    {                                                                            \
        OUT_T *out = (OUT_T *)out_;                                              \
        const PARAMS_T *p = (const PARAMS_T *)p_;                                \
        uint64_t i = 0;                                                          \
        while (i < n) {                                                          \
            uint64_t e = first + i;                                              \
            unsigned k = (unsigned)(e % PER);                                    \
            VAL_T v[PER];                                                        \
            BLOCK(fi_stream_block(s, e / PER), p, v);                            \
            for (; k < PER && i < n; k++, i++)                                   \
                out[i] = STORE(v[k]);                                            \
        }                                                                        \
    }

FI_DEFINE_FILL(fi_uniform_f32, float, float, 4, blk_uniform_f32, store_f32, fi_uniform_f32_params)
FI_DEFINE_FILL(fi_uniform_f64, double, double, 2, blk_uniform_f64, store_f64, fi_uniform_f64_params)
FI_DEFINE_FILL(fi_uniform_f16, uint16_t, float, 4, blk_uniform_f32, fi_f32_to_f16, fi_uniform_f32_params)
FI_DEFINE_FILL(fi_uniform_bf16, uint16_t, float, 4, blk_uniform_f32, fi_f32_to_bf16, fi_uniform_f32_params)

FI_DEFINE_FILL(fi_normal_f32, float, float, 4, blk_normal_f32, store_f32, fi_normal_f32_params)
FI_DEFINE_FILL(fi_normal_f64, double, double, 2, blk_normal_f64, store_f64, fi_normal_f64_params)
FI_DEFINE_FILL(fi_normal_f16, uint16_t, float, 4, blk_normal_f32, fi_f32_to_f16, fi_normal_f32_params)
FI_DEFINE_FILL(fi_normal_bf16, uint16_t, float, 4, blk_normal_f32, fi_f32_to_bf16, fi_normal_f32_params)

FI_DEFINE_FILL(fi_trunc_f32, float, float, 4, blk_trunc_f32, store_f32, fi_trunc_f32_params)
FI_DEFINE_FILL(fi_trunc_f64, double, double, 2, blk_trunc_f64, store_f64, fi_trunc_f64_params)
FI_DEFINE_FILL(fi_trunc_f16, uint16_t, float, 4, blk_trunc_f32, fi_f32_to_f16, fi_trunc_f32_params)
FI_DEFINE_FILL(fi_trunc_bf16, uint16_t, float, 4, blk_trunc_f32, fi_f32_to_bf16, fi_trunc_f32_params)
FI_DEFINE_FILL(fi_trunc_wide_f32, float, float, 4, blk_trunc_f32_wide, store_f32, fi_trunc_f64_params)
FI_DEFINE_FILL(fi_trunc_wide_f16, uint16_t, float, 4, blk_trunc_f32_wide, fi_f32_to_f16, fi_trunc_f64_params)
FI_DEFINE_FILL(fi_trunc_wide_bf16, uint16_t, float, 4, blk_trunc_f32_wide, fi_f32_to_bf16, fi_trunc_f64_params)

void fi_bits_u32(void *out_, uint64_t n, const fi_stream *s, uint64_t first, const void *unused)
{
    uint32_t *out = (uint32_t *)out_;
    uint64_t i = 0;
    (void)unused;
    while (i < n) {
        uint64_t e = first + i;
        unsigned k = (unsigned)(e % 4);
        fi_block w = fi_stream_block(s, e / 4);
        for (; k < 4 && i < n; k++, i++)
            out[i] = w.v[k];
    }
}

void fi_fill_pattern(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)
{
    const fi_pattern_params *p = (const fi_pattern_params *)params;
    unsigned char *o = (unsigned char *)out;
    (void)s;
    (void)first;
    switch (p->itemsize) {
    case 2: { uint16_t v; memcpy(&v, p->value, 2); for (uint64_t i = 0; i < n; i++) ((uint16_t *)o)[i] = v; break; }
    case 4: { uint32_t v; memcpy(&v, p->value, 4); for (uint64_t i = 0; i < n; i++) ((uint32_t *)o)[i] = v; break; }
    case 8: { uint64_t v; memcpy(&v, p->value, 8); for (uint64_t i = 0; i < n; i++) ((uint64_t *)o)[i] = v; break; }
    default:
        for (uint64_t i = 0; i < n; i++)
            memcpy(o + i * p->itemsize, p->value, p->itemsize);
    }
}

const fi_kernel_table fi_kernels_scalar = {
    fi_bits_u32,
    {fi_uniform_f32, fi_uniform_f64, fi_uniform_f16, fi_uniform_bf16},
    {fi_normal_f32, fi_normal_f64, fi_normal_f16, fi_normal_bf16},
    {fi_trunc_f32, fi_trunc_f64, fi_trunc_f16, fi_trunc_bf16},
    {fi_trunc_wide_f32, fi_trunc_f64, fi_trunc_wide_f16, fi_trunc_wide_bf16},
};
