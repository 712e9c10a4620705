"""Fill speed over the whole matrix: scheme x dtype x threads x size, beside NumPy and torch.

Run with

    pytest benchmarks/bench_fill.py --benchmark-only
    pytest benchmarks/bench_fill.py --benchmark-only -k "1Mi"          # one size
    pytest benchmarks/bench_fill.py --benchmark-only -k "kaiming and float32"

Like bench_core.py, the file name does not match ``test_*.py``, so the test run
(``testpaths = ["tests"]``) never collects it; pytest still does when the path
is given.

Matrix
------
* schemes: uniform_, normal_, trunc_normal_ (std=0.02), kaiming_uniform_
  (a=sqrt(5)), kaiming_normal_, xavier_uniform_, xavier_normal_, lecun_normal_,
  he_uniform_, variance_scaling_ (its default truncated_normal); the fan-based
  ones get explicit ``fan_in=``/``fan_out=`` so that the 1-d buffers work;
* dtypes: float32, float64, float16, bfloat16 (bfloat16 needs ml_dtypes and is
  skipped without it);
* threads: 1 and every CPU this process may use (``t1``, ``t<n>`` in the ids);
* sizes, in elements: 1 Mi and 16 Mi by default. **256 Mi is opt-in**: set
  ``FASTINIT_BENCH_LARGE=1`` to add it. The full matrix at 256 Mi allocates up
  to 2 GiB per buffer (float64) and takes far longer than the default run (a
  few minutes on 2 cores), so it is off unless asked for. Large buffers are
  kept one at a time to bound memory.

Ids read ``<scheme>-<dtype>-<size>-t<threads>``, e.g. ``kaiming_uniform_-float32-16Mi-t2``.

References, in the same run
---------------------------
* ``ndarray.fill-<dtype>-<size>``: NumPy's one-thread ``ndarray.fill`` of the
  same buffer, the memory-bandwidth reference. These run first (file order);
  every later benchmark of the same size and dtype records ``vs_fill`` =
  median(fill) / median(this), i.e. the fraction of fill speed it reaches
  (absent when the reference was deselected, e.g. by ``-k``).
* NumPy generators (float32, one thread): ``PCG64.random``,
  ``PCG64.standard_normal``, ``Philox.random``, each with ``out=``.
* torch (float32, if torch imports): ``torch.nn.init.kaiming_uniform_``
  (a=sqrt(5)), ``kaiming_normal_``, ``trunc_normal_`` (std=0.02) on a zero-copy
  ``torch.from_numpy`` view of the same buffer, with ``torch.set_num_threads``
  set to the same thread count.

Each benchmark records in ``extra_info``: ``gb_per_s`` and ``elements_per_s``
(from the median), ``threads``, ``simd`` (``fastinit.simd_level()``),
``dtype``, ``elements`` and ``vs_fill`` when available.

Buffers are allocated once per (size, dtype) and pre-faulted by one fill, so
page faults are never timed. Timing uses ``benchmark.pedantic`` with one
warm-up round and a fixed number of rounds per size (more for small buffers),
so ``--benchmark-min-rounds`` and friends do not apply; set
``FASTINIT_BENCH_ROUNDS=n`` to cap the rounds (quick smoke runs).
"""
import math
import os

import numpy as np
import pytest

import fastinit
from fastinit._runtime import _available_cpus

try:
    import ml_dtypes
except ImportError:  # bfloat16 benchmarks are skipped
    ml_dtypes = None

try:
    import torch
except ImportError:  # torch baselines are skipped
    torch = None

SEED = 0
MI = 2**20
FAN = 1024  # fan_in = fan_out for the schemes; torch gets a (n // FAN, FAN) view

LARGE = os.environ.get("FASTINIT_BENCH_LARGE", "") == "1"
SIZES = {"1Mi": 1 * MI, "16Mi": 16 * MI}
if LARGE:
    SIZES["256Mi"] = 256 * MI
# Rounds per size: small fills are noisier and cheap, so they get more.
ROUNDS = {"1Mi": 30, "16Mi": 7, "256Mi": 3}
_ROUNDS_CAP = int(os.environ.get("FASTINIT_BENCH_ROUNDS", "0") or 0)
LARGE_ELEMENTS = 256 * MI  # buffers this large are cached one at a time

DTYPES = ["float32", "float64", "float16", "bfloat16"]
ALL_THREADS = _available_cpus()
THREADS = sorted({1, ALL_THREADS})

SQRT5 = math.sqrt(5)
FANS = {"fan_in": FAN, "fan_out": FAN}

# name -> fill(buf); the scheme arguments of the matrix
SCHEMES = {
    "uniform_": lambda b: fastinit.uniform_(b, -0.05, 0.05, seed=SEED),
    "normal_": lambda b: fastinit.normal_(b, 0.0, 0.02, seed=SEED),
    "trunc_normal_": lambda b: fastinit.trunc_normal_(b, std=0.02, seed=SEED),
    "kaiming_uniform_": lambda b: fastinit.kaiming_uniform_(b, a=SQRT5, seed=SEED, **FANS),
    "kaiming_normal_": lambda b: fastinit.kaiming_normal_(b, seed=SEED, **FANS),
    "xavier_uniform_": lambda b: fastinit.xavier_uniform_(b, seed=SEED, **FANS),
    "xavier_normal_": lambda b: fastinit.xavier_normal_(b, seed=SEED, **FANS),
    "lecun_normal_": lambda b: fastinit.lecun_normal_(b, seed=SEED, **FANS),
    "he_uniform_": lambda b: fastinit.he_uniform_(b, seed=SEED, **FANS),
    "variance_scaling_": lambda b: fastinit.variance_scaling_(b, seed=SEED, **FANS),
}


def _np_dtype(name):
    if name == "bfloat16":
        if ml_dtypes is None:
            pytest.skip("bfloat16 needs ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


# ---------------------------------------------------------------------------
# buffers and bookkeeping

_buffers = {}   # (elements, dtype name) -> pre-faulted 1-d array
_fill_medians = {}  # (size label, dtype name) -> median seconds of ndarray.fill


def _buffer(elements, dtype_name):
    key = (elements, dtype_name)
    buf = _buffers.get(key)
    if buf is None:
        if elements >= LARGE_ELEMENTS:
            for k in [k for k in _buffers if k[0] >= LARGE_ELEMENTS]:
                del _buffers[k]  # at most one large buffer alive
        buf = np.empty(elements, dtype=_np_dtype(dtype_name))
        buf.fill(0)  # pre-fault: first-touch page faults are not timed
        _buffers[key] = buf
    return buf


def _rounds(size_label):
    r = ROUNDS[size_label]
    return min(r, _ROUNDS_CAP) if _ROUNDS_CAP > 0 else r


def _run(benchmark, fn, buf, size_label, dtype_name, threads, is_reference=False):
    info = benchmark.extra_info
    info["elements"] = buf.size
    info["dtype"] = dtype_name
    info["threads"] = threads
    info["simd"] = fastinit.simd_level()
    info["fastinit"] = fastinit.__version__
    benchmark.pedantic(fn, rounds=_rounds(size_label), iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: ran once, untimed
        return
    median = stats.stats.median
    info["gb_per_s"] = round(buf.nbytes / median / 1e9, 3)
    info["elements_per_s"] = round(buf.size / median)
    key = (size_label, dtype_name)
    if is_reference:
        _fill_medians[key] = median
    elif key in _fill_medians:
        info["vs_fill"] = round(_fill_medians[key] / median, 4)


class _fastinit_threads:
    """Run with fastinit (and torch, if given) at n threads; restore afterwards."""

    def __init__(self, n, with_torch=False):
        self.n = n
        self.with_torch = with_torch and torch is not None

    def __enter__(self):
        self.saved = fastinit.get_num_threads()
        fastinit.set_num_threads(self.n)
        if self.with_torch:
            self.saved_torch = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        fastinit.set_num_threads(self.saved)
        if self.with_torch:
            torch.set_num_threads(self.saved_torch)
        return False


# ---------------------------------------------------------------------------
# parameters, in the order they run: size outermost so buffers are reused

def _params_fill():
    return [pytest.param(s, d, id=f"ndarray.fill-{d}-{s}") for s in SIZES for d in DTYPES]


def _params_schemes():
    return [
        pytest.param(name, d, s, t, id=f"{name}-{d}-{s}-t{t}")
        for s in SIZES for d in DTYPES for name in SCHEMES for t in THREADS
    ]


def _pcg64():
    return np.random.Generator(np.random.PCG64(SEED))


def _philox():
    return np.random.Generator(np.random.Philox(SEED))


# A fresh generator per call (its construction costs microseconds), float32 out=
NUMPY_BASELINES = {
    "numpy.PCG64.random": lambda b: _pcg64().random(out=b, dtype=np.float32),
    "numpy.PCG64.standard_normal": lambda b: _pcg64().standard_normal(out=b, dtype=np.float32),
    "numpy.Philox.random": lambda b: _philox().random(out=b, dtype=np.float32),
}


def _params_numpy():
    return [pytest.param(name, s, id=f"{name}-float32-{s}-t1") for s in SIZES for name in NUMPY_BASELINES]


TORCH_BASELINES = {
    "torch.kaiming_uniform_": lambda t: torch.nn.init.kaiming_uniform_(t, a=SQRT5),
    "torch.kaiming_normal_": lambda t: torch.nn.init.kaiming_normal_(t),
    "torch.trunc_normal_": lambda t: torch.nn.init.trunc_normal_(t, std=0.02),
}


def _params_torch():
    return [
        pytest.param(name, s, t, id=f"{name}-float32-{s}-t{t}")
        for s in SIZES for name in TORCH_BASELINES for t in THREADS
    ]


# ---------------------------------------------------------------------------
# benchmarks (file order is run order: the fill references come first)

@pytest.mark.parametrize("size_label, dtype_name", _params_fill())
def test_ndarray_fill(benchmark, size_label, dtype_name):
    """Bandwidth reference: NumPy's one-thread ndarray.fill of the same buffer."""
    buf = _buffer(SIZES[size_label], dtype_name)
    _run(benchmark, lambda: buf.fill(1.0), buf, size_label, dtype_name, 1, is_reference=True)


@pytest.mark.parametrize("scheme, dtype_name, size_label, threads", _params_schemes())
def test_fastinit(benchmark, scheme, dtype_name, size_label, threads):
    buf = _buffer(SIZES[size_label], dtype_name)
    fill = SCHEMES[scheme]
    benchmark.extra_info["scheme"] = scheme
    with _fastinit_threads(threads):
        _run(benchmark, lambda: fill(buf), buf, size_label, dtype_name, threads)


@pytest.mark.parametrize("name, size_label", _params_numpy())
def test_numpy_generator(benchmark, name, size_label):
    buf = _buffer(SIZES[size_label], "float32")
    fill = NUMPY_BASELINES[name]
    _run(benchmark, lambda: fill(buf), buf, size_label, "float32", 1)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("name, size_label, threads", _params_torch())
def test_torch(benchmark, name, size_label, threads):
    buf = _buffer(SIZES[size_label], "float32")
    tensor = torch.from_numpy(buf.reshape(-1, FAN))  # zero-copy view, fan_in = FAN
    assert tensor.data_ptr() == buf.ctypes.data
    fill = TORCH_BASELINES[name]
    with _fastinit_threads(threads, with_torch=True):
        _run(benchmark, lambda: fill(tensor), buf, size_label, "float32", threads)
