"""Orthogonal initialization: torch.nn.init.orthogonal_ against fastinit's, time and peak memory.

Ways, each run in a fresh process (spawned, so memory starts empty):
  torch      torch.nn.init.orthogonal_ on a float32 tensor (torch's normal_, then
             torch.linalg.qr: a copy of the matrix, Q and R)
  fastinit   fastinit.orthogonal_ on a float32 NumPy array (the normal matrix drawn
             in the buffer, factored in place when wide or square)
  ft         fastinit.torch.orthogonal_ on a float32 tensor (the same code and bits as
             fastinit's)

The buffer is allocated and touched before the clock starts. Reports the median
seconds of --repeats calls, the speedup over torch, and the extra peak memory of
the calls: the process's peak RSS (VmHWM) after them minus its RSS before the
first (buffer included in both), in MiB and in matrices (the buffer's size).

    python benchmarks/bench_orthogonal.py [--shapes 1024x1024,4096x4096,4096x16384] [--threads 2] [--repeats 3] [--json out.json]
"""
import argparse
import json
import multiprocessing
import statistics
import sys
import time

WAYS = ("torch", "fastinit", "ft")
SHAPES = "1024x1024,4096x4096,4096x16384"


def _status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(shape, way, threads, repeats, queue):
    import numpy as np
    import torch

    import fastinit
    import fastinit.torch as ft
    torch.set_num_threads(threads)
    fastinit.set_num_threads(threads)
    if way == "fastinit":
        buf = np.ones(shape, np.float32)
        call = lambda: fastinit.orthogonal_(buf, seed=0)
    else:
        buf = torch.ones(shape)
        fn = torch.nn.init.orthogonal_ if way == "torch" else ft.orthogonal_
        call = lambda: fn(buf)
    rows = shape[0]
    warm = np.ones((min(rows, 64), 64), np.float32)          # load LAPACK before measuring
    fastinit.orthogonal_(warm, seed=0) if way == "fastinit" else fn(torch.from_numpy(warm))
    base = _status_mib("VmRSS")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    view = buf if way == "fastinit" else buf.numpy()
    if rows > shape[1]:
        part = np.asarray(view[:, :64], np.float64)          # tall: orthonormal columns
        ok = bool(np.allclose(part.T @ part, np.eye(part.shape[1]), atol=1e-4))
    else:
        part = np.asarray(view[:64], np.float64)              # wide or square: orthonormal rows
        ok = bool(np.allclose(part @ part.T, np.eye(len(part)), atol=1e-4))
    queue.put({"shape": list(shape), "way": way, "seconds": statistics.median(times), "all_seconds": times,
               "extra_peak_mib": _status_mib("VmHWM") - base, "matrix_mib": rows * shape[1] * 4 / 2 ** 20,
               "orthonormal_rows_checked": ok})


def run_one(shape, way, threads, repeats):
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(shape, way, threads, repeats, q))
    p.start()
    out = q.get()
    p.join()
    return out


def parse_shapes(text):
    return [tuple(int(n) for n in s.split("x")) for s in text.split(",") if s]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=SHAPES, help=f"comma-separated ROWSxCOLS (default {SHAPES})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'shape':>12} {'way':>9} {'seconds':>9} {'vs torch':>9} {'extra peak MiB':>15} {'matrices':>9}")
    for shape in parse_shapes(args.shapes):
        base = None
        for way in WAYS:
            r = run_one(shape, way, args.threads, args.repeats)
            if way == "torch":
                base = r["seconds"]
            r["speedup"] = base / r["seconds"]
            rows.append(r)
            print(f"{'x'.join(map(str, shape)):>12} {way:>9} {r['seconds']:9.3f} {r['speedup']:8.2f}x "
                  f"{r['extra_peak_mib']:15.1f} {r['extra_peak_mib'] / r['matrix_mib']:9.2f}", flush=True)
            if not r["orthonormal_rows_checked"]:
                print("  (the result failed its orthonormality check)", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
