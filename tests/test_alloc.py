"""The allocating constructors: ``fastinit.empty(shape, dtype)`` and ``fastinit.<scheme>(shape, ...)``.

``fastinit.<name>(shape, *args, dtype=..., **kwargs)`` must write exactly what
``fastinit.<name>_(np.empty(shape, dtype), *args, **kwargs)`` writes, into
memory that is 64-byte aligned (2 MiB aligned for large buffers), writable,
C-contiguous, kept alive by every view and released with the last one.
Argument errors raise before anything is allocated, or at least leak nothing.

Tests that could crash the interpreter if memory were freed too early, or that
measure process memory, run in a subprocess.
"""
import gc
import inspect
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from _child import run_python_fresh

import fastinit

# run child interpreters outside the repository root, where the uncompiled
# fastinit/ source folder would shadow the installed package
_NEUTRAL_CWD = os.path.dirname(os.path.abspath(__file__))

try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

MI = 2**20
FANS = {"fan_in": 48, "fan_out": 80}  # explicit fans: any shape (0-d, 1-d) works for the schemes

# constructor name -> (positional args after shape, keyword args); non-default values throughout
CASES = {
    "uniform": ((-0.5, 1.5), {"seed": 11}),
    "normal": ((0.1, 2.0), {"seed": 12}),
    "trunc_normal": ((0.1, 0.02, -0.01, 0.2), {"seed": 13}),
    "constant": ((0.25,), {}),
    "zeros": ((), {}),
    "ones": ((), {}),
    "lecun_uniform": ((), {"seed": 14, **FANS}),
    "lecun_normal": ((), {"seed": 15, "distribution": "truncated_normal", **FANS}),
    "xavier_uniform": ((1.5,), {"seed": 16, **FANS}),
    "xavier_normal": ((1.5,), {"seed": 17, **FANS}),
    "glorot_uniform": ((0.5,), {"seed": 18, "offset": 7, **FANS}),
    "glorot_normal": ((), {"seed": 19, "stream": 3, **FANS}),
    "kaiming_uniform": ((math.sqrt(5),), {"seed": 20, **FANS}),
    "kaiming_normal": ((0.1, "fan_out", "leaky_relu"), {"seed": 21, **FANS}),
    "he_uniform": (("fan_out",), {"seed": 22, **FANS}),
    "he_normal": ((), {"seed": 23, **FANS}),
    "variance_scaling": ((2.0, "fan_avg", "uniform"), {"seed": 24, **FANS}),
}
NAMES = list(CASES)

DTYPES = ["float32", "float64", "float16", "bfloat16", "ml_dtypes.bfloat16"]
SHAPES = [7, np.int64(5), (3, 5), [2, 3, 4], (), (0,), (4, 0)]
SHAPE_IDS = ["int", "npint", "2d", "list3d", "0d", "zero", "zero2d"]


def dtype_arg(name):
    """What the test passes as dtype= (the 'bfloat16' string stays a string)."""
    if "bfloat16" in name and ml_dtypes is None:
        pytest.skip("bfloat16 needs ml_dtypes")
    if name == "ml_dtypes.bfloat16":
        return ml_dtypes.bfloat16
    if name == "bfloat16":
        return "bfloat16"
    return np.dtype(name)


def np_dtype(arg):
    return np.dtype(ml_dtypes.bfloat16) if arg == "bfloat16" else np.dtype(arg)


def as_dims(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)


def reference(name, shape, dtype, args=None, kwargs=None):
    """The in-place fill of np.empty of the same shape/dtype, same arguments."""
    a, kw = CASES[name]
    args = a if args is None else args
    kwargs = kw if kwargs is None else kwargs
    buf = np.empty(as_dims(shape), dtype=np_dtype(dtype))
    out = getattr(fastinit, name + "_")(buf, *args, **kwargs)
    assert out is buf
    return buf


def construct(name, shape, dtype, args=None, kwargs=None):
    a, kw = CASES[name]
    args = a if args is None else args
    kwargs = kw if kwargs is None else kwargs
    return getattr(fastinit, name)(shape, *args, dtype=dtype, **kwargs)


def assert_same_bits(got, want):
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def run_python(code, timeout=120):
    """Run code in a fresh interpreter; return its stdout (fails the test on a crash)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=_NEUTRAL_CWD, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (
        f"subprocess exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


# ---------------------------------------------------------------------------
# the constructors exist and are documented as promised


def test_every_constructor_is_exported():
    for name in NAMES + ["empty"]:
        assert callable(getattr(fastinit, name)), name
        assert name in fastinit.__all__, name


@pytest.mark.parametrize("name", NAMES)
def test_signature_shape_first_dtype_keyword_only(name):
    sig = inspect.signature(getattr(fastinit, name))
    params = list(sig.parameters.values())
    assert params[0].name == "shape"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    dtype = sig.parameters["dtype"]
    assert dtype.kind is inspect.Parameter.KEYWORD_ONLY
    assert dtype.default is np.float32
    # the remaining parameters are the in-place fill's, in order, minus buf
    fill_params = list(inspect.signature(getattr(fastinit, name + "_")).parameters.values())[1:]
    assert [p for p in params[1:] if p.name != "dtype"] == fill_params
    # and the signature binds the way the constructor is called
    args, kwargs = CASES[name]
    sig.bind((3, 4), *args, dtype=np.float64, **kwargs)


def test_empty_signature():
    params = list(inspect.signature(fastinit.empty).parameters.values())
    assert [p.name for p in params] == ["shape", "dtype"]
    assert params[1].default is np.float32


# ---------------------------------------------------------------------------
# bit-for-bit equality with the in-place fill


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_constructor_equals_inplace_fill(name, dtype_name, shape):
    dtype = dtype_arg(dtype_name)
    got = construct(name, shape, dtype)
    want = reference(name, shape, dtype)
    assert_same_bits(got, want)


@pytest.mark.parametrize("name", NAMES)
def test_constructor_equals_inplace_fill_large(name):
    """Multi-chunk, multi-thread fills from mapped memory (4 MiB + a tail)."""
    shape = (1025, 1024)
    got = construct(name, shape, np.float32)
    want = reference(name, shape, np.float32)
    assert_same_bits(got, want)


@pytest.mark.parametrize("name", ["uniform", "he_normal", "trunc_normal"])
def test_constructor_with_generator_takes_the_same_stream(name):
    args, kwargs = CASES[name]
    kwargs = {k: v for k, v in kwargs.items() if k != "seed"}
    g1, g2 = fastinit.Generator(99), fastinit.Generator(99)
    got = [construct(name, (6, 7), np.float32, args, {**kwargs, "generator": g1}) for _ in range(2)]
    want = [reference(name, (6, 7), np.float32, args, {**kwargs, "generator": g2}) for _ in range(2)]
    for g, w in zip(got, want):
        assert_same_bits(g, w)
    assert g1.get_state() == g2.get_state() == {"seed": 99, "stream": 2}
    assert got[0].tobytes() != got[1].tobytes()


def test_shape_as_keyword_and_default_dtype():
    got = fastinit.uniform(shape=(4, 5), seed=3)
    assert got.dtype == np.float32
    assert_same_bits(got, fastinit.uniform_(np.empty((4, 5), np.float32), seed=3))
    assert fastinit.empty(3).dtype == np.float32


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_empty_shape_and_dtype(shape, dtype_name):
    dtype = dtype_arg(dtype_name)
    arr = fastinit.empty(shape, dtype)
    assert type(arr) is np.ndarray
    assert arr.shape == as_dims(shape)
    assert arr.dtype == np_dtype(dtype)
    assert fastinit.empty(shape, dtype=dtype).shape == arr.shape


# ---------------------------------------------------------------------------
# the memory: alignment, flags, lifetime


ALIGN_SIZES = [1, 3, 17, 1000, 65536, MI // 4 - 1, MI // 4 + 1]  # float32 elements; the last two map


@pytest.mark.parametrize("dtype_name", DTYPES[:4])
@pytest.mark.parametrize("elements", ALIGN_SIZES)
def test_64_byte_aligned_writable_contiguous(elements, dtype_name):
    dtype = dtype_arg(dtype_name)
    for arr in (fastinit.empty(elements, dtype), fastinit.uniform(elements, dtype=dtype, seed=0)):
        assert arr.ctypes.data % 64 == 0
        assert arr.flags.writeable and arr.flags.c_contiguous and arr.flags.aligned
        arr[...] = 1  # writable in fact
        assert (arr.astype(np.float64) == 1).all()


def test_0d_is_aligned_and_writable():
    arr = fastinit.normal((), seed=1)
    assert arr.shape == () and arr.ctypes.data % 64 == 0 and arr.flags.writeable and arr.flags.c_contiguous
    arr[()] = 2.5
    assert arr[()] == 2.5


@pytest.mark.parametrize("nbytes", [2 * MI, 2 * MI + 4, 3 * MI + 12, 16 * MI])
def test_large_buffers_are_2mib_aligned(nbytes):
    for arr in (fastinit.empty(nbytes // 4, np.float32), fastinit.he_uniform((nbytes // 4 // 2, 2), seed=1),
                fastinit.empty((nbytes // 8,), "float64")):
        assert arr.nbytes >= 2 * MI
        assert arr.ctypes.data % 2**21 == 0


def test_dtype_and_shape_do_not_change_alignment_of_2d():
    arr = fastinit.kaiming_uniform((1024, 1023), math.sqrt(5), dtype=np.float16, seed=0)
    assert arr.ctypes.data % 2**21 == 0 and arr.flags.c_contiguous


def _churn():
    """Allocate, fill and drop buffers of many sizes, so that freed memory would be reused."""
    for n in (64, 1000, 4096, 100_000, 300_000):
        for _ in range(3):
            fastinit.constant(n, 7.0)
            np.full(n, 7.0, np.float32)
    gc.collect()


@pytest.mark.parametrize("elements", [1, 100, 5000, 200_000])
def test_memory_stays_valid_after_intermediates_die(elements):
    want = reference("normal", elements, np.float32)
    got = fastinit.normal(elements, *CASES["normal"][0], **CASES["normal"][1])
    gc.collect()
    _churn()
    assert_same_bits(got, want)
    got[:] = 3.0  # still ours to write
    _churn()
    assert (got == 3.0).all()


def test_views_keep_memory_alive():
    shape = (300, 200)
    want = reference("xavier_uniform", shape, np.float32)
    arr = construct("xavier_uniform", shape, np.float32)
    strided = arr[::2]
    reshaped = arr.reshape(-1)
    transposed = arr.T
    del arr
    gc.collect()
    _churn()
    assert strided.tobytes() == want[::2].tobytes()
    assert reshaped.tobytes() == want.reshape(-1).tobytes()
    del strided, reshaped
    gc.collect()
    _churn()
    assert transposed.tobytes() == want.T.tobytes()


def test_large_memory_lifetime_in_subprocess():
    """Mapped (>= 1 MiB) buffers: a freed one would crash on access, so read them in a child."""
    out = run_python("""
        import gc, numpy as np, fastinit
        shape = (2048, 1024)  # 8 MiB float32: mapped memory
        want = fastinit.he_normal_(np.empty(shape, np.float32), seed=5)
        a = fastinit.he_normal(shape, seed=5)
        gc.collect()
        junk = [fastinit.ones(shape) for _ in range(3)]; del junk; gc.collect()
        assert a.tobytes() == want.tobytes()
        v, r = a[::2], a.reshape(-1, 4096)
        del a; gc.collect()
        junk = [fastinit.ones(shape) for _ in range(3)]; del junk; gc.collect()
        assert v.tobytes() == want[::2].tobytes()
        del v; gc.collect()
        assert r.tobytes() == want.reshape(-1, 4096).tobytes()
        r[...] = 1.0
        assert (r == 1.0).all()
        print("ok")
    """)
    assert out.strip() == "ok"


# ---------------------------------------------------------------------------
# freeing: memory goes back with the last view


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss units and /proc are Linux's")
def test_dropped_arrays_are_released_not_leaked():
    """Fill and drop a 256 MiB array 20 times: the peak RSS grows by about one buffer, not twenty."""
    out = run_python_fresh("""
        import gc, resource, numpy as np, fastinit
        n = 64 * 2**20                       # float32: 256 MiB
        np.ones(1000); fastinit.ones(1000)   # warm up imports and thread pool
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        for i in range(20):
            a = fastinit.ones(n)             # touches every page
            assert a[-1] == 1.0 and a[0] == 1.0
            del a
        gc.collect()
        for i in range(5):                   # the views path too
            v = fastinit.uniform((n // 1024, 1024), seed=i)[::2]
            assert v.shape == (n // 2048, 1024)
            del v
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(before, after)
    """)
    before, after = map(int, out.split())
    buffer = 256 * MI
    assert after - before < 2 * buffer, f"peak RSS grew by {(after - before) / MI:.0f} MiB"


def _vm_size_code(call):
    return f"""
        import gc, numpy as np, fastinit
        def vm_size():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        return int(line.split()[1]) * 1024
        fastinit.ones(2**20)                 # warm up
        gc.collect()
        before = vm_size()
        for i in range(200):
            try:
                {call}
            except (ValueError, TypeError):
                pass
            else:
                raise SystemExit("no error raised")
        gc.collect()
        print(before, vm_size())
    """


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("call", [
    "fastinit.normal(4 * 2**20, std=-1.0)",
    "fastinit.uniform((2048, 2048), 1.0, 0.0, seed=0)",
    "fastinit.trunc_normal(4 * 2**20, a=1.0, b=-1.0)",
    "fastinit.kaiming_uniform(4 * 2**20, nonlinearity='nope', fan_in=3)",
    "fastinit.he_uniform(4 * 2**20, seed=0)",             # 1-d: no fans
    "fastinit.xavier_normal((2048, 2048), gain=-1.0)",
    "fastinit.variance_scaling((2048, 2048), distribution='nope')",
    "fastinit.constant(4 * 2**20, float('nan'))",
    "fastinit.uniform(4 * 2**20, seed=-5)",
    "fastinit.normal(4 * 2**20, bogus=1)",
], ids=["std", "a>b", "trunc-a>b", "nonlinearity", "fans", "gain", "distribution", "nan", "seed", "kwarg"])
def test_fill_argument_errors_leak_nothing(call):
    """200 failed 16 MiB constructions: the address space does not grow by them (3.2 GiB if leaked)."""
    before, after = map(int, run_python(_vm_size_code(call)).split())
    assert after - before < 64 * MI, f"VmSize grew by {(after - before) / MI:.0f} MiB"


@pytest.mark.parametrize("call, exc", [
    (lambda: fastinit.normal(10, std=-1.0), ValueError),
    (lambda: fastinit.uniform(10, 1.0, 0.0), ValueError),
    (lambda: fastinit.he_uniform(10), ValueError),
    (lambda: fastinit.normal(10, bogus=1), TypeError),
    (lambda: fastinit.normal(10, 0.0, 1.0, 2.0), TypeError),
])
def test_fill_argument_errors_raise(call, exc):
    gen = fastinit.default_generator.get_state()
    with pytest.raises(exc):
        call()
    assert fastinit.default_generator.get_state() == gen


# ---------------------------------------------------------------------------
# bad shapes and dtypes are refused before anything is allocated


@pytest.fixture
def no_alloc(monkeypatch):
    """Fail the test if fastinit allocates."""
    import fastinit._kernels as kernels

    def refuse(nbytes):
        raise AssertionError(f"allocated {nbytes} bytes before refusing the arguments")

    monkeypatch.setattr(kernels, "AlignedBuffer", refuse)


BAD_SHAPES = [
    (-1, ValueError), ((2, -3), ValueError), ([-(2**40)], ValueError),
    (2.5, TypeError), ((2.0, 3), TypeError), (np.float64(4.0), TypeError),
    ("abc", TypeError), (("2", 3), TypeError), (None, TypeError), (True, TypeError),
    ((3, None), TypeError), (object(), TypeError),
]
BAD_SHAPE_IDS = ["neg", "neg2d", "neg-huge", "float", "float-dim", "npfloat",
                 "str", "str-dim", "None", "bool", "None-dim", "object"]


@pytest.mark.parametrize("shape, exc", BAD_SHAPES, ids=BAD_SHAPE_IDS)
def test_bad_shape(no_alloc, shape, exc):
    with pytest.raises(exc):
        fastinit.empty(shape, np.float32)
    with pytest.raises(exc):
        fastinit.uniform(shape, seed=0)
    with pytest.raises(exc):
        fastinit.kaiming_uniform(shape, math.sqrt(5), seed=0)


BAD_DTYPES = [np.int32, "int32", np.uint32, np.complex64, object, np.bool_, "float8", np.dtype(">f4")]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=[str(d) for d in BAD_DTYPES])
def test_bad_dtype_before_allocating(no_alloc, dtype):
    with pytest.raises(TypeError):
        fastinit.empty((2**20,), dtype)
    with pytest.raises(TypeError):
        fastinit.normal((2**20,), dtype=dtype, seed=0)
    with pytest.raises(TypeError):
        fastinit.zeros(4, dtype=dtype)


def test_bad_dtype_huge_shape_is_type_error_not_memory_error():
    """A shape no machine can hold: the dtype is refused first (no MemoryError)."""
    with pytest.raises(TypeError):
        fastinit.empty((2**20, 2**20, 2**10), np.int32)
    with pytest.raises(TypeError):
        fastinit.he_uniform((2**20, 2**20, 2**10), dtype="int32")


def test_no_alloc_fixture_works(no_alloc):
    """The spy really sits where the constructors allocate."""
    with pytest.raises(AssertionError, match="allocated"):
        fastinit.empty(3)
