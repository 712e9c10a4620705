"""Bad input gets a clear exception, and the buffer stays untouched.

Every error case fills the buffer first with random data and compares its
bytes after the failed call, and checks that no Generator (neither the one
passed nor the module default) advanced.
"""
import array
import contextlib
import math

import numpy as np
import pytest

import fastinit
from _stats import fresh_seed, get_dtype

U64 = 1 << 64

SCHEMES = [
    "lecun_uniform_", "lecun_normal_", "xavier_uniform_", "xavier_normal_", "glorot_uniform_",
    "glorot_normal_", "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_",
    "variance_scaling_",
]
PLAIN_RANDOM = ["uniform_", "normal_", "trunc_normal_"]
RANDOM_FILLS = PLAIN_RANDOM + SCHEMES
CONST_FILLS = ["constant_", "zeros_", "ones_"]
ALL_FILLS = RANDOM_FILLS + CONST_FILLS
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")

# valid, non-default arguments for each function (a test overrides one of them)
BASE = {
    "uniform_": dict(a=-0.5, b=1.5),
    "normal_": dict(mean=0.1, std=2.0),
    "trunc_normal_": dict(mean=0.1, std=2.0, a=-1.0, b=3.0),
    "constant_": dict(val=0.25),
    "xavier_uniform_": dict(gain=1.5),
    "xavier_normal_": dict(gain=1.5),
    "glorot_uniform_": dict(gain=1.5),
    "glorot_normal_": dict(gain=1.5),
    "kaiming_uniform_": dict(a=0.1),
    "kaiming_normal_": dict(a=0.1),
    "variance_scaling_": dict(scale=2.0),
}


def call(name, buf, **kw):
    return getattr(fastinit, name)(buf, **{**BASE.get(name, {}), **kw})


def rng_for_test():
    seed = fresh_seed()
    return seed, np.random.default_rng(seed)


def prefilled(shape, dtype, rng):
    """A buffer of this dtype holding non-trivial random data."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dt)
    if dt.kind in "iu":
        return rng.integers(0, 100, size=shape).astype(dt)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def raw_bytes(buf):
    if isinstance(buf, np.ndarray):
        return buf.tobytes()
    if isinstance(buf, memoryview):
        return buf.tobytes()
    return bytes(memoryview(buf).cast("B"))


def used_generator():
    g = fastinit.Generator(fresh_seed())
    for _ in range(3):
        g.next_stream()
    return g


@contextlib.contextmanager
def rejected(exc, buf, g=None, what="", names=()):
    """Expect exc; then the buffer's bytes, g and the default generator are as before."""
    before = raw_bytes(buf)
    gstate = None if g is None else g.get_state()
    dstate = fastinit.default_generator.get_state()
    with pytest.raises(exc) as ei:
        yield ei
    assert raw_bytes(buf) == before, f"{what}: buffer changed by a call that raised {ei.value!r}"
    if g is not None:
        assert g.get_state() == gstate, f"{what}: the failed call advanced the generator"
    assert fastinit.default_generator.get_state() == dstate, f"{what}: the failed call advanced the default generator"
    msg = str(ei.value)
    for n in names:
        assert n in msg, f"{what}: valid name {n!r} missing from the error message: {msg!r}"


def gen_kw(name, g):
    return {"generator": g} if name in RANDOM_FILLS else {}


# ------------------------------------------------------------ read-only buffers
@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("name", ALL_FILLS)
def test_read_only_array(name, dtype_name):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), get_dtype(dtype_name), rng)
    buf.flags.writeable = False
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} read-only {dtype_name} seed={seed}"):
        call(name, buf, **gen_kw(name, g))
    # a read-only view of a writable array, and an array over immutable bytes
    base = prefilled((24, 10), get_dtype(dtype_name), rng)
    view = base.view()
    view.flags.writeable = False
    with rejected(ValueError, base, g, f"{name} read-only view {dtype_name}"):
        call(name, view, **gen_kw(name, g))
    frozen = np.frombuffer(base.tobytes(), dtype=base.dtype).reshape(base.shape)
    with rejected(ValueError, frozen, g, f"{name} frombuffer(bytes) {dtype_name}"):
        call(name, frozen, **gen_kw(name, g))


@pytest.mark.parametrize("fmt", ["f", "d"])
@pytest.mark.parametrize("name", ALL_FILLS)
def test_read_only_memoryview(name, fmt):
    seed, rng = rng_for_test()
    data = prefilled((24, 10), np.float32 if fmt == "f" else np.float64, rng).tobytes()
    mv = memoryview(data).cast(fmt, shape=[24, 10])
    assert mv.readonly
    g = used_generator()
    with rejected(ValueError, mv, g, f"{name} read-only memoryview {fmt}"):
        call(name, mv, **gen_kw(name, g))
    assert bytes(data) == mv.tobytes()


def test_read_only_random_bits():
    seed, rng = rng_for_test()
    buf = rng.integers(0, 2 ** 32, size=(7, 9), dtype=np.uint32)
    buf.flags.writeable = False
    g = used_generator()
    with rejected(ValueError, buf, g, "random_bits_ read-only"):
        fastinit.random_bits_(buf, generator=g)


# ------------------------------------------------------------ dtypes
BAD_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
              "complex64", "complex128"]
if np.dtype(np.longdouble) != np.dtype(np.float64):
    BAD_DTYPES.append("longdouble")


@pytest.mark.parametrize("dtype_name", BAD_DTYPES)
@pytest.mark.parametrize("name", ALL_FILLS)
def test_bad_dtype(name, dtype_name):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.dtype(dtype_name), rng)
    g = used_generator()
    with rejected(TypeError, buf, g, f"{name} dtype {dtype_name} seed={seed}"):
        call(name, buf, **gen_kw(name, g))


@pytest.mark.parametrize("typecode", ["i", "b", "B", "h", "l", "q"])
@pytest.mark.parametrize("name", ALL_FILLS)
def test_bad_dtype_buffer_protocol(name, typecode):
    seed, rng = rng_for_test()
    arr = array.array(typecode, rng.integers(0, 100, size=240).tolist())
    g = used_generator()
    kw = gen_kw(name, g)
    if name in SCHEMES:
        kw.update(fan_in=10, fan_out=24)
    with rejected(TypeError, arr, g, f"{name} array.array({typecode!r})"):
        call(name, arr, **kw)
    mv = memoryview(arr).cast("B").cast(typecode, shape=[24, 10])
    with rejected(TypeError, arr, g, f"{name} memoryview({typecode!r})"):
        call(name, mv, **gen_kw(name, g))


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "int32", "uint64", "uint16"])
def test_random_bits_needs_uint32(dtype_name):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.dtype(dtype_name), rng)
    g = used_generator()
    with rejected(TypeError, buf, g, f"random_bits_ dtype {dtype_name}"):
        fastinit.random_bits_(buf, generator=g)


@pytest.mark.parametrize("obj", [[1.0, 2.0, 3.0], (1.0, 2.0), None, 3.0, "abc"], ids=repr)
@pytest.mark.parametrize("name", ALL_FILLS)
def test_not_a_buffer(name, obj):
    g = used_generator()
    dstate = fastinit.default_generator.get_state()
    with pytest.raises(TypeError):
        call(name, obj, **gen_kw(name, g))
    assert g.get_state()["stream"] == 3 and fastinit.default_generator.get_state() == dstate


# ------------------------------------------------------------ unknown names
NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


@pytest.mark.parametrize("bad", ["gelu", "ReLU", "", "relu "])
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_unknown_nonlinearity(name, bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} nonlinearity={bad!r}", NONLINEARITIES):
        call(name, buf, nonlinearity=bad, generator=g)


@pytest.mark.parametrize("bad", ["fanin", "fan-in", "fan_avg", "", None])
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_"])
def test_unknown_mode_torch_style(name, bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} mode={bad!r}", ("fan_in", "fan_out")):
        call(name, buf, mode=bad, generator=g)


@pytest.mark.parametrize("bad", ["fanin", "avg", "fan_sum", None])
def test_unknown_mode_variance_scaling(bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"variance_scaling_ mode={bad!r}", ("fan_in", "fan_out", "fan_avg")):
        fastinit.variance_scaling_(buf, mode=bad, generator=g)


@pytest.mark.parametrize("bad", ["jax", "pytorch", "tf", "", None])
@pytest.mark.parametrize("name", SCHEMES)
def test_unknown_layout(name, bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} layout={bad!r}", ("torch", "keras")):
        call(name, buf, layout=bad, generator=g)


@pytest.mark.parametrize("bad", ["gaussian", "truncnorm", "untruncated", "uniform", ""])
@pytest.mark.parametrize("name", ["lecun_normal_", "xavier_normal_", "glorot_normal_", "kaiming_normal_", "he_normal_"])
def test_unknown_distribution_normal_schemes(name, bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} distribution={bad!r}", ("normal", "truncated_normal")):
        call(name, buf, distribution=bad, generator=g)


@pytest.mark.parametrize("bad", ["gaussian", "truncnorm", "normal_", "", None])
def test_unknown_distribution_variance_scaling(bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"variance_scaling_ distribution={bad!r}",
                  ("truncated_normal", "untruncated_normal", "uniform")):
        fastinit.variance_scaling_(buf, distribution=bad, generator=g)


# ------------------------------------------------------------ bad parameter values
@pytest.mark.parametrize("dtype_name", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name,kw", [
    ("normal_", dict(std=-1.0)), ("normal_", dict(std=-1e-300)),
    ("trunc_normal_", dict(std=-1.0)), ("trunc_normal_", dict(std=-1e-300)),
    ("uniform_", dict(a=1.0, b=1.0)), ("uniform_", dict(a=2.0, b=1.0)), ("uniform_", dict(a=0.0, b=-1e-300)),
    ("trunc_normal_", dict(a=1.0, b=1.0)), ("trunc_normal_", dict(a=2.0, b=-2.0)),
    ("trunc_normal_", dict(a=0.5, b=0.5, std=0.0)),
    # Keras: scale must be positive
    ("variance_scaling_", dict(scale=0.0)), ("variance_scaling_", dict(scale=-2.0)),
    # documented (STREAM.md section 6): an interval beyond ~37 std holds no float64 probability
    ("trunc_normal_", dict(mean=0.0, std=1.0, a=50.0, b=51.0)),
    ("trunc_normal_", dict(mean=0.0, std=1.0, a=-1e4, b=-1e4 + 1)),
], ids=str)
def test_bad_values(name, kw, dtype_name):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), get_dtype(dtype_name), rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name}({kw}) {dtype_name}"):
        call(name, buf, generator=g, **kw)


NONFINITE_CASES = [
    ("uniform_", "a"), ("uniform_", "b"),
    ("normal_", "mean"), ("normal_", "std"),
    ("trunc_normal_", "mean"), ("trunc_normal_", "std"), ("trunc_normal_", "a"), ("trunc_normal_", "b"),
    ("xavier_uniform_", "gain"), ("xavier_normal_", "gain"), ("glorot_uniform_", "gain"), ("glorot_normal_", "gain"),
    ("kaiming_uniform_", "a"), ("kaiming_normal_", "a"),
    ("variance_scaling_", "scale"),
    ("constant_", "val"),
]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")], ids=repr)
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name,param", NONFINITE_CASES, ids=[f"{n}-{p}" for n, p in NONFINITE_CASES])
def test_nonfinite_parameters(name, param, dtype_name, value):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.dtype(dtype_name), rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name}({param}={value!r}) {dtype_name}"):
        call(name, buf, **{param: value}, **gen_kw(name, g))


@pytest.mark.parametrize("fans", [dict(fan_in=0), dict(fan_out=0), dict(fan_in=0, fan_out=0), dict(fan_in=-3),
                                  dict(fan_in=5, fan_out=0), dict(fan_in=0, fan_out=7)], ids=str)
@pytest.mark.parametrize("name", SCHEMES)
def test_zero_fan(name, fans):
    seed, rng = rng_for_test()
    g = used_generator()
    for layout, shape in (("torch", (24, 10)), ("keras", (24, 10)), ("torch", (240,))):
        buf = prefilled(shape, np.float32, rng)
        with rejected(ValueError, buf, g, f"{name}({fans}) {layout} {shape}"):
            call(name, buf, layout=layout, generator=g, **fans)


@pytest.mark.parametrize("shape", [(), (7,), (300,)])
@pytest.mark.parametrize("name", SCHEMES)
def test_torch_layout_needs_two_dims(name, shape):
    seed, rng = rng_for_test()
    buf = prefilled(shape, np.float32, rng)
    g = used_generator()
    with rejected(ValueError, buf, g, f"{name} torch layout shape {shape}"):
        call(name, buf, generator=g)
    with rejected(ValueError, buf, g, f"{name} layout='torch' shape {shape}"):
        call(name, buf, layout="torch", generator=g)
    # the Keras fan rules accept them, and so do explicit fans
    before = buf.tobytes()
    assert call(name, buf, layout="keras", generator=g) is buf
    assert buf.tobytes() != before
    assert call(name, buf, fan_in=3, fan_out=5, generator=g) is buf


# ------------------------------------------------------------ zero-size buffers
@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("name", ALL_FILLS)
def test_zero_size(name, dtype_name):
    dtype = get_dtype(dtype_name)
    for shape in [(0,), (0, 5), (5, 0), (3, 0, 2), (0, 0), (2, 3, 0, 4)]:
        buf = np.empty(shape, dtype=dtype)
        assert call(name, buf) is buf, f"{name} {shape} {dtype_name}"
        assert buf.shape == shape and buf.dtype == dtype
        if name in RANDOM_FILLS:
            assert call(name, buf, seed=1) is buf
            assert call(name, buf, generator=fastinit.Generator(3)) is buf
            if name in SCHEMES:
                assert call(name, buf, layout="keras", seed=1) is buf
    mv = memoryview(bytearray(0)).cast("f")
    assert call(name, mv) is mv
    arr = array.array("d")
    assert call(name, arr) is arr and len(arr) == 0


def test_zero_size_random_bits():
    buf = np.empty((0, 3), np.uint32)
    assert fastinit.random_bits_(buf, seed=2) is buf


# ------------------------------------------------------------ seeds, streams, offsets
GOOD_U64 = [0, 1, 2 ** 32, 2 ** 64 - 1, np.uint64(2 ** 64 - 1), np.int64(5), np.uint32(7), np.int8(3)]
BAD_U64_VALUE = [-1, 2 ** 64, 2 ** 70, np.int64(-1), -(2 ** 64)]
BAD_U64_TYPE = [1.0, 1.5, "3", True, False, np.float64(2.0), np.bool_(True), 3 + 0j, [1]]


@pytest.mark.parametrize("value", GOOD_U64, ids=repr)
@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_good_seed_and_stream(name, value):
    rng = np.random.default_rng()
    for param in ("seed", "stream"):
        extra = {"seed": 11} if param == "stream" else {}
        a = prefilled((24, 10), np.float32, rng)
        before = a.tobytes()
        assert call(name, a, **{param: value}, **extra) is a
        assert a.tobytes() != before, f"{name} {param}={value!r}: buffer not filled"
        b = prefilled((24, 10), np.float32, rng)
        call(name, b, **{param: int(value)}, **extra)
        assert a.tobytes() == b.tobytes(), f"{name} {param}={value!r} differs from {param}={int(value)}"


@pytest.mark.parametrize("value", [0, 5, np.uint64(9), np.int64(2 ** 40), 2 ** 64 - 240], ids=repr)
@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_good_offset(name, value):
    rng = np.random.default_rng()
    a = prefilled((24, 10), np.float32, rng)
    before = a.tobytes()
    assert call(name, a, seed=3, offset=value) is a
    assert a.tobytes() != before
    b = prefilled((24, 10), np.float32, rng)
    call(name, b, seed=3, offset=int(value))
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_offset_end_of_stream(name):
    """offset + size may reach 2**64 but not pass it."""
    seed, rng = rng_for_test()
    g = used_generator()
    buf = prefilled((24, 10), np.float32, rng)
    assert call(name, buf, seed=1, offset=U64 - 240) is buf
    for off in (U64 - 239, U64 - 1):
        buf = prefilled((24, 10), np.float32, rng)
        with rejected(ValueError, buf, g, f"{name} offset={off}"):
            call(name, buf, generator=g, offset=off)
    one = prefilled((1, 1), np.float32, rng)
    assert call(name, one, seed=1, offset=U64 - 1) is one


def _bad_source_cases():
    out = []
    for v in BAD_U64_VALUE:
        out.append(pytest.param(v, ValueError, id=f"{v!r}-ValueError"))
    for v in BAD_U64_TYPE:
        out.append(pytest.param(v, TypeError, id=f"{v!r}-TypeError"))
    return out


@pytest.mark.parametrize("value,exc", _bad_source_cases())
@pytest.mark.parametrize("param", ["seed", "stream", "offset"])
@pytest.mark.parametrize("name", RANDOM_FILLS + ["random_bits_"])
def test_bad_seed_stream_offset(name, param, value, exc):
    seed, rng = rng_for_test()
    if name == "random_bits_":
        buf = rng.integers(0, 2 ** 32, size=(24, 10), dtype=np.uint32)
        fn = fastinit.random_bits_
    else:
        buf = prefilled((24, 10), np.float32, rng)
        fn = lambda b, **kw: call(name, b, **kw)  # noqa: E731
    g = used_generator()
    what = f"{name} {param}={value!r}"
    if param == "seed":
        with rejected(exc, buf, None, what):
            fn(buf, seed=value)
    else:
        with rejected(exc, buf, g, what):
            fn(buf, generator=g, **{param: value})
        with rejected(exc, buf, None, what + " with seed=4"):
            fn(buf, seed=4, **{param: value})


@pytest.mark.parametrize("name", RANDOM_FILLS + ["random_bits_"])
def test_seed_and_generator_together(name):
    seed, rng = rng_for_test()
    g = used_generator()
    if name == "random_bits_":
        buf = rng.integers(0, 2 ** 32, size=(24, 10), dtype=np.uint32)
        fn = fastinit.random_bits_
    else:
        buf = prefilled((24, 10), np.float32, rng)
        fn = lambda b, **kw: call(name, b, **kw)  # noqa: E731
    with rejected(ValueError, buf, g, f"{name} seed= and generator="):
        fn(buf, seed=5, generator=g)
    with rejected(ValueError, buf, g, f"{name} seed= and generator= and stream="):
        fn(buf, seed=5, generator=g, stream=2)
    with rejected(ValueError, buf, g, f"{name} seed=0 and generator="):
        fn(buf, seed=0, generator=g)


@pytest.mark.parametrize("bad", [np.random.default_rng(0), 5, "gen", object()], ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_generator_must_be_a_generator(name, bad):
    seed, rng = rng_for_test()
    buf = prefilled((24, 10), np.float32, rng)
    with rejected(TypeError, buf, None, f"{name} generator={bad!r}"):
        call(name, buf, generator=bad)


# ------------------------------------------------------------ the same object back
def _kw_for_1d(name):
    return {"fan_in": 16, "fan_out": 15} if name in SCHEMES else {}


@pytest.mark.parametrize("name", ALL_FILLS)
def test_returns_same_object(name):
    seed, rng = rng_for_test()
    rnd = {"seed": seed} if name in RANDOM_FILLS else {}
    # reference: a NumPy array of the same logical shape
    for fmt, dtype in (("f", np.float32), ("d", np.float64)):
        ref2 = prefilled((16, 15), dtype, rng)
        assert call(name, ref2, **rnd) is ref2
        ref1 = prefilled((240,), dtype, rng)
        assert call(name, ref1, **rnd, **_kw_for_1d(name)) is ref1

        init = prefilled((240,), dtype, rng)
        arr = array.array(fmt, init.tolist())
        out = call(name, arr, **rnd, **_kw_for_1d(name))
        assert out is arr, f"{name} array.array({fmt!r}) seed={seed}"
        got = np.asarray(arr)
        assert got.dtype == dtype and got.tobytes() == ref1.tobytes(), f"{name} array.array({fmt!r}) seed={seed}"

        ba = bytearray(prefilled((16, 15), dtype, rng).tobytes())
        mv = memoryview(ba).cast(fmt, shape=[16, 15])
        out = call(name, mv, **rnd)
        assert out is mv, f"{name} memoryview({fmt!r}) seed={seed}"
        assert np.asarray(mv).tobytes() == ref2.tobytes(), f"{name} memoryview({fmt!r}) seed={seed}"
        assert bytes(ba) == ref2.tobytes()

        base = prefilled((16, 15), dtype, rng)
        mv2 = memoryview(base)
        assert call(name, mv2, **rnd) is mv2
        assert base.tobytes() == ref2.tobytes(), f"{name} memoryview(ndarray) seed={seed}"


# ------------------------------------------------------------ non-contiguous views
_VIEWS = {
    "strided": lambda a: a[::2, 1::3],
    "transposed": lambda a: a.T,
    "reversed": lambda a: a[::-1, :],
    "column-block": lambda a: a[:, 2:9],
    "memoryview-strided": lambda a: a[1::2, ::2],
}


_VIEW_CASES = [(v, d) for v in _VIEWS for d in ("float32", "float64", "bfloat16")
               if not (v.startswith("memoryview") and d == "bfloat16")]  # memoryview has no bf16 format


@pytest.mark.parametrize("view_name,dtype_name", _VIEW_CASES, ids=[f"{v}-{d}" for v, d in _VIEW_CASES])
@pytest.mark.parametrize("name", ALL_FILLS)
def test_noncontiguous_view(name, dtype_name, view_name):
    """Correct values (those of a contiguous array of the same shape) or a clear error; never other values."""
    seed, rng = rng_for_test()
    dtype = get_dtype(dtype_name)
    base = prefilled((30, 17), dtype, rng)
    view = _VIEWS[view_name](base)
    assert not view.flags.c_contiguous
    target = memoryview(view) if view_name.startswith("memoryview") else view
    rnd = {"seed": seed} if name in RANDOM_FILLS else {}
    original = base.copy()
    try:
        out = call(name, target, **rnd)
    except (ValueError, TypeError):
        assert base.tobytes() == original.tobytes(), f"{name} {view_name}: buffer changed before an error"
        return
    assert out is target
    ref = prefilled(view.shape, dtype, rng)
    call(name, ref, **rnd)
    assert np.ascontiguousarray(view).tobytes() == ref.tobytes(), (
        f"{name} {view_name} {dtype_name} seed={seed}: a view got other values than a contiguous array"
    )
    mask = np.ones(base.shape, bool)
    _VIEWS[view_name](mask)[...] = False
    assert base[mask].tobytes() == original[mask].tobytes(), f"{name} {view_name}: wrote outside the view"
