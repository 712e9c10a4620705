"""`fastinit bench` runs end to end on a tiny buffer, and what it writes is what it measured.

The command is started as a child (`python -m fastinit bench`) from a
directory outside the repository, so the installed package is what runs. Two
runs, each a few seconds: one without PyTorch with every section (pruning and
the machine-scaling probe included), one with PyTorch and without pruning and
the probe (PyTorch's pruning rows each spawn an interpreter that imports
torch, which would triple the time). Each run's JSON is checked row by row,
and the targets are recomputed here from the rows.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import fastinit

SIZE_MIB = 1
THREADS = 2
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None
ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}

FASTINIT_FLOAT32 = ("uniform_", "kaiming_uniform_", "normal_", "kaiming_normal_", "trunc_normal_")
FASTINIT_WIDE = ("kaiming_uniform_", "kaiming_normal_", "trunc_normal_")


def _bench(tmp_path, *args, timeout=300):
    """Run `fastinit bench` in a child started in tmp_path; returns (stdout, JSON result)."""
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "fastinit", "bench", "--size-mib", str(SIZE_MIB), "--repeats", "1",
           "--threads", str(THREADS), "--quiet", "--json", str(out)] + list(args)
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    with open(out) as f:
        return proc.stdout, json.load(f)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    return _bench(tmp_path_factory.mktemp("bench_plain"), "--no-torch")


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    if not HAVE_TORCH:
        pytest.skip("torch not installed")
    return _bench(tmp_path_factory.mktemp("bench_torch"), "--no-prune", "--no-scaling")


def _rows(result, section=None):
    return [r for r in result["rows"] if section is None or r["section"] == section]


def _row(result, section, name, threads, dtype="float32"):
    found = [r for r in result["rows"] if (r["section"], r["name"], r["threads"], r["dtype"]) ==
             (section, name, threads, dtype)]
    assert len(found) == 1, f"{len(found)} rows for {(section, name, threads, dtype)}"
    return found[0]


def _target(result, text):
    found = [t for t in result["targets"] if t["target"] == text]
    assert len(found) == 1, f"{len(found)} targets named {text!r}: {[t['target'] for t in result['targets']]}"
    return found[0]


def _dtypes():
    return ["float32", "float64", "float16"] + (["bfloat16"] if HAVE_ML_DTYPES else [])


def _expected_keys(with_torch, with_prune):
    """(section, name, threads, dtype) of every row, in the order the benchmark measures them."""
    keys = [("reference", "numpy fill(1.0)", 1, "float32"), ("reference", "numpy fill(0) (memset)", 1, "float32")]
    keys += [("reference", "fastinit constant_ (stores)", nt, "float32") for nt in (1, THREADS)]
    for nt in (1, THREADS):
        for name in FASTINIT_FLOAT32:
            for dt in _dtypes():
                if dt == "float32" or name in FASTINIT_WIDE:
                    keys.append(("fastinit", name, nt, dt))
    for nt in (1, THREADS):
        keys += [("alloc", "fastinit.kaiming_uniform(shape)", nt, "float32"),
                 ("alloc", "np.empty + kaiming_uniform_", nt, "float32")]
    keys += [("numpy", n, 1, "float32") for n in ("PCG64 random(float32)", "PCG64 standard_normal(float32)",
                                                  "Philox random(float32)")]
    if with_torch:
        for nt in (1, THREADS):
            keys += [("torch", "nn.init.kaiming_uniform_", nt, "float32"), ("torch", "nn.init.kaiming_normal_", nt, "float32"),
                     ("torch", "nn.init.trunc_normal_", nt, "float32"), ("torch", "nn.init.kaiming_uniform_", nt, "bfloat16")]
    if with_prune:
        keys += [("prune", "fastinit.prune_magnitude_", nt, "float32") for nt in (1, THREADS)]
        keys += [("prune", "np.partition + mask", 1, "float32")]
    return keys


def _check_metadata(result):
    nbytes = SIZE_MIB << 20
    assert result["buffer_bytes"] == nbytes
    assert result["repeats"] == 1
    assert result["threads"] == [1, THREADS]
    machine = result["machine"]
    assert isinstance(machine, str)
    assert f"fastinit {fastinit.__version__} (SIMD {fastinit.simd_level()})" in machine
    assert f"NumPy {np.__version__}" in machine
    assert " CPUs; " in machine and "Python " in machine


def _check_measured(row):
    """A row that was timed: positive finite time, throughputs that are bytes (elements) over that time."""
    t = row["seconds"]
    assert isinstance(t, float) and math.isfinite(t) and 0 < t < 60, row
    assert row["bytes"] > 0 and row["elements"] > 0, row
    assert row["gb_per_s"] == pytest.approx(row["bytes"] / t / 1e9, rel=1e-12), row
    assert row["gelem_per_s"] == pytest.approx(row["elements"] / t / 1e9, rel=1e-12), row
    # a 1 MiB buffer takes at least a microsecond and (here) at most a few seconds
    assert 1e-6 < row["gb_per_s"] < 1e4, row


def _check_rows(result, with_torch, with_prune):
    rows = result["rows"]
    assert [(r["section"], r["name"], r["threads"], r["dtype"]) for r in rows] == _expected_keys(with_torch, with_prune)
    nbytes = result["buffer_bytes"]
    for r in rows:
        _check_measured(r)
        if r["section"] == "prune":
            continue
        assert r["bytes"] == r["elements"] * ITEMSIZE[r["dtype"]], r
        if (r["section"], r["dtype"]) == ("torch", "bfloat16"):
            # torch's bfloat16 tensor has as many elements as the float32 buffer
            assert r["elements"] == nbytes // 4, r
        else:
            # every other row fills one whole buffer of its dtype
            assert r["bytes"] == nbytes, r


def _check_target_flags(result):
    """Every numeric target is a positive ratio, and its `met` is that ratio against its goal (the
    scaling targets have their own rule, checked in test_bench_targets_are_computed_from_the_rows)."""
    for t in result["targets"]:
        assert isinstance(t["met"], bool), t
        if isinstance(t["value"], str) or "scaling" in t["target"]:
            continue
        assert math.isfinite(t["value"]) and t["value"] > 0, t
        assert t["met"] == (t["value"] >= t["goal"]), t


def test_bench_json_rows_and_metadata(plain_run):
    stdout, result = plain_run
    _check_metadata(result)
    _check_rows(result, with_torch=False, with_prune=True)
    assert math.isfinite(result["machine_scaling_2v1"]) and 0.2 < result["machine_scaling_2v1"] < 4
    # the printed report is the same run
    assert stdout.startswith(f"machine: {result['machine']}\n")
    assert "buffer: 1 MiB, median of 1 repeats" in stdout
    for r in _rows(result, "fastinit"):
        assert f"{r['name']:<34} {r['dtype']:<9} {r['threads']:>3} " in stdout


def test_bench_targets_are_computed_from_the_rows(plain_run):
    _, result = plain_run
    g = {(r["section"], r["name"], r["threads"], r["dtype"]): r for r in result["rows"]}

    def gb(section, name, nt, dt="float32"):
        return g[(section, name, nt, dt)]["gb_per_s"]

    fill, philox = gb("reference", "numpy fill(1.0)", 1), gb("numpy", "Philox random(float32)", 1)
    u1 = gb("fastinit", "kaiming_uniform_", 1)
    t = _target(result, "uniform 1 thread: >= 0.75 x NumPy fill, or >= 8 x NumPy Philox random")
    assert t["value"] == f"{u1 / fill:.2f} x fill, {u1 / philox:.1f} x Philox"
    assert t["met"] == (u1 / fill >= 0.75 or u1 / philox >= 8)

    for nt in (1, THREADS):
        u = gb("fastinit", "kaiming_uniform_", nt)
        n = gb("fastinit", "kaiming_normal_", nt)
        tr = gb("fastinit", "trunc_normal_", nt)
        assert _target(result, f"normal / uniform speed, {nt} thread(s)")["value"] == pytest.approx(n / u, rel=1e-12)
        assert _target(result, f"trunc_normal / uniform speed, {nt} thread(s)")["value"] == pytest.approx(tr / u, rel=1e-12)
        for name in FASTINIT_WIDE:
            base = g[("fastinit", name, nt, "float32")]
            for dt in _dtypes()[2:]:
                half = g[("fastinit", name, nt, dt)]
                value = _target(result, f"{name} {dt} elements/s vs float32, {nt} thread(s)")["value"]
                assert value == pytest.approx(half["gelem_per_s"] / base["gelem_per_s"], rel=1e-12)
            value = _target(result, f"{name} float64 bytes/s vs float32, {nt} thread(s)")["value"]
            assert value == pytest.approx(gb("fastinit", name, nt, "float64") / base["gb_per_s"], rel=1e-12)

    m = result["machine_scaling_2v1"]
    stores = gb("reference", "fastinit constant_ (stores)", THREADS)
    for name in FASTINIT_WIDE:
        a, b = gb("fastinit", name, 1), gb("fastinit", name, THREADS)
        t = _target(result, f"{name} scaling 1 -> {THREADS} threads vs machine ({m:.2f}x) or >= 0.75 x store bandwidth")
        assert t["value"] == pytest.approx(b / a / m, rel=1e-12)
        assert t["met"] == ((b / a / m >= 0.9 or b >= 0.75 * stores) and b >= a)

    ut, pr = gb("fastinit", "kaiming_uniform_", THREADS), gb("numpy", "PCG64 random(float32)", 1)
    nt_, pn = gb("fastinit", "kaiming_normal_", THREADS), gb("numpy", "PCG64 standard_normal(float32)", 1)
    assert _target(result, f"uniform vs NumPy PCG64 random, {THREADS} threads")["value"] == pytest.approx(ut / pr, rel=1e-12)
    assert (_target(result, f"normal vs NumPy PCG64 standard_normal, {THREADS} threads")["value"]
            == pytest.approx(nt_ / pn, rel=1e-12))
    _check_target_flags(result)
    # no PyTorch in this run, so no PyTorch targets
    assert not [t for t in result["targets"] if "PyTorch" in t["target"]]


def test_bench_prune_section(plain_run):
    stdout, result = plain_run
    prune = _rows(result, "prune")
    n = result["buffer_bytes"] // 16          # a quarter of the buffer's bytes, in float32
    assert n == 64 * 1024
    assert [(r["name"], r["threads"]) for r in prune] == [
        ("fastinit.prune_magnitude_", 1), ("fastinit.prune_magnitude_", THREADS), ("np.partition + mask", 1)]
    for r in prune:
        assert r["elements"] == n and r["bytes"] == 4 * n, r
        assert math.isfinite(r["fill_seconds"]) and 0 < r["fill_seconds"] < 60, r
        assert math.isfinite(r["peak_extra_mib"]) and 0 <= r["peak_extra_mib"] < 1024, r
    for nt in (1, THREADS):
        p = _row(result, "prune", "fastinit.prune_magnitude_", nt)
        t = _target(result, f"prune_magnitude_ 90 % of 64 Ki float32 vs one-thread fill, {nt} thread(s) "
                            "(at most 5x the fill's time)")
        assert t["value"] == pytest.approx(p["fill_seconds"] / p["seconds"], rel=1e-12)
        assert t["met"] == (t["value"] >= 0.2)
    assert "pruning 90 % of 64 Ki float32 (each method in its own process):" in stdout


def test_bench_with_torch(torch_run):
    stdout, result = torch_run
    _check_metadata(result)
    _check_rows(result, with_torch=True, with_prune=False)
    assert result["machine_scaling_2v1"] is None
    assert not [t for t in result["targets"] if "scaling" in t["target"] or "prune" in t["target"]]
    g = {(r["section"], r["name"], r["threads"], r["dtype"]): r["gb_per_s"] for r in result["rows"]}
    for nt in (1, THREADS):
        for name, goal in (("kaiming_uniform_", 10.0), ("kaiming_normal_", 5.0), ("trunc_normal_", 5.0)):
            t = _target(result, f"{name} vs PyTorch, {nt} thread(s)")
            ratio = g[("fastinit", name, nt, "float32")] / g[("torch", "nn.init." + name, nt, "float32")]
            assert t["value"] == pytest.approx(ratio, rel=1e-12) and t["goal"] == goal
            assert t["met"] == (ratio >= goal)
        if HAVE_ML_DTYPES:
            t = _target(result, f"kaiming_uniform_ bfloat16 vs PyTorch, {nt} thread(s)")
            ratio = (g[("fastinit", "kaiming_uniform_", nt, "bfloat16")]
                     / g[("torch", "nn.init.kaiming_uniform_", nt, "bfloat16")])
            assert t["value"] == pytest.approx(ratio, rel=1e-12)
    _check_target_flags(result)
    assert "nn.init.trunc_normal_" in stdout


def _cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "fastinit", "bench"] + list(args), cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)


def test_bench_help_documents_the_size_option(tmp_path):
    proc = _cli(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--size-mib N" in proc.stdout and "buffer size in MiB" in proc.stdout


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_bench_rejects_a_bad_size(tmp_path, bad):
    proc = _cli(tmp_path, "--size-mib", bad, "--quiet")
    assert proc.returncode == 2
    assert "--size-mib" in proc.stderr
