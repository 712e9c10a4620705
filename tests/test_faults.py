"""Files and faults: save_random, fill_memmap_, `fastinit init-checkpoint` and
save_init_records on a full disk, under a file-size limit, killed or interrupted
mid-write, and fed specs that ask for too much.

Whatever could kill an interpreter (SIGBUS from a store into a page a full disk
cannot back, SIGXFSZ past RLIMIT_FSIZE) runs in a child process, so a crash
fails the test (its return code is a signal) instead of killing pytest."""
import errno
import json
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
from fastinit import _files
from fastinit._files import SpecLimitError, read_spec

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20

_PRELUDE = """
import errno, json, os, resource, signal, sys, time
import numpy as np
import fastinit
from fastinit import _files
def listing(d):
    return sorted(os.listdir(d))
def no_reserve(*args):
    raise OSError(errno.EOPNOTSUPP, "fallocate not supported here")
"""


def run_child(code, *args, timeout=300):
    """Run ``code`` in a fresh interpreter; return the JSON its last stdout line holds.
    Fails if the child died of a signal (SIGBUS, SIGXFSZ...) or exited non-zero."""
    cmd = [sys.executable, "-c", _PRELUDE + textwrap.dedent(code)] + [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=TESTS_DIR, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode >= 0, (f"child killed by signal {signal.Signals(-proc.returncode).name}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    assert proc.returncode == 0, f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 4 MiB tmpfs mounted for the test (needs root, or a user namespace that allows it)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run mount here: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True, timeout=30)


def spec_of(mib, init="normal", dtype="float32", tensors=1):
    rows = mib * MiB // (4 * 1024) // tensors
    return {f"t{i}": ((rows, 1024), dtype, init, {}) for i in range(tensors)}


# ---------------------------------------------------------------------------
# A full disk

_FULL_DISK_CHILD = """
d, reserve = sys.argv[1], sys.argv[2] == "reserve"
if not reserve:
    os.posix_fallocate = no_reserve                  # the pwrite path
spec = {f"t{i}": ((1024, 1024), "float32", "normal", {}) for i in range(4)}      # 16 MiB on a 4 MiB disk
try:
    fastinit.save_random(spec, os.path.join(d, "big.safetensors"), seed=1, window_bytes=1 << 16)
    out = {"raised": None}
except OSError as exc:
    out = {"raised": exc.errno, "text": str(exc)}
out["after_failure"] = listing(d)
small = {"w": ((256, 1024), "float32", "normal", {})}                               # 1 MiB fits
fastinit.save_random(small, os.path.join(d, "small.safetensors"), seed=1, window_bytes=1 << 16)
from safetensors.numpy import load_file
w = load_file(os.path.join(d, "small.safetensors"))["w"]
want = fastinit.normal_(np.empty((256, 1024), np.float32), seed=1, stream=fastinit.name_stream("w"))
out["small_ok"] = bool(np.array_equal(w, want))
out["after_success"] = listing(d)
print(json.dumps(out))
"""


@pytest.mark.parametrize("how", ["reserve", "pwrite"])
def test_save_random_on_a_full_disk_is_an_oserror_and_leaves_nothing(small_tmpfs, how):
    pytest.importorskip("safetensors")
    out = run_child(_FULL_DISK_CHILD, small_tmpfs, how)
    assert out["raised"] == errno.ENOSPC, out
    assert out["after_failure"] == [], out                      # neither the target nor a temporary
    assert out["small_ok"] and out["after_success"] == ["small.safetensors"]


def test_cli_on_a_full_disk_exits_1_with_the_error(small_tmpfs, tmp_path):
    config = tmp_path / "spec.json"
    config.write_text(json.dumps({"layers": 4, "tensors": {"l.{layer}.w": {"shape": [1024, 1024], "init": "normal"}}}))
    proc = subprocess.run([sys.executable, "-m", "fastinit", "init-checkpoint", str(config),
                           str(small_tmpfs / "x.safetensors"), "--quiet"],
                          cwd=TESTS_DIR, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "No space left on device" in proc.stderr
    assert os.listdir(small_tmpfs) == []


_FULL_DISK_MEMMAP_CHILD = """
d, reserve = sys.argv[1], sys.argv[2] == "reserve"
if not reserve:
    os.posix_fallocate = no_reserve
path = os.path.join(d, "m.bin")
mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(4 << 20,))     # 16 MiB, sparse, on a 4 MiB disk
g = fastinit.Generator(7)
try:
    fastinit.fill_memmap_(mm, "uniform", -1.0, 1.0, generator=g, window_bytes=1 << 16)
    out = {"raised": None}
except OSError as exc:
    out = {"raised": exc.errno}
out["stream"] = g.get_state()["stream"]
del mm
os.remove(path)
small = np.memmap(path, dtype=np.float32, mode="w+", shape=(1 << 18,))  # 1 MiB fits
fastinit.fill_memmap_(small, "uniform", -1.0, 1.0, generator=g, window_bytes=1 << 16)
out["small_ok"] = bool(np.array_equal(np.asarray(small), fastinit.uniform_(np.empty(1 << 18, np.float32), -1.0, 1.0,
                                                                           seed=7, stream=out["stream"])))
print(json.dumps(out))
"""


@pytest.mark.parametrize("how", ["reserve", "pwrite"])
def test_fill_memmap_on_a_full_disk_is_an_oserror(small_tmpfs, how):
    out = run_child(_FULL_DISK_MEMMAP_CHILD, small_tmpfs, how)
    assert out["raised"] == errno.ENOSPC, out
    # reserved: the failure comes before the stream is taken; without reservation it comes
    # from a pwrite, mid-fill, after the stream was taken
    assert out["stream"] == (0 if how == "reserve" else 1)
    assert out["small_ok"]


# ---------------------------------------------------------------------------
# RLIMIT_FSIZE

_FSIZE_CHILD = """
d, mode = sys.argv[1], sys.argv[2]
if mode != "default":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _files._check_size_limit = lambda end, path: None     # what the kernel says, with the signal ignored
if mode == "ignored-pwrite":
    os.posix_fallocate = no_reserve
mm = np.memmap(os.path.join(d, "m.bin"), dtype=np.float32, mode="w+", shape=(1 << 20,))   # 4 MiB, made first
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
out = {}
try:
    fastinit.save_random({"w": ((1024, 1024), "float32", "normal", {})}, os.path.join(d, "big.safetensors"), seed=1)
except OSError as exc:
    out["save"] = exc.errno
g = fastinit.Generator(3)
if mode != "ignored-reserve":    # (reserving inside a file's existing size is no growth: allowed)
    try:
        fastinit.fill_memmap_(mm, "normal", generator=g)
    except OSError as exc:
        out["memmap"] = exc.errno
out["stream"] = g.get_state()["stream"]
out["listing"] = listing(d)
fastinit.save_random({"w": ((64, 1024), "float32", "normal", {})}, os.path.join(d, "small.safetensors"), seed=1)
out["small"] = os.path.getsize(os.path.join(d, "small.safetensors"))
print(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["default", "ignored-reserve", "ignored-pwrite"])
def test_a_file_size_limit_is_an_oserror_and_leaves_nothing(tmp_path, mode):
    out = run_child(_FSIZE_CHILD, tmp_path, mode)
    assert out["save"] == errno.EFBIG, out
    assert out["listing"] == ["m.bin"], out
    assert out["small"] > 64 * 1024 * 4
    if mode == "default":           # refused before the stream is taken
        assert out["memmap"] == errno.EFBIG and out["stream"] == 0, out
    elif mode == "ignored-pwrite":  # the first pwrite past the limit fails, after the stream was taken
        assert out["memmap"] == errno.EFBIG and out["stream"] == 1, out


def test_the_size_limit_error_says_what_to_do(tmp_path):
    out = run_child("""
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            fastinit.save_random({"w": ((1024, 1024), "float32", "zeros", {})}, sys.argv[1] + "/z.safetensors")
        except OSError as exc:
            print(json.dumps({"text": str(exc)}))
    """, tmp_path)
    assert "RLIMIT_FSIZE" in out["text"] and "1,048,576" in out["text"]


# ---------------------------------------------------------------------------
# The fallback without reservation writes the same bytes

def _record_paths(monkeypatch):
    """The ``mapped`` flag of every _fill_region call (False: pwrite from a scratch window)."""
    paths = []
    real = _files._fill_region

    def fill_region(*args, **kwargs):
        paths.append(args[7] if len(args) > 7 else kwargs.get("mapped", True))
        return real(*args, **kwargs)
    monkeypatch.setattr(_files, "_fill_region", fill_region)
    return paths


def _unsupported(*args):
    raise OSError(errno.EOPNOTSUPP, "Operation not supported")


@pytest.mark.parametrize("missing", ["unsupported", "absent"])
def test_without_reservation_the_windows_are_written_with_pwrite(tmp_path, monkeypatch, missing):
    spec = {"a": ((300, 257), "float32", "normal", {"std": 0.5}), "b": ((77, 31), "float16", "kaiming_uniform", {}),
            "c": ((1000,), "float64", "uniform", {}), "d": ((0, 4), "float32", "zeros", {}),
            "e": ((5, 3), "bfloat16", "ones", {})}
    paths = _record_paths(monkeypatch)
    fastinit.save_random(spec, tmp_path / "mapped.safetensors", seed=9, window_bytes=4096)
    mm = np.memmap(tmp_path / "mapped.bin", dtype=np.float32, mode="w+", shape=(333, 77))
    fastinit.fill_memmap_(mm, "trunc_normal", seed=4, window_bytes=4096)
    assert paths and all(p is True for p in paths)
    paths.clear()
    if missing == "absent":
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    else:
        monkeypatch.setattr(os, "posix_fallocate", _unsupported)
    fastinit.save_random(spec, tmp_path / "written.safetensors", seed=9, window_bytes=4096)
    assert (tmp_path / "written.safetensors").read_bytes() == (tmp_path / "mapped.safetensors").read_bytes()
    mm2 = np.memmap(tmp_path / "written.bin", dtype=np.float32, mode="w+", shape=(333, 77))
    fastinit.fill_memmap_(mm2, "trunc_normal", seed=4, window_bytes=4096)
    assert np.array_equal(np.asarray(mm2), np.asarray(mm))
    assert len(paths) == 6 and all(p is False for p in paths)


def test_a_reservation_error_other_than_unsupported_propagates(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space"):
        fastinit.save_random(spec_of(1), tmp_path / "x.safetensors", seed=1)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# Killed mid-write: no file that looks complete

_SLOW_WRITER = """
fastinit.set_num_threads(1)
spec = {f"t{i}": ((16384, 4096), "float32", "trunc_normal", {}) for i in range(4)}     # 1 GiB
fastinit.save_random(spec, sys.argv[1], seed=2, window_bytes=1 << 20)
print(json.dumps({"finished": True}))
"""


def _temporaries(d, name):
    return sorted(p for p in os.listdir(d) if p.startswith(f".{name}.") and p.endswith(".tmp"))


def _wait_for_temporary(d, name, proc, timeout=60):
    t0 = time.monotonic()
    while not _temporaries(d, name):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the child never started writing"
        time.sleep(0.01)


def test_sigkill_mid_write_leaves_the_old_file_and_a_hidden_unreadable_temporary(tmp_path):
    safe_open = pytest.importorskip("safetensors").safe_open
    target = tmp_path / "ckpt.safetensors"
    fastinit.save_random({"old": ((8, 8), "float32", "normal", {})}, target, seed=1)
    old = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _PRELUDE + _SLOW_WRITER, str(target)], cwd=TESTS_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_temporary(tmp_path, target.name, proc)
        time.sleep(0.3)
        proc.kill()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (out, err)       # killed mid-write, not finished
    assert target.read_bytes() == old                           # the previous complete file, untouched
    left = _temporaries(tmp_path, target.name)
    assert len(left) == 1 and sorted(os.listdir(tmp_path)) == sorted(left + [target.name])
    stale = tmp_path / left[0]
    with open(stale, "rb") as f:
        assert f.read(8) == bytes(8)                            # header length 0 until the very end
    with pytest.raises(Exception):
        with safe_open(str(stale), framework="numpy") as f:
            f.keys()
    # a later call neither trips over nor touches it
    def head():
        with open(stale, "rb") as f:
            return f.read(1 << 16), os.fstat(f.fileno()).st_size
    before = head()
    fastinit.save_random({"new": ((8, 8), "float32", "normal", {})}, target, seed=3)
    with safe_open(str(target), framework="numpy") as f:
        assert list(f.keys()) == ["new"]
    assert _temporaries(tmp_path, target.name) == left and head() == before
    stale.unlink()                                              # 1 GiB: not left for pytest's tmp dirs


# ---------------------------------------------------------------------------
# Ctrl-C

_CTRL_C_CHILD = """
import threading
# a parent that ignores SIGINT (a background job of a shell) would pass SIG_IGN down, and Python
# then installs no KeyboardInterrupt handler: install it, as an interactive interpreter has it
signal.signal(signal.SIGINT, signal.default_int_handler)
d = sys.argv[1]
target = os.path.join(d, "big.safetensors")
fastinit.set_num_threads(1)
def threads():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])
before = threads()
sent = []
def interrupt():
    while not [p for p in os.listdir(d) if p.endswith(".tmp")]:
        time.sleep(0.005)
    time.sleep(0.3)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)
t = threading.Thread(target=interrupt)
t.start()
spec = {f"t{i}": ((65536, 4096), "float32", "trunc_normal", {}) for i in range(2)}    # 2 GiB, 64 MiB windows
out = {}
try:
    fastinit.save_random(spec, target, seed=5)
    out["interrupted"] = False
except KeyboardInterrupt:
    out["interrupted"] = True
    out["latency"] = time.monotonic() - sent[0]
t.join()
out["listing"] = listing(d)
out["threads"] = [before, threads()]
c0 = time.process_time()
time.sleep(0.5)
out["idle_cpu"] = time.process_time() - c0          # nothing left spinning
fastinit.save_random({"w": ((64, 64), "float32", "trunc_normal", {})}, os.path.join(d, "small.safetensors"), seed=5)
from safetensors.numpy import load_file
w = load_file(os.path.join(d, "small.safetensors"))["w"]
out["small_ok"] = bool(np.array_equal(w, fastinit.trunc_normal_(np.empty((64, 64), np.float32), seed=5,
                                                                stream=fastinit.name_stream("w"))))
out["final"] = listing(d)
print(json.dumps(out))
"""


def test_ctrl_c_during_a_large_save_leaves_the_process_usable(tmp_path):
    pytest.importorskip("safetensors")
    out = run_child(_CTRL_C_CHILD, tmp_path)
    assert out["interrupted"], out
    assert out["latency"] < 1.0, out            # the kernels check for signals about every 0.1 s
    assert out["listing"] == [], out            # no target, the temporary removed
    assert out["threads"][1] <= out["threads"][0], out
    assert out["idle_cpu"] < 0.25, out
    assert out["small_ok"] and out["final"] == ["small.safetensors"]


# ---------------------------------------------------------------------------
# Unique temporaries, fsync

def test_two_threads_saving_to_one_path_both_succeed_and_one_wins_whole(tmp_path):
    a, b = spec_of(8, "normal"), spec_of(8, "uniform")
    fastinit.save_random(a, tmp_path / "a.safetensors", seed=1, window_bytes=1 << 16)
    fastinit.save_random(b, tmp_path / "b.safetensors", seed=2, window_bytes=1 << 16)
    target = tmp_path / "same.safetensors"
    errors, start = [], threading.Barrier(2)

    def save(spec, seed):
        try:
            start.wait()
            fastinit.save_random(spec, target, seed=seed, window_bytes=1 << 16)
        except BaseException as exc:     # noqa: B036 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(a, 1)), threading.Thread(target=save, args=(b, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = target.read_bytes()
    assert got in ((tmp_path / "a.safetensors").read_bytes(), (tmp_path / "b.safetensors").read_bytes())
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors", "b.safetensors", "same.safetensors"]


def _count_fsyncs(monkeypatch):
    import stat
    seen = []
    real = os.fsync

    def fsync(fd):
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def _record_renames(monkeypatch):
    renames = []
    real = os.replace

    def replace(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    return renames


def test_save_random_fsyncs_the_file_and_the_directory(tmp_path, monkeypatch):
    seen = _count_fsyncs(monkeypatch)
    renames = _record_renames(monkeypatch)
    for _ in range(2):
        fastinit.save_random(spec_of(1), tmp_path / "f.safetensors", seed=1)
    assert seen.count("file") >= 2 and seen.count("dir") == 2 and seen[-1] == "dir"
    tmps = [os.path.basename(src) for src, _ in renames]
    assert len(set(tmps)) == 2 and all(t.startswith(".f.safetensors.") and t.endswith(".tmp") for t in tmps)
    assert all(os.path.dirname(src) == str(tmp_path) for src, _ in renames)


def test_save_init_records_is_atomic_and_fsynced(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from fastinit.torch import load_init_records, save_init_records
    records = fastinit.save_random({"w": ((8, 4), "float32", "kaiming_uniform", {})}, tmp_path / "w.safetensors",
                                   seed=1)
    path = tmp_path / "records.json"
    seen = _count_fsyncs(monkeypatch)
    renames = _record_renames(monkeypatch)
    save_init_records(records, path)
    save_init_records(records, path)
    assert load_init_records(path) == json.loads(json.dumps(records))
    assert seen == ["file", "dir", "file", "dir"]
    tmps = [os.path.basename(src) for src, _ in renames]
    assert len(set(tmps)) == 2 and all(t.startswith(".records.json.") and t.endswith(".tmp") for t in tmps)
    old = path.read_bytes()

    def broken(src, dst):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="I/O"):
        save_init_records({}, path)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["records.json", "w.safetensors"]


# ---------------------------------------------------------------------------
# fill_memmap_: every check before the stream is taken

@pytest.mark.parametrize("call,exc,match", [
    (lambda mm, g: fastinit.fill_memmap_(np.memmap(mm.filename, np.float32, "r", shape=(64, 64)), "normal",
                                         generator=g), ValueError, "mode"),
    (lambda mm, g: fastinit.fill_memmap_(mm, "gaussian", generator=g), ValueError, "unknown init"),
    (lambda mm, g: fastinit.fill_memmap_(mm, "normal", std=-1.0, generator=g), ValueError, "std"),
    (lambda mm, g: fastinit.fill_memmap_(mm, "normal", sdt=1.0, generator=g), TypeError, "does not take"),
    (lambda mm, g: fastinit.fill_memmap_(mm, "normal", generator=g, window_bytes=100), ValueError, "window_bytes"),
    (lambda mm, g: fastinit.fill_memmap_(mm, "kaiming_uniform", mode="fan_sideways", generator=g), ValueError,
     "mode"),
])
def test_fill_memmap_checks_everything_before_taking_its_stream(tmp_path, call, exc, match):
    mm = np.memmap(tmp_path / "m.bin", dtype=np.float32, mode="w+", shape=(64, 64))
    g = fastinit.Generator(11)
    state = g.get_state()
    with pytest.raises(exc, match=match):
        call(mm, g)
    assert g.get_state() == state and (np.asarray(mm) == 0).all()


def test_fill_memmap_of_a_file_truncated_since_it_was_mapped(tmp_path):
    path = tmp_path / "m.bin"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(64, 64))
    os.truncate(path, 100)
    g = fastinit.Generator(11)
    with pytest.raises(ValueError, match="shorter"):
        fastinit.fill_memmap_(mm, "normal", generator=g)
    assert g.get_state()["stream"] == 0


def test_fill_memmap_of_a_file_removed_since_it_was_mapped(tmp_path):
    path = tmp_path / "m.bin"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(64, 64))
    os.remove(path)
    g = fastinit.Generator(11)
    with pytest.raises(FileNotFoundError):
        fastinit.fill_memmap_(mm, "normal", generator=g)
    assert g.get_state()["stream"] == 0


def test_fill_memmap_reserves_the_blocks_of_a_sparse_file(tmp_path, monkeypatch):
    mm = np.memmap(tmp_path / "m.bin", dtype=np.float32, mode="w+", offset=4096, shape=(256, 256))
    calls = []
    real = os.posix_fallocate
    monkeypatch.setattr(os, "posix_fallocate", lambda fd, off, n: (calls.append((off, n)), real(fd, off, n))[1])
    g = fastinit.Generator(11)
    fastinit.fill_memmap_(mm, "normal", generator=g, window_bytes=4096)
    assert calls == [(4096, 256 * 256 * 4)]
    assert np.array_equal(np.asarray(mm), fastinit.normal_(np.empty((256, 256), np.float32), seed=11, stream=0))


# ---------------------------------------------------------------------------
# The spec reader's limits

def _write(tmp_path, doc):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("doc,key,small,enough", [
    ({"layers": 30, "tensors": {"l.{layer}.w": {"shape": [2], "init": "zeros"}}}, "max_layers", 29, 30),
    ({"layers": 10, "tensors": {"l.{layer}.w": {"shape": [2], "init": "zeros"},
                                "l.{layer}.b": {"shape": [2], "init": "zeros"}, "e": {"shape": [2], "init": "ones"}}},
     "max_tensors", 20, 21),
    ({"dtype": "bfloat16", "tensors": {"w": {"shape": [1000, 1000], "init": "normal"},
                                       "b": {"shape": [1000], "init": "zeros", "dtype": "float64"}}},
     "max_bytes", 2_007_999, 2_008_000),
    ({"layers": 100, "tensors": {"x" * 50 + ".{layer}": {"shape": [2], "init": "zeros"}}}, "max_name_length", 52, 53),
    ({"tensors": {"w": {"shape": [1, 2, 1, 2, 1], "init": "zeros"}}}, "max_dims", 4, 5),
])
def test_each_spec_limit_is_named_and_can_be_raised(tmp_path, monkeypatch, capsys, doc, key, small, enough):
    from fastinit.__main__ import main
    path = _write(tmp_path, doc)
    monkeypatch.setattr(_files, "_entry", lambda *a: pytest.fail("planned a spec over a limit"))
    with pytest.raises(SpecLimitError, match=key) as info:
        read_spec(path, **{key: small})
    assert isinstance(info.value, ValueError) and "--" + key.replace("_", "-") in str(info.value)
    read_spec(path, **{key: enough})
    read_spec(path, **{key: None})
    out = tmp_path / "x.safetensors"
    flag = "--" + key.replace("_", "-")
    assert main(["init-checkpoint", str(path), str(out), flag, str(small)]) == 2
    err = capsys.readouterr().err
    assert key in err and flag in err and not out.exists()
    monkeypatch.undo()
    assert main(["init-checkpoint", str(path), str(out), flag, str(enough), "--quiet"]) == 0
    assert out.exists()


def test_default_limits_stop_a_hostile_spec_before_expanding_it(tmp_path, capsys):
    from fastinit.__main__ import main
    t0 = time.perf_counter()
    huge_layers = _write(tmp_path, {"layers": 10 ** 12, "tensors": {"l.{layer}": {"shape": [1], "init": "zeros"}}})
    with pytest.raises(SpecLimitError, match="max_layers"):
        read_spec(huge_layers)
    many = _write(tmp_path, {"layers": 10_000, "tensors": {f"l.{{layer}}.{i}": {"shape": [1], "init": "zeros"}
                                                           for i in range(11)}})
    with pytest.raises(SpecLimitError, match="max_tensors"):
        read_spec(many)
    big = _write(tmp_path, {"tensors": {"w": {"shape": [2 ** 40, 2 ** 40], "init": "zeros"}}})
    assert main(["init-checkpoint", str(big), str(tmp_path / "x.safetensors")]) == 2
    assert "max_bytes" in capsys.readouterr().err
    assert main(["init-checkpoint", str(big), str(tmp_path / "x.safetensors"), "--dry-run"]) == 2
    long_name = _write(tmp_path, {"tensors": {"n" * 5000: {"shape": [1], "init": "zeros"}}})
    with pytest.raises(SpecLimitError, match="max_name_length"):
        read_spec(long_name)
    deep = _write(tmp_path, {"tensors": {"w": {"shape": [1] * 100, "init": "zeros"}}})
    with pytest.raises(SpecLimitError, match="max_dims"):
        read_spec(deep)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "x.safetensors").exists()


def test_limit_arguments_are_checked(tmp_path, capsys):
    from fastinit.__main__ import main
    path = _write(tmp_path, {"tensors": {"w": {"shape": [1024], "init": "zeros"}}})
    with pytest.raises(TypeError, match="max_"):
        read_spec(path, max_parameters=5)
    with pytest.raises(ValueError, match="max_bytes"):
        read_spec(path, max_bytes=-1)
    assert _files._size("4K") == 4096 and _files._size("1.5GiB") == 3 << 29 and _files._size("none") is None
    assert _files._size("123") == 123
    assert main(["init-checkpoint", str(path), str(tmp_path / "x.safetensors"), "--max-bytes", "4K", "--dry-run"]) == 0
    assert main(["init-checkpoint", str(path), str(tmp_path / "x.safetensors"), "--max-bytes", "4095",
                 "--dry-run"]) == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["init-checkpoint", str(path), str(tmp_path / "x.safetensors"), "--max-bytes", "lots"])
    assert info.value.code == 2 and "byte count" in capsys.readouterr().err


def test_a_header_too_long_for_safetensors_readers_is_refused_first(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "_MAX_HEADER", 1000)
    with pytest.raises(ValueError, match="header"):
        fastinit.save_random({f"w{i}": ((2,), "float32", "zeros", {}) for i in range(20)},
                             tmp_path / "x.safetensors")
    assert os.listdir(tmp_path) == []
