"""Speed knobs never change a bit: every public fill
and dtype gives identical bytes at every SIMD level this CPU has and every
thread count, on buffers large enough to be split, with offsets; and the
pool behaves under Ctrl-C, concurrent callers and fork()."""
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastinit
from fastinit import _kernels

# run child interpreters outside the repository root, where the uncompiled
# fastinit/ source folder would shadow the installed package
_NEUTRAL_CWD = os.path.dirname(os.path.abspath(__file__))

ml_dtypes = pytest.importorskip("ml_dtypes")

N = (1 << 24) + 5          # 16 Mi elements and a ragged tail
OFFSET = (1 << 33) + 3     # not a multiple of 4
THREADS = [1, 2, 3, 7]
LEVELS = [lv for lv in _kernels.LEVELS if _kernels.LEVELS.index(lv) <= _kernels.LEVELS.index(_kernels.detected_simd_level())]

FILLS = {
    "uniform": lambda b, **kw: fastinit.uniform_(b, -0.75, 1.25, **kw),
    "normal": lambda b, **kw: fastinit.normal_(b, 0.5, 2.0, **kw),
    "trunc_normal": lambda b, **kw: fastinit.trunc_normal_(b, 0.0, 0.02, **kw),
    "trunc_far": lambda b, **kw: fastinit.trunc_normal_(b, 0.0, 1.0, 5.0, 6.0, **kw),
    "kaiming_uniform": lambda b, **kw: fastinit.kaiming_uniform_(b, fan_in=4096, fan_out=4096, **kw),
    "xavier_normal": lambda b, **kw: fastinit.xavier_normal_(b, fan_in=1024, fan_out=4096, **kw),
    "he_normal_keras": lambda b, **kw: fastinit.he_normal_(b, distribution="truncated_normal",
                                                           fan_in=512, fan_out=512, **kw),
    "he_uniform": lambda b, **kw: fastinit.he_uniform_(b, fan_in=300, fan_out=300, **kw),
    "lecun_normal": lambda b, **kw: fastinit.lecun_normal_(b, fan_in=300, fan_out=300, **kw),
    "xavier_uniform": lambda b, **kw: fastinit.xavier_uniform_(b, 1.5, fan_in=700, fan_out=300, **kw),
    "variance_scaling": lambda b, **kw: fastinit.variance_scaling_(b, 2.0, "fan_avg", fan_in=64, fan_out=32, **kw),
    # constants take no stream; the seed arguments are dropped
    "constant": lambda b, **kw: fastinit.constant_(b, 0.1),
}
DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


@pytest.fixture
def restore_runtime():
    level, threads = fastinit.simd_level(), fastinit.get_num_threads()
    yield
    _kernels.set_simd_level(level)
    fastinit.set_num_threads(threads)


def _digest(arr):
    return hashlib.sha256(arr.view(np.uint8)).hexdigest()


def _fill(name, dtype, level, threads, seed, offset):
    _kernels.set_simd_level(level)
    fastinit.set_num_threads(threads)
    buf = fastinit.empty(N, DTYPES[dtype])   # 2 MiB aligned: big fills take the streaming-store path
    return _digest(FILLS[name](buf, seed=seed, stream=9, offset=offset))


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(FILLS))
def test_every_level_and_thread_count_gives_the_same_bits(name, dtype, restore_runtime):
    seed = int(np.random.SeedSequence().entropy % 2 ** 64)
    # offset 0: aligned groups, the streaming-store path; OFFSET: a ragged scalar head
    offset = 0 if dtype in ("float32", "float16") else OFFSET
    want = _fill(name, dtype, "scalar", 1, seed, offset)
    for level in LEVELS:
        for threads in THREADS:
            if level == "scalar" and threads == 1:
                continue
            got = _fill(name, dtype, level, threads, seed, offset)
            assert got == want, (name, dtype, level, threads, seed, offset)


def test_random_bits_same_at_every_level_and_thread_count(restore_runtime):
    seed = int(np.random.SeedSequence().entropy % 2 ** 64)
    digests = set()
    for level in LEVELS:
        for threads in THREADS:
            _kernels.set_simd_level(level)
            fastinit.set_num_threads(threads)
            digests.add(_digest(fastinit.random_bits_(np.empty(N, np.uint32), seed=seed, offset=OFFSET)))
    assert len(digests) == 1, seed


def test_levels_are_reported_and_capped(restore_runtime):
    assert fastinit.simd_level() in _kernels.LEVELS
    assert _kernels.set_simd_level("scalar") == "scalar" == fastinit.simd_level()
    best = _kernels.detected_simd_level()
    assert _kernels.set_simd_level(_kernels.LEVELS[-1]) == best
    # the levels of this architecture: x86-64 scalar, avx2, avx512; AArch64 scalar, neon
    assert _kernels.LEVELS in (("scalar", "avx2", "avx512"), ("scalar", "neon"))
    with pytest.raises(ValueError, match=_kernels.LEVELS[-1]):
        _kernels.set_simd_level("sse9")


def test_environment_variables_cap_level_and_set_threads():
    code = "import fastinit; print(fastinit.simd_level(), fastinit.get_num_threads())"
    env = dict(os.environ, FASTINIT_SIMD="scalar", FASTINIT_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], cwd=_NEUTRAL_CWD, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["scalar", "3"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTINIT_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=_NEUTRAL_CWD, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [_kernels.detected_simd_level(), str(len(os.sched_getaffinity(0)))]


def test_set_num_threads_validates(restore_runtime):
    for bad in (0, -2):
        with pytest.raises(ValueError):
            fastinit.set_num_threads(bad)
    for bad in (1.5, "2", True, None):
        with pytest.raises(TypeError):
            fastinit.set_num_threads(bad)
    fastinit.set_num_threads(5)
    assert fastinit.get_num_threads() == 5


def test_python_threads_filling_at_once_get_their_own_values(restore_runtime):
    fastinit.set_num_threads(2)
    seeds = list(range(100, 108))
    want = {s: fastinit.normal_(np.empty(1 << 20, np.float32), seed=s) for s in seeds}
    got = {}
    barrier = threading.Barrier(len(seeds))

    def work(s):
        barrier.wait()
        for _ in range(3):
            got[s] = fastinit.normal_(np.empty(1 << 20, np.float32), seed=s)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in seeds:
        assert np.array_equal(got[s], want[s]), s


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_can_fill(restore_runtime):
    script = textwrap.dedent("""
        import os, sys, numpy as np, fastinit
        fastinit.set_num_threads(2)
        want = fastinit.uniform_(np.empty(1 << 21, np.float32), seed=5)   # starts the pool
        pid = os.fork()
        if pid == 0:
            got = fastinit.uniform_(np.empty(1 << 21, np.float32), seed=5)  # pool rebuilt in the child
            os._exit(0 if np.array_equal(got, want) else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=_NEUTRAL_CWD, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_ctrl_c_interrupts_a_long_fill_quickly():
    # the scalar path on 1 Gi elements takes several seconds here
    script = textwrap.dedent("""
        import signal, sys, time, numpy as np, fastinit
        # a parent that ignores SIGINT (a background job of a shell) would pass SIG_IGN down, and Python
        # then installs no KeyboardInterrupt handler: install it, as an interactive interpreter has it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        buf = np.empty(1 << 30, np.float32)
        print("ready", flush=True)
        t = time.perf_counter()
        try:
            fastinit.trunc_normal_(buf, std=0.02, seed=1)
        except KeyboardInterrupt:
            print("interrupted", time.perf_counter() - t, flush=True)
            sys.exit(0)
        print("finished", time.perf_counter() - t, flush=True)
    """)
    env = dict(os.environ, FASTINIT_SIMD="scalar", FASTINIT_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=_NEUTRAL_CWD, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    latency = time.perf_counter() - sent
    assert out.startswith("interrupted"), out
    assert latency < 0.5, f"took {latency:.3f} s to stop after SIGINT"
