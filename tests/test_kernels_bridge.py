"""fastinit._kernels.fill, the one fill entry of the Cython bridge, for every kind and
output code: bit for bit against the public fills (uniform_, normal_, trunc_normal_,
constant_, random_bits_) and tests/reference.py, with keep-masks, tiles given as runs,
every SIMD level, and its argument checks."""
import numpy as np
import pytest

import fastinit
import reference as R
from fastinit import _kernels as K

CODES = {"float32": K.F32, "float64": K.F64, "float16": K.F16, "bfloat16": K.BF16}
KINDS = ["bits", "uniform", "normal", "trunc", "trunc_wide", "pattern"]
SEED, STREAM = 0x0123456789ABCDEF, 0xFEDCBA9876543210
GARBAGE = 0xA5      # every output byte starts as this, so an unwritten element shows
N = 1003            # odd, past a few SIMD blocks and the masked fill's 1024 scratch
FIRST = 2 ** 33 + 5

UNIFORM = (-1.5, 2.5)             # [a, b)
NORMAL = (0.25, 1.5)              # mean, std
TRUNC = (0.25, 1.5, -1.0, 3.0)    # mean, std, a, b: an ordinary interval
NARROW = (0.0, 1.0, 3.0, 3.01)    # a narrow one: 32-bit outputs use the f64 rule
CONSTANT = -0.3


def np_dtype(name):
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


def empty(dtype, n=N):
    arr = np.empty(n, dtype)
    arr.view(np.uint8)[...] = GARBAGE
    return arr


def raw(arr):
    return arr.reshape(-1).view(np.uint8)


def trunc_tuple(dtype_name, interval):
    """The 10 kernel parameters of a truncated-normal fill, from tests/reference.py's
    independent setup, and whether the interval is narrow (TRUNC_WIDE)."""
    c = R.trunc_normal_setup(*interval, dtype_name)
    names = ("mean", "std", "lo", "hi", "cA", "cB", "W", "thr", "pc", "lnS")
    return tuple(float(c[k]) for k in names), bool(c["wide"])


def case(kind, dtype_name):
    """(dtype, code, params, public fill(arr, offset) writing the same values)."""
    code = CODES[dtype_name]
    if kind == "bits":
        return np.dtype(np.uint32), code, (), lambda a, off: fastinit.random_bits_(
            a, seed=SEED, stream=STREAM, offset=off)
    dt = np_dtype(dtype_name)
    if kind == "uniform":
        lo, hi = UNIFORM
        return dt, code, (lo, hi - lo), lambda a, off: fastinit.uniform_(
            a, lo, hi, seed=SEED, stream=STREAM, offset=off)
    if kind == "normal":
        return dt, code, NORMAL, lambda a, off: fastinit.normal_(
            a, *NORMAL, seed=SEED, stream=STREAM, offset=off)
    if kind in ("trunc", "trunc_wide"):
        interval = TRUNC if kind == "trunc" else NARROW
        params, _ = trunc_tuple(dtype_name, interval)
        return dt, code, params, lambda a, off: fastinit.trunc_normal_(
            a, *interval, seed=SEED, stream=STREAM, offset=off)
    value = np.asarray(CONSTANT, dt).reshape(1).view(np.uint8).tobytes()
    return dt, code, (value,), lambda a, off: fastinit.constant_(a, CONSTANT)


KIND_CONST = {"bits": K.BITS, "uniform": K.UNIFORM, "normal": K.NORMAL, "trunc": K.TRUNC,
              "trunc_wide": K.TRUNC_WIDE, "pattern": K.PATTERN}


def fill(kind, arr, code, params, first, mask=None, seed=SEED, stream=STREAM):
    if kind == "pattern":
        seed = stream = 0
    K.fill(KIND_CONST[kind], raw(arr), code, seed, stream, first, params, mask)
    return arr


def same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    g, w = raw(got), raw(want)
    bad = np.flatnonzero(g != w)
    assert bad.size == 0, f"{bad.size} bytes differ, first at byte {bad[0]}"


def nonzero(arr):
    b = raw(arr)
    assert np.count_nonzero(b) > b.size // 2 and not np.all(b == GARBAGE)


# ---- constants -----------------------------------------------------------------

def test_constants_come_from_one_table():
    assert (K.F32, K.F64, K.F16, K.BF16) == (0, 1, 2, 3)
    assert K.ITEMSIZE == (4, 8, 2, 2)
    for name, code in CODES.items():
        if name != "bfloat16":
            assert K.ITEMSIZE[code] == np.dtype(name).itemsize
    assert len({K.BITS, K.UNIFORM, K.NORMAL, K.TRUNC, K.TRUNC_WIDE, K.PATTERN}) == 6
    assert K.LEVELS in (("scalar", "avx2", "avx512"), ("scalar", "neon"))   # x86-64, AArch64
    assert K.simd_level() in K.LEVELS


def test_trunc_cases_cover_both_rules():
    for name in ("float32", "float16", "bfloat16"):
        assert trunc_tuple(name, TRUNC)[1] is False
        assert trunc_tuple(name, NARROW)[1] is True


# ---- values --------------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(CODES))
@pytest.mark.parametrize("kind", KINDS)
def test_fill_equals_public_fill(kind, dtype_name):
    dt, code, params, public = case(kind, dtype_name)
    got = fill(kind, empty(dt), code, params, FIRST)
    want = public(empty(dt), FIRST)
    same_bits(got, want)
    nonzero(got)


@pytest.mark.parametrize("dtype_name", list(CODES))
@pytest.mark.parametrize("kind", ["bits", "uniform", "normal", "trunc", "trunc_wide"])
def test_fill_equals_reference(kind, dtype_name):
    dt, code, params, _ = case(kind, dtype_name)
    got = fill(kind, empty(dt), code, params, FIRST)
    if kind == "bits":
        want = R.ref_bits(SEED, STREAM, FIRST, N)
    elif kind == "uniform":
        want = R.ref_uniform(SEED, STREAM, FIRST, N, UNIFORM[0], UNIFORM[1], dtype_name)
    elif kind == "normal":
        want = R.ref_normal(SEED, STREAM, FIRST, N, *NORMAL, dtype_name)
    else:
        interval = TRUNC if kind == "trunc" else NARROW
        want = R.ref_trunc_normal(SEED, STREAM, FIRST, N, *interval, dtype_name)
    same_bits(got, np.asarray(want).astype(got.dtype, copy=False))


@pytest.mark.parametrize("code", [K.F32, K.F64, K.F16, K.BF16])
def test_bits_ignore_the_code(code):
    want = fill("bits", empty(np.uint32), K.F32, (), 7)
    same_bits(fill("bits", empty(np.uint32), code, (), 7), want)


def test_pattern_ignores_seed_stream_and_first():
    value = np.asarray([1.25], np.float32).view(np.uint8).tobytes()
    want = np.full(N, 1.25, np.float32)
    for seed, stream, first in ((0, 0, 0), (SEED, STREAM, FIRST), (None, None, 12)):
        got = empty(np.float32)
        K.fill(K.PATTERN, raw(got), K.F32, seed, stream, first, (value,))
        same_bits(got, want)


@pytest.mark.parametrize("kind", KINDS)
def test_fill_slices_are_the_stream(kind):
    """Any split of a buffer filled piece by piece, each piece with its own first
    index, gives the whole fill's bits."""
    dt, code, params, _ = case(kind, "float32")
    whole = fill(kind, empty(dt), code, params, FIRST)
    pieces = empty(dt)
    for lo, hi in ((0, 1), (1, 6), (6, 517), (517, N)):
        fill(kind, pieces[lo:hi], code, params, FIRST + lo)
    same_bits(pieces, whole)


# ---- keep-mask -----------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(CODES))
@pytest.mark.parametrize("kind", KINDS)
def test_mask_keeps_values_and_zeroes_the_rest(kind, dtype_name):
    dt, code, params, _ = case(kind, dtype_name)
    mask = (np.random.default_rng(5).random(N) < 0.6).astype(np.uint8)
    mask[:3] = 1
    mask[-3:] = 0
    full = fill(kind, empty(dt), code, params, FIRST)
    got = fill(kind, empty(dt), code, params, FIRST, mask)
    want = full.copy()
    raw(want).reshape(N, -1)[mask == 0] = 0
    same_bits(got, want)
    nonzero(got[mask == 1])


def test_mask_length_must_match():
    with pytest.raises(ValueError):
        fill("uniform", empty(np.float32), K.F32, (0.0, 1.0), 0, np.ones(N - 1, np.uint8))


# ---- tiles as runs -------------------------------------------------------------

def tile_runs(rows, cols, r0, c0, h, w, offset):
    """The runs of the (h, w) tile at (r0, c0) of a (rows, cols) tensor whose element 0
    is stream index offset: one run per tile row."""
    local = np.arange(h, dtype=np.uint64) * np.uint64(w)
    first = (np.arange(r0, r0 + h, dtype=np.uint64) * np.uint64(cols) + np.uint64(c0 + offset))
    return local, first, w


@pytest.mark.parametrize("dtype_name", list(CODES))
@pytest.mark.parametrize("kind", KINDS)
def test_runs_tuple_writes_the_whole_tensors_values(kind, dtype_name):
    dt, code, params, _ = case(kind, dtype_name)
    rows, cols, r0, c0, h, w = 40, 77, 3, 10, 29, 45
    whole = fill(kind, empty(dt, rows * cols), code, params, FIRST).reshape(rows, cols)
    tile = empty(dt, h * w)
    fill(kind, tile, code, params, tile_runs(rows, cols, r0, c0, h, w, FIRST))
    same_bits(tile.reshape(h, w), np.ascontiguousarray(whole[r0:r0 + h, c0:c0 + w]))
    nonzero(tile)


def test_runs_must_fit_and_exclude_a_mask():
    runs = tile_runs(10, 10, 0, 0, 3, 4, 0)
    with pytest.raises(ValueError):
        fill("normal", empty(np.float32, 11), K.F32, NORMAL, runs)        # 3 runs of 4 > 11
    with pytest.raises(ValueError):
        fill("normal", empty(np.float32, 12), K.F32, NORMAL, runs, np.ones(12, np.uint8))


# ---- every SIMD level ------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(CODES))
def test_every_level_gives_the_same_bits(dtype_name):
    levels = K.LEVELS[:K.LEVELS.index(K.detected_simd_level()) + 1]
    keep = K.simd_level()
    try:
        for kind in KINDS:
            dt, code, params, _ = case(kind, dtype_name)
            mask = (np.arange(N) % 3 != 0).astype(np.uint8)
            outs = []
            for level in levels:
                assert K.set_simd_level(level) == level
                outs.append((fill(kind, empty(dt), code, params, FIRST),
                             fill(kind, empty(dt), code, params, FIRST, mask)))
            for plain, masked in outs[1:]:
                same_bits(plain, outs[0][0])
                same_bits(masked, outs[0][1])
    finally:
        K.set_simd_level(keep)


# ---- argument checks -----------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_wrong_params_length_raises(kind):
    dt, code, params, _ = case(kind, "float32")
    for bad in (params + (1.0,), params[:-1]):
        if bad == params:
            continue
        arr = empty(dt)
        with pytest.raises(ValueError):
            fill(kind, arr, code, bad, 0)
        assert np.all(raw(arr) == GARBAGE)


def test_empty_buffer_and_bad_arguments():
    fill("uniform", np.empty(0, np.float32), K.F32, (0.0, 1.0), 0)      # nothing to do
    arr = empty(np.float32)
    with pytest.raises(ValueError):
        K.fill(K.PATTERN, raw(arr), K.F32, 0, 0, 0, (b"\0\0",))          # 2 bytes for float32
    with pytest.raises(ValueError):
        K.fill(K.PATTERN + 1, raw(arr), K.F32, 0, 0, 0, ())              # unknown kind
    with pytest.raises(ValueError):
        K.fill(K.UNIFORM, raw(arr), len(K.ITEMSIZE), 0, 0, 0, (0.0, 1.0))  # unknown code
    with pytest.raises(ValueError):
        K.fill(K.UNIFORM, raw(arr)[:-1], K.F32, 0, 0, 0, (0.0, 1.0))     # not whole elements
    assert np.all(raw(arr) == GARBAGE)
