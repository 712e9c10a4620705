"""Core fill speed: one fastinit fill per distribution beside NumPy, on 64 Mi float32.

Run with

    pytest benchmarks/bench_core.py --benchmark-only

The file name does not match pytest's ``test_*.py`` pattern on purpose: the
test run (``testpaths = ["tests"]``) never picks it up, and pytest still
collects it when the path is given explicitly. Each benchmark records its
median throughput in ``extra_info`` (``gb_per_s``) and, as a ratio measured
in the same run, its speed relative to NumPy's ``ndarray.fill`` of the same
buffer (``vs_fill``), the memory-bandwidth reference.
"""
import math
import os

import numpy as np
import pytest

import fastinit

N_ELEMENTS = 64 * 2**20  # 64 Mi float32 = 256 MiB
SHAPE = (8192, 8192)     # 2-d so that the fan-based schemes need no fan_in=/fan_out=
ROUNDS = 5
SEED = 0

# Median seconds per benchmark name, filled as the benchmarks run (file order),
# so later ones can report a ratio against the fill reference of this same run.
_medians = {}


@pytest.fixture(scope="module")
def buf():
    """One 256 MiB float32 buffer for the whole module, pre-faulted so that page
    faults on first touch are not timed."""
    b = np.empty(SHAPE, dtype=np.float32)
    assert b.size == N_ELEMENTS
    b.fill(0.0)
    return b


def _run(benchmark, name, fn, buf):
    benchmark.extra_info["elements"] = buf.size
    benchmark.extra_info["dtype"] = str(buf.dtype)
    benchmark.extra_info["nproc"] = os.cpu_count()
    benchmark.extra_info["fastinit"] = fastinit.__version__
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the function ran once, untimed
        return
    median = stats.stats.median
    _medians[name] = median
    benchmark.extra_info["gb_per_s"] = round(buf.nbytes / median / 1e9, 3)
    benchmark.extra_info["elements_per_s"] = round(buf.size / median)
    ref = _medians.get("fill")
    if ref is not None and name != "fill":
        benchmark.extra_info["vs_fill"] = round(ref / median, 4)


def test_numpy_fill(benchmark, buf):
    """Bandwidth reference: NumPy's one-thread ndarray.fill of the same buffer."""
    _run(benchmark, "fill", lambda: buf.fill(1.0), buf)


def test_fastinit_uniform(benchmark, buf):
    _run(benchmark, "fastinit.uniform_", lambda: fastinit.uniform_(buf, -0.05, 0.05, seed=SEED), buf)


def test_fastinit_kaiming_uniform_linear(benchmark, buf):
    """What nn.Linear does to its weight: the uniform kernel behind a scheme."""
    _run(benchmark, "fastinit.kaiming_uniform_",
         lambda: fastinit.kaiming_uniform_(buf, a=math.sqrt(5), seed=SEED), buf)


def test_fastinit_normal(benchmark, buf):
    _run(benchmark, "fastinit.normal_", lambda: fastinit.normal_(buf, 0.0, 0.02, seed=SEED), buf)


def test_fastinit_trunc_normal(benchmark, buf):
    _run(benchmark, "fastinit.trunc_normal_",
         lambda: fastinit.trunc_normal_(buf, 0.0, 0.02, -0.04, 0.04, seed=SEED), buf)


def test_numpy_pcg64_random(benchmark, buf):
    rng = np.random.Generator(np.random.PCG64(SEED))
    flat = buf.reshape(-1)
    _run(benchmark, "numpy.random", lambda: rng.random(out=flat, dtype=np.float32), buf)


def test_numpy_pcg64_standard_normal(benchmark, buf):
    rng = np.random.Generator(np.random.PCG64(SEED))
    flat = buf.reshape(-1)
    _run(benchmark, "numpy.standard_normal", lambda: rng.standard_normal(out=flat, dtype=np.float32), buf)
