"""fastinit against tests/reference.py, bit for bit.

Every fill kernel and dtype is compared byte-for-byte with the slow NumPy
reference of docs/STREAM.md, on fresh random seeds and streams (printed in
every failure message), odd lengths, offsets that are not multiples of 4,
multi-dimensional and non-contiguous buffers.
"""

import numpy as np
import pytest

import fastinit
import reference as R

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

FLOAT_DTYPES = ["float32", "float64", "float16", "bfloat16"]
KERNELS = ["bits", "uniform", "normal", "trunc_normal"]
LENGTHS = [1, 3, 5, 7, 1001, 65537]
OFFSETS = [1, 2, 3, 5, 2 ** 33 + 3]

# keyword arguments of each fill (besides seed/stream/offset), and the same
# values for the reference
PARAMS = {
    "uniform": dict(a=-1.5, b=2.5),
    "normal": dict(mean=0.25, std=1.5),
    "trunc_normal": dict(mean=0.25, std=1.5, a=-1.0, b=3.0),
}


def fresh_u64():
    return int(np.random.SeedSequence().entropy) % (2 ** 64)


def np_dtype(name):
    if name == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def ref_dtype(name):
    return "bfloat16" if name == "bfloat16" else np.dtype(name).type


def kernel_dtypes(kernel):
    return ["uint32"] if kernel == "bits" else FLOAT_DTYPES


def cases(kernels=KERNELS):
    return [(k, d) for k in kernels for d in kernel_dtypes(k)]


def fill(kernel, buf, params=None, **src):
    params = PARAMS.get(kernel, {}) if params is None else params
    if kernel == "bits":
        return fastinit.random_bits_(buf, **src)
    if kernel == "uniform":
        return fastinit.uniform_(buf, params["a"], params["b"], **src)
    if kernel == "normal":
        return fastinit.normal_(buf, params["mean"], params["std"], **src)
    if kernel == "trunc_normal":
        return fastinit.trunc_normal_(buf, params["mean"], params["std"], params["a"], params["b"], **src)
    raise ValueError(kernel)


def reference(kernel, dtype_name, seed, stream, first, n, params=None):
    params = PARAMS.get(kernel, {}) if params is None else params
    dt = ref_dtype(dtype_name)
    if kernel == "bits":
        return R.ref_bits(seed, stream, first, n)
    if kernel == "uniform":
        return R.ref_uniform(seed, stream, first, n, params["a"], params["b"], dt)
    if kernel == "normal":
        return R.ref_normal(seed, stream, first, n, params["mean"], params["std"], dt)
    if kernel == "trunc_normal":
        return R.ref_trunc_normal(seed, stream, first, n, params["mean"], params["std"],
                                  params["a"], params["b"], dt)
    raise ValueError(kernel)


def _uint_view(a):
    a = np.ascontiguousarray(a).reshape(-1)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def assert_bitwise(got, want, what):
    """got: any-shape array (compared in C order); want: 1-D reference."""
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    g = _uint_view(got)
    w = _uint_view(want)
    assert g.shape == w.shape, f"{what}: {g.shape} elements != {w.shape}"
    bad = np.flatnonzero(g != w)
    if bad.size:
        i = int(bad[0])
        width = 2 * got.dtype.itemsize
        gv = np.ascontiguousarray(got).reshape(-1)[i]
        wv = want[i]
        pytest.fail(f"{what}: {bad.size} of {g.size} elements differ; first at flat index {i}: "
                    f"got {int(g[i]):#0{width + 2}x} ({gv!r}), want {int(w[i]):#0{width + 2}x} ({wv!r})")


def src_str(seed, stream, offset=0):
    return f"seed={seed} stream={stream} offset={offset}"


# ---------------------------------------------------------------------------
# every kernel x dtype x length
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("kernel,dtype", cases())
def test_lengths(kernel, dtype, n):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    buf = np.empty(n, dt)
    out = fill(kernel, buf, seed=seed, stream=stream)
    assert out is buf
    assert_bitwise(buf, reference(kernel, dtype, seed, stream, 0, n),
                   f"{kernel} {dtype} n={n} {src_str(seed, stream)}")


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("kernel,dtype", cases())
def test_offsets(kernel, dtype, offset):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    n = 1003
    buf = np.empty(n, dt)
    fill(kernel, buf, seed=seed, stream=stream, offset=offset)
    assert_bitwise(buf, reference(kernel, dtype, seed, stream, offset, n),
                   f"{kernel} {dtype} n={n} {src_str(seed, stream, offset)}")


@pytest.mark.parametrize("shape", [(37, 53), (3, 5, 7), (2, 1, 9, 4)], ids=str)
@pytest.mark.parametrize("kernel,dtype", cases())
def test_shapes(kernel, dtype, shape):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    offset = 7
    buf = np.empty(shape, dt)
    out = fill(kernel, buf, seed=seed, stream=stream, offset=offset)
    assert out is buf and buf.shape == shape
    assert_bitwise(buf, reference(kernel, dtype, seed, stream, offset, buf.size),
                   f"{kernel} {dtype} shape={shape} {src_str(seed, stream, offset)}")


@pytest.mark.parametrize("kernel,dtype", cases())
def test_extreme_seed_and_stream(kernel, dtype):
    dt = np_dtype(dtype)
    for seed, stream in [(0, 0), (2 ** 64 - 1, 2 ** 64 - 1), (2 ** 32, 2 ** 32 - 1)]:
        buf = np.empty(77, dt)
        fill(kernel, buf, seed=seed, stream=stream, offset=3)
        assert_bitwise(buf, reference(kernel, dtype, seed, stream, 3, 77),
                       f"{kernel} {dtype} {src_str(seed, stream, 3)}")


# ---------------------------------------------------------------------------
# element independence: pieces, views
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,dtype", cases())
def test_whole_equals_pieces(kernel, dtype):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    base = 5
    n = 40007
    whole = np.empty(n, dt)
    fill(kernel, whole, seed=seed, stream=stream, offset=base)
    cuts = [0, 1, 2, 5, 6, 13, 14, 1001, 1002, 4099, 33333, 40006, n]
    pieces = np.empty(n, dt)
    for a, b in zip(cuts[:-1], cuts[1:]):
        fill(kernel, pieces[a:b], seed=seed, stream=stream, offset=base + a)
    assert_bitwise(pieces, whole.copy(), f"{kernel} {dtype} pieces vs whole {src_str(seed, stream, base)}")
    # and a 2-D tensor filled row block by row block
    t = np.empty((29, 31), dt)
    fill(kernel, t, seed=seed, stream=stream, offset=base)
    p = np.empty((29, 31), dt)
    row0 = 0
    for rows in (1, 3, 4, 10, 11):
        fill(kernel, p[row0:row0 + rows], seed=seed, stream=stream, offset=base + row0 * 31)
        row0 += rows
    assert row0 == 29
    assert_bitwise(p, t.reshape(-1).copy(), f"{kernel} {dtype} row blocks {src_str(seed, stream, base)}")


VIEWS = {
    # name: (base shape, view of the base)
    "x[:, ::2]": ((37, 106), lambda x: x[:, ::2]),
    "x.T": ((53, 37), lambda x: x.T),
    "x[::-1, 3:56]": ((40, 60), lambda x: x[::-1, 3:56]),
    "x[1:4, ::-2, 1::3]": ((5, 9, 14), lambda x: x[1:4, ::-2, 1::3]),
}


@pytest.mark.parametrize("kernel,dtype", cases())
def test_noncontiguous_views(kernel, dtype):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    for name, (shape, make_view) in VIEWS.items():
        base = np.empty(shape, dt)
        base.view(np.uint8)[...] = 0x5A  # sentinel bytes
        before = base.copy()
        view = make_view(base)
        assert not view.flags.c_contiguous
        out = fill(kernel, view, seed=seed, stream=stream, offset=3)
        assert out is view
        want = np.empty(view.shape, dt)
        fill(kernel, want, seed=seed, stream=stream, offset=3)
        assert_bitwise(view, want.reshape(-1),
                       f"{kernel} {dtype} view {name} vs contiguous {src_str(seed, stream, 3)}")
        assert_bitwise(view, reference(kernel, dtype, seed, stream, 3, view.size),
                       f"{kernel} {dtype} view {name} vs reference {src_str(seed, stream, 3)}")
        # elements outside the view are untouched
        inside = np.zeros(shape, bool)
        make_view(inside)[...] = True
        assert (_uint_view(base[~inside]) == _uint_view(before[~inside])).all(), \
            f"{kernel} {dtype} view {name}: wrote outside the view"


# ---------------------------------------------------------------------------
# truncated normal intervals
# ---------------------------------------------------------------------------

TRUNC_CASES = [
    # (mean, std, alpha, beta) with a = mean + alpha*std, b = mean + beta*std
    (0.0, 1.0, -2, 2), (0.0, 1.0, -1, 3), (0.0, 1.0, 5, 6), (0.0, 1.0, -6, -5),
    (0.0, 1.0, -100, 100), (0.0, 1.0, 0.5, 40),
    (0.75, 0.3, -2, 2), (0.75, 0.3, -1, 3), (-1.25, 2.5, 5, 6), (0.5, 0.1, -6, -5),
    (3.0, 0.5, 0.5, 40),
    # far one-sided tails (2**k rescaling of section 6)
    (0.0, 1.0, 10, 11), (0.0, 1.0, -12.5, -12), (1.0, 2.0, 20, 21),
]
TORCH_DEFAULT = (0.0, 0.02, -2.0, 2.0)  # absolute a, b


# absolute intervals (mean, std, a, b) the standardized cases cannot write: a bound
# of -0.0 (the clamp keeps its sign: (y > lo) ? y : lo), and bounds beyond 40 std
# (section 6 clamps alpha and beta to [-40, 40])
ABSOLUTE_TRUNC = [(0.0, 1.0, -0.0, 0.5), (0.0, 1.0, -0.5, -0.0), (0.0, 1e-3, -1.0, 1.0),
                  (0.3, 2.0, -1e30, 1e30), (0.0, 1.0, 30.0, 1e30)]


def _trunc_params(case):
    mean, std, al, be = case
    return dict(mean=mean, std=std, a=mean + al * std, b=mean + be * std)


TRUNC_PARAMS = ([pytest.param(_trunc_params(c), id="m%g_s%g_%g_%g" % c) for c in TRUNC_CASES]
                + [pytest.param(dict(mean=m, std=s, a=a, b=b), id="abs_m%g_s%g_%g_%g" % (m, s, a, b))
                   for m, s, a, b in ABSOLUTE_TRUNC])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("params", TRUNC_PARAMS)
def test_trunc_normal_intervals(dtype, params):
    dt = np_dtype(dtype)
    seed, stream = fresh_u64(), fresh_u64()
    n = 20011
    buf = np.empty(n, dt)
    fill("trunc_normal", buf, params, seed=seed, stream=stream, offset=1)
    assert_bitwise(buf, reference("trunc_normal", dtype, seed, stream, 1, n, params),
                   f"trunc_normal {dtype} {params} {src_str(seed, stream, 1)}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_trunc_normal_torch_default(dtype):
    dt = np_dtype(dtype)
    mean, std, a, b = TORCH_DEFAULT
    params = dict(mean=mean, std=std, a=a, b=b)
    seed, stream = fresh_u64(), fresh_u64()
    buf = np.empty((317, 311), dt)
    fastinit.trunc_normal_(buf, std=std, seed=seed, stream=stream)  # a=-2, b=2 defaults
    assert_bitwise(buf, reference("trunc_normal", dtype, seed, stream, 0, buf.size, params),
                   f"trunc_normal {dtype} torch default {src_str(seed, stream)}")


def test_trunc_normal_narrow_interval_clamped():
    seed, stream = fresh_u64(), fresh_u64()
    for dtype in ("float32", "float64"):
        dt = np_dtype(dtype)
        params = dict(mean=0.0, std=1.0, a=-0.5, b=0.5)
        buf = np.empty(65537, dt)
        fill("trunc_normal", buf, params, seed=seed, stream=stream)
        assert buf.min() >= -0.5 and buf.max() <= 0.5
        assert_bitwise(buf, reference("trunc_normal", dtype, seed, stream, 0, buf.size, params),
                       f"trunc_normal {dtype} {params} {src_str(seed, stream)}")


FAR_TAILS = [(37.0, 37.3), (37.6, 38.0), (38.2, 38.3), (38.0, 45.0),
             (-38.0, -37.6), (-38.4, -38.1), (39.0, 40.0), (-41.0, -39.0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ab", FAR_TAILS, ids=lambda ab: "%g_%g" % ab)
def test_trunc_normal_far_tail_matches_or_value_error(dtype, ab):
    """Section 6: an interval is rejected with ValueError exactly when the
    reference rejects it (subnormal tail mass, or scaled W not a positive finite number); otherwise
    the fill matches the reference."""
    dt = np_dtype(dtype)
    params = dict(mean=0.0, std=1.0, a=ab[0], b=ab[1])
    seed, stream = fresh_u64(), fresh_u64()
    try:
        want = reference("trunc_normal", dtype, seed, stream, 0, 1001, params)
    except ValueError:
        want = None
    buf = np.empty(1001, dt)
    if want is None:
        with pytest.raises(ValueError):
            fill("trunc_normal", buf, params, seed=seed, stream=stream)
        return
    fill("trunc_normal", buf, params, seed=seed, stream=stream)
    assert_bitwise(buf, want, f"trunc_normal {dtype} {params} {src_str(seed, stream)}")


# ---------------------------------------------------------------------------
# defaults and sources of randomness
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_default_parameters(dtype):
    dt = np_dtype(dtype)
    seed = fresh_u64()
    rd = ref_dtype(dtype)
    n = 999
    b = fastinit.uniform_(np.empty(n, dt), seed=seed)
    assert_bitwise(b, R.ref_uniform(seed, 0, 0, n, 0.0, 1.0, rd), f"uniform_ defaults {dtype} seed={seed}")
    b = fastinit.normal_(np.empty(n, dt), seed=seed)
    assert_bitwise(b, R.ref_normal(seed, 0, 0, n, 0.0, 1.0, rd), f"normal_ defaults {dtype} seed={seed}")
    b = fastinit.trunc_normal_(np.empty(n, dt), seed=seed)
    assert_bitwise(b, R.ref_trunc_normal(seed, 0, 0, n, 0.0, 1.0, -2.0, 2.0, rd),
                   f"trunc_normal_ defaults {dtype} seed={seed}")


@pytest.mark.parametrize("kernel,dtype", cases())
def test_seed_means_stream_zero(kernel, dtype):
    dt = np_dtype(dtype)
    seed = fresh_u64()
    a = fill(kernel, np.empty(101, dt), seed=seed)
    b = fill(kernel, np.empty(101, dt), seed=seed, stream=0)
    assert_bitwise(a, b.reshape(-1).copy(), f"{kernel} {dtype} seed= vs stream=0 seed={seed}")
    assert_bitwise(a, reference(kernel, dtype, seed, 0, 0, 101), f"{kernel} {dtype} seed={seed}")


@pytest.mark.parametrize("kernel,dtype", cases())
def test_generator_hands_out_streams(kernel, dtype):
    dt = np_dtype(dtype)
    seed = fresh_u64()
    g = fastinit.Generator(seed)
    for stream in range(3):
        buf = np.empty(257, dt)
        fill(kernel, buf, generator=g, offset=2)
        assert_bitwise(buf, reference(kernel, dtype, seed, stream, 2, 257),
                       f"{kernel} {dtype} Generator({seed}) call {stream}")
    # an explicit stream= with a generator uses the generator's seed
    buf = np.empty(33, dt)
    fill(kernel, buf, generator=fastinit.Generator(seed), stream=12345)
    assert_bitwise(buf, reference(kernel, dtype, seed, 12345, 0, 33),
                   f"{kernel} {dtype} Generator({seed}) stream=12345")


# ---------------------------------------------------------------------------
# narrow truncation intervals (section 6: 32-bit outputs use the f64 rule)
# ---------------------------------------------------------------------------

NARROW = [(-1e-3, 1e-3), (-1e-5, 2e-5), (0.0, 1e-6), (5.0, 5.001), (-3.0002, -3.0)]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("ab", NARROW, ids=lambda ab: "%g_%g" % ab)
def test_trunc_normal_narrow_interval_matches_reference(dtype, ab):
    dt = np_dtype(dtype)
    params = dict(mean=0.25, std=2.0, a=0.25 + 2.0 * ab[0], b=0.25 + 2.0 * ab[1])
    seed, stream = fresh_u64(), fresh_u64()
    buf = np.empty(3001, dt)
    fill("trunc_normal", buf, params, seed=seed, stream=stream, offset=7)
    want = reference("trunc_normal", dtype, seed, stream, 7, buf.size, params)
    assert_bitwise(buf, want, f"trunc_normal {dtype} {params} {src_str(seed, stream)}")
    vals = buf.astype(np.float64)
    work = np.float64 if dtype == "float64" else np.float32   # bounds rounded to the working precision
    lo, hi = (float(np.asarray(work(params[k])).astype(dt)) for k in ("a", "b"))
    assert vals.min() >= lo and vals.max() <= hi


@pytest.mark.parametrize("ab", [(-1e-30, 1e-30), (3.0, 3.0 + 1e-14)])
def test_trunc_normal_interval_without_resolution_is_rejected(ab):
    buf = np.full(8, 3.5, np.float64)
    with pytest.raises(ValueError, match="too narrow"):
        fastinit.trunc_normal_(buf, 0.0, 1.0, ab[0], ab[1], seed=1)
    assert (buf == 3.5).all()


def test_c_philox_matches_known_answer_vectors():
    """The C Philox itself (not only the reference) against Random123's vectors,
    through the block accessor that takes any counter."""
    from fastinit import _kernels
    for ctr, key, want in _kat_rows():
        seed = key[0] | key[1] << 32
        stream = ctr[2] | ctr[3] << 32
        block = ctr[0] | ctr[1] << 32
        assert list(_kernels.philox_block(seed, stream, block)) == list(want)


def _kat_rows():
    import os
    rows = []
    with open(os.path.join(os.path.dirname(__file__), "data", "philox4x32_10_kat.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            words = [int(w, 16) for w in line.replace("->", " ").split()]
            rows.append((words[0:4], words[4:6], words[6:10]))
    assert len(rows) >= 3
    return rows

