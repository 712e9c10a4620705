# cython: language_level=3, boundscheck=False, wraparound=False
"""The only bridge between Python and the C kernels in csrc/.

The caller (fastinit._fill.run, the only one) has already validated every argument;
this module takes a flat, C-contiguous, writable uint8 view of the output,
converts the parameters to C structs, and runs the kernel of the current SIMD
level on the thread pool with the GIL released.  Long fills run in slices
with a signal check between them, so Ctrl-C interrupts them promptly.
"""
from cpython.buffer cimport PyBUF_FORMAT
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

# Output codes (the index into a kernel-table row), shared with fastinit._buffers,
# and the bytes per element of each: csrc/fi_kernels.h's FI_OUT_* and fi_out_itemsize.
F32 = FI_OUT_F32
F64 = FI_OUT_F64
F16 = FI_OUT_F16
BF16 = FI_OUT_BF16
ITEMSIZE = tuple([fi_out_itemsize[k] for k in range(FI_OUT_COUNT)])

# What fill() writes: csrc/fi_kernels.h's FI_KIND_*.
BITS = FI_KIND_BITS
UNIFORM = FI_KIND_UNIFORM
NORMAL = FI_KIND_NORMAL
TRUNC = FI_KIND_TRUNC
TRUNC_WIDE = FI_KIND_TRUNC_WIDE
PATTERN = FI_KIND_PATTERN

# SIMD level names, indexed by FI_LEVEL_* (csrc/fi_runtime.c's fi_level_names).
LEVELS = tuple([fi_level_names[k].decode("ascii") for k in range(FI_LEVEL_COUNT)])

_TRUNC_PARAMS = ("mean", "std", "lo", "hi", "cA", "cB", "W", "thr", "pc", "lnS")
# The params tuple of each kind, by name.
_PARAMS = {
    FI_KIND_BITS: ("bits", ()),
    FI_KIND_UNIFORM: ("uniform", ("lo", "width")),
    FI_KIND_NORMAL: ("normal", ("mean", "std")),
    FI_KIND_TRUNC: ("trunc", _TRUNC_PARAMS),
    FI_KIND_TRUNC_WIDE: ("trunc_wide", _TRUNC_PARAMS),
    FI_KIND_PATTERN: ("pattern", ("value",)),
}

# Elements per thread between two signal checks: about 50 ms of the slowest
# kernel at each level (scalar truncated normal; SIMD float64 truncated
# normal), so that Ctrl-C stops a fill within ~0.1 s while the pool wakes
# rarely enough not to cost throughput.
cdef uint64_t SLICE_SCALAR = 1 << 22
cdef uint64_t SLICE_SIMD = 1 << 24


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
    cdef uint64_t per_thread = SLICE_SCALAR if fi_get_level() == FI_LEVEL_SCALAR else SLICE_SIMD
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
    uint64 arrays and an int (fi_wrap.h); the runs are shared out over the threads."""
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


cdef union _Params:
    fi_uniform_f32_params uniform32
    fi_uniform_f64_params uniform64
    fi_normal_f32_params normal32
    fi_normal_f64_params normal64
    fi_trunc_f32_params trunc32
    fi_trunc_f64_params trunc64
    fi_pattern_params pattern


cdef int _set_params(int kind, int code, size_t itemsize, tuple params, _Params *P,
                     const void **p) except -1:
    """The kernel's parameter struct from the params tuple: float for 32-bit and
    narrower outputs, double for float64 and for TRUNC_WIDE."""
    cdef double a, b
    cdef fi_trunc_f64_params t
    cdef const unsigned char[::1] value
    name, names = _PARAMS[kind]
    if len(params) != len(names):
        raise ValueError(f"{name} fill takes params ({', '.join(names)}); got {len(params)} values")
    cdef bint f64 = code == FI_OUT_F64 and kind != FI_KIND_BITS
    if kind == FI_KIND_BITS:
        p[0] = NULL
    elif kind == FI_KIND_UNIFORM or kind == FI_KIND_NORMAL:
        a, b = params
        if kind == FI_KIND_UNIFORM and f64:
            P.uniform64.lo, P.uniform64.width = a, b
        elif kind == FI_KIND_UNIFORM:
            P.uniform32.lo, P.uniform32.width = <float>a, <float>b
        elif f64:
            P.normal64.mean, P.normal64.std = a, b
        else:
            P.normal32.mean, P.normal32.std = <float>a, <float>b
        p[0] = P
    elif kind == FI_KIND_TRUNC or kind == FI_KIND_TRUNC_WIDE:
        t.mean, t.std, t.lo, t.hi, t.cA, t.cB, t.W, t.thr, t.pc, t.lnS = params
        if f64 or kind == FI_KIND_TRUNC_WIDE:
            P.trunc64 = t
        else:
            P.trunc32.mean, P.trunc32.std = <float>t.mean, <float>t.std
            P.trunc32.lo, P.trunc32.hi = <float>t.lo, <float>t.hi
            P.trunc32.cA, P.trunc32.cB, P.trunc32.W = <float>t.cA, <float>t.cB, <float>t.W
            P.trunc32.thr, P.trunc32.pc, P.trunc32.lnS = <float>t.thr, <float>t.pc, <float>t.lnS
        p[0] = P
    else:
        value = params[0]
        if <size_t>value.shape[0] != itemsize or itemsize > sizeof(P.pattern.value):
            raise ValueError(f"a pattern value must be one element of {itemsize} bytes; "
                             f"got {value.shape[0]} bytes")
        P.pattern.itemsize = itemsize
        memcpy(P.pattern.value, &value[0], itemsize)
        p[0] = P
    return 0


def fill(int kind, unsigned char[::1] raw, int code, object seed, object stream, object first,
         tuple params, object mask=None):
    """Run one kernel over raw, a flat C-contiguous uint8 view of the output.

    kind: BITS (uint32 Philox words; code ignored), UNIFORM, NORMAL, TRUNC,
    TRUNC_WIDE or PATTERN.  code: the output code F32, F64, F16 or BF16;
    raw holds len(raw) // itemsize elements.  params by kind: BITS ();
    UNIFORM (lo, width); NORMAL (mean, std); TRUNC and TRUNC_WIDE (mean, std,
    lo, hi, cA, cB, W, thr, pc, lnS) from fastinit._truncation: trunc_params'
    values for F64 and TRUNC_WIDE (a narrow interval, f64 parameters and rule
    for every output), f32_values(values) for a 32-bit TRUNC (the f32 rule's
    own central limit pc); PATTERN
    (value,), the bytes of one element.  Parameters become float for 32-bit
    and narrower outputs, stay double for F64.
    first: the stream index of raw's first element, or a tile's runs as a
    tuple (local starts, stream indices, run length): two C-contiguous uint64
    arrays and an int, run r covering elements local[r] .. local[r] + run
    length - 1 of raw with stream indices from first[r].  seed and stream:
    the stream.  PATTERN ignores seed, stream and an int first.
    mask: None, or a uint8 keep-mask of one entry per element (int first
    only): the kernel's values where it is set, zero elsewhere, in one pass."""
    cdef size_t itemsize = 0
    cdef fi_kernel fn
    cdef _Params P
    cdef const void *p = NULL
    cdef fi_stream s
    if kind < 0 or kind >= FI_KIND_COUNT:
        raise ValueError(f"unknown fill kind {kind}")
    fn = fi_kernel_for(fi_table(), kind, code, &itemsize)
    if fn == NULL:
        raise ValueError(f"unknown output code {code}")
    _set_params(kind, code, itemsize, params, &P, &p)
    cdef bint runs = isinstance(first, tuple)
    if runs and mask is not None:
        raise ValueError("a mask goes with an int first index, not with runs")
    if <size_t>raw.shape[0] % itemsize:
        raise ValueError(f"the buffer's {raw.shape[0]} bytes are not a whole number of {itemsize}-byte elements")
    if raw.shape[0] == 0:
        return
    if kind == FI_KIND_PATTERN:
        s.seed = 0
        s.stream = 0
        if not runs:
            first = 0
    else:
        s = _stream(seed, stream)
    if runs:
        _run_tile(fn, &raw[0], itemsize, raw.shape[0], first, &s, p)
    else:
        _run_masked(fn, &raw[0], itemsize, raw.shape[0] // itemsize, &s, first, p, mask)


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
        if flags & PyBUF_FORMAT:
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
