# cython: language_level=3, boundscheck=False, wraparound=False
"""The only bridge between Python and the C kernels in csrc/.

Callers (fastinit._plain and friends) have already validated every argument;
this module takes a flat, C-contiguous, writable uint8 view of the output,
converts the parameters to C structs, and runs the kernel of the current SIMD
level on the thread pool with the GIL released.  Long fills run in slices
with a signal check between them, so Ctrl-C interrupts them promptly.
"""
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint16_t, uint32_t, uint64_t

# Output codes shared with fastinit._buffers (the index into the kernel table).
F32 = 0
F64 = 1
F16 = 2
BF16 = 3

LEVELS = ("scalar", "avx2", "avx512")

# Elements per thread between two signal checks: about 50 ms of the slowest
# kernel at each level (scalar truncated normal; SIMD float64 truncated
# normal), so that Ctrl-C stops a fill within ~0.1 s while the pool wakes
# rarely enough not to cost throughput.
cdef uint64_t SLICE_SCALAR = 1 << 22
cdef uint64_t SLICE_SIMD = 1 << 24

cdef size_t _ITEMSIZE[4]
_ITEMSIZE[:] = [4, 8, 2, 2]


def simd_level():
    """The SIMD level the kernels use: 'scalar', 'avx2' or 'avx512'."""
    return LEVELS[fi_get_level()]


def detected_simd_level():
    """The best SIMD level this CPU supports."""
    return LEVELS[fi_detect_level()]


def set_simd_level(str name):
    """Cap the SIMD level (min of the cap and what the CPU has); returns the level in use."""
    if name not in LEVELS:
        raise ValueError(f"SIMD level must be one of {', '.join(map(repr, LEVELS))}; got {name!r}")
    return LEVELS[fi_set_level(LEVELS.index(name))]


def set_num_threads(int n):
    fi_set_num_threads(n)


def get_num_threads():
    return fi_get_num_threads()


cdef int _run(fi_kernel fn, unsigned char *out, size_t itemsize, uint64_t n, fi_stream *s,
              uint64_t first, const void *params) except -1:
    cdef uint64_t per_thread = SLICE_SCALAR if fi_get_level() == 0 else SLICE_SIMD
    cdef uint64_t step = per_thread * <uint64_t>max(1, fi_get_num_threads())
    cdef uint64_t i = 0, m
    while i < n:
        m = n - i if n - i < step else step
        with nogil:
            fi_run(fn, out + i * itemsize, itemsize, m, s, first + i, params, n * itemsize)
        i += m
        if i < n and PyErr_CheckSignals() < 0:
            return -1
    return 0


cdef int _run_masked(fi_kernel fn, unsigned char *out, size_t itemsize, uint64_t n, fi_stream *s,
                     uint64_t first, const void *params, object mask) except -1:
    """_run, or with a keep-mask (uint8, one per element): the kernel's values
    where the mask is set, zero elsewhere, in one pass (rewind_)."""
    cdef const unsigned char[::1] m
    cdef fi_masked_params mp
    if mask is None:
        return _run(fn, out, itemsize, n, s, first, params)
    m = mask
    if <uint64_t>m.shape[0] != n:
        raise ValueError("mask and buffer sizes differ")
    mp.inner = fn
    mp.inner_params = params
    mp.itemsize = itemsize
    mp.mask = &m[0]
    mp.first0 = first
    return _run(fi_masked_fill, out, itemsize, n, s, first, &mp)


cdef int _run_tile(fi_kernel fn, unsigned char *base, size_t itemsize, size_t nbytes, tuple runs,
                   fi_stream *s, const void *params) except -1:
    """_run over a tile given as runs: (local starts, stream indices, run length), two
    uint64 arrays and an int (fi_runs.h); the runs are shared out over the threads."""
    cdef const uint64_t[::1] local = runs[0]
    cdef const uint64_t[::1] first = runs[1]
    cdef uint64_t run_len = runs[2]
    cdef fi_runs_params rp
    cdef Py_ssize_t k = local.shape[0]
    if k == 0 or run_len == 0:
        return 0
    if first.shape[0] != k or local[k - 1] + run_len > nbytes // itemsize:
        raise ValueError("runs do not fit the buffer")
    rp.inner = fn
    rp.inner_params = params
    rp.itemsize = itemsize
    rp.base = base
    rp.local = &local[0]
    rp.first = &first[0]
    rp.run_len = run_len
    return _run(fi_runs_fill, base, 0, <uint64_t>k * run_len, s, 0, &rp)


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
    if raw.shape[0] == 0:
        return
    if isinstance(first, tuple):
        _run_tile(fi_table().bits, &raw[0], 4, raw.shape[0], first, &s, NULL)
        return
    _run(fi_table().bits, &raw[0], 4, raw.shape[0] // 4, &s, first, NULL)


def fill_uniform(unsigned char[::1] raw, int code, object seed, object stream,
                 object first, double lo, double width, object mask=None):
    cdef fi_stream s = _stream(seed, stream)
    cdef fi_uniform_f32_params p32
    cdef fi_uniform_f64_params p64
    cdef const void *p = &p64 if code == 1 else <const void *>&p32
    if raw.shape[0] == 0:
        return
    p32.lo = <float>lo
    p32.width = <float>width
    p64.lo = lo
    p64.width = width
    if isinstance(first, tuple) and mask is None:
        _run_tile(fi_table().uniform[code], &raw[0], _ITEMSIZE[code], raw.shape[0], first, &s, p)
        return
    _run_masked(fi_table().uniform[code], &raw[0], _ITEMSIZE[code], raw.shape[0] // _ITEMSIZE[code],
                &s, first, p, mask)


def fill_normal(unsigned char[::1] raw, int code, object seed, object stream,
                object first, double mean, double std, object mask=None):
    cdef fi_stream s = _stream(seed, stream)
    cdef fi_normal_f32_params p32
    cdef fi_normal_f64_params p64
    cdef const void *p = &p64 if code == 1 else <const void *>&p32
    if raw.shape[0] == 0:
        return
    p32.mean = <float>mean
    p32.std = <float>std
    p64.mean = mean
    p64.std = std
    if isinstance(first, tuple) and mask is None:
        _run_tile(fi_table().normal[code], &raw[0], _ITEMSIZE[code], raw.shape[0], first, &s, p)
        return
    _run_masked(fi_table().normal[code], &raw[0], _ITEMSIZE[code], raw.shape[0] // _ITEMSIZE[code],
                &s, first, p, mask)


def fill_trunc(unsigned char[::1] raw, int code, object seed, object stream,
               object first, tuple params, bint wide=False, object mask=None):
    """params: (mean, std, lo, hi, cA, cB, W, thr, pc, lnS), already rounded
    to the working precision by fastinit._truncation; wide: a narrow interval
    whose 32-bit output is computed with the f64 rule (params in f64)."""
    cdef fi_stream s = _stream(seed, stream)
    cdef fi_trunc_f32_params p32
    cdef fi_trunc_f64_params p64
    cdef const void *p = &p64 if (code == 1 or wide) else <const void *>&p32
    if raw.shape[0] == 0:
        return
    p64.mean, p64.std, p64.lo, p64.hi, p64.cA, p64.cB, p64.W, p64.thr, p64.pc, p64.lnS = params
    p32.mean, p32.std, p32.lo, p32.hi = <float>p64.mean, <float>p64.std, <float>p64.lo, <float>p64.hi
    p32.cA, p32.cB, p32.W = <float>p64.cA, <float>p64.cB, <float>p64.W
    p32.thr, p32.pc, p32.lnS = <float>p64.thr, <float>p64.pc, <float>p64.lnS
    cdef fi_kernel fn = fi_table().trunc_wide[code] if wide else fi_table().trunc[code]
    if isinstance(first, tuple) and mask is None:
        _run_tile(fn, &raw[0], _ITEMSIZE[code], raw.shape[0], first, &s, p)
        return
    _run_masked(fn, &raw[0], _ITEMSIZE[code], raw.shape[0] // _ITEMSIZE[code], &s, first, p, mask)


def fill_pattern(unsigned char[::1] raw, const unsigned char[::1] value):
    cdef fi_pattern_params p
    cdef fi_stream s
    cdef size_t k
    if raw.shape[0] == 0:
        return
    p.itemsize = value.shape[0]
    for k in range(p.itemsize):
        p.value[k] = value[k]
    s.seed = 0
    s.stream = 0
    _run(fi_fill_pattern, &raw[0], p.itemsize, raw.shape[0] // p.itemsize, &s, 0, &p)


cdef class AlignedBuffer:
    """Bytes fastinit allocated (64-byte aligned; 2 MiB aligned and marked for
    huge pages when large), exposed through the buffer protocol so that a NumPy
    array can view them without a copy.  Freed when the last view goes away."""
    cdef fi_allocation a
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __cinit__(self, Py_ssize_t nbytes):
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        if fi_alloc(<size_t>nbytes, &self.a) != 0:
            raise MemoryError(f"could not allocate {nbytes} bytes")
        self.nbytes = nbytes

    def __dealloc__(self):
        fi_free(&self.a)

    @property
    def address(self):
        return <size_t>self.a.ptr

    @property
    def mapped(self):
        """True when the memory was mapped (large buffers), False when from the heap."""
        return self.a.length != 0

    def __getbuffer__(self, Py_buffer *view, int flags):
        self.shape[0] = self.nbytes
        self.strides[0] = 1
        view.buf = self.a.ptr
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        if flags & 4:                                 # PyBUF_FORMAT
            view.format = b"B"
        else:
            view.format = NULL
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass


# ---- pruning -------------------------------------------------------------------

def prune_magnitude(list bufs, object k):
    """bufs: [(flat uint8 view, code, n, mask uint8 view or None)]; zero the k
    smallest |w| over their concatenation.  Raises ValueError on NaN (nothing
    written) and MemoryError."""
    cdef Py_ssize_t nb = len(bufs)
    cdef fi_prune_buf *c = <fi_prune_buf *>PyMem_Malloc(max(1, nb) * sizeof(fi_prune_buf))
    cdef unsigned char[::1] raw
    cdef unsigned char[::1] mk
    cdef uint64_t kk = k
    cdef int rc
    cdef Py_ssize_t i
    if c == NULL:
        raise MemoryError()
    keep = []     # the memoryviews stay alive while C uses their pointers
    try:
        for i in range(nb):
            raw_obj, code, n, mask = bufs[i]
            raw = raw_obj
            keep.append(raw)
            c[i].ptr = &raw[0] if raw.shape[0] else NULL
            c[i].n = n
            c[i].dtype = code
            c[i].mask = NULL
            if mask is not None:
                mk = mask
                keep.append(mk)
                c[i].mask = &mk[0] if mk.shape[0] else NULL
        with nogil:
            rc = fi_prune_magnitude(c, <int>nb, kk)
    finally:
        PyMem_Free(c)
    if rc == FI_PRUNE_NAN:
        raise ValueError("the buffer contains NaN; magnitude pruning needs every |w| to compare")
    if rc == FI_PRUNE_NOMEM:
        raise MemoryError("could not allocate pruning scratch")


def prune_n_m(unsigned char[::1] raw, int code, object outer, object length, object inner,
              unsigned n, unsigned m, object mask):
    cdef unsigned char[::1] mk
    cdef unsigned char *mp = NULL
    cdef uint64_t o = outer, l = length, i = inner
    cdef int rc
    if raw.shape[0] == 0:
        return
    if mask is not None:
        mk = mask
        mp = &mk[0]
    with nogil:
        rc = fi_prune_n_m(&raw[0], code, o, l, i, n, m, mp)
    if rc != 0:
        raise ValueError("invalid N:M arguments")


def has_nan(unsigned char[::1] raw, int code, object n):
    cdef uint64_t nn = n
    cdef int r
    if nn == 0:
        return False
    with nogil:
        r = fi_has_nan(&raw[0], nn, code)
    return bool(r)


def apply_mask(unsigned char[::1] raw, size_t itemsize, const unsigned char[::1] mask):
    if raw.shape[0] == 0:
        return
    with nogil:
        fi_apply_mask(&raw[0], mask.shape[0], itemsize, &mask[0])
