# cython: language_level=3, boundscheck=False, wraparound=False
"""The only bridge between Python and the C kernels in csrc/.

Callers (fastinit._fill) have already validated every argument; this module
takes a flat, C-contiguous, writable uint8 view of the output, converts the
parameters to C, and runs the kernel with the GIL released.
"""
from libc.stdint cimport uint16_t, uint32_t, uint64_t

# Output codes shared with fastinit._buffers.
F32 = 0
F64 = 1
F16 = 2
BF16 = 3
U32 = 4


cdef inline fi_stream _stream(object seed, object stream):
    cdef fi_stream s
    s.seed = seed
    s.stream = stream
    return s


def philox_block(object seed, object stream, object block):
    """The four Philox words of one block (for tests and docs)."""
    cdef fi_stream s = _stream(seed, stream)
    cdef fi_block w = fi_stream_block(&s, <uint64_t>block)
    return (w.v[0], w.v[1], w.v[2], w.v[3])


def fill_bits(unsigned char[::1] raw, object seed, object stream, object first):
    cdef fi_stream s = _stream(seed, stream)
    cdef uint64_t f = first
    cdef uint64_t n = raw.shape[0] // 4
    if n == 0:
        return
    cdef uint32_t *out = <uint32_t *>&raw[0]
    with nogil:
        fi_bits_u32(out, n, &s, f)


def fill_uniform(unsigned char[::1] raw, int code, object seed, object stream,
                 object first, double lo, double width):
    cdef fi_stream s = _stream(seed, stream)
    cdef uint64_t f = first
    cdef fi_uniform_f32_params p32
    cdef fi_uniform_f64_params p64
    cdef Py_ssize_t nbytes = raw.shape[0]
    if nbytes == 0:
        return
    cdef void *out = <void *>&raw[0]
    p32.lo = <float>lo
    p32.width = <float>width
    p64.lo = lo
    p64.width = width
    with nogil:
        if code == 0:
            fi_uniform_f32(<float *>out, nbytes // 4, &s, f, &p32)
        elif code == 1:
            fi_uniform_f64(<double *>out, nbytes // 8, &s, f, &p64)
        elif code == 2:
            fi_uniform_f16(<uint16_t *>out, nbytes // 2, &s, f, &p32)
        else:
            fi_uniform_bf16(<uint16_t *>out, nbytes // 2, &s, f, &p32)


def fill_normal(unsigned char[::1] raw, int code, object seed, object stream,
                object first, double mean, double std):
    cdef fi_stream s = _stream(seed, stream)
    cdef uint64_t f = first
    cdef fi_normal_f32_params p32
    cdef fi_normal_f64_params p64
    cdef Py_ssize_t nbytes = raw.shape[0]
    if nbytes == 0:
        return
    cdef void *out = <void *>&raw[0]
    p32.mean = <float>mean
    p32.std = <float>std
    p64.mean = mean
    p64.std = std
    with nogil:
        if code == 0:
            fi_normal_f32(<float *>out, nbytes // 4, &s, f, &p32)
        elif code == 1:
            fi_normal_f64(<double *>out, nbytes // 8, &s, f, &p64)
        elif code == 2:
            fi_normal_f16(<uint16_t *>out, nbytes // 2, &s, f, &p32)
        else:
            fi_normal_bf16(<uint16_t *>out, nbytes // 2, &s, f, &p32)


def fill_trunc(unsigned char[::1] raw, int code, object seed, object stream,
               object first, tuple params):
    """params: (mean, std, lo, hi, cA, cB, W, thr, pc, lnS), already rounded
    to the working precision by fastinit._truncation."""
    cdef fi_stream s = _stream(seed, stream)
    cdef uint64_t f = first
    cdef fi_trunc_f32_params p32
    cdef fi_trunc_f64_params p64
    cdef Py_ssize_t nbytes = raw.shape[0]
    if nbytes == 0:
        return
    cdef void *out = <void *>&raw[0]
    p64.mean, p64.std, p64.lo, p64.hi, p64.cA, p64.cB, p64.W, p64.thr, p64.pc, p64.lnS = params
    p32.mean, p32.std, p32.lo, p32.hi = <float>p64.mean, <float>p64.std, <float>p64.lo, <float>p64.hi
    p32.cA, p32.cB, p32.W = <float>p64.cA, <float>p64.cB, <float>p64.W
    p32.thr, p32.pc, p32.lnS = <float>p64.thr, <float>p64.pc, <float>p64.lnS
    with nogil:
        if code == 0:
            fi_trunc_f32(<float *>out, nbytes // 4, &s, f, &p32)
        elif code == 1:
            fi_trunc_f64(<double *>out, nbytes // 8, &s, f, &p64)
        elif code == 2:
            fi_trunc_f16(<uint16_t *>out, nbytes // 2, &s, f, &p32)
        else:
            fi_trunc_bf16(<uint16_t *>out, nbytes // 2, &s, f, &p32)


def fill_pattern(unsigned char[::1] raw, const unsigned char[::1] value):
    cdef size_t itemsize = value.shape[0]
    if raw.shape[0] == 0:
        return
    cdef uint64_t n = raw.shape[0] // itemsize
    cdef void *out = <void *>&raw[0]
    cdef const void *v = <const void *>&value[0]
    with nogil:
        fi_fill_pattern(out, n, itemsize, v)
