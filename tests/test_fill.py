"""One description of a fill (fastinit._fill): every path builds a Fill and runs it
through _fill.run, the only caller of the fill kernels; seeds and streams come from a
Generator atomically; records are serialized descriptions, checked whole; errors keep
their documented types; the public signatures declare the shared options once."""
import inspect
import math
import pathlib
import pydoc
import re
import sys
import threading

import numpy as np
import pytest

import fastinit
from fastinit import _fill, _kernels
from _stats import fresh_seed

PACKAGE = pathlib.Path(fastinit.__file__).parent


# ------------------------------------------------------------------ one runner
@pytest.fixture
def kernel_calls(monkeypatch):
    """Every call of the fill kernels, with the code that made it (file, qualified name);
    and every _fill.run."""
    calls = {"kernel": [], "run": 0}
    real_fill, real_run = _kernels.fill, _fill.run

    def fill(*args):
        code = sys._getframe(1).f_code
        calls["kernel"].append((pathlib.Path(code.co_filename).name, getattr(code, "co_qualname", code.co_name)))
        return real_fill(*args)

    def run(*args, **kwargs):
        calls["run"] += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(_kernels, "fill", fill)
    monkeypatch.setattr(_fill, "run", run)
    return calls


# the kernel calls _fill.run hands to _buffers.run (for each piece or tile of the buffer)
RUNNER = {("_fill.py", "run.<locals>.<lambda>")} if sys.version_info >= (3, 11) else {("_fill.py", "<lambda>")}


def test_numpy_paths_run_one_description_through_one_function(kernel_calls, tmp_path):
    seed = fresh_seed()
    w = np.empty((64, 48), np.float32)
    fastinit.xavier_uniform_(w, seed=seed)
    fastinit.trunc_normal_(w, std=0.02, seed=seed)
    fastinit.zeros_(w)
    fastinit.random_bits_(np.empty(10, np.uint32), seed=seed)
    fastinit.he_normal((32, 16), seed=seed)
    fastinit.rewind_(w, np.ones(w.shape, bool), fastinit.kaiming_uniform_, seed=seed)
    fastinit.uniform_(np.empty((8, 6), np.float32), seed=seed, global_shape=(16, 6), index=(slice(8, 16), slice(None)))
    assert kernel_calls["run"] == 7
    fastinit.save_random({"a": ((300, 100), "float32", "normal"), "b": ((7,), "float16", "ones")},
                         tmp_path / "x.safetensors", seed=seed, window_bytes=1 << 16)
    assert kernel_calls["run"] == 7 + 2 + 1                  # 120,000 B in 64 KiB windows; one for b
    mm = np.memmap(tmp_path / "m.bin", np.float32, "w+", shape=(100, 100))
    fastinit.fill_memmap_(mm, "he_uniform", seed=seed)
    assert kernel_calls["run"] == 11
    # nothing runs a fill to check arguments: a bad argument is caught without any run
    with pytest.raises(ValueError):
        fastinit.save_random({"a": ((4, 4), "float32", "normal"), "b": ((4, 4), "float32", "normal", {"std": -1})},
                             tmp_path / "y.safetensors", seed=1)
    with pytest.raises(ValueError):
        fastinit.normal(2 ** 42, std=-1)
    assert kernel_calls["run"] == 11
    assert set(kernel_calls["kernel"]) == RUNNER


def test_dask_graph_holds_a_description_and_runs_it_per_chunk(kernel_calls):
    da = pytest.importorskip("dask.array")
    fdask = pytest.importorskip("fastinit.dask")
    seed = fresh_seed()
    x = fdask.he_uniform((64, 48), chunks=(32, 16), seed=seed)
    assert kernel_calls["run"] == 0                          # validated without a probe fill
    got = x.compute(scheduler="sync")
    assert kernel_calls["run"] == 6 and isinstance(x, da.Array)
    assert np.array_equal(got, fastinit.he_uniform_(np.empty((64, 48), np.float32), seed=seed))
    assert set(kernel_calls["kernel"]) == RUNNER


def test_torch_paths_run_through_the_same_function(kernel_calls):
    torch = pytest.importorskip("torch")
    ft = pytest.importorskip("fastinit.torch")
    from torch import nn
    t = torch.empty(30, 20)
    ft.kaiming_uniform_(t, a=math.sqrt(5))
    ft.normal_(t, std=0.02)
    ft.orthogonal_(t)
    ft.sparse_(t, 0.5)
    assert kernel_calls["run"] == 5                          # sparse_: its normal and its bits
    again = ft.regenerate(torch.empty(30, 20), ft.init_record(t), "t")
    assert torch.equal(again, t) and kernel_calls["run"] == 7
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 2))
    ft.materialize_(model, seed=1)
    assert kernel_calls["run"] == 11                         # two weights, two biases
    assert set(kernel_calls["kernel"]) == RUNNER


def test_the_kernels_are_called_from_one_place_in_the_source():
    users = sorted(p.name for p in PACKAGE.rglob("*.py") if re.search(r"_kernels\.fill\b", p.read_text()))
    assert users == ["_fill.py"]
    for p in PACKAGE.rglob("*.py"):
        text = p.read_text()
        assert not re.search(r"_kernels\.fill_(uniform|normal|trunc|bits|pattern)", text), p.name
        assert "threading.local" not in text or p.name == "_functions.py", p.name   # materialize_'s context only


def test_modules_use_no_private_names_of_other_modules():
    private = re.compile(r"\b(_[a-z][a-z0-9]*)\.(_[a-zA-Z][a-zA-Z0-9_]*)")
    for p in PACKAGE.rglob("*.py"):
        for mod, name in private.findall(p.read_text()):
            assert name.startswith("__"), f"{p.relative_to(PACKAGE)} uses {mod}.{name}"


# ------------------------------------------------------------------ sources
def test_generator_hands_out_seed_and_stream_under_one_lock():
    """A thread reseeding (seed k, streams from k 2**40) while others take: every (seed, stream)
    taken belongs to one state, never the seed of one and the stream of another."""
    g = fastinit.Generator(0)
    stop = threading.Event()
    taken = []

    def reseed():
        k = 0
        while not stop.is_set():
            k = k % 50 + 1
            g.set_state({"seed": k, "stream": k << 40})

    def take():
        src = _fill.Source(generator=g)
        out = [src.take() for _ in range(20000)]
        taken.extend(out)

    threads = [threading.Thread(target=reseed)] + [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    torn = [(s, t) for s, t in taken if s and t >> 40 != s]
    assert len(taken) == 40000 and not torn[:5]


def test_source_checks_without_taking_a_stream():
    g = fastinit.Generator(5)
    with pytest.raises(ValueError):
        _fill.Source(seed=1, generator=g)
    with pytest.raises(TypeError):
        _fill.Source(generator=np.random.default_rng(0))
    with pytest.raises(ValueError):
        _fill.Source(stream=-1)
    assert g.get_state() == {"seed": 5, "stream": 0}
    src = _fill.Source(generator=g)
    assert g.get_state()["stream"] == 0
    assert src.take() == (5, 0) and src.take() == (5, 1)
    assert _fill.Source(generator=g, stream=9).take() == (5, 9) and g.get_state()["stream"] == 2
    assert _fill.Source(seed=3).take() == (3, 0)


# ------------------------------------------------------------------ draws
@pytest.mark.parametrize("make,kwargs,exc", [
    (_fill.uniform, dict(a=1.0, b=1.0), ValueError),
    (_fill.uniform, dict(a=-1e308, b=1e308), ValueError),
    (_fill.uniform, dict(a="0"), TypeError),
    (_fill.normal, dict(std=-1.0), ValueError),
    (_fill.normal, dict(mean=math.nan), ValueError),
    (_fill.normal, dict(std=10 ** 400), ValueError),
    (_fill.trunc_normal, dict(a=2.0, b=-2.0), ValueError),
    (_fill.trunc_normal, dict(mean=0.0, std=1.0, a=40.0, b=41.0), ValueError),
    (_fill.constant, dict(val=math.inf), ValueError),
    (_fill.sparse, dict(sparsity=1.5), ValueError),
    (_fill.dirac, dict(groups=0), ValueError),
    (_fill.dirac, dict(groups=1.0), TypeError),
])
def test_a_draw_is_checked_when_it_is_made(make, kwargs, exc):
    with pytest.raises(exc):
        make(**kwargs)


def test_a_draw_knows_its_kernel_and_the_working_precision():
    u = _fill.uniform(-3e38, 3e38)                           # fine in float64
    assert u.kernel(_kernels.F64) == (_kernels.UNIFORM, (-3e38, 6e38))
    with pytest.raises(ValueError, match="float32 range"):
        u.kernel(_kernels.F32)
    with pytest.raises(ValueError, match="float64"):
        _fill.normal(1e308, 1e307).kernel(_kernels.F64)
    with pytest.raises(ValueError, match="float16"):
        _fill.constant(1e5).kernel(_kernels.F16)
    assert _fill.trunc_normal(0.5, 0.0).kernel(_kernels.F32)[0] == _kernels.PATTERN


# ------------------------------------------------------------------ errors keep their promise
def _untouched(call, exc, buf, g=None):
    before = buf.tobytes()
    gstate = None if g is None else g.get_state()
    dstate = fastinit.default_generator.get_state()
    with pytest.raises(exc) as ei:
        call()
    assert buf.tobytes() == before
    assert g is None or g.get_state() == gstate
    assert fastinit.default_generator.get_state() == dstate
    return ei.value


def test_tiny_std_for_a_float32_truncated_normal_is_a_value_error():
    rng = np.random.default_rng(fresh_seed())
    for dtype in (np.float32, np.float16):
        buf = rng.standard_normal((20, 10)).astype(dtype)
        g = fastinit.Generator(1)
        err = _untouched(lambda: fastinit.trunc_normal_(buf, std=1e-160, generator=g), ValueError, buf, g)
        assert "std=1e-160" in str(err)
    # float64 holds it: the values are that normal, truncated at +-2
    w = fastinit.trunc_normal_(np.empty(100000, np.float64), std=1e-160, seed=fresh_seed())
    assert np.all(np.abs(w) <= 2.0) and 0.9e-160 < w.std() < 1.1e-160


@pytest.mark.parametrize("call", [
    lambda b: fastinit.lecun_uniform_(b, fan_in=10 ** 400),
    lambda b: fastinit.xavier_normal_(b, fan_out=10 ** 400, fan_in=3),
    lambda b: fastinit.kaiming_uniform_(b, fan_in=10 ** 400),
    lambda b: fastinit.kaiming_uniform_(b, a=10 ** 400),
    lambda b: fastinit.xavier_uniform_(b, gain=10 ** 400),
    lambda b: fastinit.variance_scaling_(b, scale=10 ** 400),
    lambda b: fastinit.uniform_(b, -(10 ** 400), 1.0),
    lambda b: fastinit.normal_(b, mean=10 ** 400),
    lambda b: fastinit.he_normal_(b, global_shape=(10 ** 400, 2), index=(slice(0, 20), slice(0, 10))),
])
def test_huge_numbers_are_value_errors(call):
    buf = np.random.default_rng(fresh_seed()).standard_normal((20, 10)).astype(np.float32)
    _untouched(lambda: call(buf), ValueError, buf)


def test_calculate_gain_of_a_huge_slope_is_a_value_error():
    with pytest.raises(ValueError):
        fastinit.calculate_gain("leaky_relu", 10 ** 400)


def test_float64_normal_that_would_overflow_is_a_value_error():
    buf = np.random.default_rng(fresh_seed()).standard_normal(1000)
    for mean, std in ((1.7e308, 1e307), (0.0, 1e308), (-1e308, 1e307)):
        _untouched(lambda: fastinit.normal_(buf, mean, std, seed=1), ValueError, buf)
    assert np.all(np.isfinite(fastinit.normal_(buf, 0.0, 1e307, seed=1)))


def test_constructors_check_their_arguments_before_allocating():
    for call in (lambda: fastinit.normal(2 ** 42, std=-1),
                 lambda: fastinit.uniform((2 ** 40, 2 ** 8), 1.0, 0.0),
                 lambda: fastinit.he_uniform((2 ** 40, 2 ** 8), mode="fan_sideways"),
                 lambda: fastinit.constant(2 ** 42, math.inf),
                 lambda: fastinit.trunc_normal(2 ** 42, std=1e-160)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError):
        fastinit.normal(2 ** 42, std="1")
    with pytest.raises(TypeError):
        fastinit.normal(2 ** 42, dtype=np.int32)


# ------------------------------------------------------------------ records
def test_a_record_is_a_description_that_rewinds_its_tensor(tmp_path):
    seed = fresh_seed()
    spec = {"w": ((40, 30), "float32", "kaiming_normal", {"mode": "fan_out"}),
            "b": ((40,), "float32", "constant", {"val": 0.5})}
    recs = fastinit.save_random(spec, tmp_path / "x.safetensors", seed=seed)
    w = fastinit.kaiming_normal_(np.empty((40, 30), np.float32), mode="fan_out", seed=seed,
                                 stream=fastinit.name_stream("w"))
    mask = np.random.default_rng(seed).random(w.shape) < 0.3
    got = fastinit.rewind_(np.full_like(w, 7.0), mask, recs["w"])
    assert np.array_equal(got, np.where(mask, w, 0))
    b = fastinit.rewind_(np.empty(40, np.float32), np.ones(40, bool), recs["b"])
    assert np.all(b == 0.5)
    fill, shape, dtype = _fill.from_record(recs["w"], "w")
    assert (shape, dtype, fill.draw.kind, fill.source.take()) == ((40, 30), "float32", "normal",
                                                                  (seed, fastinit.name_stream("w")))


BAD_FIELDS = [
    ("params", lambda r: r["params"].update(std=-1.0)),
    ("params", lambda r: r["params"].pop("std")),
    ("params", lambda r: r["params"].update(sdt=1.0)),
    ("params", lambda r: r.update(params=None)),
    ("fill", lambda r: r.update(fill="gaussian")),
    ("seed", lambda r: r.update(seed=None)),
    ("seed", lambda r: r.pop("seed")),
    ("seed", lambda r: r.update(seed=-1)),
    ("seed", lambda r: r.update(seed=2 ** 64)),
    ("seed", lambda r: r.update(seed=True)),
    ("seed", lambda r: r.update(seed="1")),
    ("stream", lambda r: r.update(stream=None)),
    ("stream", lambda r: r.pop("stream")),
    ("stream", lambda r: r.update(stream=1.0)),
    ("offset", lambda r: r.update(offset=-1)),
    ("offset", lambda r: r.update(offset=2 ** 64 - 1)),
    ("offset", lambda r: r.update(offset=None)),
    ("shape", lambda r: r.update(shape=[40, -30])),
    ("shape", lambda r: r.update(shape=(40, 30))),
    ("dtype", lambda r: r.update(dtype="int8")),
    ("stream_version", lambda r: r.update(stream_version=r["stream_version"] + 1)),
    ("stream_version", lambda r: r.pop("stream_version")),
    ("steps", lambda r: r.update(steps=[{"val": 0.0, "start": 1199, "shape": [2], "strides": [1]}])),
    ("steps", lambda r: r.update(steps=[{"val": 0.0}])),
    ("steps", lambda r: r.update(steps=[{"val": 0.0, "start": 0, "shape": [2 ** 33], "strides": [0]}])),
    ("steps", lambda r: r.update(steps=[{"val": 0.0, "start": 0, "shape": [True], "strides": [1]}])),
    ("steps", lambda r: r.update(steps=[{"val": 1e39, "start": 0, "shape": [2], "strides": [1]}])),
    ("params", lambda r: r.update(fill="normal", params={"mean": 0.0, "std": 1e38})),   # beyond float32
    ("fill", lambda r: r.update(fill="bits", params={})),
    ("fill", lambda r: r.update(fill=[])),
    ("shape", lambda r: r.update(fill="dirac", params={"groups": 1}, seed=None, stream=None)),
    ("dtype", lambda r: r.update(dtype=["float32"])),
    ("stream_version", lambda r: r.update(stream_version=True)),
    ("stream_version", lambda r: r.update(stream_version=float(r["stream_version"]))),
]


@pytest.mark.parametrize("field,corrupt", BAD_FIELDS)
def test_a_corrupt_record_is_a_value_error_naming_the_field(tmp_path, field, corrupt):
    recs = fastinit.save_random({"w": ((40, 30), "float32", "kaiming_normal")}, tmp_path / "x.safetensors", seed=3)
    rec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in recs["w"].items()}
    corrupt(rec)
    buf = np.random.default_rng(fresh_seed()).standard_normal((40, 30)).astype(np.float32)
    err = _untouched(lambda: fastinit.rewind_(buf, np.ones(buf.shape, bool), rec), ValueError, buf)
    assert re.search(rf"'buf': {field}(\[\d+\])?: ", str(err)), str(err)


def test_a_step_that_writes_nothing_is_harmless(tmp_path):
    recs = fastinit.save_random({"w": ((4, 5), "float32", "normal")}, tmp_path / "x.safetensors", seed=3)
    rec = dict(recs["w"], steps=[{"val": 0.0, "start": 0, "shape": [0, 3], "strides": [2 ** 63, 1]}])
    got = fastinit.rewind_(np.empty((4, 5), np.float32), np.ones((4, 5), bool), rec)
    assert np.array_equal(got, fastinit.normal_(np.empty((4, 5), np.float32), seed=3, stream=fastinit.name_stream("w")))


def test_negative_zero_constants_keep_their_sign():
    for shape in ((8,), (1 << 20,)):                  # small (heap) and large (fresh mapped pages)
        assert np.signbit(fastinit.constant(shape, -0.0)).all()
        assert not np.signbit(fastinit.constant(shape, 0.0)).any()


# ------------------------------------------------------------------ signatures
def test_public_signatures_keep_their_names_defaults_and_keyword_only_options():
    shared = ("seed=None, generator=None, stream=None, offset=0, global_shape=None, index=None")
    fans = "layout='torch', fan_in=None, fan_out=None"
    want = {
        "uniform_": f"(buf, a=0.0, b=1.0, *, {shared})",
        "normal_": f"(buf, mean=0.0, std=1.0, *, {shared})",
        "trunc_normal_": f"(buf, mean=0.0, std=1.0, a=-2.0, b=2.0, *, {shared})",
        "constant_": "(buf, val)",
        "zeros_": "(buf)",
        "random_bits_": f"(buf, *, {shared})",
        "lecun_uniform_": f"(buf, *, {shared}, {fans})",
        "lecun_normal_": f"(buf, *, distribution='normal', {shared}, {fans})",
        "xavier_uniform_": f"(buf, gain=1.0, *, {shared}, {fans})",
        "kaiming_normal_": f"(buf, a=0, mode='fan_in', nonlinearity='leaky_relu', *, distribution='normal', "
                           f"{shared}, {fans})",
        "he_uniform_": f"(buf, mode='fan_in', *, {shared}, {fans})",
        "variance_scaling_": f"(buf, scale=1.0, mode='fan_in', distribution='truncated_normal', *, {shared}, {fans})",
    }
    for name, sig in want.items():
        fn = getattr(fastinit, name)
        assert str(inspect.signature(fn)) == sig, name
        assert f"{name}{sig}" in pydoc.render_doc(fn, renderer=pydoc.plaintext), name
    assert str(inspect.signature(fastinit.xavier_uniform)).startswith("(shape, gain=1.0, *, dtype=<class")
    assert fastinit.glorot_uniform_ is fastinit.xavier_uniform_ and fastinit.glorot_normal is fastinit.xavier_normal
    with pytest.raises(TypeError, match="xavier_uniform_"):
        fastinit.xavier_uniform_(np.empty((4, 4), np.float32), gian=2.0)
    with pytest.raises(TypeError, match="xavier_uniform_"):
        fastinit.xavier_uniform_(np.empty((4, 4), np.float32), 1.0, 2.0)
    with pytest.raises(TypeError, match="uniform_"):
        fastinit.uniform_(np.empty(4, np.float32), layout="keras")


def test_a_stream_version_1_record_is_refused_saying_so(tmp_path):
    """Version 2 changed the float32 normal and truncated-normal bits: a record made by
    version 1 cannot be regenerated, and the error says which version it came from."""
    recs = fastinit.save_random({"w": ((40, 30), "float32", "kaiming_normal")}, tmp_path / "x.safetensors", seed=3)
    assert fastinit.STREAM_VERSION == 2
    rec = dict(recs["w"], stream_version=1)
    buf = np.random.default_rng(fresh_seed()).standard_normal((40, 30)).astype(np.float32)
    err = _untouched(lambda: fastinit.rewind_(buf, np.ones(buf.shape, bool), rec), ValueError, buf)
    assert "made with stream version 1" in str(err) and "generates version 2" in str(err)
