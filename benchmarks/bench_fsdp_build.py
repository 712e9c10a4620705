"""Initializing a 1.1B Llama under FSDP2 on the CPU: torch's reset_parameters() vs fastinit.

The model is Hugging Face's LlamaForCausalLM with TinyLlama's shape (1.1B
parameters, float32; needs ``pip install transformers``), built on ``meta``;
``fully_shard`` wraps each decoder layer and the root over a gloo group of
``--ranks`` processes on 127.0.0.1, each with ``--threads`` threads (default 1)
for torch and for fastinit. Then, timed per rank:

  torch        to_empty(device="cpu"), then reset_parameters() on every module
               with torch's functions (every rank fills its shard from the same
               generator state: the shards are copies of each other)
  patch        the same under fastinit.torch.patch() (each shard is its slice of
               the single-process weights)
  materialize  fastinit.torch.materialize_(model): the local shards allocated and
               initialized once, the model's own init_weights()

Each way runs --repeats times, each time in fresh processes; reported per rank:
seconds (median) and peak RSS (VmHWM, median), and the speedup over torch.

    python benchmarks/bench_fsdp_build.py [--ranks 2] [--threads 1] [--repeats 3] [--json out.json]
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import sys
import time

from bench_torch_build import WAYS, _peak_rss_mib    # the same three ways, the same peak (VmHWM)


def _rank(rank, ranks, port, way, threads, queue):
    import torch
    import torch.distributed as dist
    import transformers
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import fastinit
    import fastinit.torch as ft

    torch.set_num_threads(threads)
    fastinit.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=ranks,
                            timeout=datetime.timedelta(seconds=600))
    cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                                   num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                                   max_position_embeddings=2048, tie_word_embeddings=False)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    mesh = init_device_mesh("cpu", (ranks,))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    dist.barrier()
    torch.manual_seed(0)
    start = time.perf_counter()
    if way == "materialize":
        ft.materialize_(model)
    else:
        model.to_empty(device="cpu")
        with ft.patch(way == "patch"):
            for m in model.modules():
                if callable(getattr(m, "reset_parameters", None)):
                    m.reset_parameters()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    local = sum(p.to_local().numel() for p in model.parameters())
    queue.put((rank, seconds, _peak_rss_mib(), params, local))
    dist.barrier()
    dist.destroy_process_group()


def run_one(way, ranks, threads):
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [ctx.Process(target=_rank, args=(r, ranks, port, way, threads, queue)) for r in range(ranks)]
    for p in procs:
        p.start()
    rows = sorted(queue.get(timeout=900) for _ in procs)
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"{way}: a rank exited with {p.exitcode}")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch's and fastinit's threads per rank (default 1)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = {}
    for _ in range(args.repeats):          # interleaved: each repeat runs every way once
        for way in WAYS:
            for rank, seconds, rss, params, local in run_one(way, args.ranks, args.threads):
                results.setdefault(way, {}).setdefault(rank, []).append((seconds, rss))
    import platform

    import fastinit
    print(f"LlamaForCausalLM (TinyLlama shape, {params / 1e9:.2f}B parameters, float32), FSDP2 over "
          f"{args.ranks} gloo ranks, {args.threads} thread(s) per rank for torch and fastinit; "
          f"{platform.processor() or platform.machine()}, SIMD {fastinit.simd_level()}; median of {args.repeats}")
    print(f"{'way':<12} {'rank':>4} {'seconds':>8} {'vs torch':>9} {'peak RSS MiB':>13}")
    table = {}
    for way in WAYS:
        for rank in sorted(results[way]):
            sec = statistics.median(s for s, _ in results[way][rank])
            rss = statistics.median(r for _, r in results[way][rank])
            base = statistics.median(s for s, _ in results["torch"][rank])
            table.setdefault(way, {})[rank] = {"seconds": sec, "peak_rss_mib": rss, "speedup": base / sec}
            print(f"{way:<12} {rank:>4} {sec:>8.2f} {base / sec:>8.2f}x {rss:>13.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": args.ranks, "repeats": args.repeats, "parameters": params, "results": table}, f,
                      indent=2)


if __name__ == "__main__":
    sys.exit(main())
