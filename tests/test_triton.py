"""fastinit.gpu / fastinit._triton: the Triton kernels write the C kernels' bits.

Run under Triton's interpreter (TRITON_INTERPRET=1, set by the module's fixture
for its own tests only, before the kernels are decorated), on CPU torch tensors: every check compares the Triton output
BITWISE with the NumPy fills of fastinit (the C kernels), for every fill kind,
dtype, odd lengths, offsets near 2**33 and 2**64, tiles, keep-masks, schemes and
argument errors. On a machine with CUDA and the interpreter off the same
comparisons hold on CUDA tensors (see test_cuda_matches_the_cpu_when_present).
"""
import importlib
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
triton = pytest.importorskip("triton")

import fastinit  # noqa: E402
from fastinit import _buffers, _fill, _kernels, gpu  # noqa: E402

_tri = None                                   # fastinit._triton, decorated for the interpreter


@pytest.fixture(scope="module", autouse=True)
def interpreter():
    """TRITON_INTERPRET=1 for this module's tests (Triton reads it when it decorates a kernel
    and when fastinit.gpu asks; gpu re-imports fastinit._triton when the setting changed),
    and the caller's setting again afterwards, so that no other test module or child
    process inherits it."""
    global _tri
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        _tri = importlib.import_module("fastinit._triton")
        if not _tri.INTERPRET:                # imported earlier in this process, compiled mode
            _tri = importlib.reload(_tri)
        assert _tri.INTERPRET and gpu.available()
        yield
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved

DTYPES = ["float32", "float64", "float16", "bfloat16"]
TORCH = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
         "bfloat16": torch.bfloat16}
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
TINT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
SENTINEL = 0xA5                               # every byte of a tensor before a fill


def np_empty(shape, dtype):
    if dtype == "bfloat16":                   # fastinit's own bfloat16 view (no ml_dtypes needed)
        return np.full(shape, 0xA5A5, np.uint16).view(_buffers.BFloat16Bits)
    if dtype == "uint32":
        return np.full(shape, 0xA5A5A5A5, np.uint32)
    return np.full(shape, np.nan, dtype)


def t_empty(shape, dtype):
    t = torch.empty(shape, dtype=torch.int32 if dtype == "uint32" else TORCH[dtype])
    t.view(-1).view(torch.uint8).fill_(SENTINEL) if t.numel() else None
    return t


def tbits(t):
    t = t.contiguous()
    return t.view(TINT[t.element_size()]).numpy().view(UINT[t.element_size()])


def abits(a):
    a = np.ascontiguousarray(a)
    return a.view(UINT[a.itemsize])


def cpu(name, shape, dtype, *args, **kw):
    fn = getattr(fastinit, name + "_")
    return abits(fn(np_empty(shape, dtype), *args, **kw))


def dev(name, shape, dtype, *args, **kw):
    t = t_empty(shape, dtype)
    assert gpu.fill_(t, name, *args, **kw) is t
    return tbits(t)


def same(name, shape, dtype, *args, **kw):
    a = cpu(name, shape, dtype, *args, **kw)
    b = dev(name, shape, dtype, *args, **kw)
    assert a.shape == b.shape
    bad = np.flatnonzero(a.reshape(-1) != b.reshape(-1))
    assert bad.size == 0, (f"{name}{args} {kw} {dtype} {shape}: {bad.size} of {a.size} differ, first at "
                           f"{bad[:5]}: cpu {a.reshape(-1)[bad[:5]]} triton {b.reshape(-1)[bad[:5]]}")
    return a


def test_available_and_launch_options():
    assert gpu.available()
    assert _tri.LAUNCH_OPTIONS == {"enable_fp_fusion": False}
    # the compiled path takes the option (the NVIDIA backend's options carry it)
    CUDAOptions = pytest.importorskip("triton.backends.nvidia.compiler").CUDAOptions
    assert "enable_fp_fusion" in CUDAOptions.__dataclass_fields__


# ------------------------------------------------------------------ bits / Philox

LENGTHS = [0, 1, 3, 5, 1023, 4099]


def _kat():
    path = os.path.join(os.path.dirname(__file__), "data", "philox4x32_10_kat.txt")
    rows = []
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            w = [int(x, 16) for x in line.replace("->", " ").split()]
            rows.append((w[0:4], w[4:6], w[6:10]))
    return rows


def test_philox_matches_the_known_answer_vectors():
    """Counter (c0, c1, c2, c3) is block c0 + 2**32 c1 of stream c2 + 2**32 c3; key is the seed.
    (Blocks from 2**62 on hold no element of a 32-bit output: indices stop at 2**64 - 1.)"""
    rows = [r for r in _kat() if (r[0][0] | r[0][1] << 32) < 2 ** 62]
    assert rows
    for ctr, key, want in rows:
        t = t_empty(4, "uint32")
        gpu.fill_(t, "random_bits", seed=key[0] | key[1] << 32, stream=ctr[2] | ctr[3] << 32,
                  offset=4 * (ctr[0] | ctr[1] << 32))
        assert list(tbits(t)) == want
    for seed, stream, block in [(0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 2 ** 62 - 1), (1, 2 ** 63, 2 ** 32 - 1)]:
        t = t_empty(4, "uint32")
        gpu.fill_(t, "random_bits", seed=seed, stream=stream, offset=4 * block)
        assert list(tbits(t)) == list(_kernels.philox_block(seed, stream, block))


@pytest.mark.parametrize("n", LENGTHS)
def test_random_bits(n):
    for offset in (0, 2 ** 33 - 3, 2 ** 64 - n - 3):
        a = same("random_bits", (n,), "uint32", seed=12345, stream=2 ** 40 + 7, offset=offset)
        assert n < 3 or len(np.unique(a)) > n // 2       # real words, not a constant


def test_random_bits_uint32_tensor():
    if not hasattr(torch, "uint32"):
        pytest.skip("no torch.uint32")
    t = torch.empty(37, dtype=torch.uint32)
    gpu.fill_(t, "random_bits_", seed=3)
    assert np.array_equal(t.view(torch.int32).numpy().view(np.uint32),
                          fastinit.random_bits_(np.empty(37, np.uint32), seed=3))


# ------------------------------------------------------------------ uniform, normal

def _placements(n):
    yield 0
    if n in (5, 1023):
        yield 2 ** 33 - 2                    # block index crosses 2**31 / the high counter word
        yield 2 ** 64 - 1000 - n             # near the end of the stream


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform(dtype):
    for n in LENGTHS:
        for offset in _placements(n):
            a = same("uniform", (n,), dtype, -0.75, 2.5, seed=99, stream=3, offset=offset)
            assert n < 5 or len(np.unique(a)) > 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal(dtype):
    for n in LENGTHS:
        for offset in _placements(n):
            same("normal", (n,), dtype, 0.25, 1.5, seed=2 ** 64 - 5, stream=11, offset=offset)
    same("normal", (333,), dtype, seed=0)                 # mean 0, std 1: the raw z
    same("normal", (64,), dtype, -3.0, 0.0, seed=1)       # std 0


def test_normal_extremes_of_the_radius_and_angle_words():
    """Words 0 and 0xFFFFFFFF (largest and smallest radius) and the quadrant boundaries:
    found by search in the stream so that the comparison covers them."""
    n = 1 << 14
    words = fastinit.random_bits_(np.empty(n, np.uint32), seed=7)
    assert words.max() > 0xFF000000 and words.min() < 0x01000000
    same("normal", (n,), "float32", seed=7)


# ------------------------------------------------------------------ truncated normal

# (mean, std, a, b): both sides, one-sided near and far in each tail (rescaled by 2**k),
# bounds 100 std away (clamped at 40), and narrow intervals (the f64 rule for 32-bit outputs)
INTERVALS = [
    (0.0, 1.0, -2.0, 2.0),
    (0.5, 2.0, -1.0, 6.0),
    (1.0, 0.02, -2.0, 2.0),
    (0.0, 1.0, 1.0, 3.0),
    (0.0, 1.0, -3.0, -1.5),
    (0.0, 1.0, 5.0, 6.0),
    (0.0, 1.0, 9.0, 9.5),
    (0.0, 1.0, -30.0, -29.0),
    (0.0, 1.0, 0.5, 0.5001),
    (0.0, 1.0, -2.00001, -2.0),
    (2.0, 0.0, -1.0, 1.0),                   # std 0: the mean clipped into [a, b]
]


def _trunc_kind(interval, dtype):
    fill = _fill.lookup("trunc_normal").describe((1,), interval, {"seed": 0})
    return fill.draw.kernel(_buffers.FLOAT_CODES[dtype])


def test_the_intervals_cover_every_class_of_the_c_code():
    kinds = {_trunc_kind(iv, "float32")[0] for iv in INTERVALS}
    assert kinds == {_kernels.TRUNC, _kernels.TRUNC_WIDE, _kernels.PATTERN}
    pcs = {_trunc_kind(iv, d)[1][8] for iv in INTERVALS[:-1] for d in ("float32", "float64")}
    assert {2.0 ** -8, 0.075, float("inf")} <= pcs            # f32 and f64 central limits, rescaled
    thrs = {_trunc_kind(iv, "float64")[1][7] for iv in INTERVALS[:-1]}
    assert thrs == {0.5, float("inf"), float("-inf")}          # both, low, high


@pytest.mark.parametrize("dtype", DTYPES)
def test_trunc_normal(dtype):
    for interval in INTERVALS:
        a = same("trunc_normal", (517,), dtype, *interval, seed=5, stream=1, offset=3)
        if interval[1] > 0 and dtype in ("float32", "float64"):
            assert len(np.unique(a)) > 10
    same("trunc_normal", (5,), dtype, 0.0, 1.0, 5.0, 6.0, seed=5, offset=2 ** 64 - 9)


# ------------------------------------------------------------------ constants

@pytest.mark.parametrize("dtype", DTYPES)
def test_constants(dtype):
    for val in (0.1, -3.75, 1e-7, 1234.5):
        same("constant", (7, 5), dtype, val)
    same("zeros", (9,), dtype)
    same("ones", (2, 3, 4), dtype)
    same("constant", (0,), dtype, 2.0)


# ------------------------------------------------------------------ tiles

TILES = [
    ((9, 13), (slice(2, 7), slice(3, 11))),
    ((9, 13), (slice(None), slice(5, 6))),
    ((9, 13), (4, slice(None))),
    ((5, 6, 7), (slice(1, 4), slice(0, 6), slice(2, 5))),
    ((5, 6, 7), (slice(1, 3), slice(2, 5), slice(None))),
    ((5, 6, 7), (slice(0, 5), slice(-3, None), slice(6, 7))),
    ((4, 3, 2, 5), (slice(1, 3), 1, slice(None), slice(1, 4))),
]


def _tile_shape(gshape, index):
    return np.empty(gshape, np.int8)[tuple(slice(i, i + 1) if isinstance(i, int) else i for i in index)].shape


@pytest.mark.parametrize("gshape,index", TILES)
def test_tiles(gshape, index):
    shape = _tile_shape(gshape, index)
    kw = dict(global_shape=gshape, index=index, seed=21, stream=4, offset=2 ** 33 + 1)
    same("uniform", shape, "float32", -1.0, 1.0, **kw)
    same("normal", shape, "bfloat16", **kw)
    same("normal", shape, "float64", 1.0, 3.0, **kw)
    same("trunc_normal", shape, "float16", 0.0, 1.0, -1.0, 0.5, **kw)
    same("random_bits", shape, "uint32", **kw)
    same("kaiming_uniform", shape, "float32", **kw)          # fans from global_shape


def test_a_tile_equals_the_slice_of_the_whole_tensor():
    gshape, index = (6, 10, 3), (slice(2, 5), slice(1, 9), slice(None))
    whole = dev("normal", gshape, "float32", seed=8, offset=2 ** 64 - 200)
    tile = dev("normal", _tile_shape(gshape, index), "float32", seed=8, offset=2 ** 64 - 200,
               global_shape=gshape, index=index)
    assert np.array_equal(whole[index], tile)


def test_runs_of_a_tile():
    place = _buffers.check_placement((2, 3, 4), 10, (5, 6, 4), (slice(1, 3), slice(2, 5), slice(None)))
    first, local, run_len = _tri.tile_runs((2, 3, 4), place)
    assert run_len == 12 and list(local) == [0, 12]
    assert [int(f) for f in first] == [10 + 1 * 24 + 2 * 4, 10 + 2 * 24 + 2 * 4]


# ------------------------------------------------------------------ keep-masks (rewind)

@pytest.mark.parametrize("dtype", DTYPES)
def test_rewind_under_a_keep_mask(dtype):
    rng = np.random.default_rng(0)
    for name, kw in [("normal", dict(std=0.5, seed=3)), ("uniform", dict(a=-2.0, b=1.0, seed=4, stream=9)),
                     ("trunc_normal", dict(std=0.02, a=-0.04, b=0.03, seed=5, offset=2 ** 33)),
                     ("kaiming_uniform", dict(seed=6, mode="fan_out")), ("constant", dict(val=0.5))]:
        shape = (23, 19)
        mask = rng.random(shape) < 0.6
        arr = np_empty(shape, dtype)
        fastinit.rewind_(arr, mask, getattr(fastinit, name + "_"), **kw)
        t = t_empty(shape, dtype)
        assert gpu.rewind_(t, torch.from_numpy(mask), name, **kw) is t
        assert np.array_equal(tbits(t), abits(arr)), (name, dtype)
        assert np.all(tbits(t)[~mask] == 0) and np.any(tbits(t)[mask] != 0)


def test_masked_tile_and_mask_from_a_record():
    gshape, index = (8, 12), (slice(3, 7), slice(2, 12))
    shape = _tile_shape(gshape, index)
    mask = np.random.default_rng(1).random(shape) < 0.5
    kw = dict(seed=2, global_shape=gshape, index=index, offset=77)
    t = t_empty(shape, "float32")
    gpu.rewind_(t, torch.from_numpy(mask), fastinit.normal_, **kw)
    want = np.where(mask, cpu("normal", shape, "float32", **kw).view(np.float32), 0).astype(np.float32)
    assert np.array_equal(tbits(t), abits(want))
    # a record (as save_random and fastinit.torch keep them), steps included
    rec = {"scheme": "normal", "args": {}, "fill": "normal", "params": {"mean": 0.0, "std": 1.0},
           "seed": 4, "stream": 2, "offset": 5, "fan_in": None, "fan_out": None, "shape": [6, 7],
           "dtype": "float16", "stream_version": fastinit.STREAM_VERSION,
           "steps": [{"val": 0.0, "start": 7, "shape": [7], "strides": [1]}]}
    mask = np.random.default_rng(2).random((6, 7)) < 0.7
    arr = np_empty((6, 7), "float16")
    fastinit.rewind_(arr, mask, rec)
    t = t_empty((6, 7), "float16")
    gpu.rewind_(t, torch.from_numpy(mask), rec)
    assert np.array_equal(tbits(t), abits(arr))
    assert np.all(tbits(t)[1] == 0)            # the step zeroed row 1


# ------------------------------------------------------------------ schemes

SCHEMES = [
    ("kaiming_uniform", (), {}),
    ("kaiming_uniform", (0.1,), {"mode": "fan_out", "nonlinearity": "leaky_relu"}),
    ("kaiming_normal", (), {"nonlinearity": "relu", "distribution": "truncated_normal"}),
    ("xavier_normal", (2.0,), {}),
    ("xavier_uniform", (), {"gain": 0.5}),
    ("lecun_normal", (), {}),
    ("he_uniform", (), {"mode": "fan_out"}),
    ("variance_scaling", (2.0,), {"mode": "fan_avg", "distribution": "truncated_normal"}),
    ("variance_scaling", (), {"distribution": "uniform", "layout": "keras"}),
    ("trunc_normal", (), {"std": 0.02}),
]


@pytest.mark.parametrize("name,args,kw", SCHEMES)
def test_schemes(name, args, kw):
    for dtype, shape in (("float32", (17, 6, 3)), ("bfloat16", (40, 9)), ("float64", (5, 11))):
        same(name, shape, dtype, *args, seed=31, **kw)


def test_fill_functions_are_accepted_and_generators_advance_alike():
    g_cpu, g_gpu = fastinit.Generator(17), fastinit.Generator(17)
    for _ in range(2):
        a = abits(fastinit.normal_(np.empty(50, np.float32), generator=g_cpu))
        t = t_empty(50, "float32")
        gpu.fill_(t, fastinit.normal_, generator=g_gpu)
        assert np.array_equal(tbits(t), a)
    assert g_cpu.get_state() == g_gpu.get_state()


def test_non_contiguous_tensors_get_their_c_order_values():
    base = t_empty((14, 9), "float32")
    t = base.t()[:, ::2]                     # (9, 7), strided
    gpu.fill_(t, "uniform", seed=6)
    assert np.array_equal(tbits(t), cpu("uniform", (9, 7), "float32", seed=6))
    untouched = tbits(base.t()[:, 1::2])
    assert np.all(untouched == 0xA5A5A5A5)
    t = t_empty((10, 4), "float16")[2:9]     # contiguous, at a storage offset
    gpu.fill_(t, "normal", seed=6)
    assert np.array_equal(tbits(t), cpu("normal", (7, 4), "float16", seed=6))
    s = t_empty((), "float64")               # 0-d
    gpu.fill_(s, "normal", seed=6, offset=5)
    assert np.array_equal(tbits(s).reshape(-1), cpu("normal", (), "float64", seed=6, offset=5).reshape(-1))


# ------------------------------------------------------------------ errors

ERRORS = [
    ("uniform", (1.0, 0.0), {"seed": 1}),
    ("uniform", (0.0, float("inf")), {"seed": 1}),
    ("uniform", (-3e38, 3e38), {"seed": 1}),            # b - a beyond float32
    ("normal", (0.0, -1.0), {"seed": 1}),
    ("normal", (0.0, 1e38), {"seed": 1}),               # |mean| + 9 std beyond float32
    ("trunc_normal", (0.0, 1.0, 2.0, 1.0), {"seed": 1}),
    ("trunc_normal", (0.0, 1.0, 38.0, 39.0), {"seed": 1}),      # too far in the tail
    ("trunc_normal", (0.0, 1.0, 0.5, 0.5 + 1e-14), {"seed": 1}),  # too narrow
    ("trunc_normal", (0.0, 1e-39, -1.0, 1.0), {"seed": 1}),     # std below float32's normals
    ("constant", (1e6,), {}),                           # beyond float16
    ("constant", (0.5,), {"seed": 1}),                  # a constant takes no seed
    ("normal", (), {"seed": -1}),
    ("normal", (), {"seed": 1, "stream": 2 ** 64}),
    ("normal", (), {"seed": 1, "offset": 2 ** 64 - 3}),         # runs past the stream
    ("normal", (), {"seed": 1, "global_shape": (4, 5)}),
    ("normal", (), {"seed": 1, "global_shape": (6, 5), "index": (slice(0, 3),)}),
    ("normal", (), {"seed": 1, "global_shape": (6, 5), "index": (slice(0, 6, 2), slice(None))}),
    ("normal", (), {"seed": 1, "index": (slice(0, 3), slice(None))}),
    ("normal", (), {"seed": 1, "std2": 1.0}),
    ("kaiming_uniform", (), {"seed": 1, "mode": "fan_sideways"}),
    ("kaiming_uniform", (), {"seed": 1, "nonlinearity": "swish"}),
    ("xavier_normal", (), {"seed": 1, "distribution": "cauchy"}),
    ("no_such_fill", (), {"seed": 1}),
]


@pytest.mark.parametrize("name,args,kw", ERRORS)
def test_bad_arguments_raise_the_cpu_exception_before_anything_happens(name, args, kw):
    shape, dtype = (3, 5), "float16"
    cpu_fn = getattr(fastinit, name + "_", None)
    with pytest.raises((TypeError, ValueError)) as cpu_err:
        if cpu_fn is None:
            _fill.lookup(name)
        cpu_fn(np_empty(shape, dtype), *args, **kw)
    for gen in (None, fastinit.Generator(5)):
        kw2 = dict(kw)
        if gen is not None:                  # the same error with a generator: it is not advanced
            if "seed" not in kw2 or name == "constant" or "seed" in str(cpu_err.value):
                continue
            del kw2["seed"]
            kw2["generator"] = gen
            state = gen.get_state()
        t = t_empty(shape, dtype)
        with pytest.raises(type(cpu_err.value)) as gpu_err:
            gpu.fill_(t, name, *args, **kw2)
        if gen is None:
            assert str(gpu_err.value) == str(cpu_err.value)
        else:
            assert gen.get_state() == state
        assert np.all(tbits(t) == 0xA5A5)


def test_bad_tensors():
    g = fastinit.Generator(3)
    state = g.get_state()
    with pytest.raises(TypeError):
        gpu.fill_(torch.zeros(4, dtype=torch.int64), "normal", generator=g)
    with pytest.raises(TypeError):
        gpu.fill_(torch.zeros(4, dtype=torch.float32), "random_bits", generator=g)
    with pytest.raises(TypeError):
        gpu.fill_(np.zeros(4, np.float32), "normal", generator=g)
    with pytest.raises(ValueError, match="overlapping"):
        gpu.fill_(torch.zeros(1, 3).expand(4, 3), "normal", generator=g)
    with pytest.raises(ValueError, match="device"):
        gpu.fill_(torch.zeros(4, device="meta"), "normal", generator=g)
    with pytest.raises(NotImplementedError, match="orthogonal"):
        gpu.fill_(torch.zeros(4, 4), "orthogonal", generator=g)
    with pytest.raises(NotImplementedError, match="sparse"):
        gpu.fill_(torch.zeros(4, 4), fastinit.sparse_, generator=g)
    t = t_empty((4, 4), "float32")
    with pytest.raises(ValueError, match="stream"):
        gpu.rewind_(t, torch.ones(4, 4, dtype=torch.bool), "normal")
    with pytest.raises(ValueError, match="shape"):
        gpu.rewind_(t, torch.ones(4, 5, dtype=torch.bool), "normal", seed=1)
    with pytest.raises(TypeError):
        gpu.rewind_(t, torch.ones(4, 4), "normal", seed=1)
    assert g.get_state() == state
    assert np.all(tbits(t) == 0xA5A5A5A5)


# ------------------------------------------------------------------ a real GPU

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_the_cpu_when_present():
    """Compiled kernels on the device (a fresh process: this one decorated them for the
    interpreter)."""
    import subprocess
    import sys
    code = r"""
import numpy as np, torch, fastinit, fastinit.gpu as gpu
from fastinit import _buffers
checks = 0
for dt, npdt in ((torch.float32, np.float32), (torch.float64, np.float64), (torch.float16, np.float16),
                 (torch.bfloat16, None)):
    for name, args in (("uniform", (-1.0, 2.0)), ("normal", (0.5, 2.0)), ("trunc_normal", (0.0, 1.0, -2.0, 2.0)),
                       ("trunc_normal", (0.0, 1.0, 5.0, 6.0)), ("trunc_normal", (0.0, 1.0, 0.5, 0.5001))):
        n = 100003
        a = np.empty(n, np.uint16).view(_buffers.BFloat16Bits) if npdt is None else np.empty(n, npdt)
        getattr(fastinit, name + "_")(a, *args, seed=1, offset=2 ** 64 - n - 5)
        t = torch.empty(n, dtype=dt, device="cuda")
        gpu.fill_(t, name, *args, seed=1, offset=2 ** 64 - n - 5)
        it, ut = {2: (torch.int16, np.uint16), 4: (torch.int32, np.uint32), 8: (torch.int64, np.uint64)}[t.element_size()]
        assert np.array_equal(t.view(it).cpu().numpy().view(ut), a.view(ut)), (name, dt)
        checks += 1
print("ok", checks)
"""
    env = dict(os.environ, TRITON_INTERPRET="0")
    # (run outside the repository: there `python -c` would import the uncompiled source tree)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_compiled_ptx_has_no_contraction_and_no_approximations():
    """Compile (no GPU needed) for sm_90 with the launch options: no approximate or
    flush-to-zero instruction in any kernel; no fma at all in those whose rule has none
    (bits, uniform, every float64 rule, the narrow-interval rule); IEEE division and
    square root in float64."""
    pytest.importorskip("triton.backends.nvidia.compiler")
    import subprocess
    import sys
    code = r"""
import re, triton
from triton.compiler import ASTSource
from triton.backends.compiler import GPUTarget
from fastinit import _triton as T, _kernels as K
assert not T.INTERPRET
# (kind, output, whether its rule has an fma: the f32 normal and truncated normal)
CASES = ((K.BITS, K.F32, False), (K.UNIFORM, K.F32, False), (K.UNIFORM, K.F16, False), (K.UNIFORM, K.F64, False),
         (K.NORMAL, K.F32, True), (K.NORMAL, K.BF16, True), (K.NORMAL, K.F64, False),
         (K.TRUNC, K.F32, True), (K.TRUNC, K.F64, False), (K.TRUNC_WIDE, K.F32, False))
for kind, out, has_fma in CASES:
    wide = out == K.F64 or kind == K.TRUNC_WIDE
    par = "*fp64" if wide else "*fp32"
    optr = {K.F32: "*i32", K.F64: "*i64", K.F16: "*i16", K.BF16: "*i16"}[out]
    shift = 1 if (out == K.F64 and kind != K.BITS) else 2
    sig = {"out_ptr": optr, "keep_ptr": "*u8", "first_ptr": "*i64", "local_ptr": "*i64", "meta_ptr": "*i64",
           "par_ptr": par, "KIND": "constexpr", "OUT": "constexpr", "SHIFT": "constexpr", "MASKED": "constexpr",
           "BLOCK": "constexpr"}
    src = ASTSource(fn=T._fill_kernel, signature=sig, constexprs={"KIND": kind, "OUT": out, "SHIFT": shift,
                                                                 "MASKED": False, "BLOCK": 256})
    ptx = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(T.LAUNCH_OPTIONS)).asm["ptx"]
    if not has_fma:
        assert "fma." not in ptx, (kind, out)
    for bad in ("approx", "div.full", "ftz"):
        assert bad not in ptx, (kind, out, bad)
    # the correctly rounded division and square root of the rules that have them
    need = {(K.NORMAL, K.F64): ("div.rn.f64", "sqrt.rn.f64"), (K.TRUNC, K.F64): ("div.rn.f64", "sqrt.rn.f64"),
            (K.NORMAL, K.F32): ("sqrt.rn.f32",), (K.NORMAL, K.BF16): ("sqrt.rn.f32",),
            (K.TRUNC, K.F32): ("div.rn.f32", "sqrt.rn.f32")}.get((kind, out), ())
    for op in need:
        assert op in ptx, (kind, out, op)
print("ok")
"""
    env = dict(os.environ, TRITON_INTERPRET="0")
    # (run outside the repository: there `python -c` would import the uncompiled source tree)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    if out.returncode != 0 and ("ptxas" in out.stderr or "No such file" in out.stderr):
        pytest.skip("the NVIDIA toolchain is not usable here: " + out.stderr[-300:])
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


# ------------------------------------------------------------------ fastinit.torch on device memory

@pytest.fixture
def device_route(monkeypatch):
    """fastinit.torch's route to these kernels (``_memory.device_run``), taken here by CPU
    tensors, which stand in for CUDA ones under the interpreter; returns the list of the
    launches' devices, to check the route was taken."""
    from fastinit.torch import _memory
    taken = []
    real = _memory.device_run

    def counting(fill, target):
        taken.append(target.local.device.type)
        return real(fill, target)

    monkeypatch.setattr(_memory, "device_kernels",
                        lambda t: t.device.type == "cpu" and t.device not in _memory._NO_KERNELS)
    monkeypatch.setattr(_memory, "device_run", counting)
    return taken


def _tensor_bits(t):
    return tbits(t.detach())


@pytest.mark.parametrize("dtype", DTYPES)
def test_fastinit_torch_functions_take_the_device_route_with_the_same_bits(dtype, device_route, monkeypatch):
    import fastinit.torch as ft

    calls = [
        ("kaiming_uniform_", (), {"a": 0.1, "mode": "fan_out"}),
        ("xavier_normal_", (), {"gain": 1.5}),
        ("trunc_normal_", (), {"std": 0.02}),
        ("uniform_", (-0.3, 0.7), {}),
        ("normal_", (0.25, 2.0), {}),
    ]

    def run_all():
        out = []
        for name, args, kw in calls:
            t = t_empty((37, 5, 3), dtype)
            torch.manual_seed(11)
            getattr(ft, name)(t, *args, **kw)
            rec = ft.init_record(t)
            assert rec is not None, name
            out.append((_tensor_bits(t), rec))
        return out

    got = run_all()
    assert len(device_route) == len(calls)
    monkeypatch.undo()                            # the CPU route again
    want = run_all()
    for (name, _, _), (w, wrec), (g, grec) in zip(calls, want, got):
        assert np.array_equal(w, g), name
        assert wrec == grec, name


def test_a_patched_model_built_on_the_device_route_equals_the_cpu_one(device_route, monkeypatch):
    import fastinit.torch as ft

    def build():
        torch.manual_seed(3)
        with ft.patch():
            return torch.nn.Sequential(torch.nn.Linear(33, 17), torch.nn.Conv2d(3, 8, 3),
                                       torch.nn.Embedding(50, 12, padding_idx=4))

    got = build()
    assert device_route, "the device route was not taken"
    monkeypatch.undo()                            # the CPU route again
    want = build()
    for (name, w), (_, g) in zip(want.state_dict().items(), got.state_dict().items()):
        assert np.array_equal(_tensor_bits(w), _tensor_bits(g)), name
    assert bool((got[2].weight[4] == 0).all())     # the padding row: a step of the fill


@pytest.mark.parametrize("dim", [0, 1])
def test_tensor_parallel_blocks_on_the_device_route(device_route, dim):
    import fastinit.torch as ft
    shape = (24, 40)
    torch.manual_seed(5)
    whole = ft.xavier_uniform_(torch.empty(shape))
    for rank in range(3):
        n = shape[dim] // 4
        block_shape = (n, shape[1]) if dim == 0 else (shape[0], n)
        block = torch.empty(block_shape)
        torch.manual_seed(5)
        ft.init_shard_(block, "xavier_uniform_", global_shape=shape, dim=dim, rank=rank, world_size=4)
        part = whole[rank * n:(rank + 1) * n] if dim == 0 else whole[:, rank * n:(rank + 1) * n]
        assert torch.equal(block, part), rank
    assert len(device_route) == 4                  # the whole tensor and the three blocks


def test_the_device_route_falls_back_to_staging_when_triton_cannot_compile(device_route, monkeypatch):
    """A Triton failure before the launch (no C compiler, an unsupported GPU): a warning, and
    the CPU staging path writes the tensor with the same bits, the stream taken once."""
    import fastinit.torch as ft
    from fastinit.torch import _memory
    want = ft.kaiming_normal_(torch.empty(40, 30), generator=fastinit.Generator(9))

    def broken(*args, **kwargs):
        raise RuntimeError("Failed to find C compiler")

    monkeypatch.setattr(_tri, "prepare", broken)
    monkeypatch.setattr(_memory, "_NO_KERNELS", set())
    g = fastinit.Generator(9)
    with pytest.warns(RuntimeWarning, match="Failed to find C compiler"):
        got = ft.kaiming_normal_(torch.empty(40, 30), generator=g)
    assert torch.equal(got, want)
    assert g.get_state() == {"seed": 9, "stream": 1}      # one stream, taken once
    assert torch.device("cpu") in _memory._NO_KERNELS     # not tried again on that device:
    tries = len(device_route)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ft.kaiming_normal_(torch.empty(40, 30), generator=fastinit.Generator(9))
    assert torch.equal(again, want) and len(device_route) == tries


def test_gpu_run_raises_kernel_unavailable_before_taking_a_stream(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(_tri, "prepare", broken)
    g = fastinit.Generator(4)
    t = t_empty((100,), "float32")
    before = tbits(t).copy()
    with pytest.raises(gpu.KernelUnavailable, match="no compiler"):
        gpu.fill_(t, "normal", generator=g)
    assert np.array_equal(tbits(t), before)
    assert g.get_state() == {"seed": 4, "stream": 0}


@pytest.mark.parametrize("kw", [{"offset": 0}, {"seed": None}, {"stream": None}])
def test_options_a_fill_does_not_take_raise_as_on_the_cpu_even_at_their_defaults(kw):
    with pytest.raises(TypeError) as want:
        fastinit.constant_(np.empty(3, np.float32), 0.5, **kw)
    t = t_empty((3,), "float32")
    with pytest.raises(TypeError) as got:
        gpu.fill_(t, "constant", 0.5, **kw)
    assert str(got.value) == str(want.value)
    assert np.all(tbits(t) == 0xA5A5A5A5)


def test_tensors_whose_elements_overlap_are_refused():
    base = torch.zeros(10)
    g = fastinit.Generator(1)
    for view in (base.as_strided((3, 4), (2, 1)), base[:1].expand(5)):
        with pytest.raises(ValueError, match="overlapping"):
            gpu.fill_(view, "normal", generator=g)
    assert torch.equal(base, torch.zeros(10))
    assert g.get_state() == {"seed": 1, "stream": 0}
