"""The structured initializations on NumPy buffers: orthogonal_, sparse_, eye_, dirac_,
identity_, delta_orthogonal_ (fastinit/_structured.py).

Checked: the defining property of each (QᵀQ = gain² I, the Haar marginal of the entries
and the sign convention, the exact zero pattern of sparse_, torch's and Keras's
deterministic patterns), the definition of orthogonal_ as the Q of the QR decomposition
of fastinit's own normal matrix, the same bits as the torch twin, the constructors,
rewind_, memory, and that every bad argument fails before the buffer or the generator
changes.
"""
import math
import tracemalloc

import numpy as np
import pytest
from scipy import stats

import fastinit as fi
from fastinit import _structured
from _stats import P_MIN, fresh_seed, get_dtype

DTYPES = ["float32", "float64", "float16", "bfloat16"]
# the worst |QᵀQ - I| entry each dtype can hold (16-bit: rounding of each entry, summed)
GRAM_TOL = {"float32": 2e-5, "float64": 1e-12, "float16": 1e-2, "bfloat16": 6e-2}
SHAPES = [(7, 3), (3, 7), (6, 6), (1, 5), (5, 1), (64, 16, 3), (16, 8, 3, 3), (40, 200), (200, 40)]


def _traced_peak(fn):
    """The peak of NumPy's (and SciPy's) allocations, traced, while fn() runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _matrix(w):
    return np.asarray(w, np.float64).reshape(w.shape[0], -1)


def _gram(m):
    """The Gram matrix of the orthonormal direction: rows when wide, columns otherwise."""
    return m @ m.T if m.shape[0] < m.shape[1] else m.T @ m


def _normal_matrix(rows, cols, seed, stream=0, offset=0, dtype=np.float64):
    """fastinit's standard-normal matrix in the working precision (the matrix orthogonal_
    factors; float32 and float64 draws differ), as float64."""
    return fi.normal_(np.empty((rows, cols), dtype), seed=seed, stream=stream, offset=offset).astype(np.float64)


# ---------------------------------------------------------------------------- orthogonal_

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.5, -0.5])
def test_orthogonal_gram(shape, dtype, gain):
    seed = fresh_seed()
    w = fi.orthogonal_(np.empty(shape, get_dtype(dtype)), gain, seed=seed)
    m = _matrix(w)
    g = _gram(m)
    assert np.abs(g - gain ** 2 * np.eye(len(g))).max() <= GRAM_TOL[dtype] * gain ** 2, seed


@pytest.mark.parametrize("shape", [(9, 4), (4, 9), (6, 6), (10, 2, 2)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal_is_the_q_of_fastinits_normal_matrix(shape, dtype):
    """Q of the QR decomposition of the fastinit normal matrix (transposed when wide), with
    the sign of R's diagonal made positive: computed here independently, in float64, by NumPy."""
    seed, stream = fresh_seed(), 5
    w = _matrix(fi.orthogonal_(np.empty(shape, dtype), seed=seed, stream=stream, offset=123))
    rows, cols = w.shape
    a = _normal_matrix(rows, cols, seed, stream, 123, dtype)
    wide = rows < cols
    q, r = np.linalg.qr(a.T if wide else a)
    q = q * np.sign(np.diag(r))
    expected = q.T if wide else q
    assert np.abs(w - expected).max() < (1e-5 if dtype == "float32" else 1e-12), seed
    # R = Qᵀ A has a positive diagonal: the Haar sign convention
    r_ours = w @ a.T if wide else w.T @ a
    assert (np.diag(r_ours) > 0).all(), seed


@pytest.mark.parametrize("shape,entry", [((12, 5), (0, 0)), ((12, 5), (11, 4)), ((5, 12), (0, 0)),
                                         ((5, 12), (4, 11)), ((8, 8), (0, 0)), ((8, 8), (3, 6))], ids=str)
def test_orthogonal_entries_follow_the_haar_marginal(shape, entry):
    """One entry of many independent matrices: a coordinate of a uniform point on the sphere
    S^(m-1) (m the length of the orthonormal direction), so (x + 1) / 2 ~ Beta((m-1)/2, (m-1)/2)."""
    seed = fresh_seed()
    g = fi.Generator(seed)
    n = 3000
    x = np.array([fi.orthogonal_(np.empty(shape), generator=g)[entry] for _ in range(n)])
    m = max(shape)
    a = (m - 1) / 2
    p = stats.kstest(x, stats.beta(a, a, loc=-1, scale=2).cdf).pvalue
    assert p > P_MIN, (seed, p)


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (5, 5)], ids=str)
def test_orthogonal_diagonal_sign_is_fair(shape):
    """Without the sign correction, LAPACK's Q[0, 0] = a00 / R00 is always negative
    (Householder gives R00 = -sign(a00) |a0|); Haar's is positive half the time."""
    seed = fresh_seed()
    g = fi.Generator(seed)
    n = 2000
    positive = sum(fi.orthogonal_(np.empty(shape), generator=g)[0, 0] > 0 for _ in range(n))
    p = stats.binomtest(positive, n, 0.5).pvalue
    assert p > P_MIN, (seed, positive)


def test_orthogonal_same_for_any_layout_of_the_buffer():
    """A strided view, a Fortran-ordered array and a C array of the same shape get the same values."""
    seed = fresh_seed()
    for shape in [(20, 8), (8, 20), (12, 12)]:
        ref = fi.orthogonal_(np.empty(shape, np.float32), 1.3, seed=seed)
        f = fi.orthogonal_(np.empty(shape, np.float32, order="F"), 1.3, seed=seed)
        big = np.full((shape[0] * 2, shape[1] * 3), 7.0, np.float32)
        view = fi.orthogonal_(big[::2, 1::3], 1.3, seed=seed)
        assert np.array_equal(ref, f) and np.array_equal(ref, view), shape
        assert (np.delete(big[::2], np.s_[1::3], axis=1) == 7.0).all()      # nothing else written


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (16, 16)], ids=str)
def test_orthogonal_16bit_is_float32_rounded_once(shape, dtype):
    seed = fresh_seed()
    dt = get_dtype(dtype)
    ref = fi.orthogonal_(np.empty(shape, np.float32), 0.75, seed=seed)
    w = fi.orthogonal_(np.empty(shape, dt), 0.75, seed=seed)
    assert np.array_equal(w.view(np.uint16), ref.astype(dt).view(np.uint16))


def test_orthogonal_without_scipy_is_float64_rounded_once(monkeypatch):
    """Without SciPy's float32 LAPACK, float32 buffers are computed in float64 (NumPy's
    LAPACK) and rounded once: exactly the float64 result cast to float32."""
    monkeypatch.setattr(_structured, "_scipy_lapack", lambda: None)
    seed = fresh_seed()
    for shape in [(20, 7), (7, 20), (9, 9)]:
        w64 = fi.orthogonal_(np.empty(shape, np.float64), 2.0, seed=seed)
        w32 = fi.orthogonal_(np.empty(shape, np.float32), 2.0, seed=seed)
        assert np.array_equal(w32, w64.astype(np.float32)), shape
        assert np.abs(_gram(_matrix(w32)) - 4 * np.eye(min(shape))).max() < 1e-5


def test_orthogonal_square_and_wide_are_factored_in_place():
    """A C-contiguous float32 wide or square buffer needs no second matrix (the memory
    promise of the docstring): NumPy's and SciPy's allocations, traced, stay below a
    quarter of the matrix; a tall one takes one matrix besides, and no more."""
    matrix = 512 * 1024 * 4
    for shape, most in [((512, 1024), matrix / 4), ((768, 768), 768 * 768 * 4 / 4), ((1024, 512), 1.25 * matrix)]:
        w = np.empty(shape, np.float32)
        peak = _traced_peak(lambda: fi.orthogonal_(w, seed=1))
        assert peak < most, (shape, peak)
        if shape[0] > shape[1]:
            assert peak > 0.9 * matrix          # the Fortran-ordered copy a tall matrix needs


def test_orthogonal_draws_its_stream_and_rewinds():
    seed = fresh_seed()
    g = fi.Generator(seed)
    a = fi.orthogonal_(np.empty((40, 30), np.float32), generator=g)
    b = fi.orthogonal_(np.empty((40, 30), np.float32), generator=g)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, fi.orthogonal_(np.empty((40, 30), np.float32), seed=seed, stream=0))
    assert np.array_equal(b, fi.orthogonal_(np.empty((40, 30), np.float32), seed=seed, stream=1))
    w = b.copy()
    mask = fi.prune_magnitude_(w, 0.6, return_mask=True)
    w[mask] = 99.0
    fi.rewind_(w, mask, fi.orthogonal_, seed=seed, stream=1)
    assert np.array_equal(w, np.where(mask, b, 0))


# ---------------------------------------------------------------------------- sparse_

def _expected_sparse(shape, sparsity, std, seed, stream=0, offset=0):
    """The values, then in each column the rows of the smallest raw Philox words of the next
    rows * cols stream indices zeroed (ties toward the lower row), written out one by one."""
    rows, cols = shape
    values = fi.normal_(np.empty(shape, np.float32), 0.0, std, seed=seed, stream=stream, offset=offset)
    keys = fi.random_bits_(np.empty(shape, np.uint32), seed=seed, stream=stream, offset=offset + rows * cols)
    k = math.ceil(sparsity * rows)
    for c in range(cols):
        for r in sorted(range(rows), key=lambda r: (int(keys[r, c]), r))[:k]:
            values[r, c] = 0.0
    return values


@pytest.mark.parametrize("shape,sparsity", [((50, 7), 0.1), ((10, 30), 0.55), ((1, 4), 0.5), ((33, 3), 1.0),
                                            ((20, 5), 0.0)], ids=str)
def test_sparse_pattern_and_zero_count(shape, sparsity):
    seed = fresh_seed()
    w = fi.sparse_(np.full(shape, 3.0, np.float32), sparsity, 0.02, seed=seed, stream=2, offset=9)
    assert np.array_equal(w, _expected_sparse(shape, sparsity, 0.02, seed, 2, 9)), seed
    zeros = (w == 0).sum(axis=0)
    k = math.ceil(sparsity * shape[0])
    assert (zeros >= k).all() and zeros.sum() <= k * shape[1] + 2, (seed, zeros)     # a normal may be 0.0
    nonzero = w[w != 0]
    if nonzero.size > 200:
        assert stats.kstest(nonzero, stats.norm(0, 0.02).cdf).pvalue > P_MIN, seed


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_dtypes(dtype):
    seed = fresh_seed()
    dt = get_dtype(dtype)
    w = fi.sparse_(np.empty((64, 40), dt), 0.25, seed=seed)
    ref = fi.sparse_(np.empty((64, 40), np.float32), 0.25, seed=seed)
    assert ((w.astype(np.float32) == 0).sum(axis=0) >= 16).all()
    assert np.array_equal(w.astype(np.float32) == 0, ref == 0)
    if dtype != "float64":
        assert np.array_equal(w.view(np.uint16) if w.itemsize == 2 else w,
                              fi.normal_(np.empty((64, 40), dt), 0, 0.01, seed=seed).view(
                                  np.uint16 if w.itemsize == 2 else dt) * (ref != 0))


def test_sparse_large_columns_in_blocks(monkeypatch):
    """The zero pattern is ranked a block of columns at a time: any block size, the same pattern."""
    seed = fresh_seed()
    ref = fi.sparse_(np.empty((37, 23), np.float32), 0.3, seed=seed)
    monkeypatch.setattr(_structured, "SPARSE_BLOCK", 37 * 4)
    assert np.array_equal(fi.sparse_(np.empty((37, 23), np.float32), 0.3, seed=seed), ref)


# ---------------------------------------------------------------------------- eye_, identity_, dirac_

@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (0, 3), (1, 1)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_eye_and_identity(shape, dtype):
    dt = get_dtype(dtype)
    w = fi.eye_(np.full(shape, 5.0, dt))
    assert np.array_equal(w.astype(np.float64), np.eye(*shape))
    w = fi.identity_(np.full(shape, 5.0, dt), gain=0.3)
    assert np.array_equal(w.astype(np.float64), (np.eye(*shape) * np.float32(0.3).astype(dt)).astype(np.float64)
                          if dtype != "float64" else 0.3 * np.eye(*shape))


def _dirac_reference(shape, groups):
    """torch.nn.init.dirac_'s definition, written out."""
    w = np.zeros(shape)
    per = shape[0] // groups
    for g in range(groups):
        for d in range(min(per, shape[1])):
            w[(g * per + d, d) + tuple(k // 2 for k in shape[2:])] = 1.0
    return w


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 2, 5), 2), ((8, 3, 3, 3), 2), ((4, 6, 2, 4), 1),
                                          ((6, 6, 3, 3, 3), 3), ((2, 8, 1), 1)], ids=str)
def test_dirac(shape, groups):
    w = fi.dirac_(np.full(shape, 9.0, np.float32), groups)
    assert np.array_equal(w, _dirac_reference(shape, groups))


def test_deterministic_equal_torchs():
    torch = pytest.importorskip("torch")
    from fastinit.torch._functions import TORCH_FUNCTIONS
    for shape in [(3, 3), (2, 5), (5, 2)]:
        assert np.array_equal(fi.eye_(np.empty(shape, np.float32)), TORCH_FUNCTIONS["eye_"](torch.empty(shape)).numpy())
    for shape, groups in [((4, 4, 3), 1), ((6, 2, 5), 2), ((8, 3, 3, 3), 2), ((4, 6, 2, 4), 1), ((6, 6, 3, 3, 3), 3)]:
        ours = fi.dirac_(np.empty(shape, np.float32), groups)
        assert np.array_equal(ours, TORCH_FUNCTIONS["dirac_"](torch.empty(shape), groups).numpy()), shape


# ---------------------------------------------------------------------------- delta_orthogonal_

@pytest.mark.parametrize("shape", [(8, 4, 3), (6, 6, 3, 5), (10, 3, 1, 3, 3), (4, 4, 1)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_delta_orthogonal(shape, dtype):
    seed = fresh_seed()
    w = fi.delta_orthogonal_(np.full(shape, 2.0, dtype), 1.7, seed=seed, stream=3)
    centre = (slice(None), slice(None)) + tuple(k // 2 for k in shape[2:])
    m = w[centre].astype(np.float64)
    assert np.abs(m.T @ m - 1.7 ** 2 * np.eye(shape[1])).max() < GRAM_TOL[dtype] * 3
    rest = w.copy()
    rest[centre] = 0
    assert not rest.any()
    # the centre is orthogonal_ of the (out, in) matrix drawn from the same stream and offset
    assert np.array_equal(m, fi.orthogonal_(np.empty(shape[:2], dtype), 1.7, seed=seed, stream=3).astype(np.float64))
    # Keras/JAX layout (*kernel, in, out): the same kernel, transposed
    k = fi.delta_orthogonal_(np.empty(shape[2:] + shape[1::-1], dtype), 1.7, seed=seed, stream=3, layout="keras")
    assert np.array_equal(np.moveaxis(k, (-1, -2), (0, 1)), w)


@pytest.mark.parametrize("shape,layout,match", [
    ((4, 4), "torch", "3, 4 or 5 dimensions"), ((4, 4, 3, 3, 3, 3), "torch", "3, 4 or 5 dimensions"),
    ((4, 4, 2), "torch", "odd kernel sizes"), ((4, 4, 3, 4), "torch", "odd kernel sizes"),
    ((3, 4, 3), "torch", "out_channels >= in_channels"), ((3, 3, 4, 3), "keras", "out_channels >= in_channels"),
    ((2, 3, 3, 4), "keras", "odd kernel sizes"),
], ids=str)
def test_delta_orthogonal_errors(shape, layout, match):
    w = np.full(shape, 4.0, np.float32)
    g = fi.Generator(5)
    with pytest.raises(ValueError, match=match):
        fi.delta_orthogonal_(w, generator=g, layout=layout)
    assert (w == 4.0).all() and g.take() == (5, 0)


# ---------------------------------------------------------------------------- constructors, records, errors

CONSTRUCTED = [("orthogonal", (30, 20), (1.5,), {"seed": 3}), ("sparse", (30, 20), (0.2,), {"seed": 3}),
               ("eye", (4, 6), (), {}), ("identity", (6, 4), (2.0,), {}), ("dirac", (4, 2, 3, 3), (2,), {}),
               ("delta_orthogonal", (8, 4, 3, 3), (1.0,), {"seed": 3, "layout": "torch"})]


@pytest.mark.parametrize("name,shape,args,kwargs", CONSTRUCTED, ids=[c[0] for c in CONSTRUCTED])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_constructor_equals_in_place(name, shape, args, kwargs, dtype):
    made = getattr(fi, name)(shape, *args, dtype=dtype, **kwargs)
    filled = getattr(fi, name + "_")(np.empty(shape, dtype), *args, **kwargs)
    assert made.shape == shape and made.dtype == np.dtype(dtype)
    assert np.array_equal(made, filled)


@pytest.mark.parametrize("name,shape,args,kwargs", CONSTRUCTED, ids=[c[0] for c in CONSTRUCTED])
def test_rewind(name, shape, args, kwargs):
    fill = getattr(fi, name + "_")
    w = fill(np.empty(shape, np.float32), *args, **kwargs)
    initial = w.copy()
    mask = np.random.default_rng(fresh_seed()).random(shape) < 0.5
    w[...] = 3.0
    fi.rewind_(w, mask, fill, **dict(zip(_arg_names(fill), args)), **kwargs)
    assert np.array_equal(w, np.where(mask, initial, 0))


@pytest.mark.parametrize("init,args,shape", [("orthogonal_", (0.5,), (12, 8)), ("sparse_", (0.3, 0.1), (12, 8)),
                                             ("eye_", (), (5, 7)), ("dirac_", (2,), (4, 6, 3))], ids=str)
def test_rewind_from_a_torch_record(init, args, shape):
    """A record fastinit.torch left on a tensor regenerates the NumPy buffer (and is checked whole)."""
    torch = pytest.importorskip("torch")
    import fastinit.torch as ft
    t = getattr(ft, init)(torch.empty(shape), *args, **({} if init in ("eye_", "dirac_") else
                                                         {"generator": fi.Generator(fresh_seed())}))
    rec = ft.init_record(t)
    mask = np.random.default_rng(fresh_seed()).random(shape) < 0.7
    w = np.full(shape, 5.0, np.float32)
    fi.rewind_(w, mask, rec)
    assert np.array_equal(w, np.where(mask, t.numpy(), 0))
    bad = dict(rec, shape=[shape[0] * shape[1]] + ([] if len(shape) == 2 else [3]))
    w[...] = 5.0
    with pytest.raises(ValueError, match="shape"):
        fi.rewind_(w.reshape(bad["shape"]), mask.reshape(bad["shape"]), bad)
    assert (w == 5.0).all()


def _arg_names(fill):
    import inspect
    return [p.name for p in inspect.signature(fill).parameters.values()
            if p.kind == p.POSITIONAL_OR_KEYWORD][1:]


@pytest.mark.parametrize("call,exc,match", [
    (lambda w, g: fi.orthogonal_(w[0], generator=g), ValueError, "2 or more dimensions"),
    (lambda w, g: fi.orthogonal_(w, "1", generator=g), TypeError, "gain"),
    (lambda w, g: fi.orthogonal_(w, float("nan"), generator=g), ValueError, "gain"),
    (lambda w, g: fi.orthogonal_(w, generator=g, offset=2 ** 64 - 10), ValueError, "2\\*\\*64"),
    (lambda w, g: fi.orthogonal_(w.astype(np.int32), generator=g), TypeError, "dtype"),
    (lambda w, g: fi.orthogonal_(w, seed=1, generator=g), ValueError, "either seed= or generator="),
    (lambda w, g: fi.sparse_(w, 1.5, generator=g), ValueError, "sparsity"),
    (lambda w, g: fi.sparse_(w, -0.1, generator=g), ValueError, "sparsity"),
    (lambda w, g: fi.sparse_(w, 0.1, -1.0, generator=g), ValueError, "std"),
    (lambda w, g: fi.sparse_(w[None], 0.1, generator=g), ValueError, "2 dimensions"),
    (lambda w, g: fi.sparse_(w, 0.1, generator=g, offset=2 ** 64 - 100), ValueError, "2\\*\\*64"),
    (lambda w, g: fi.sparse_(w, 0.1, 1e38, generator=g), ValueError, "float32 range"),
    (lambda w, g: fi.eye_(w[None]), ValueError, "2 dimensions"),
    (lambda w, g: fi.identity_(w[0]), ValueError, "2-D"),
    (lambda w, g: fi.identity_(w.astype(np.float16), 1e6), ValueError, "float16"),
    (lambda w, g: fi.dirac_(w), ValueError, "3, 4, or 5 dimensions"),
    (lambda w, g: fi.dirac_(w[None], 4), ValueError, "divisible by groups"),
    (lambda w, g: fi.dirac_(w[None], 0), ValueError, "groups"),
    (lambda w, g: fi.dirac_(w[None], 1.0), TypeError, "groups"),
    (lambda w, g: fi.delta_orthogonal_(w[..., None], generator=g, layout="jax"), ValueError, "layout"),
], ids=range(20))
def test_errors_before_any_change(call, exc, match):
    w = np.arange(1.0, 61.0, dtype=np.float32).reshape(6, 10)
    before = w.copy()
    g = fi.Generator(11)
    with pytest.raises(exc, match=match):
        call(w, g)
    assert np.array_equal(w, before)
    assert g.take() == (11, 0)


def test_not_for_chunked_writers():
    """save_random and fastinit.dask write by windows and chunks; a QR needs the whole matrix."""
    with pytest.raises(ValueError, match="unknown init 'orthogonal'"):
        fi.save_random({"w": ((8, 8), "float32", "orthogonal", {})}, "/nonexistent/never-written.safetensors")
    dask = pytest.importorskip("fastinit.dask")
    assert not hasattr(dask, "orthogonal")
    with pytest.raises(ValueError, match="unknown fill 'sparse'"):
        dask.init("sparse", (8, 8), chunks=4, seed=0)


def test_records_bound_the_offset_by_what_the_kind_reads():
    """A delta_orthogonal kernel reads out * in stream indices, a sparse one 2 * size: a record's
    offset is checked against that, and reported as the offset."""
    from fastinit import _fill
    w = fi.delta_orthogonal_(np.empty((4, 2, 3, 3), np.float32), seed=1, offset=2 ** 64 - 8)
    fill = fi.delta_orthogonal_.rule.describe(w.shape, (), {"seed": 1, "offset": 2 ** 64 - 8})
    rec = _fill.to_record(fill, 1, 0, w.shape, "float32", scheme="delta_orthogonal_")
    again = np.zeros_like(w)
    fi.rewind_(again, np.ones(w.shape, bool), rec)
    assert np.array_equal(again, w)
    with pytest.raises(ValueError, match="offset: .*reads 8 stream indices"):
        fi.rewind_(again, np.ones(w.shape, bool), dict(rec, offset=2 ** 64 - 7))
    fill = fi.sparse_.rule.describe((6, 5), (0.5,), {"seed": 1})
    rec = _fill.to_record(fill, 1, 0, (6, 5), "float32", scheme="sparse_")
    with pytest.raises(ValueError, match="offset: .*reads 60 stream indices"):
        fi.rewind_(np.zeros((6, 5), np.float32), np.ones((6, 5), bool), dict(rec, offset=2 ** 64 - 59))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16bit_rounding_scratch_is_bounded(dtype):
    """A matrix of few, long rows is rounded in blocks too: one float32 matrix, plus little."""
    w = np.empty((1, 1 << 22), get_dtype(dtype))
    fi.orthogonal_(np.empty((3, 3), np.float32), seed=0)            # LAPACK loaded before tracing
    peak = _traced_peak(lambda: fi.orthogonal_(w, seed=1))
    assert peak < 1.25 * w.size * 4, peak
    assert abs(np.sum(w.astype(np.float64) ** 2) - 1) < 0.02


def test_gain_beyond_the_working_range_is_refused():
    g = fi.Generator(2)
    w = np.ones((4, 4), np.float32)
    for call in (lambda: fi.orthogonal_(w, 1e39, generator=g),
                 lambda: fi.delta_orthogonal_(w.reshape(4, 4, 1), -1e39, generator=g)):
        with pytest.raises(ValueError, match="gain=.*float32 range"):
            call()
    assert (w == 1).all() and g.take() == (2, 0)
    assert np.isfinite(fi.orthogonal_(np.empty((4, 4)), 1e300, seed=0)).all()      # float64: its own range


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9, 4), (4, 9), (6, 6), (8, 3, 2), (300, 200)], ids=str)
def test_torch_twin_gives_the_same_bits(shape, dtype):
    """fastinit.torch.orthogonal_ and sparse_ run this module's code: the same bits as the NumPy
    functions with the (seed, stream) the torch call drew."""
    torch = pytest.importorskip("torch")
    import fastinit.torch as ft
    from fastinit.torch._memory import TORCH_DTYPES
    t = ft.orthogonal_(torch.empty(shape, dtype=TORCH_DTYPES[dtype]), 0.8, generator=fi.Generator(fresh_seed()))
    rec = ft.init_record(t)
    w = fi.orthogonal_(np.empty(shape, get_dtype(dtype)), 0.8, seed=rec["seed"], stream=rec["stream"])
    assert np.array_equal(t.view(torch.int16 if w.itemsize == 2 else t.dtype).numpy().view(w.dtype), w)
    if len(shape) == 2:
        t = ft.sparse_(torch.empty(shape, dtype=TORCH_DTYPES[dtype]), 0.3, generator=fi.Generator(fresh_seed()))
        rec = ft.init_record(t)
        w = fi.sparse_(np.empty(shape, get_dtype(dtype)), 0.3, seed=rec["seed"], stream=rec["stream"])
        assert np.array_equal(t.view(torch.int16 if w.itemsize == 2 else t.dtype).numpy().view(w.dtype), w)
