"""Buffers that are not what they seem, load, interrupts and allocation failures.

- Misaligned memory (a view at an odd byte offset) gets the values an aligned
  buffer gets, through an aligned scratch; pruning, which works in place,
  refuses it with a ValueError before anything changes.
- A buffer another thread tries to release during a fill cannot go: the bridge
  holds its export for the whole call.
- set_num_threads has an upper bound (257), and a prune's scratch does not grow
  with the thread setting on small buffers.
- Many Python threads filling, pruning and rewinding at once, with the pool
  busy, get the single-threaded results.
- Ctrl-C during a large fill or prune leaves the process usable; a failed
  allocation of a temporary is a MemoryError, the buffer untouched.
Processes that may die are children (a crash fails the test, not the run).
"""
import mmap
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastinit as fi
from _stats import fresh_seed, get_dtype

DTYPES = ["float32", "float64", "float16", "bfloat16"]
FILLS = [("uniform_", (-1.0, 2.0), (1000,)), ("normal_", (0.5, 3.0), (1000,)), ("trunc_normal_", (0.0, 1.0), (1000,)),
         ("he_uniform_", (), (40, 25)), ("constant_", (0.25,), (1000,)), ("orthogonal_", (1.5,), (40, 25)),
         ("sparse_", (0.3,), (40, 25))]


def _misaligned(shape, dtype, offset):
    """A writable array of ``shape`` whose data starts ``offset`` bytes into a bytearray."""
    dt = np.dtype(dtype)
    raw = bytearray(dt.itemsize * int(np.prod(shape)) + 16)
    arr = np.frombuffer(raw, dt, count=int(np.prod(shape)), offset=offset).reshape(shape)
    assert not arr.flags.aligned
    return arr, raw


def _child(code, timeout=120, env=None):
    """Run ``code`` in a fresh interpreter; (returncode, stdout + stderr)."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})), cwd="/")
    return p.returncode, p.stdout + p.stderr


# ---------------------------------------------------------------------------- misaligned buffers

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [1, 3])
@pytest.mark.parametrize("name,args,shape", FILLS, ids=[f[0] for f in FILLS])
def test_misaligned_buffers_get_the_aligned_values(name, args, shape, dtype, offset):
    dt = get_dtype(dtype)
    if dt.itemsize == 2 and offset == 3:
        offset = 1                                  # (every odd offset is the same case)
    seed = fresh_seed()
    kwargs = {} if name == "constant_" else {"seed": seed, "stream": 4}
    ref = getattr(fi, name)(np.empty(shape, dt), *args, **kwargs)
    arr, raw = _misaligned(shape, dt, offset)
    raw[:] = b"\x5a" * len(raw)
    getattr(fi, name)(arr, *args, **kwargs)
    assert arr.tobytes() == ref.tobytes()
    assert raw[:offset] == b"\x5a" * offset and raw[offset + arr.nbytes:] == b"\x5a" * (len(raw) - offset - arr.nbytes)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_misaligned_large_fill_uses_the_threads_and_the_same_bits(dtype):
    dt = get_dtype(dtype)
    n = (1 << 20) + 7
    seed = fresh_seed()
    arr, _ = _misaligned((n,), dt, 1)
    fi.normal_(arr, 0.0, 0.02, seed=seed, offset=2 ** 40)
    assert arr.tobytes() == fi.normal_(np.empty(n, dt), 0.0, 0.02, seed=seed, offset=2 ** 40).tobytes()
    # a shard of a bigger tensor, placed by global_shape/index, misaligned too
    tile, _ = _misaligned((300, 200), dt, 1)
    fi.uniform_(tile, seed=seed, global_shape=(900, 600), index=(slice(300, 600), slice(200, 400)))
    whole = fi.uniform_(np.empty((900, 600), dt), seed=seed)
    assert tile.tobytes() == np.ascontiguousarray(whole[300:600, 200:400]).tobytes()


@pytest.mark.parametrize("call", [
    lambda w: fi.prune_magnitude_(w, 0.5), lambda w: fi.global_prune_magnitude_([w], 0.5),
    lambda w: fi.prune_n_m_(w, 2, 4), lambda w: fi.apply_mask_(w, np.zeros(w.shape, bool)),
    lambda w: fi.rewind_(w, np.ones(w.shape, bool), fi.uniform_, seed=1),
], ids=["prune", "global", "n_m", "apply_mask", "rewind"])
def test_pruning_refuses_misaligned_buffers_before_any_change(call):
    arr, raw = _misaligned((64, 16), np.float32, 2)
    arr[...] = np.arange(1.0, 1025.0, dtype=np.float32).reshape(64, 16)
    before = bytes(raw)
    with pytest.raises(ValueError, match="not aligned"):
        call(arr)
    assert bytes(raw) == before


# ---------------------------------------------------------------------------- the bridge holds the buffer

def test_a_buffer_cannot_be_released_under_a_running_fill():
    """While threads fill it, other threads try to shrink the bytearray and close the mmap
    behind the arrays: every attempt is refused (BufferError), and every fill is right."""
    n = 1 << 22
    raw = bytearray(4 * n)
    mm = mmap.mmap(-1, 4 * n)
    arrays = [np.frombuffer(raw, np.float32), np.frombuffer(mm, np.float32)]
    seed = fresh_seed()
    expected = fi.normal_(np.empty(n, np.float32), seed=seed)
    stop = threading.Event()
    refused, errors = [], []

    def fill(arr):
        try:
            for _ in range(6):
                fi.normal_(arr, seed=seed)
                if arr.tobytes() != expected.tobytes():
                    errors.append("wrong values")
        except BaseException as exc:          # anything at all is a failure here
            errors.append(repr(exc))

    def release():
        while not stop.is_set():
            for attempt in (lambda: raw.__delitem__(slice(0, 4 * n)), mm.close, lambda: mm.resize(4)):
                try:
                    attempt()
                    errors.append("released")
                except BufferError:
                    refused.append(1)
                except (SystemError, ValueError, TypeError) as exc:    # mremap unsupported: not a release
                    refused.append(repr(exc))

    fillers = [threading.Thread(target=fill, args=(a,)) for a in arrays for _ in range(2)]
    releasers = [threading.Thread(target=release) for _ in range(4)]
    for t in fillers + releasers:
        t.start()
    for t in fillers:
        t.join()
    stop.set()
    for t in releasers:
        t.join()
    assert not errors, errors[:5]
    assert refused
    del arrays
    mm.close()                                     # free once nothing views it


# ---------------------------------------------------------------------------- threads

def test_set_num_threads_bounds():
    before = fi.get_num_threads()
    try:
        fi.set_num_threads(257)
        assert fi.get_num_threads() == 257
        for bad in (0, 258, 10 ** 6):
            with pytest.raises(ValueError, match="between 1 and 257"):
                fi.set_num_threads(bad)
        assert fi.get_num_threads() == 257
    finally:
        fi.set_num_threads(before)
    rc, out = _child("import fastinit; print(fastinit.get_num_threads())", env={"FASTINIT_NUM_THREADS": "100000"})
    assert rc == 0 and "ignoring FASTINIT_NUM_THREADS" in out, out


def test_small_prunes_take_scratch_for_the_threads_they_use():
    """With 257 threads set, pruning 10 entries used to take (4 x 257 + 1) x 512 KiB of
    histograms per level (514 MiB, written twice); now one thread's: the peak RSS stays low."""
    rc, out = _child("""
        import numpy as np, fastinit, resource
        fastinit.set_num_threads(257)
        w = np.arange(1.0, 11.0, dtype=np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(5):
            v = w.copy(); fastinit.prune_magnitude_(v, 3)
            assert (v[:3] == 0).all() and (v[3:] == w[3:]).all()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    assert rc == 0, out
    assert int(out.split()[-1]) < 16, out          # MiB


def test_many_python_threads_with_the_pool_busy_get_the_single_threaded_results():
    seed = fresh_seed()
    shapes = [(512, 1024), (300, 700), (64, 4096), (1 << 10, 1 << 9)]

    def work(i):
        w = fi.kaiming_uniform_(np.empty(shapes[i % 4], np.float32), seed=seed, stream=i)
        big = fi.normal_(np.empty(1 << 20, np.float32), seed=seed, stream=1000 + i)
        mask = fi.prune_magnitude_(w, 0.6, return_mask=True)
        pruned = w.copy()
        fi.rewind_(w, mask, fi.kaiming_uniform_, seed=seed, stream=i)
        return pruned, w, big

    fi_threads = fi.get_num_threads()
    try:
        fi.set_num_threads(1)
        expected = [work(i) for i in range(16)]
    finally:
        fi.set_num_threads(fi_threads)
    results, errors = {}, []

    def run(i):
        try:
            for _ in range(3):
                results[i] = work(i)
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(16):
        for got, want in zip(results[i], expected[i]):
            assert got.tobytes() == want.tobytes(), i


# ---------------------------------------------------------------------------- Ctrl-C

@pytest.mark.parametrize("what", ["fill", "prune"])
def test_ctrl_c_leaves_the_process_usable(what):
    """SIGINT during a 512 MiB fill (honoured between slices) or prune (one C call: the
    interrupt arrives after it); then the next calls work and are right, and no worker
    thread is left using the CPU."""
    rc, out = _child(f"""
        import os, signal, threading, time
        import numpy as np, fastinit
        # a parent that ignores SIGINT (a background job of a shell) would pass SIG_IGN down, and Python
        # then installs no KeyboardInterrupt handler: install it, as an interactive interpreter has it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        fastinit.set_num_threads(2)
        w = np.empty(1 << 27, np.float32)
        fastinit.normal_(w, seed=1)
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        interrupted = False
        try:
            for _ in range(20):
                if {what!r} == "fill":
                    fastinit.normal_(w, seed=2)
                else:
                    fastinit.prune_magnitude_(w, 0.5)
        except KeyboardInterrupt:
            interrupted = True
        assert interrupted
        small = fastinit.normal_(np.empty(1 << 20, np.float32), seed=3)
        assert (small == fastinit.normal_(np.empty(1 << 20, np.float32), seed=3)).all()
        fastinit.normal_(w, seed=2)
        v = w[: 1 << 21].copy()
        k = fastinit.prune_magnitude_(v, 0.5, return_mask=True)
        assert int((~k).sum()) == 1 << 20
        time.sleep(0.3)                         # the workers' short spin ends
        t0 = os.times(); time.sleep(1.0); t1 = os.times()
        print("idle cpu", (t1.user - t0.user) + (t1.system - t0.system))
    """)
    assert rc == 0, out
    assert float(out.split()[-1]) < 0.3, out


# ---------------------------------------------------------------------------- allocation failures

def test_failed_allocations_are_memory_errors():
    """Under an address-space limit, the scratch a prune needs, a constructor's memory and
    an orthogonal matrix's copy cannot be had: MemoryError, the buffer untouched, and the
    same calls work once the limit is lifted."""
    rc, out = _child("""
        import resource
        import numpy as np, fastinit
        fastinit.set_num_threads(1)
        w = fastinit.normal_(np.empty(1 << 24, np.float32), seed=1)     # 64 MiB, window pass: ~1.5 MiB of scratch
        tall = fastinit.normal_(np.empty((4096, 512), np.float32), seed=2)
        fastinit.prune_magnitude_(w.copy()[:1000], 10)                   # everything loaded
        fastinit.orthogonal_(np.empty((8, 4), np.float32), seed=0)
        before = w.copy(); tall_before = tall.copy()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (512 << 10), hard))
        failures = []
        for name, call in [("prune", lambda: fastinit.prune_magnitude_(w, 0.9)),
                           ("empty", lambda: fastinit.empty((1 << 28,))),
                           ("constructor", lambda: fastinit.he_uniform((8192, 8192))),
                           ("orthogonal", lambda: fastinit.orthogonal_(tall, seed=3))]:
            try:
                call()
                failures.append(name + ": no error")
            except MemoryError:
                pass
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        assert not failures, failures
        assert (w == before).all() and (tall == tall_before).all()
        fastinit.prune_magnitude_(w, 0.9)
        assert int((w == 0).sum()) >= round(0.9 * w.size)
        fastinit.orthogonal_(tall, seed=3)
        print("ok")
    """)
    assert rc == 0 and out.strip().endswith("ok"), out
