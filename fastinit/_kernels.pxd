# Declarations mirroring csrc/fi_philox.h, csrc/fi_dist.h and csrc/fi_fill.h.
from libc.stdint cimport uint16_t, uint32_t, uint64_t


cdef extern from "fi_philox.h" nogil:
    ctypedef struct fi_block:
        uint32_t v[4]

    ctypedef struct fi_stream:
        uint64_t seed
        uint64_t stream

    fi_block fi_stream_block(const fi_stream *s, uint64_t b)


cdef extern from "fi_dist.h" nogil:
    ctypedef struct fi_trunc_f32_params:
        float mean, std, lo, hi, cA, cB, W, thr, pc, lnS

    ctypedef struct fi_trunc_f64_params:
        double mean, std, lo, hi, cA, cB, W, thr, pc, lnS


cdef extern from "fi_fill.h" nogil:
    ctypedef struct fi_uniform_f32_params:
        float lo, width

    ctypedef struct fi_uniform_f64_params:
        double lo, width

    ctypedef struct fi_normal_f32_params:
        float mean, std

    ctypedef struct fi_normal_f64_params:
        double mean, std

    void fi_bits_u32(uint32_t *out, uint64_t n, const fi_stream *s, uint64_t first)

    void fi_uniform_f32(float *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_uniform_f32_params *p)
    void fi_uniform_f64(double *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_uniform_f64_params *p)
    void fi_uniform_f16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_uniform_f32_params *p)
    void fi_uniform_bf16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_uniform_f32_params *p)

    void fi_normal_f32(float *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_normal_f32_params *p)
    void fi_normal_f64(double *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_normal_f64_params *p)
    void fi_normal_f16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_normal_f32_params *p)
    void fi_normal_bf16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_normal_f32_params *p)

    void fi_trunc_f32(float *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_trunc_f32_params *p)
    void fi_trunc_f64(double *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_trunc_f64_params *p)
    void fi_trunc_f16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_trunc_f32_params *p)
    void fi_trunc_bf16(uint16_t *out, uint64_t n, const fi_stream *s, uint64_t first, const fi_trunc_f32_params *p)

    void fi_fill_pattern(void *out, uint64_t n, size_t itemsize, const void *value)
