"""Building big torch models on the CPU: torch's default init vs fastinit.torch.

Models:
  decoder   a 1.26B-parameter decoder-only transformer from plain nn.Linear /
            nn.Embedding / nn.RMSNorm (vocab 32000, d_model 2048, 22 layers,
            gated MLP 5632, untied head), torch's own reset_parameters init.
  llama     Hugging Face transformers' LlamaForCausalLM with TinyLlama's shape
            (1.1B; needs `pip install transformers`): nn.Linear's kaiming_uniform_,
            then the model's own normal_(0, 0.02).

Ways, each timed in a fresh process (spawned, so memory starts empty):
  torch        eager construction, torch's functions
  patch        eager construction under fastinit.torch.patch()
  materialize  construction under torch.device('meta'), then fastinit.torch.materialize_()

Reports seconds (median of --repeats), parameters per second, the speedup over
torch in the same run, the process's peak RSS (VmHWM), and the time to
re-initialize the built model in place (every module's reset_parameters(),
with torch's functions or under patch(); no page faults there).

    python benchmarks/bench_torch_build.py [--models decoder,llama] [--threads 2] [--repeats 3] [--json out.json]
"""
import argparse
import json
import multiprocessing
import statistics
import sys
import time

WAYS = ("torch", "patch", "materialize")


def build_decoder(vocab=32000, d=2048, layers=22, ffn=5632):
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm = nn.RMSNorm(d)
            self.q_proj = nn.Linear(d, d, bias=False)
            self.k_proj = nn.Linear(d, d, bias=False)
            self.v_proj = nn.Linear(d, d, bias=False)
            self.o_proj = nn.Linear(d, d, bias=False)
            self.mlp_norm = nn.RMSNorm(d)
            self.gate_proj = nn.Linear(d, ffn, bias=False)
            self.up_proj = nn.Linear(d, ffn, bias=False)
            self.down_proj = nn.Linear(ffn, d, bias=False)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList(Block() for _ in range(layers))
            self.norm = nn.RMSNorm(d)
            self.head = nn.Linear(d, vocab, bias=False)

    return Decoder()


def build_llama():
    import transformers
    cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                                   num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                                   max_position_embeddings=2048, tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg)


BUILDERS = {"decoder": build_decoder, "llama": build_llama}


def _peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(model, way, threads, queue):
    import torch

    import fastinit
    import fastinit.torch as ft
    torch.set_num_threads(threads)
    fastinit.set_num_threads(threads)
    build = BUILDERS[model]
    if model == "llama":                   # transformers imports lazily: import time is not build time
        import transformers
        transformers.LlamaConfig, transformers.LlamaForCausalLM
    torch.manual_seed(0)
    t0 = time.perf_counter()
    if way == "torch":
        m = build()
    elif way == "patch":
        with ft.patch():
            m = build()
    else:
        # patch() makes init calls on meta tensors no-ops, which spares torch's meta-device
        # decompositions (about 800 modules imported on first use, ~1 s and ~70 MB)
        with torch.device("meta"), ft.patch():
            m = build()
        t_meta = time.perf_counter() - t0
        ft.materialize_(m)
    seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in m.parameters())
    # Re-initializing the built model in place (memory already mapped): every module's reset.
    resets = [mod.reset_parameters for mod in m.modules() if hasattr(type(mod), "reset_parameters")]
    t1 = time.perf_counter()
    if way == "torch":
        for r in resets:
            r()
    else:
        with ft.patch():
            for r in resets:
                r()
    reinit = time.perf_counter() - t1
    finite = all(bool(torch.isfinite(p[:4]).all()) for p in m.parameters())
    queue.put({"model": model, "way": way, "seconds": seconds, "params": params,
               "meta_build_seconds": t_meta if way == "materialize" else None, "reinit_seconds": reinit,
               "peak_rss_mib": _peak_rss_mib(), "finite": finite})


def run_one(model, way, threads):
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(model, way, threads, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="decoder,llama")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if "llama" in models:
        try:
            import transformers  # noqa: F401
        except ImportError:
            print("transformers is not installed: skipping the llama model", file=sys.stderr)
            models.remove("llama")
    rows = []
    for model in models:
        results = {way: [] for way in WAYS}
        for rep in range(args.repeats):        # interleaved and rotated: drifts and warm memory hit every way alike
            for way in WAYS[rep % 3:] + WAYS[:rep % 3]:
                r = run_one(model, way, args.threads)
                results[way].append(r)
                print(f"  {model:8s} {way:12s} {r['seconds']:.2f}s", file=sys.stderr)
        base = statistics.median(r["seconds"] for r in results["torch"])
        for way in WAYS:
            runs = results[way]
            sec = statistics.median(r["seconds"] for r in runs)
            rows.append({"model": model, "way": way, "threads": args.threads, "params": runs[0]["params"],
                         "seconds": sec, "gparams_per_s": runs[0]["params"] / sec / 1e9,
                         "speedup_vs_torch": base / sec,
                         "peak_rss_gib": max(r["peak_rss_mib"] for r in runs) / 1024,
                         "finite": all(r["finite"] for r in runs), "runs": [r["seconds"] for r in runs],
                         "reinit_seconds": statistics.median(r["reinit_seconds"] for r in runs),
                         "meta_build_seconds": (statistics.median(r["meta_build_seconds"] for r in runs)
                                                if way == "materialize" else None)})
    print(f"{'model':8s} {'way':12s} {'params':>7s} {'seconds':>8s} {'Gparam/s':>9s} {'vs torch':>8s} "
          f"{'peak RSS':>9s}  (median of {args.repeats}, {args.threads} threads)")
    for r in rows:
        if r["way"] == "torch":
            reinit_base = r["reinit_seconds"]
        note = f"  (of which meta build {r['meta_build_seconds']:.2f}s)" if r["meta_build_seconds"] else ""
        print(f"{r['model']:8s} {r['way']:12s} {r['params'] / 1e9:6.3f}B {r['seconds']:8.2f} "
              f"{r['gparams_per_s']:9.3f} {r['speedup_vs_torch']:7.1f}x {r['peak_rss_gib']:7.2f}GiB  "
              f"re-init {r['reinit_seconds']:.2f}s ({reinit_base / r['reinit_seconds']:.1f}x){note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
