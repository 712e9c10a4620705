# Declarations mirroring the csrc/ headers the bridge uses (fi_philox.h, fi_dist.h, fi_fill.h,
# fi_kernels.h, fi_runtime.h, fi_alloc.h, fi_prune.h, fi_wrap.h).
from libc.stdint cimport uint16_t, uint32_t, uint64_t


cdef extern from "fi_philox.h" nogil:
    ctypedef struct fi_block:
        uint32_t v[4]

    ctypedef struct fi_stream:
        uint64_t seed
        uint64_t stream

    fi_block fi_stream_block(const fi_stream *s, uint64_t b)


cdef extern from "fi_kernels.h" nogil:
    ctypedef void (*fi_kernel)(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)

    enum:
        FI_OUT_F32, FI_OUT_F64, FI_OUT_F16, FI_OUT_BF16, FI_OUT_COUNT, FI_MAX_ITEMSIZE
    const unsigned char fi_out_itemsize[]

    enum:
        FI_LEVEL_SCALAR, FI_LEVEL_COUNT
    const char *const fi_level_names[]

    enum:
        FI_KIND_BITS, FI_KIND_UNIFORM, FI_KIND_NORMAL, FI_KIND_TRUNC, FI_KIND_TRUNC_WIDE,
        FI_KIND_PATTERN, FI_KIND_COUNT

    ctypedef struct fi_kernel_table:
        fi_kernel bits
        fi_kernel uniform[FI_OUT_COUNT]
        fi_kernel normal[FI_OUT_COUNT]
        fi_kernel trunc[FI_OUT_COUNT]
        fi_kernel trunc_wide[FI_OUT_COUNT]


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

    ctypedef struct fi_pattern_params:
        size_t itemsize
        unsigned char value[FI_MAX_ITEMSIZE]


cdef extern from "fi_runtime.h" nogil:
    int fi_detect_level()
    int fi_set_level(int level)
    int fi_get_level()
    const fi_kernel_table *fi_table()
    void fi_set_num_threads(int n)
    int fi_get_num_threads()
    void fi_run(fi_kernel fn, void *out, size_t elemsize, uint64_t n, const fi_stream *s,
                uint64_t first, const void *params, uint64_t total_bytes)


cdef extern from "fi_alloc.h" nogil:
    ctypedef struct fi_allocation:
        void *ptr
        void *base
        size_t length

    int fi_alloc(size_t nbytes, fi_allocation *a)
    void fi_free(fi_allocation *a)


cdef extern from "fi_prune.h" nogil:
    ctypedef struct fi_prune_buf:
        void *ptr
        uint64_t n
        int dtype
        unsigned char *mask

    int FI_PRUNE_OK, FI_PRUNE_NAN, FI_PRUNE_NOMEM
    int fi_prune_magnitude(fi_prune_buf *bufs, int nbufs, uint64_t k)
    int fi_prune_n_m(void *ptr, int dtype, uint64_t outer, uint64_t len, uint64_t inner,
                     unsigned n, unsigned m, unsigned char *mask)
    void fi_apply_mask(void *out, uint64_t n, size_t itemsize, const unsigned char *mask)
    int fi_has_nan(const void *ptr, uint64_t n, int dtype)


cdef extern from "fi_wrap.h" nogil:
    fi_kernel fi_kernel_for(const fi_kernel_table *t, int kind, int code, size_t *itemsize)

    ctypedef struct fi_runs_params:
        fi_kernel inner
        const void *inner_params
        size_t itemsize
        unsigned char *base
        const uint64_t *local
        const uint64_t *first
        uint64_t run_len

    void fi_runs_fill(void *out, uint64_t n, const fi_stream *s, uint64_t v, const void *params)

    ctypedef struct fi_masked_params:
        fi_kernel inner
        const void *inner_params
        size_t itemsize
        const unsigned char *mask
        uint64_t first0

    void fi_masked_fill(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)
