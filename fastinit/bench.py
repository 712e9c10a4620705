"""fastinit bench: fastinit beside memset bandwidth, NumPy and PyTorch, in one process.

Every figure is the median of several timed repeats of a fill of the same,
already faulted-in buffer; ratios compare figures from this one run, so they
hold on whatever machine runs it (the targets, listed in docs/performance.md,
are such ratios). ``--quick`` uses 64 MiB buffers and three repeats; the
default uses 1 GiB buffers; ``--size-mib N`` sets the buffer size (down to
1 MiB, for a smoke test). The pruning section works on a quarter of the
buffer's bytes (64 Mi float32 for 1 GiB).
"""
import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time

import numpy as np

import fastinit

GiB = 1 << 30
MiB = 1 << 20


# --------------------------------------------------------------------------- helpers

class Progress:
    """A one-line progress bar on stderr (silent with --quiet)."""

    def __init__(self, total, quiet=False):
        self.total = max(1, total)
        self.done = 0
        self.quiet = quiet
        self.start = time.perf_counter()

    def step(self, label):
        self.done += 1
        if self.quiet:
            return
        width = 28
        filled = int(width * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed:5.1f}s {label[:48]:<48}"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self):
        if not self.quiet:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _median_time(fn, repeats):
    fn()  # warm-up: faults pages in, starts thread pools
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_line():
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    return (f"{model}; {cpus} CPUs; {platform.system()} {platform.machine()}; Python {platform.python_version()}; "
            f"NumPy {np.__version__}; fastinit {fastinit.__version__} (SIMD {fastinit.simd_level()})")


def _sin_worker(args):
    n_iter, barrier = args
    x = np.linspace(0, 1, 32 * 1024, dtype=np.float32)
    y = np.empty_like(x)
    barrier.wait()
    t = time.perf_counter()
    for _ in range(n_iter):
        np.sin(x, out=y)
    return time.perf_counter() - t


def machine_scaling(seconds=0.5):
    """How much faster two processes run in-cache vector work than one: the yardstick
    for the 1 -> N thread scaling targets (a machine whose second core adds little
    cannot be asked for a 2x speed-up)."""
    x = np.linspace(0, 1, 32 * 1024, dtype=np.float32)
    y = np.empty_like(x)
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < 0.05:
        np.sin(x, out=y)
        n += 1
    n_iter = max(10, int(n * seconds / 0.05))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        with ctx.Pool(2) as pool:
            b1 = manager.Barrier(1)
            b2 = manager.Barrier(2)
            # one process, two at once, one again: the best single run is the reference
            t1 = pool.map(_sin_worker, [(n_iter, b1)])[0]
            t2 = max(pool.map(_sin_worker, [(n_iter, b2), (n_iter, b2)]))
            t1 = min(t1, pool.map(_sin_worker, [(n_iter, b1)])[0])
    return 2 * t1 / t2


# --------------------------------------------------------------------------- pruning

def _maxrss_mib():
    """Peak resident memory of this process in MiB: VmHWM (which a new program
    image starts afresh, unlike ru_maxrss, which Linux keeps across execve, so
    a spawned worker would inherit the benchmark's own peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2 ** 20


def _prune_worker(args):
    """One pruning method on a fresh buffer in a fresh process: (seconds, peak extra MiB, fill seconds).

    The process holds the one buffer when the baseline peak RSS is read, and
    regenerates it in place before every timed repeat, so the peak's growth
    is what the method itself allocates."""
    method, n, threads, repeats = args
    import numpy as np
    import fastinit
    fastinit.set_num_threads(threads)
    w = fastinit.normal((n,), std=0.02, seed=3)
    t = time.perf_counter()
    w.fill(1.0)
    fill = time.perf_counter() - t
    if method.startswith("torch"):
        import torch
        from torch.nn.utils import prune
        torch.set_num_threads(threads)
    base = _maxrss_mib()
    times = []
    for _ in range(repeats):
        fastinit.normal_(w, std=0.02, seed=3)
        if method.startswith("torch"):
            lin = torch.nn.Linear(1, 1, bias=False)
            lin.weight = torch.nn.Parameter(torch.from_numpy(w).view(-1, 1024), requires_grad=False)
            t = time.perf_counter()
            if method == "torch":
                prune.l1_unstructured(lin, "weight", amount=0.9)
            else:
                prune.global_unstructured([(lin, "weight")], pruning_method=prune.L1Unstructured, amount=0.9)
            times.append(time.perf_counter() - t)
            del lin
        elif method == "numpy":
            t = time.perf_counter()
            k = int(round(0.9 * w.size))
            mag = np.abs(w)
            thr = np.partition(mag, k - 1)[k - 1]
            w[mag <= thr] = 0            # every tie at the threshold goes (not an exact count)
            times.append(time.perf_counter() - t)
            del mag
        else:
            t = time.perf_counter()
            fastinit.prune_magnitude_(w, 0.9)
            times.append(time.perf_counter() - t)
    return statistics.median(times), _maxrss_mib() - base, fill


def prune_rows(n, thread_counts, repeats, torch_enabled, progress):
    """n float32 (64 Mi in a full run) at 90 % sparsity: time and peak extra memory, each in its own process."""
    methods = [("fastinit", nt) for nt in thread_counts]
    methods += [("numpy", 1)]
    if torch_enabled and _torch() is not None:
        methods += [("torch", max(thread_counts)), ("torch-global", max(thread_counts))]
    names = {"fastinit": "fastinit.prune_magnitude_", "numpy": "np.partition + mask",
             "torch": "torch l1_unstructured", "torch-global": "torch global_unstructured"}
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for method, nt in methods:
        progress.step(f"prune: {names[method]} x{nt}")
        with ctx.Pool(1) as pool:
            reps = repeats if method in ("fastinit", "numpy") else 1
            sec, extra, fill = pool.map(_prune_worker, [(method, n, nt, reps)])[0]
        rows.append({"section": "prune", "name": names[method], "threads": nt, "dtype": "float32",
                     "seconds": sec, "bytes": 4 * n, "elements": n, "gb_per_s": 4 * n / sec / 1e9,
                     "gelem_per_s": n / sec / 1e9, "peak_extra_mib": extra, "fill_seconds": fill})
    return rows


# --------------------------------------------------------------------------- the suite

def _dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return np.dtype(name)


def _have_ml_dtypes():
    try:
        import ml_dtypes  # noqa: F401
        return True
    except ImportError:
        return False


def _torch():
    try:
        import torch
        return torch
    except Exception:
        return None


FASTINIT_SCHEMES = {
    "uniform_": lambda b, s: fastinit.uniform_(b, -0.1, 0.1, seed=s),
    "kaiming_uniform_": lambda b, s: fastinit.kaiming_uniform_(b, a=math.sqrt(5), fan_in=4096, fan_out=4096, seed=s),
    "normal_": lambda b, s: fastinit.normal_(b, 0.0, 0.02, seed=s),
    "kaiming_normal_": lambda b, s: fastinit.kaiming_normal_(b, fan_in=4096, fan_out=4096, seed=s),
    "trunc_normal_": lambda b, s: fastinit.trunc_normal_(b, 0.0, 0.02, seed=s),
}
FAMILY = {"uniform_": "uniform", "kaiming_uniform_": "uniform", "normal_": "normal",
          "kaiming_normal_": "normal", "trunc_normal_": "trunc"}


def run(quick=False, threads=None, repeats=None, quiet=False, torch_enabled=True, scaling=True, prune=True,
        size_mib=None):
    """Measure everything; returns a dict of rows and ratios (also what --json writes).

    ``size_mib`` (a positive int) sets the buffer size, one buffer per dtype;
    otherwise 64 MiB with ``quick``, 1 GiB without."""
    if size_mib is not None:
        if not isinstance(size_mib, int) or isinstance(size_mib, bool) or size_mib < 1:
            raise ValueError(f"size_mib must be a positive int, got {size_mib!r}")
        nbytes = size_mib * MiB
    else:
        nbytes = 64 * MiB if quick else GiB
    repeats = repeats or (3 if quick else 5)
    all_threads = threads or fastinit.get_num_threads()
    thread_counts = sorted({1, all_threads})
    torch = _torch() if torch_enabled else None
    dtypes = ["float32", "float64", "float16"] + (["bfloat16"] if _have_ml_dtypes() else [])
    saved_threads = fastinit.get_num_threads()

    plan = []   # (section, label, threads, dtype, callable factory)
    rows = []

    f32 = np.empty(nbytes // 4, np.float32)
    f32.fill(0)
    buffers = {"float32": f32}
    for dt in dtypes[1:]:
        b = np.empty(nbytes // np.dtype(_dtype(dt)).itemsize, _dtype(dt))
        b.view(np.uint8).fill(0)
        buffers[dt] = b

    def add(section, name, nthreads, dtype, fn, nbytes_=None, elements=None):
        plan.append((section, name, nthreads, dtype, fn, nbytes_, elements))

    # references: store bandwidth on one thread
    add("reference", "numpy fill(1.0)", 1, "float32", lambda: f32.fill(1.0))
    add("reference", "numpy fill(0) (memset)", 1, "float32", lambda: f32.fill(0))
    for nt in thread_counts:
        # store bandwidth at each thread count: fastinit's pattern fill through the same pool
        add("reference", "fastinit constant_ (stores)", nt, "float32", lambda: fastinit.constant_(f32, 1.0))
    # fastinit: every scheme x dtype x {1, all} threads
    for nt in thread_counts:
        for name, fill in FASTINIT_SCHEMES.items():
            for dt in dtypes:
                if dt != "float32" and name not in ("kaiming_uniform_", "kaiming_normal_", "trunc_normal_"):
                    continue
                buf = buffers[dt]
                add("fastinit", name, nt, dt, (lambda fill=fill, buf=buf: fill(buf, 1)))
    # allocating constructor vs np.empty + fill (includes the page faults)
    for nt in thread_counts:
        add("alloc", "fastinit.kaiming_uniform(shape)", nt, "float32",
            lambda: fastinit.kaiming_uniform(f32.shape, a=math.sqrt(5), fan_in=4096, fan_out=4096, seed=1),
            nbytes, f32.size)
        add("alloc", "np.empty + kaiming_uniform_", nt, "float32",
            lambda: fastinit.kaiming_uniform_(np.empty(f32.shape, np.float32), a=math.sqrt(5), fan_in=4096,
                                              fan_out=4096, seed=1), nbytes, f32.size)
    # NumPy
    pcg = np.random.Generator(np.random.PCG64(1))
    philox = np.random.Generator(np.random.Philox(1))
    add("numpy", "PCG64 random(float32)", 1, "float32", lambda: pcg.random(out=f32, dtype=np.float32))
    add("numpy", "PCG64 standard_normal(float32)", 1, "float32", lambda: pcg.standard_normal(out=f32, dtype=np.float32))
    add("numpy", "Philox random(float32)", 1, "float32", lambda: philox.random(out=f32, dtype=np.float32))
    # PyTorch
    if torch is not None:
        t32 = torch.from_numpy(f32)
        tbf = torch.empty(f32.size, dtype=torch.bfloat16)
        for nt in thread_counts:
            add("torch", "nn.init.kaiming_uniform_", nt, "float32",
                lambda: torch.nn.init.kaiming_uniform_(t32.view(-1, 4096), a=math.sqrt(5)))
            add("torch", "nn.init.kaiming_normal_", nt, "float32",
                lambda: torch.nn.init.kaiming_normal_(t32.view(-1, 4096)))
            add("torch", "nn.init.trunc_normal_", nt, "float32",
                lambda: torch.nn.init.trunc_normal_(t32, std=0.02))
            add("torch", "nn.init.kaiming_uniform_", nt, "bfloat16",
                lambda: torch.nn.init.kaiming_uniform_(tbf.view(-1, 4096), a=math.sqrt(5)), tbf.numel() * 2,
                tbf.numel())

    n_prune = (len(thread_counts) + 1 + (2 if torch is not None else 0)) if prune else 0
    progress = Progress(len(plan) + (1 if scaling else 0) + n_prune, quiet)
    try:
        for section, name, nt, dt, fn, nb, el in plan:
            fastinit.set_num_threads(nt)
            if torch is not None:
                torch.set_num_threads(nt)
            progress.step(f"{section}: {name} {dt} x{nt}")
            buf = buffers[dt]
            nb = nb or buf.nbytes
            el = el or buf.size
            t = _median_time(fn, repeats)
            rows.append({"section": section, "name": name, "threads": nt, "dtype": dt, "seconds": t,
                         "bytes": nb, "elements": el, "gb_per_s": nb / t / 1e9, "gelem_per_s": el / t / 1e9})
        if prune:
            rows += prune_rows(nbytes // 16, thread_counts, repeats, torch is not None, progress)
        scale = None
        if scaling:
            progress.step("machine: np.sin in cache, 2 processes vs 1")
            scale = machine_scaling(0.25 if quick or nbytes < GiB else 1.0)
    finally:
        progress.close()
        fastinit.set_num_threads(saved_threads)
    result = {"machine": machine_line(), "buffer_bytes": nbytes, "repeats": repeats,
              "threads": thread_counts, "rows": rows, "machine_scaling_2v1": scale}
    result["targets"] = targets(result)
    return result


def _find(rows, section, name, threads, dtype="float32"):
    for r in rows:
        if r["section"] == section and r["name"] == name and r["threads"] == threads and r["dtype"] == dtype:
            return r
    return None


def targets(result):
    """The speed targets (listed with their goals in docs/performance.md), each with
    the value measured in this run, computed from its rows."""
    rows = result["rows"]
    out = []
    tmax = max(result["threads"])

    def add(what, value, goal, ok=None):
        if value is None:
            return
        out.append({"target": what, "value": value, "goal": goal, "met": bool(value >= goal if ok is None else ok)})

    fill = _find(rows, "reference", "numpy fill(1.0)", 1)
    philox = _find(rows, "numpy", "Philox random(float32)", 1)
    u1 = _find(rows, "fastinit", "kaiming_uniform_", 1)
    if u1 and fill and philox:
        a, b = u1["gb_per_s"] / fill["gb_per_s"], u1["gb_per_s"] / philox["gb_per_s"]
        out.append({"target": "uniform 1 thread: >= 0.75 x NumPy fill, or >= 8 x NumPy Philox random",
                    "value": f"{a:.2f} x fill, {b:.1f} x Philox", "goal": "0.75 / 8", "met": a >= 0.75 or b >= 8})
    for nt in result["threads"]:
        u = _find(rows, "fastinit", "kaiming_uniform_", nt)
        n = _find(rows, "fastinit", "kaiming_normal_", nt)
        t = _find(rows, "fastinit", "trunc_normal_", nt)
        if u and n:
            add(f"normal / uniform speed, {nt} thread(s)", n["gb_per_s"] / u["gb_per_s"], 0.50)
        if u and t:
            add(f"trunc_normal / uniform speed, {nt} thread(s)", t["gb_per_s"] / u["gb_per_s"], 0.35)
        for name in ("kaiming_uniform_", "kaiming_normal_", "trunc_normal_"):
            base = _find(rows, "fastinit", name, nt)
            for dt in ("float16", "bfloat16"):
                r = _find(rows, "fastinit", name, nt, dt)
                if base and r:
                    add(f"{name} {dt} elements/s vs float32, {nt} thread(s)", r["gelem_per_s"] / base["gelem_per_s"], 1.0)
            r = _find(rows, "fastinit", name, nt, "float64")
            if base and r:
                add(f"{name} float64 bytes/s vs float32, {nt} thread(s)", r["gb_per_s"] / base["gb_per_s"], 0.8)
    if tmax > 1:
        stores = _find(rows, "reference", "fastinit constant_ (stores)", tmax)
        for name in ("kaiming_uniform_", "kaiming_normal_", "trunc_normal_"):
            a, b = _find(rows, "fastinit", name, 1), _find(rows, "fastinit", name, tmax)
            if a and b and result.get("machine_scaling_2v1"):
                s = b["gb_per_s"] / a["gb_per_s"]
                m = result["machine_scaling_2v1"]
                # met as well when the multi-thread fill already runs at 0.75 x the store bandwidth
                at_bw = stores is not None and b["gb_per_s"] >= 0.75 * stores["gb_per_s"]
                add(f"{name} scaling 1 -> {tmax} threads vs machine ({m:.2f}x)"
                    + (" or >= 0.75 x store bandwidth" if stores else ""), s / m, 0.9,
                    ok=(s / m >= 0.9 or at_bw) and b["gb_per_s"] >= a["gb_per_s"])
    for nt in result["threads"]:
        p = _find(rows, "prune", "fastinit.prune_magnitude_", nt)
        if p:
            add(f"prune_magnitude_ 90 % of {_count(p['elements'])} float32 vs one-thread fill, {nt} thread(s) "
                "(at most 5x the fill's time)", p["fill_seconds"] / p["seconds"], 0.2)
    pr = _find(rows, "numpy", "PCG64 random(float32)", 1)
    pn = _find(rows, "numpy", "PCG64 standard_normal(float32)", 1)
    ut = _find(rows, "fastinit", "kaiming_uniform_", tmax)
    nt_ = _find(rows, "fastinit", "kaiming_normal_", tmax)
    if pr and ut:
        add(f"uniform vs NumPy PCG64 random, {tmax} threads", ut["gb_per_s"] / pr["gb_per_s"], 8.0)
    if pn and nt_:
        add(f"normal vs NumPy PCG64 standard_normal, {tmax} threads", nt_["gb_per_s"] / pn["gb_per_s"], 8.0)
    for nt in result["threads"]:
        for name, goal in (("kaiming_uniform_", 10.0), ("kaiming_normal_", 5.0), ("trunc_normal_", 5.0)):
            f = _find(rows, "fastinit", name, nt)
            t = _find(rows, "torch", "nn.init." + name, nt)
            if f and t:
                add(f"{name} vs PyTorch, {nt} thread(s)", f["gb_per_s"] / t["gb_per_s"], goal)
        f = _find(rows, "fastinit", "kaiming_uniform_", nt, "bfloat16")
        t = _find(rows, "torch", "nn.init.kaiming_uniform_", nt, "bfloat16")
        if f and t:
            add(f"kaiming_uniform_ bfloat16 vs PyTorch, {nt} thread(s)", f["gb_per_s"] / t["gb_per_s"], 10.0)
    return out


def _count(n):
    """An element count in binary units: '64 Mi', '64 Ki', '1000'."""
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return str(n)


def _ms(seconds):
    """Milliseconds with one decimal, or three below 10 ms (small --size-mib buffers)."""
    ms = seconds * 1e3
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.3f}"


def format_report(result):
    lines = [f"machine: {result['machine']}",
             f"buffer: {_count(result['buffer_bytes'])}B, median of {result['repeats']} repeats",
             ""]
    fill = _find(result["rows"], "reference", "numpy fill(1.0)", 1)
    hdr = f"{'section':<10} {'what':<34} {'dtype':<9} {'thr':>3} {'ms':>9} {'GB/s':>7} {'Gelem/s':>8} {'x fill':>7}"
    lines += [hdr, "-" * len(hdr)]
    for r in result["rows"]:
        if r["section"] == "prune":
            continue
        ratio = r["gb_per_s"] / fill["gb_per_s"] if fill else float("nan")
        lines.append(f"{r['section']:<10} {r['name']:<34} {r['dtype']:<9} {r['threads']:>3} "
                     f"{_ms(r['seconds']):>9} {r['gb_per_s']:>7.2f} {r['gelem_per_s']:>8.3f} {ratio:>7.3f}")
    prune_rows_ = [r for r in result["rows"] if r["section"] == "prune"]
    if prune_rows_:
        n = prune_rows_[0]["elements"]
        lines += ["", f"pruning 90 % of {_count(n)} float32 (each method in its own process):",
                  f"{'what':<34} {'thr':>3} {'ms':>10} {'x fill':>8} {'peak extra MiB':>15}"]
        for r in prune_rows_:
            lines.append(f"{r['name']:<34} {r['threads']:>3} {_ms(r['seconds']):>10} "
                         f"{r['seconds'] / r['fill_seconds']:>8.1f} {r['peak_extra_mib']:>15.1f}")
    if result.get("machine_scaling_2v1"):
        lines += ["", f"machine scaling (np.sin in cache, 2 processes vs 1): {result['machine_scaling_2v1']:.2f}x"]
    lines += ["", "targets (docs/performance.md):"]
    for t in result["targets"]:
        value = t["value"] if isinstance(t["value"], str) else f"{t['value']:.2f}"
        lines.append(f"  [{'met' if t['met'] else 'MISS':>4}] {t['target']}: {value} (goal {t['goal']})")
    return "\n".join(lines)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastinit bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB buffers, 3 repeats (under 30 s)")
    parser.add_argument("--size-mib", type=_positive_int, metavar="N",
                        help="buffer size in MiB, one buffer per dtype (default 1024, quick 64); "
                             "the pruning section uses a float32 buffer a quarter that size "
                             "(--size-mib 1 --repeats 1: a smoke test of a few seconds)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON to FILE")
    parser.add_argument("--threads", type=_positive_int, help="the 'all threads' count (default: fastinit.get_num_threads())")
    parser.add_argument("--repeats", type=_positive_int, help="timed repeats per figure (default 5, quick 3)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is importable")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 2-process machine scaling probe")
    parser.add_argument("--no-prune", action="store_true", help="skip the pruning section")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, threads=args.threads, repeats=args.repeats, quiet=args.quiet,
                 torch_enabled=not args.no_torch, scaling=not args.no_scaling, prune=not args.no_prune,
                 size_mib=args.size_mib)
    print(format_report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0
