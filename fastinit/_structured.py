"""Structured initializations: orthogonal, sparse, identities, delta-orthogonal.

These are not one value per stream index: an orthogonal matrix is the Q of a
QR decomposition of a whole standard-normal matrix, a sparse fill zeroes a
pattern chosen column by column. They still draw from the counter-based
stream (``(seed, stream, offset)`` decide the normal matrix, and so the
result), they are described by the same :class:`fastinit._fill.Fill` as every
fill, and ``rewind_`` regenerates them from the same arguments or record.

The normal matrix is exact (docs/STREAM.md). Q is computed by LAPACK
(``geqrf`` then ``orgqr``): in float64 for float64 buffers (through NumPy's
own LAPACK, ``numpy.linalg.lapack_lite``), in float32 for the others when
SciPy is installed (``scipy.linalg.lapack``), else in float64 and rounded.
LAPACK's last bits depend on the library, its build and the number of BLAS
threads (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``; not fastinit's own
thread setting), as those of ``torch.nn.init.orthogonal_`` do: with the same
installation and BLAS threads, the same arguments give the same bits, and
fastinit and ``fastinit.torch`` take the same path; otherwise the normal
matrix is the same and Q agrees to rounding (about 1e-6 in float32).
"""
import math

import numpy as np

from . import _buffers, _fill, _kernels
from ._fill import SOURCE_OPTIONS, Fill, Source

__all__ = ["orthogonal_", "sparse_", "eye_", "dirac_", "identity_", "delta_orthogonal_"]

_F32, _F64 = _kernels.F32, _kernels.F64
_STORE_BLOCK = 1 << 18            # elements rounded and copied at a time (bounds the temporaries)
SPARSE_BLOCK = 1 << 19           # Philox words ranked at a time by sparse_ (20 bytes each with the argsort)


# ---------------------------------------------------------------------------
# LAPACK: QR in place

def _scipy_lapack():
    try:
        from scipy.linalg import lapack
    except ImportError:
        return None
    return lapack


def work_dtype(code):
    """The precision Q is computed in for an output ``code``: float64 for float64 buffers,
    float32 for the others (float64 when SciPy, whose float32 LAPACK it uses, is missing)."""
    if code == _F64 or _scipy_lapack() is None:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _lapack_error(routine, info):
    return RuntimeError(f"LAPACK {routine} failed (info={info})")


def _qr_scipy(f, lapack):
    prefix = "s" if f.dtype == np.float32 else "d"
    geqrf, orgqr = getattr(lapack, prefix + "geqrf"), getattr(lapack, prefix + "orgqr")
    m, n = f.shape
    # (the queries touch nothing, but without overwrite_a SciPy would copy the matrix for them)
    lwork = max(int(geqrf(f, lwork=-1, overwrite_a=1)[2][0]),
                int(orgqr(f, np.zeros(n, f.dtype), lwork=-1, overwrite_a=1)[1][0]), 1)
    qr, tau, _, info = geqrf(f, lwork=lwork, overwrite_a=1)
    if info != 0:
        raise _lapack_error(prefix + "geqrf", info)
    sign = np.sign(np.diagonal(qr)).copy()
    q, _, info = orgqr(qr, tau, lwork=lwork, overwrite_a=1)
    if info != 0:
        raise _lapack_error(prefix + "orgqr", info)
    if not np.shares_memory(q, f):              # scipy copied: keep the result anyway
        f[...] = q
    return sign


def _qr_numpy(f):
    """geqrf + orgqr of NumPy's LAPACK on a float64 Fortran-order matrix, in place (lapack_lite
    takes C-contiguous arrays, read as column-major: pass f's transpose)."""
    from numpy.linalg import lapack_lite
    m, n = f.shape
    a = f.T                                      # C-contiguous, the same memory
    tau = np.empty(n, np.float64)
    work = np.empty(1, np.float64)
    lapack_lite.dgeqrf(m, n, a, m, tau, work, -1, 0)
    query = np.empty(1, np.float64)
    lapack_lite.dorgqr(m, n, n, a, m, tau, query, -1, 0)
    lwork = max(int(work[0]), int(query[0]), 1)
    work = np.empty(lwork, np.float64)
    info = lapack_lite.dgeqrf(m, n, a, m, tau, work, lwork, 0)["info"]
    if info != 0:
        raise _lapack_error("dgeqrf", info)
    sign = np.sign(np.diagonal(f)).copy()
    info = lapack_lite.dorgqr(m, n, n, a, m, tau, work, lwork, 0)["info"]
    if info != 0:
        raise _lapack_error("dorgqr", info)
    return sign


def _qr_in_place(f):
    """Overwrite ``f`` (Fortran-ordered, m >= n) with the Q of its QR decomposition; return
    the signs of R's diagonal."""
    if f.dtype == np.float64:
        return _qr_numpy(f)
    return _qr_scipy(f, _scipy_lapack())


def _transpose_square(a, block=256):
    """Transpose a square C-contiguous array in place, by blocks (no copy of the whole)."""
    n = a.shape[0]
    for i in range(0, n, block):
        ie = min(n, i + block)
        a[i:ie, i:ie] = a[i:ie, i:ie].T.copy()
        for j in range(ie, n, block):
            je = min(n, j + block)
            upper = a[i:ie, j:je].copy()
            a[i:ie, j:je] = a[j:je, i:ie].T
            a[j:je, i:ie] = upper.T


def orthogonal_matrix(rows, cols, work, gain, seed, stream, offset=0, into=None):
    """Q * sign(diag R) * gain, a (rows, cols) array of dtype ``work``, for the standard-normal
    matrix of ``(seed, stream)`` from stream index ``offset`` (C order, as a fill of a
    (rows, cols) buffer), factored as torch does: A = QR when rows >= cols, else Aᵀ = QR
    and the transpose of that Q. The columns (tall) or rows (wide) are orthonormal up to gain.

    ``into``: a C-contiguous (rows, cols) array of ``work`` to compute in. Wide and square
    matrices are factored there (and ``into`` is returned); a tall one is drawn there, then
    factored in a Fortran-ordered copy (returned). Without ``into`` the matrix is allocated.
    LAPACK's workspace (a few columns) comes on top."""
    code = _F64 if work == np.float64 else _F32
    normal = Fill(_fill.normal(0.0, 1.0), Source.fixed(seed, stream), offset)
    if rows < cols or (rows == cols and into is not None):
        mat = np.empty((rows, cols), work) if into is None else into
        _fill.run(normal, mat, code)
        if rows < cols:
            # Aᵀ, Fortran-ordered, is A's own memory: factor it there
            scale = _qr_in_place(mat.T)
            mat *= (scale * gain)[:, None]
        else:
            _transpose_square(mat)               # A's memory now holds A in Fortran order
            f = mat.T
            scale = _qr_in_place(f)
            f *= (scale * gain)[None, :]
            _transpose_square(mat)
        return mat
    f = np.empty((cols, rows), work).T           # Fortran-ordered (rows, cols)
    if into is None:
        _fill.run(normal, f, code)
    else:
        _fill.run(normal, into, code)
        f[...] = into
    scale = _qr_in_place(f)
    f *= (scale * gain)[None, :]
    return f


def _bf16_bits(values):
    """bfloat16 bit patterns of finite float32 values, rounded to nearest even."""
    u = np.ascontiguousarray(values, np.float32).view(np.uint32)
    return ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)


def _blocks(shape, limit):
    """Index tuples cutting an array of ``shape`` into blocks of at most ``limit`` elements
    (whole rows where they fit, else pieces of a row)."""
    if math.prod(shape) <= limit or not shape:
        yield ()
        return
    inner = math.prod(shape[1:])
    if inner <= limit:
        step = limit // inner
        for i in range(0, shape[0], step):
            yield (slice(i, i + step),)
        return
    for i in range(shape[0]):
        for rest in _blocks(shape[1:], limit):
            yield (i,) + rest


def store(dest, values, code):
    """``dest[...] = values`` (a float32 or float64 array of dest's shape), each value rounded
    once to dest's dtype (``code``), a block of at most _STORE_BLOCK elements at a time (so
    the temporaries stay small)."""
    if dest.size == 0:
        return
    with np.errstate(over="ignore"):         # beyond a 16-bit dtype's range: inf, as every fill writes
        _store(dest, values, code)


def _store(dest, values, code):
    for b in _blocks(dest.shape, _STORE_BLOCK):
        v = values[b]
        if code == _kernels.BF16:
            if v.dtype != np.float32:
                v = v.astype(np.float32)         # (never: 16-bit outputs are computed in float32)
            dest.view(np.uint16)[b] = _bf16_bits(v)
        elif code == _kernels.F16:
            dest[b] = v.astype(np.float16)
        else:
            dest[b] = v


# ---------------------------------------------------------------------------
# Writers: what run() calls for these kinds (checks first, then the write)

class _Writer:
    """Checks and writes one structured kind; registered in ``_fill.WRITERS``."""

    kind = None

    def check_shape(self, shape, params):
        """A ValueError (torch's or Keras's wording) for a shape this kind cannot fill."""

    def check_params(self, fill, shape, code):
        """A ValueError for parameters the output dtype or the stream cannot take."""
        _buffers.check_offset(fill.offset, self.draws(shape, fill.draw.params))

    def draws(self, shape, params):
        """How many stream indices the kind reads from the fill's offset."""
        return math.prod(shape)

    def write(self, arr, code, params, seed, stream, offset):
        raise NotImplementedError


def _check_gain(gain, code):
    """|entries| <= |gain|: a gain the working precision holds (float32 for all but float64)."""
    if code != _F64:
        _fill.working_range(code, gain=gain)


def _ones(arr, code, val=1.0):
    return np.frombuffer(_buffers.constant_bytes(code, val), arr.dtype)[0]


class _Orthogonal(_Writer):
    kind = "orthogonal"

    def check_shape(self, shape, params):
        if len(shape) < 2:
            raise ValueError("Only tensors with 2 or more dimensions are supported")

    def check_params(self, fill, shape, code):
        super().check_params(fill, shape, code)
        _check_gain(fill.draw.params["gain"], code)

    def write(self, arr, code, params, seed, stream, offset):
        write_orthogonal(arr, code, params["gain"], seed, stream, offset)


def write_orthogonal(arr, code, gain, seed, stream, offset=0):
    """Fill ``arr`` (2 or more dimensions, rows = shape[0]) with the orthogonal matrix of
    ``(seed, stream, offset)`` times ``gain``; in place when arr is a C-contiguous float32 or
    float64 array that is wide or square, else through one matrix in the working precision."""
    if arr.size == 0:
        return
    rows = arr.shape[0]
    cols = arr.size // rows
    work = work_dtype(code)
    into = None
    if arr.dtype == work and _buffers.direct(arr):
        into = arr.reshape(rows, cols)
    q = orthogonal_matrix(rows, cols, work, gain, seed, stream, offset, into)
    if q is not into:
        store(arr, q.reshape(arr.shape), code)


class _Sparse(_Writer):
    kind = "sparse"

    def check_shape(self, shape, params):
        if len(shape) != 2:
            raise ValueError("Only tensors with 2 dimensions are supported")

    def check_params(self, fill, shape, code):
        super().check_params(fill, shape, code)
        _fill.normal(0.0, fill.draw.params["std"]).kernel(code)      # the values' range for the dtype

    def draws(self, shape, params):
        return 2 * math.prod(shape)              # the values, then the words that place the zeros

    def write(self, arr, code, params, seed, stream, offset):
        _fill.run(Fill(_fill.normal(0.0, params["std"]), Source.fixed(seed, stream), offset), arr, code)
        rows, cols = arr.shape
        num_zeros = math.ceil(params["sparsity"] * rows)
        if num_zeros == 0 or arr.size == 0:
            return
        width = max(1, SPARSE_BLOCK // rows)
        for c0 in range(0, cols, width):
            c1 = min(cols, c0 + width)
            zero = sparse_zero_rows(rows, cols, num_zeros, seed, stream, offset, c0, c1)
            arr[zero, np.arange(c0, c1)] = 0


def sparse_zero_rows(rows, cols, num_zeros, seed, stream, offset, c0, c1):
    """The rows sparse_ zeroes in columns c0:c1 of a (rows, cols) tensor: a (num_zeros, c1 - c0)
    int array, column j's rows holding the num_zeros smallest of the raw Philox words at
    stream indices ``offset + rows * cols + (row * cols + j)`` (ties toward the lower row)."""
    keys = np.empty((rows, c1 - c0), np.uint32)
    _fill.run(Fill(_fill.bits(), Source.fixed(seed, stream), offset + rows * cols, global_shape=(rows, cols),
                   index=(slice(None), slice(c0, c1))), keys, _fill.BITS_CODE)
    return np.argsort(keys, axis=0, kind="stable")[:num_zeros]


class _Eye(_Writer):
    kind = "eye"

    def check_shape(self, shape, params):
        if len(shape) != 2:
            raise ValueError("Only tensors with 2 dimensions are supported")

    def write(self, arr, code, params, seed, stream, offset):
        arr[...] = 0
        n = np.arange(min(arr.shape))
        arr[n, n] = _ones(arr, code)


class _Identity(_Eye):
    kind = "identity"

    def check_shape(self, shape, params):
        if len(shape) != 2:
            raise ValueError(f"identity_ fills 2-D matrices (as Keras's Identity), got shape {tuple(shape)} "
                             f"of rank {len(shape)}")

    def check_params(self, fill, shape, code):
        _buffers.constant_bytes(code, fill.draw.params["gain"], check=True)

    def write(self, arr, code, params, seed, stream, offset):
        arr[...] = 0
        n = np.arange(min(arr.shape))
        arr[n, n] = _ones(arr, code, params["gain"])


class _Dirac(_Writer):
    kind = "dirac"

    def check_shape(self, shape, params):
        if len(shape) not in (3, 4, 5):
            raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
        if shape[0] % params["groups"] != 0:
            raise ValueError("dim 0 must be divisible by groups")

    def write(self, arr, code, params, seed, stream, offset):
        if arr.size == 0:                        # (a kernel of size 0 has no centre to index)
            return
        arr[...] = 0
        groups = params["groups"]
        per = arr.shape[0] // groups
        d = np.arange(min(per, arr.shape[1]))
        centre = tuple(n // 2 for n in arr.shape[2:])
        for g in range(groups):
            arr[(g * per + d, d) + centre] = _ones(arr, code)


class _DeltaOrthogonal(_Writer):
    kind = "delta_orthogonal"

    def check_shape(self, shape, params):
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"delta_orthogonal_ fills convolution kernels of 3, 4 or 5 dimensions, "
                             f"got shape {tuple(shape)}")
        out, inp, kernel = _conv_dims(shape, params["layout"])
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"delta_orthogonal_ needs odd kernel sizes (one centre tap), got {kernel}")
        if out < inp:
            raise ValueError(f"delta_orthogonal_ needs out_channels >= in_channels (an orthogonal "
                             f"in -> out map at the centre), got {out} < {inp}")

    def draws(self, shape, params):
        out, inp, _ = _conv_dims(shape, params["layout"])
        return out * inp

    def check_params(self, fill, shape, code):
        super().check_params(fill, shape, code)
        _check_gain(fill.draw.params["gain"], code)

    def write(self, arr, code, params, seed, stream, offset):
        out, inp, kernel = _conv_dims(arr.shape, params["layout"])
        arr[...] = 0
        if out * inp == 0:
            return
        q = orthogonal_matrix(out, inp, work_dtype(code), params["gain"], seed, stream, offset)
        centre = tuple(k // 2 for k in kernel)
        if params["layout"] == "torch":
            store(arr[(slice(None), slice(None)) + centre], q, code)
        else:
            store(arr[centre + (slice(None), slice(None))], q.T, code)


def _conv_dims(shape, layout):
    """(out_channels, in_channels, kernel sizes) of a convolution kernel in this layout."""
    if layout == "torch":
        return shape[0], shape[1], tuple(shape[2:])
    return shape[-1], shape[-2], tuple(shape[:-2])


for _w in (_Orthogonal(), _Sparse(), _Eye(), _Identity(), _Dirac(), _DeltaOrthogonal()):
    _fill.WRITERS[_w.kind] = _w


# ---------------------------------------------------------------------------
# The public functions

_random = _fill.rule(SOURCE_OPTIONS, {"offset": 0}, structured=True)
_fixed = _fill.rule(structured=True)


@_random
def orthogonal_(fans, gain=1.0):
    """A (semi-)orthogonal matrix times ``gain``, as ``torch.nn.init.orthogonal_`` (Saxe et al. 2013).

    The buffer (2 or more dimensions) is read as a ``(shape[0], size // shape[0])``
    matrix. Its values are the Q of the QR decomposition of a fastinit standard-normal
    matrix of that shape (the stream of ``seed``/``generator``/``stream`` from ``offset``,
    in C order), each column multiplied by the sign of R's diagonal so that Q is
    Haar-distributed; a wide matrix is factored transposed, so its rows are orthonormal:
    ``Q @ Q.T = gain**2 * I`` for wide, ``Q.T @ Q = gain**2 * I`` for tall and square.

    Precision: float64 for float64 buffers; float32 for float32, float16 and bfloat16
    (rounded once to the 16-bit dtype) when SciPy provides float32 LAPACK, else float64
    rounded once. See the module notes on bits across LAPACK libraries.

    Memory: a C-contiguous float32 or float64 buffer that is wide or square is factored
    in place (nothing but LAPACK's workspace, a few columns); a tall one, a 16-bit one or
    a non-contiguous view needs one matrix of the working precision besides.

    Examples
    --------
    >>> w = fastinit.orthogonal_(np.empty((256, 512), np.float32), seed=0)
    >>> np.allclose(w @ w.T, np.eye(256), atol=1e-5)
    True
    """
    return _fill.orthogonal(gain)


@_random
def sparse_(fans, sparsity, std=0.01):
    """``N(0, std**2)`` with ``ceil(sparsity * rows)`` zeros in every column, as
    ``torch.nn.init.sparse_`` (Martens 2010), for 2-D buffers.

    The values are fastinit's normal from ``offset``; the zeroed rows of each column are
    those holding its ``ceil(sparsity * rows)`` smallest raw Philox words at the next
    ``rows * cols`` stream indices (ties toward the lower row), so the pattern is
    regenerated with the values (torch draws it by ``randperm``). ``sparsity`` is in
    ``[0, 1]``. Scratch: about 10 MiB, 20 bytes for each word of a block of 2**19 (the
    words of a block of columns and their order; one column when there are more rows).

    Examples
    --------
    >>> w = fastinit.sparse_(np.empty((100, 50), np.float32), 0.1, seed=0)
    >>> int((w == 0).sum(axis=0).min())
    10
    """
    return _fill.sparse(sparsity, std)


@_fixed
def eye_(fans):
    """The identity matrix (ones on the main diagonal of a 2-D buffer, non-square too), as
    ``torch.nn.init.eye_``.

    Examples
    --------
    >>> fastinit.eye_(np.empty((2, 3), np.float32))
    array([[1., 0., 0.],
           [0., 1., 0.]], dtype=float32)
    """
    return _fill.eye()


@_fixed
def identity_(fans, gain=1.0):
    """``gain`` times the identity matrix of a 2-D buffer (non-square allowed), as Keras's
    ``Identity(gain)``; ``gain`` is rounded once to the buffer's dtype.

    Examples
    --------
    >>> fastinit.identity_(np.empty((3, 2), np.float32), gain=0.5)
    array([[0.5, 0. ],
           [0. , 0.5],
           [0. , 0. ]], dtype=float32)
    """
    return _fill.identity(gain)


@_fixed
def dirac_(fans, groups=1):
    """The Dirac delta of a convolution kernel ``(out, in, *kernel)`` of 3, 4 or 5 dimensions,
    as ``torch.nn.init.dirac_``: the convolution keeps as many input channels as it can, in
    each of ``groups`` groups (dim 0 divisible by ``groups``); ones at the kernel's centre
    ``(k // 2, ...)``.

    Examples
    --------
    >>> w = fastinit.dirac_(np.empty((16, 16, 3, 3), np.float32))
    """
    return _fill.dirac(groups)


@_random
def delta_orthogonal_(fans, gain=1.0, *, layout="torch"):
    """A delta-orthogonal convolution kernel (Xiao et al. 2018, "Dynamical isometry and a mean
    field theory of CNNs"; JAX's ``jax.nn.initializers.delta_orthogonal``): zero everywhere
    but the centre tap, which holds an ``(out, in)`` matrix with orthonormal columns times
    ``gain`` (``fastinit.orthogonal_`` of an ``(out, in)`` matrix, from ``offset``).

    ``layout='torch'``: ``(out, in, *kernel)``; ``layout='keras'``: ``(*kernel, in, out)``
    (JAX's and Keras's HWIO), holding the transpose of the same matrix, so one seed gives the
    same kernel in either layout. 3, 4 or 5 dimensions, odd kernel sizes, ``out >= in``
    (ValueError otherwise, as JAX).

    Examples
    --------
    >>> w = fastinit.delta_orthogonal_(np.empty((64, 32, 3, 3), np.float32), seed=0)
    >>> m = w[:, :, 1, 1]; np.allclose(m.T @ m, np.eye(32), atol=1e-5)
    True
    """
    return _fill.delta_orthogonal(gain, layout)
