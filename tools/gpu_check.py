#!/usr/bin/env python
"""The GPU check of fastinit.gpu: bitwise equality with the CPU, throughput, a 1.1B Llama.

One prepared script for a machine with one NVIDIA GPU (written for an H200),
run once. It prints a readable report and writes every figure to a JSON file
(rewritten after each section, so a run cut short still leaves what it had).

On the GPU machine, from the repository root, after building the extension
(``pip install .`` or ``python setup.py build_ext --inplace``) with a CUDA torch
and triton installed::

    python tools/gpu_check.py --out $OUT/gpu_check.json

Expected runtime on the H200 (an estimate: the script has not been run on a
GPU yet): about 2 to 3 minutes for the full run. The first launch of each of
the 20 Triton kernel variants compiles it (about 1 to 3 s each), and section 2
writes about 46 GiB of fills on each side, copies the GPU's to the host and
hashes both. ``--budget-s`` (default 420) bounds it:
section 2 starts no new case after 60 % of the budget, section 3 no new row
after 80 %; skipped cases are listed as skipped. If device time is short,
``--quick`` (2**20 elements, a 2-layer Llama with TinyLlama's widths) takes
well under a minute, most of it compiling.

Sections (``--sections 1,2,3,4`` picks some; each is guarded: an exception is
reported and the next section still runs):

1. Environment: GPU, torch / triton / CUDA versions, CPU model, RAM,
   ``fastinit.simd_level()``, thread counts, the git commit.
2. Bitwise equality, GPU (``fastinit.gpu.fill_``) vs CPU (the NumPy fills, the C
   kernels, on ``os.cpu_count()`` threads): random_bits (int32), uniform, normal,
   trunc_normal on [-2, 2], on a far tail [9, 9.5] and on a narrow interval
   [0.5, 0.5001], constant 0.1; float32, float64, float16, bfloat16; 2**28
   elements (``--size-log2``) at offsets 0 and 2**64 - size - 3 (and 2**33 + 5
   with ``--all-offsets``), and lengths 1, 3, 4099, 1_000_003 at offsets 0,
   2**33 + 5 and 2**64 - n - 3. Each side is hashed (blake2b-256 over the
   blake2b-256 digests of its 8 MiB chunks, the same on both sides) and the
   bytes are compared directly as well; a mismatch reports the count and the
   first differing indices with both sides' bits and values.
3. Throughput on 2**28 elements: ``fastinit.gpu.fill_`` vs torch's CUDA
   ``uniform_``, ``normal_`` and ``nn.init.trunc_normal_`` (std 0.02 on +-2 std)
   on the same tensor, float32 and bfloat16 (uniform and normal also float64),
   beside the GPU's bandwidth in the same run: ``dst.copy_(src)`` of the same
   bytes (GB/s counting read + write) and torch's ``fill_(0.5)`` (write only).
   CUDA events, 2 warm-up runs, median of 7 (``--repeats``). "ms" is one call
   timed alone (host work included, as a caller sees it); "batched ms" is the
   mean of back-to-back calls (host work overlapped with the kernels: about the
   device time). GB/s of a fill counts the bytes written; GB = 1e9 bytes. Each
   kernel's first call (its compilation, Triton's cache in a fresh directory
   unless ``--reuse-triton-cache``) is reported apart.
4. TinyLlama-1.1B shapes (hidden 2048, intermediate 5632, 22 layers, 32 heads,
   4 KV heads, vocab 32000, float32; transformers' LlamaForCausalLM when it
   imports, else a torch.nn module with the same parameter shapes) built on
   ``meta``, ``to_empty(device='cuda')``, then the model's own init
   (``init_weights()``; for the fallback, every module's ``reset_parameters()``):
   (a) torch's functions on the GPU, (b) under ``fastinit.torch.patch()`` (the
   Triton kernels), (c) under ``patch()`` with ``FASTINIT_GPU_KERNELS=0`` (CPU
   kernels and staging copies). Times each (after a warm-up on a tiny model);
   (b) and (c) must be bitwise identical, tensor by tensor.

Exit status: 1 if any bitwise comparison failed (section 2 or 4), else 2 if a
section or a case raised, else 0.

``--interpret`` runs everything on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1``, set before fastinit.gpu is imported), to test the script
without a GPU: torch's CPU functions and a CPU copy are timed in place of the
CUDA ones, the Llama is a tiny one, and in section 4 CPU tensors stand in for
CUDA ones on fastinit.torch's device route (as tests/test_triton.py does)::

    python tools/gpu_check.py --quick --interpret --size-log2 12     # about a minute

What to paste afterwards (from the printed report or the JSON):

* docs/gpu.md, section "Figures": replace "Not measured yet" with the date, the
  machine (section 1), the command above, the bitwise result (cases equal /
  total, sizes, offsets), the throughput table of section 3 (fastinit vs torch
  vs copy and memset, per fill and dtype) and the compile times, and the
  section 4 times ((a), (b), (c), (b) == (c)).
* docs/performance.md: a section "fastinit.gpu on an H200" with the machine,
  the command, the section 3 table, and the section 4 times, ratios taken
  within this one run, as the page does for the CPU.
"""
import argparse
import gc
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

SEED = 20261201
STREAM = 7
CHUNK = 8 << 20                       # bytes per hashed / compared chunk
FLOATS = ("float32", "float64", "float16", "bfloat16")
# (label, fill, args, dtypes) of section 2
FILLS = (
    ("random_bits", "random_bits", (), ("int32",)),
    ("uniform(-0.75, 2.5)", "uniform", (-0.75, 2.5), FLOATS),
    ("normal(0.25, 1.5)", "normal", (0.25, 1.5), FLOATS),
    ("trunc_normal(0, 1, -2, 2)", "trunc_normal", (0.0, 1.0, -2.0, 2.0), FLOATS),
    ("trunc_normal(0, 1, 9, 9.5) far tail", "trunc_normal", (0.0, 1.0, 9.0, 9.5), FLOATS),
    ("trunc_normal(0, 1, 0.5, 0.5001) narrow", "trunc_normal", (0.0, 1.0, 0.5, 0.5001), FLOATS),
    ("constant(0.1)", "constant", (0.1,), FLOATS),
)
ODD_SIZES = (1, 3, 4099, 1_000_003)
# (fill, args, dtype) of section 3, with torch's counterpart
THROUGHPUT = (
    ("uniform", (-1.0, 1.0), "float32"),
    ("uniform", (-1.0, 1.0), "bfloat16"),
    ("uniform", (-1.0, 1.0), "float64"),
    ("normal", (0.0, 0.02), "float32"),
    ("normal", (0.0, 0.02), "bfloat16"),
    ("normal", (0.0, 0.02), "float64"),
    ("trunc_normal", (0.0, 0.02, -0.04, 0.04), "float32"),
    ("trunc_normal", (0.0, 0.02, -0.04, 0.04), "bfloat16"),
)
LLAMA = {   # name -> (vocab, hidden, intermediate, layers, heads, kv heads)
    "tinyllama": (32000, 2048, 5632, 22, 32, 4),
    "2layer": (32000, 2048, 5632, 2, 32, 4),
    "tiny": (512, 64, 176, 2, 4, 2),
}


# ---------------------------------------------------------------------------- report plumbing

class Report:
    def __init__(self, path):
        self.path = path
        self.data = {"tool": "tools/gpu_check.py", "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "sections": {}, "errors": [], "compile": {}}
        self.mismatches = 0
        self.failures = 0              # exceptions (sections or cases)
        self.t0 = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.t0

    def write(self):
        self.data["elapsed_s"] = round(self.elapsed(), 3)
        self.data["mismatches"] = self.mismatches
        self.data["failures"] = self.failures
        try:
            d = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(d, exist_ok=True)
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(_clean(self.data), f, indent=1)
            os.replace(tmp, self.path)
        except Exception as exc:  # noqa: BLE001 - the report must not kill the run
            print(f"!! could not write {self.path}: {exc!r}", flush=True)

    def error(self, where, exc):
        self.failures += 1
        tb = traceback.format_exc()
        self.data["errors"].append({"where": where, "error": repr(exc), "traceback": tb[-4000:]})
        print(f"!! {where}: {exc!r}\n{tb[-2000:]}", flush=True)


def _clean(x):
    """JSON-safe: non-finite floats as strings, tuples as lists, the rest by str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else repr(x)
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return str(x)


def say(*parts):
    print(*parts, flush=True)


def run_section(rep, key, title, fn):
    say(f"\n=== {key}. {title} " + "=" * max(3, 66 - len(title)))
    t0 = time.perf_counter()
    ok = True
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        ok = False
        rep.error(f"section {key} ({title})", exc)
    sec = time.perf_counter() - t0
    rep.data["sections"][key] = {"title": title, "ok": ok, "seconds": round(sec, 3)}
    say(f"--- section {key} {'done' if ok else 'FAILED'} in {sec:.1f} s (total {rep.elapsed():.1f} s)")
    rep.write()


# ---------------------------------------------------------------------------- the check

class Check:
    def __init__(self, args, rep):
        import numpy as np
        import torch

        import fastinit
        import fastinit.gpu as gpu
        from fastinit import _buffers, _fill, _kernels
        self.np, self.torch, self.fastinit, self.gpu = np, torch, fastinit, gpu
        self._buffers, self._fill, self._kernels = _buffers, _fill, _kernels
        self.args, self.rep = args, rep
        self.interpret = args.interpret
        self.cuda = (not args.interpret) and torch.cuda.is_available()
        self.dev = "cuda" if self.cuda else "cpu"
        self.threads = os.cpu_count() or 1
        fastinit.set_num_threads(self.threads)
        self.pool = ThreadPoolExecutor(self.threads)
        self.N = 1 << args.size_log2
        self.NP = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int32": np.uint32}
        self.TD = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                   "bfloat16": torch.bfloat16, "int32": torch.int32}
        self.SIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4}
        self.UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
        self.TINT = {2: torch.int16, 4: torch.int32, 8: torch.int64}
        self._host = None
        self._cpu = None

    # ---- helpers
    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def buffers(self, nbytes):
        """(a NumPy uint8 buffer for the CPU fill, a torch uint8 host buffer for the device
        copy), at least nbytes each, reused across cases (pinned when on CUDA)."""
        np, torch = self.np, self.torch
        if self._cpu is None or self._cpu.nbytes < nbytes:
            self._cpu = self._host = None
            gc.collect()
            self._cpu = np.empty(nbytes, np.uint8)
            if self.cuda:
                try:
                    self._host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
                except Exception:  # noqa: BLE001 - pageable then
                    self._host = torch.empty(nbytes, dtype=torch.uint8)
        return self._cpu, self._host

    def np_view(self, u8, n, dtype):
        np = self.np
        raw = u8[:n * self.SIZE[dtype]]
        if dtype == "bfloat16":
            return raw.view(np.uint16).view(self._buffers.BFloat16Bits)
        return raw.view(self.NP[dtype])

    def kernel_key(self, fill, args, kw, dtype):
        """'KIND/OUT' of the Triton kernel variant a fill launches (its constexprs)."""
        K = self._kernels
        try:
            code = self._fill.BITS_CODE if dtype == "int32" else self._buffers.FLOAT_CODES[dtype]
            draw = self._fill.lookup(fill).describe((1,), tuple(args), dict(kw)).draw
            kind = draw.kernel(code)[0]
            kinds = {K.BITS: "bits", K.UNIFORM: "uniform", K.NORMAL: "normal", K.TRUNC: "trunc",
                     K.TRUNC_WIDE: "trunc_wide", K.PATTERN: "pattern"}
            return f"{kinds.get(kind, kind)}/{dtype}"
        except Exception:  # noqa: BLE001
            return f"{fill}/{dtype}"

    def gpu_fill(self, t, fill, args, kw, dtype, label=""):
        """fastinit.gpu.fill_; the first call of each kernel variant is timed (synchronized)
        and recorded as its compile (+ first launch) time."""
        key = self.kernel_key(fill, args, kw, dtype)
        comp = self.rep.data["compile"]
        if key in comp:
            return self.gpu.fill_(t, fill, *args, **kw)
        self.sync()
        t0 = time.perf_counter()
        out = self.gpu.fill_(t, fill, *args, **kw)
        self.sync()
        comp[key] = {"first_call_s": round(time.perf_counter() - t0, 4), "first_use": f"{label} n={t.numel()}"}
        return out

    def compare(self, a_u8, b_u8):
        """Tree blake2b of both byte arrays (8 MiB chunks, in threads) and a direct compare."""
        n = a_u8.shape[0]
        assert b_u8.shape[0] == n

        def work(lo):
            x, y = a_u8[lo:lo + CHUNK], b_u8[lo:lo + CHUNK]
            return (hashlib.blake2b(x, digest_size=32).digest(), hashlib.blake2b(y, digest_size=32).digest(),
                    bool(self.np.array_equal(x, y)))
        parts = list(self.pool.map(work, range(0, max(n, 1), CHUNK)))
        ha = hashlib.blake2b(b"".join(p[0] for p in parts), digest_size=32).hexdigest()
        hb = hashlib.blake2b(b"".join(p[1] for p in parts), digest_size=32).hexdigest()
        return ha, hb, all(p[2] for p in parts)

    def values(self, bits, dtype):
        np = self.np
        if dtype == "int32":
            return [int(v) for v in bits]
        if dtype == "bfloat16":
            f = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
        elif dtype == "float16":
            f = bits.view(np.float16)
        else:
            f = bits.view(self.NP[dtype])
        return [repr(float(v)) for v in f]

    def mismatch(self, a_u8, b_u8, dtype, n):
        size = self.SIZE[dtype]
        ua = a_u8[:n * size].view(self.UINT[size])
        ub = b_u8[:n * size].view(self.UINT[size])
        bad = self.np.flatnonzero(ua != ub)
        first = bad[:8]
        w = 2 * size
        return {"count": int(bad.size), "first_indices": [int(i) for i in first],
                "cpu_bits": [f"{int(v):0{w}x}" for v in ua[first]], "gpu_bits": [f"{int(v):0{w}x}" for v in ub[first]],
                "cpu_values": self.values(ua[first], dtype), "gpu_values": self.values(ub[first], dtype)}

    # ---- section 1
    def environment(self):
        torch, np = self.torch, self.np
        env = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__,
               "torch": torch.__version__, "torch_cuda": torch.version.cuda,
               "fastinit": getattr(self.fastinit, "__version__", "?"), "fastinit_path": self.fastinit.__file__,
               "fastinit_kernels": getattr(self._kernels, "__file__", "?"),
               "simd_level": self.fastinit.simd_level(), "cpu_count": os.cpu_count(),
               "fastinit_threads": self.fastinit.get_num_threads(), "torch_threads": torch.get_num_threads(),
               "interpret": self.interpret, "device": self.dev,
               "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET"),
               "TRITON_CACHE_DIR": os.environ.get("TRITON_CACHE_DIR"),
               "FASTINIT_GPU_KERNELS": os.environ.get("FASTINIT_GPU_KERNELS"),
               "size_log2": self.args.size_log2, "quick": self.args.quick, "argv": sys.argv[1:]}
        try:
            env["affinity_cpus"] = len(os.sched_getaffinity(0))
        except Exception:  # noqa: BLE001
            pass
        try:
            import triton
            env["triton"] = triton.__version__
        except Exception as exc:  # noqa: BLE001
            env["triton"] = f"not importable: {exc!r}"
        env["gpu_available"] = self.gpu.available()
        try:
            from fastinit import _triton
            env["triton_module_interpret"] = _triton.INTERPRET
            env["launch_options"] = dict(_triton.LAUNCH_OPTIONS)
        except Exception as exc:  # noqa: BLE001
            env["triton_module"] = f"not importable: {exc!r}"
        env["cpu_model"] = _cpu_model()
        env["mem_total_gib"] = _mem_total_gib()
        if self.cuda:
            p = torch.cuda.get_device_properties(0)
            env["gpu_name"] = torch.cuda.get_device_name(0)
            env["gpu_capability"] = f"{p.major}.{p.minor}"
            env["gpu_memory_gib"] = round(p.total_memory / 2 ** 30, 1)
            env["gpu_sms"] = p.multi_processor_count
            env["gpu_count"] = torch.cuda.device_count()
            env["cudnn"] = torch.backends.cudnn.version()
            env["nvidia_smi"] = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                                      "clocks.max.memory,power.limit", "--format=csv,noheader"])
            t0 = time.perf_counter()
            torch.empty(1, device="cuda").fill_(0)      # CUDA context, before anything is timed
            torch.cuda.synchronize()
            env["cuda_init_s"] = round(time.perf_counter() - t0, 3)
        elif not self.interpret:
            env["gpu_name"] = None
            env["note"] = "torch.cuda.is_available() is False: sections 2-4 need --interpret here"
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["git_commit"] = _run(["git", "-C", root, "rev-parse", "HEAD"])
        st = _run(["git", "--no-optional-locks", "-C", root, "status", "--porcelain", "--untracked-files=no"])
        env["git_dirty"] = None if st is None else bool(st)
        self.rep.data["environment"] = env
        w = max(len(k) for k in env)
        for k, v in env.items():
            say(f"  {k:<{w}}  {v}")
        if not self.cuda and not self.interpret:
            raise RuntimeError("no CUDA device (torch.cuda.is_available() is False); run with --interpret on a CPU")

    # ---- section 2
    def cases(self):
        """[(label, fill, args, dtype, n, offset)], the order they run in (the main size at
        offset 0, the odd sizes, the main size at the other offsets)."""
        N = self.N
        combos = [(label, fill, args, dt) for label, fill, args, dts in FILLS for dt in dts]
        main_offs = [2 ** 33 + 5] if self.args.all_offsets else []
        main_offs.append(2 ** 64 - N - 3)
        first = [(lb, f, a, dt, N, 0) for lb, f, a, dt in combos]
        odd = []
        pairs = [(n, off) for n in self.odd_sizes() for off in (0, 2 ** 33 + 5, 2 ** 64 - n - 3)]
        diagonal = self.args.odd_matrix == "diagonal"
        turn = 0                               # diagonal: the next combination, in turn
        for n, off in pairs:
            # a constant has no offset: at offset 0 only
            usable = [c for c in combos if not (c[1] == "constant" and off != 0)]
            if diagonal:
                picks = []
                while len(picks) < 3:
                    c = combos[turn % len(combos)]
                    turn += 1
                    if c in usable:
                        picks.append(c)
            else:
                picks = usable
            for lb, f, a, dt in picks:
                odd.append((lb, f, a, dt, n, off))
        rest = [(lb, f, a, dt, N, off) for off in main_offs for lb, f, a, dt in combos if f != "constant"]
        return first + odd + rest

    def odd_sizes(self):
        if self.args.odd_sizes is not None:
            return [int(s) for s in self.args.odd_sizes.split(",") if s.strip()]
        if self.interpret:                     # the interpreter: ~20 s per fill of a million
            return [n for n in ODD_SIZES if n <= 1 << 16]
        return list(ODD_SIZES)

    def bitwise(self):
        torch = self.torch
        cases = self.cases()
        maxbytes = max(n * self.SIZE[dt] for _, _, _, dt, n, _ in cases)
        cpu_u8, host_u8 = self.buffers(maxbytes)
        stop_at = self.args.budget_s * 0.6
        out = {"hash": "blake2b-256 over the concatenated blake2b-256 digests of 8 MiB chunks of the bytes",
               "seed": SEED, "stream": STREAM, "cpu_threads": self.threads, "cases": []}
        self.rep.data["bitwise"] = out
        say(f"  {len(cases)} cases; CPU fills on {self.threads} threads; main size 2**{self.args.size_log2}; "
            f"odd sizes {self.odd_sizes()} ({self.args.odd_matrix} matrix)")
        n_eq = n_bad = n_err = n_skip = 0
        last_write = time.perf_counter()
        for i, (label, fill, fargs, dt, n, off) in enumerate(cases):
            rec = {"fill": label, "dtype": dt, "n": n, "offset": off}
            out["cases"].append(rec)
            if self.rep.elapsed() > stop_at:
                rec["status"] = "skipped"
                n_skip += 1
                continue
            try:
                size = self.SIZE[dt]
                nbytes = n * size
                a = self.np_view(cpu_u8, n, dt)
                a_u8 = cpu_u8[:nbytes]
                if n <= 1 << 24:
                    a_u8.fill(0x5A)            # a sentinel (the device side gets another)
                kw = {} if fill == "constant" else {"seed": SEED, "stream": STREAM, "offset": off}
                t0 = time.perf_counter()
                getattr(self.fastinit, fill + "_")(a, *fargs, **kw)
                rec["cpu_fill_s"] = round(time.perf_counter() - t0, 4)
                t = torch.empty(n, dtype=self.TD[dt], device=self.dev)
                t.view(torch.uint8).fill_(0xA5)
                self.sync()
                t0 = time.perf_counter()
                self.gpu_fill(t, fill, fargs, kw, dt, label)
                self.sync()
                rec["gpu_fill_s"] = round(time.perf_counter() - t0, 4)
                if self.cuda:
                    h = host_u8[:nbytes]
                    h.copy_(t.view(torch.uint8))
                    b_u8 = h.numpy()
                else:
                    b_u8 = t.view(torch.uint8).numpy()
                ha, hb, direct = self.compare(a_u8, b_u8)
                rec.update(cpu_hash=ha, gpu_hash=hb, hash_equal=ha == hb, bytes_equal=direct)
                if ha == hb and direct:
                    rec["status"] = "equal"
                    n_eq += 1
                else:
                    rec["status"] = "DIFFERENT"
                    rec["mismatch"] = self.mismatch(a_u8, b_u8, dt, n)
                    n_bad += 1
                    self.rep.mismatches += 1
                del t, b_u8
            except Exception as exc:  # noqa: BLE001
                rec["status"] = "error"
                rec["error"] = repr(exc)
                n_err += 1
                self.rep.error(f"bitwise {label} {dt} n={n} offset={off}", exc)
            if n == self.N or rec["status"] != "equal":
                nan = float("nan")
                line = (f"  {rec['status']:<9} {label:<40} {dt:<8} n={n:<10} off={_off(off, n):<14} "
                        f"cpu {rec.get('cpu_fill_s', nan):.3f}s gpu {rec.get('gpu_fill_s', nan):.3f}s")
                if "cpu_hash" in rec:
                    line += f"  {rec['cpu_hash'][:16]}"
                    if rec["status"] != "equal":
                        line += f" vs {rec['gpu_hash'][:16]}"
                say(line)
                if "mismatch" in rec:
                    m = rec["mismatch"]
                    say(f"      {m['count']} of {n} differ; first at {m['first_indices']}")
                    say(f"      cpu {m['cpu_bits']} = {m['cpu_values']}")
                    say(f"      gpu {m['gpu_bits']} = {m['gpu_values']}")
            if time.perf_counter() - last_write > 20:
                self.rep.write()
                last_write = time.perf_counter()
        odd = [c for c in out["cases"] if c["n"] != self.N]
        groups = {}
        for c in odd:
            groups.setdefault((c["n"], c["offset"]), []).append(c.get("status"))
        for (n, off), sts in groups.items():
            say(f"  odd size n={n:<9} off={_off(off, n):<10} {sts.count('equal')} of {len(sts)} equal"
                + ("" if sts.count("equal") == len(sts) else "  <-- see above"))
        out.update(equal=n_eq, different=n_bad, errors=n_err, skipped=n_skip, total=len(cases))
        say(f"  bitwise: {n_eq} equal, {n_bad} DIFFERENT, {n_err} errors, {n_skip} skipped (budget), "
            f"of {len(cases)}")
        self._cpu = self._host = None
        gc.collect()

    # ---- section 3
    def timeit(self, fn, repeats, warmup):
        """{median_s, min_s, max_s, runs_s, host_s, batched_s}: one call timed alone (CUDA
        events around it, after a synchronize), the host time of the call, and the mean of
        `repeats` back-to-back calls."""
        torch = self.torch
        for _ in range(warmup):
            fn()
        self.sync()
        runs, host = [], []
        for _ in range(repeats):
            if self.cuda:
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                s.record()
                h0 = time.perf_counter()
                fn()
                host.append(time.perf_counter() - h0)
                e.record()
                e.synchronize()
                runs.append(s.elapsed_time(e) / 1e3)
            else:
                h0 = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - h0)
                host.append(runs[-1])
        res = {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs),
               "runs_s": [round(r, 7) for r in runs], "host_s": statistics.median(host)}
        if self.cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            s.record()
            for _ in range(repeats):
                fn()
            e.record()
            e.synchronize()
            res["batched_s"] = s.elapsed_time(e) / 1e3 / repeats
        return res

    def throughput(self):
        torch = self.torch
        N, reps, warm = self.N, self.args.repeats, self.args.warmup
        stop_at = self.args.budget_s * 0.8
        out = {"elements": N, "repeats": reps, "warmup": warm, "gb": "1e9 bytes",
               "timing": "CUDA events" if self.cuda else "time.perf_counter (CPU tensors, interpreter)",
               "bandwidth": {}, "rows": []}
        self.rep.data["throughput"] = out
        what = "CUDA" if self.cuda else "CPU (stand-ins: torch's CPU functions and copy)"
        say(f"  {N} elements, median of {reps} after {warm} warm-up; references on {what}")
        # the memory system, in the same run: copy (read + write) and torch's fill_ (write)
        for elsize, dt in ((2, "bfloat16"), (4, "float32"), (8, "float64")):
            if not any(r[2] == dt or self.SIZE[r[2]] == elsize for r in THROUGHPUT):
                continue
            nbytes = N * elsize
            src = torch.empty(N, dtype=self.TD[dt], device=self.dev).fill_(1.0)
            dst = torch.empty_like(src)
            cp = self.timeit(lambda: dst.copy_(src), reps, warm)
            ms = self.timeit(lambda: dst.fill_(0.5), reps, warm)
            bw = {"bytes": nbytes, "copy_ms": cp["median_s"] * 1e3, "copy_rw_GBps": 2 * nbytes / cp["median_s"] / 1e9,
                  "fill_ms": ms["median_s"] * 1e3, "fill_write_GBps": nbytes / ms["median_s"] / 1e9,
                  "copy": cp, "fill": ms}
            out["bandwidth"][str(elsize)] = bw
            say(f"  {nbytes / 2 ** 20:8.0f} MiB  copy_ {bw['copy_ms']:8.3f} ms = {bw['copy_rw_GBps']:8.1f} GB/s "
                f"(read+write)   fill_(0.5) {bw['fill_ms']:8.3f} ms = {bw['fill_write_GBps']:8.1f} GB/s (write)")
            src = dst = None                     # (the lambdas above hold them)
        torch_fns = {
            "uniform": lambda t, a: t.uniform_(*a),
            "normal": lambda t, a: t.normal_(*a),
            "trunc_normal": lambda t, a: torch.nn.init.trunc_normal_(t, *a),
        }
        hdr = (f"  {'fill':<13} {'dtype':<9} {'fastinit ms':>11} {'batched':>8} {'host us':>8} {'GB/s':>8} "
               f"{'Gelem/s':>8} {'torch ms':>9} {'GB/s':>8} {'x torch':>7} {'/copy':>6} {'/fill_':>6} {'compile s':>9}")
        say(hdr)
        for fill, fargs, dt in THROUGHPUT:
            if self.rep.elapsed() > stop_at:
                out["rows"].append({"fill": fill, "dtype": dt, "status": "skipped"})
                say(f"  {fill:<13} {dt:<9} skipped (budget)")
                continue
            row = {"fill": fill, "args": list(fargs), "dtype": dt}
            out["rows"].append(row)
            try:
                nbytes = N * self.SIZE[dt]
                t = torch.empty(N, dtype=self.TD[dt], device=self.dev)
                kw = {"seed": 1}
                self.gpu_fill(t, fill, fargs, kw, dt, f"throughput {fill}")
                key = self.kernel_key(fill, fargs, kw, dt)
                fi = self.timeit(lambda: self.gpu.fill_(t, fill, *fargs, **kw), reps, warm)
                tf = self.timeit(lambda: torch_fns[fill](t, fargs), reps, warm)
                bw = out["bandwidth"].get(str(self.SIZE[dt]), {})
                row.update(bytes=nbytes, kernel=key, fastinit=fi, torch=tf,
                           fastinit_ms=fi["median_s"] * 1e3, torch_ms=tf["median_s"] * 1e3,
                           fastinit_GBps=nbytes / fi["median_s"] / 1e9, torch_GBps=nbytes / tf["median_s"] / 1e9,
                           fastinit_Gelem_s=N / fi["median_s"] / 1e9, torch_Gelem_s=N / tf["median_s"] / 1e9,
                           speedup_vs_torch=tf["median_s"] / fi["median_s"],
                           compile_s=self.rep.data["compile"].get(key, {}).get("first_call_s"))
                if "batched_s" in fi:
                    row["fastinit_batched_ms"] = fi["batched_s"] * 1e3
                    row["torch_batched_ms"] = tf["batched_s"] * 1e3
                if bw:
                    row["fraction_of_copy_rw"] = row["fastinit_GBps"] / bw["copy_rw_GBps"]
                    row["fraction_of_fill_write"] = row["fastinit_GBps"] / bw["fill_write_GBps"]
                nan = float("nan")
                comp = row["compile_s"] if row["compile_s"] is not None else nan
                say(f"  {fill:<13} {dt:<9} {row['fastinit_ms']:11.3f} {row.get('fastinit_batched_ms', nan):8.3f} "
                    f"{fi['host_s'] * 1e6:8.0f} {row['fastinit_GBps']:8.1f} {row['fastinit_Gelem_s']:8.2f} "
                    f"{row['torch_ms']:9.3f} {row['torch_GBps']:8.1f} {row['speedup_vs_torch']:7.2f} "
                    f"{row.get('fraction_of_copy_rw', nan):6.2f} {row.get('fraction_of_fill_write', nan):6.2f} "
                    f"{comp:9.2f}")
                t = None
            except Exception as exc:  # noqa: BLE001
                row["status"] = "error"
                row["error"] = repr(exc)
                self.rep.error(f"throughput {fill} {dt}", exc)
        say("  (ms: one call alone, host work included; batched: mean of back-to-back calls; GB/s: bytes written; "
            "/copy: fill GB/s over copy_ read+write GB/s; /fill_: over torch's fill_(0.5); compile s: the kernel's "
            "first call in this process)")
        say("  kernel first calls (compile + first launch):")
        for k, v in sorted(self.rep.data["compile"].items()):
            say(f"    {k:<20} {v['first_call_s']:8.3f} s   (first: {v['first_use']})")

    # ---- section 4
    def llama(self):
        torch = self.torch
        import fastinit.torch as ft
        from fastinit.torch import _memory
        size = self.args.llama or ("tiny" if self.interpret else "2layer" if self.args.quick else "tinyllama")
        shape = LLAMA[size]
        try:
            import transformers
            kind = f"transformers {transformers.__version__} LlamaForCausalLM"
        except Exception:  # noqa: BLE001
            transformers = None
            kind = "torch.nn stand-in with Llama's parameter shapes (transformers not importable)"
        out = {"model": kind, "size": size, "vocab": shape[0], "hidden": shape[1], "intermediate": shape[2],
               "layers": shape[3], "heads": shape[4], "kv_heads": shape[5], "dtype": "float32", "device": self.dev,
               "ways": {}}
        self.rep.data["llama"] = out
        say(f"  {kind}, '{size}' {shape}, built on meta, to_empty(device={self.dev!r}), then its own init")

        def build(shp):
            if transformers is not None:
                cfg = transformers.LlamaConfig(vocab_size=shp[0], hidden_size=shp[1], intermediate_size=shp[2],
                                               num_hidden_layers=shp[3], num_attention_heads=shp[4],
                                               num_key_value_heads=shp[5], max_position_embeddings=2048,
                                               tie_word_embeddings=False, initializer_range=0.02)
                with torch.device("meta"), ft.patch():     # patch(): the meta-device init calls are free
                    return transformers.LlamaForCausalLM(cfg)
            with torch.device("meta"), ft.patch():
                return _standin(torch, *shp)

        def init(model):
            if hasattr(model, "init_weights") and hasattr(model, "_init_weights"):
                model.init_weights()
            else:
                for m in model.modules():
                    if callable(getattr(type(m), "reset_parameters", None)):
                        m.reset_parameters()

        # fastinit.torch's route to the kernels, counted; under --interpret CPU tensors take it
        real_run, real_kernels = _memory.device_run, _memory.device_kernels
        launches = [0]

        def counting(fill, target):
            launches[0] += 1
            return real_run(fill, target)

        def interp_kernels(t):
            return t.device.type == "cpu" and os.environ.get("FASTINIT_GPU_KERNELS", "1") != "0"

        def way(name, shp, patched, gpu_kernels, keep=False):
            model = build(shp)
            self.sync()
            t0 = time.perf_counter()
            model.to_empty(device=self.dev)
            self.sync()
            t_alloc = time.perf_counter() - t0
            for obj in list(model.modules()) + list(model.parameters()) + list(model.buffers()):
                if "_is_hf_initialized" in getattr(obj, "__dict__", {}):
                    del obj.__dict__["_is_hf_initialized"]
            saved = os.environ.get("FASTINIT_GPU_KERNELS")
            launches[0] = 0
            _memory.device_run = counting
            if self.interpret:
                _memory.device_kernels = interp_kernels
            try:
                if not gpu_kernels:
                    os.environ["FASTINIT_GPU_KERNELS"] = "0"
                torch.manual_seed(0)
                self.sync()
                t0 = time.perf_counter()
                if patched:
                    with ft.patch():
                        init(model)
                else:
                    init(model)
                self.sync()
                t_init = time.perf_counter() - t0
            finally:
                _memory.device_run, _memory.device_kernels = real_run, real_kernels
                if saved is None:
                    os.environ.pop("FASTINIT_GPU_KERNELS", None)
                else:
                    os.environ["FASTINIT_GPU_KERNELS"] = saved
            params = sum(p.numel() for p in model.parameters())
            nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
            with torch.no_grad():
                finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
                w = dict(model.named_parameters())
                picked = list(w)[:2] + [n for n in w if "q_proj" in n][:1]
                stds = {k: float(w[k].detach().float().std()) for k in picked}
            rec = {"init_s": t_init, "to_empty_s": t_alloc, "params": params, "bytes": nbytes,
                   "init_GBps": nbytes / t_init / 1e9, "device_route_launches": launches[0],
                   "finite": finite, "std": stds}
            return rec, (model if keep else None)

        ways = (("a_torch", False, True, "torch's own functions"),
                ("b_patch_gpu", True, True, "fastinit.torch.patch(), Triton kernels"),
                ("c_patch_staging", True, False, "patch(), FASTINIT_GPU_KERNELS=0 (CPU + staging)"))
        if not self.interpret:                  # warm-up: kernels, torch's RNG, staging buffers
            t0 = time.perf_counter()
            for name, patched, gk, _ in ways:
                way(name, LLAMA["tiny"], patched, gk)
            out["warmup_s"] = time.perf_counter() - t0
            say(f"  warm-up on the tiny Llama: {out['warmup_s']:.2f} s")
        models = {}
        for name, patched, gk, desc in ways:
            try:
                rec, model = way(name, shape, patched, gk, keep=name != "a_torch")
                rec["what"] = desc
                out["ways"][name] = rec
                say(f"  ({name[0]}) {desc:<48} init {rec['init_s']:7.3f} s  ({rec['init_GBps']:6.2f} GB/s)  "
                    f"to_empty {rec['to_empty_s']:6.3f} s  {rec['params'] / 1e6:.1f}M params  "
                    f"device-route launches {rec['device_route_launches']}  finite {rec['finite']}")
                if model is not None:
                    models[name] = model
                del model
                gc.collect()
                if self.cuda:
                    torch.cuda.empty_cache()
            except Exception as exc:  # noqa: BLE001
                out["ways"][name] = {"what": desc, "error": repr(exc)}
                self.rep.error(f"llama way {name}", exc)
        a, b, c = (out["ways"].get(k, {}) for k in ("a_torch", "b_patch_gpu", "c_patch_staging"))
        if "init_s" in b and "init_s" in c:
            b["vs_torch"] = a.get("init_s", float("nan")) / b["init_s"]
            c["vs_torch"] = a.get("init_s", float("nan")) / c["init_s"]
            out["b_speedup_over_c"] = c["init_s"] / b["init_s"]
            if b["device_route_launches"] == 0:
                say("  !! (b) made no launch on fastinit.torch's device route")
            if c["device_route_launches"] != 0:
                say("  !! (c) took the device route despite FASTINIT_GPU_KERNELS=0")
        if "b_patch_gpu" in models and "c_patch_staging" in models:
            sb, sc = models["b_patch_gpu"].state_dict(), models["c_patch_staging"].state_dict()
            diff, hashes = [], {}
            for name in sb:
                x, y = sb[name].detach().contiguous(), sc[name].detach().contiguous()
                xb = x.view(-1).view(torch.uint8).cpu().numpy()
                yb = y.view(-1).view(torch.uint8).cpu().numpy()
                hx, hy, direct = self.compare(xb, yb)
                same_dev = bool(torch.equal(x.view(-1).view(torch.uint8), y.view(-1).view(torch.uint8)))
                hashes[name] = hx[:16]
                if not (hx == hy and direct and same_dev):
                    diff.append({"name": name, "b_hash": hx, "c_hash": hy, "bytes_equal": direct,
                                 "device_equal": same_dev})
            out["b_equals_c"] = not diff
            out["tensors_compared"] = len(sb)
            out["different"] = diff[:20]
            out["n_different"] = len(diff)
            out["hashes_b"] = hashes
            if diff:
                self.rep.mismatches += len(diff)
            say(f"  (b) == (c) bitwise: {'yes' if not diff else 'NO'}, {len(sb) - len(diff)} of {len(sb)} tensors "
                f"equal (blake2b of each, and torch.equal on the {self.dev})")
            for d in diff[:5]:
                say(f"      differs: {d['name']}")
        if "init_s" in b and "init_s" in c:
            say(f"  init time (c) / (b) = {c['init_s'] / b['init_s']:.2f}, (a) / (b) = "
                f"{a.get('init_s', float('nan')) / b['init_s']:.2f} (above 1: (b) is faster)")
        models.clear()
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()


def _standin(torch, vocab, d, ffn, layers, heads, kv):
    """A torch.nn decoder with LlamaForCausalLM's parameter shapes (transformers absent)."""
    nn = torch.nn
    hd = d // heads

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(d, d, bias=False)
            self.k_proj = nn.Linear(d, kv * hd, bias=False)
            self.v_proj = nn.Linear(d, kv * hd, bias=False)
            self.o_proj = nn.Linear(d, d, bias=False)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(d, ffn, bias=False)
            self.up_proj = nn.Linear(d, ffn, bias=False)
            self.down_proj = nn.Linear(ffn, d, bias=False)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = Attn()
            self.mlp = MLP()
            self.input_layernorm = nn.RMSNorm(d)
            self.post_attention_layernorm = nn.RMSNorm(d)

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.norm = nn.RMSNorm(d)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Body()
            self.lm_head = nn.Linear(d, vocab, bias=False)

    return Model()


def _off(off, n):
    if off == 0:
        return "0"
    if off == 2 ** 33 + 5:
        return "2**33+5"
    if off == 2 ** 64 - n - 3:
        return "2**64-n-3"
    return str(off)


def _run(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None
    except Exception:  # noqa: BLE001
        return None


def _cpu_model():
    out = _run(["lscpu"])
    if out:
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        return None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None,
                   help="JSON path (default $OUT/gpu_check.json if $OUT is set, else ./gpu_check.json)")
    p.add_argument("--quick", action="store_true", help="2**20 elements, a 2-layer Llama, 5 repeats")
    p.add_argument("--interpret", action="store_true",
                   help="CPU tensors under Triton's interpreter (TRITON_INTERPRET=1): tests the script without a GPU")
    p.add_argument("--size-log2", type=int, default=None, help="elements of the big buffers: 2**N (default 28; "
                   "--quick 20)")
    p.add_argument("--odd-sizes", default=None, help="comma-separated odd lengths (default 1,3,4099,1000003; "
                   "under --interpret those up to 65536)")
    p.add_argument("--odd-matrix", choices=("full", "diagonal"), default=None,
                   help="odd sizes x offsets get every fill and dtype (full, the default) or 3 each in turn "
                        "(diagonal, the default under --interpret)")
    p.add_argument("--all-offsets", action="store_true", help="the main size at 2**33 + 5 too")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 7; --quick 5; "
                   "--interpret 2)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs (default 2; --interpret 1)")
    p.add_argument("--llama", choices=tuple(LLAMA), default=None,
                   help="section 4's model (default tinyllama; --quick 2layer; --interpret tiny)")
    p.add_argument("--sections", default="1,2,3,4", help="which sections to run (1 always runs)")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="soft time budget: section 2 starts no case after 60%%, section 3 no row after 80%%")
    p.add_argument("--reuse-triton-cache", action="store_true",
                   help="keep TRITON_CACHE_DIR as it is (default: a fresh directory, so first calls show compile time)")
    a = p.parse_args(argv)
    if a.size_log2 is None:
        a.size_log2 = 20 if a.quick else 28
    if a.odd_matrix is None:
        a.odd_matrix = "diagonal" if a.interpret else "full"
    if a.repeats is None:
        a.repeats = 2 if a.interpret else 5 if a.quick else 7
    if a.warmup is None:
        a.warmup = 1 if a.interpret else 2
    if a.out is None:
        a.out = os.path.join(os.environ["OUT"], "gpu_check.json") if os.environ.get("OUT") else "gpu_check.json"
    a.sections = {s.strip() for s in a.sections.split(",") if s.strip()} | {"1"}
    return a


def main(argv=None):
    args = parse_args(argv)
    # before torch / triton / fastinit.gpu are imported: Triton fixes the mode when it decorates
    os.environ["TRITON_INTERPRET"] = "1" if args.interpret else "0"
    if not args.reuse_triton_cache and not args.interpret:
        os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="gpu_check_triton_")
    rep = Report(args.out)
    rep.data["args"] = {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()}
    say(f"fastinit GPU check: {'--interpret (CPU tensors, Triton interpreter)' if args.interpret else 'CUDA'}; "
        f"JSON -> {args.out}")
    check = None
    try:
        check = Check(args, rep)
    except Exception as exc:  # noqa: BLE001
        rep.error("imports / setup", exc)
    if check is not None:
        run_section(rep, "1", "Environment", check.environment)
        usable = check.cuda or check.interpret
        plan = (("2", "Bitwise equality, GPU vs CPU", check.bitwise),
                ("3", "Throughput", check.throughput),
                ("4", "A Llama materialized on the device", check.llama))
        for key, title, fn in plan:
            if key not in args.sections:
                continue
            if not usable:
                rep.data["sections"][key] = {"title": title, "ok": False, "seconds": 0, "skipped": "no CUDA device"}
                say(f"\n=== {key}. {title}: skipped (no CUDA device; --interpret runs it on a CPU)")
                rep.failures += 1
                continue
            run_section(rep, key, title, fn)
        check.pool.shutdown(wait=False)
    bw = rep.data.get("bitwise", {})
    say("\n=== Summary " + "=" * 60)
    if bw:
        say(f"  bitwise: {bw.get('equal', 0)} equal, {bw.get('different', 0)} DIFFERENT, {bw.get('errors', 0)} errors, "
            f"{bw.get('skipped', 0)} skipped, of {bw.get('total', len(bw.get('cases', [])))} cases")
    ll = rep.data.get("llama", {})
    if "b_equals_c" in ll:
        say(f"  llama (b) == (c): {ll['b_equals_c']}")
    for k, s in sorted(rep.data["sections"].items()):
        say(f"  section {k} {s['title']:<40} {'ok' if s['ok'] else 'FAILED'}  {s['seconds']:.1f} s")
    status = 1 if rep.mismatches else 2 if rep.failures else 0
    rep.data["exit_status"] = status
    rep.write()
    say(f"  total {rep.elapsed():.1f} s; exit status {status}; JSON: {os.path.abspath(args.out)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
