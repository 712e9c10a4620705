"""The ranks of tests/test_sharded.py: ``python _sharded_child.py WORLD PORT OUTDIR``.

Spawns WORLD processes joined by gloo on 127.0.0.1:PORT. Every rank runs every
flow (the same calls in the same order: the SPMD rule); rank 0 writes the
gathered (full_tensor) results to OUTDIR/world{WORLD}.pt, and every rank writes
what it alone observed (errors, memory) to OUTDIR/world{WORLD}.rank{r}.pt.
"""
import datetime
import os
import resource
import sys
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _sharded_models as M  # noqa: E402


def gathered(model):
    """Every parameter and buffer of the model, whole (a collective for DTensors)."""
    from torch.distributed.tensor import DTensor
    out = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        t = t.detach()
        out[name] = (t.full_tensor() if isinstance(t, DTensor) else t).clone()
    return out


def placements(model):
    from torch.distributed.tensor import DTensor
    return {n: str(p.placements) for n, p in model.named_parameters() if isinstance(p, DTensor)}


def train_step(model):
    """One forward and backward pass: the initialized model is usable as it is."""
    tokens = torch.arange(12).reshape(2, 6) % M.VOCAB
    model(tokens).float().square().mean().backward()


def fsdp(model, mesh):
    from torch.distributed.fsdp import fully_shard
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def sharded_zeros(shape, dtype, mesh, where):
    """A DTensor of zeros: by distribute_tensor, or (_StridedShard, which distribute_tensor only
    takes on even sizes) from the local shard that torch's own split of the whole gives."""
    from torch.distributed.tensor import DTensor, distribute_tensor
    from torch.distributed.tensor.placement_types import _StridedShard
    whole = torch.zeros(shape, dtype=dtype)
    if not any(isinstance(p, _StridedShard) for p in where):
        return distribute_tensor(whole, mesh, where)
    local = whole
    for mesh_dim, p in enumerate(where):
        if p.is_shard() or isinstance(p, _StridedShard):
            local = p._split_tensor(local, mesh.size(mesh_dim), with_padding=False)[0][mesh.get_coordinate()[mesh_dim]]
    return DTensor.from_local(local.contiguous(), mesh, where, run_check=False, shape=whole.shape,
                              stride=whole.stride())


def collectives():
    """Collectives run so far, over every process group of this rank (their sequence numbers)."""
    from torch.distributed import distributed_c10d as c10d
    return sum(pg._get_sequence_number_for_group() for pg in list(c10d._world.pg_map))


def meta_net():
    with torch.device("meta"):
        return M.Net()


def flows(rank, world, results, mine):
    import fastinit
    import fastinit.torch as ft
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor
    from torch.distributed.tensor.parallel import parallelize_module
    from torch.distributed.tensor.placement_types import _StridedShard

    mesh = init_device_mesh("cpu", (world,))

    # 1. Every init function on DTensors, every placement, float32 and bfloat16.
    sets = {"S0": [Shard(0)], "S1": [Shard(1)], "R": [Replicate()], "S-1": [Shard(-1)]}
    if world > 1:
        sets["SS0"] = [_StridedShard(0, split_factor=2)]        # a shard in two runs of rows
    meshes = {k: mesh for k in sets}
    if world == 4:
        grid = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        for k, p in {"S0,S1": [Shard(0), Shard(1)], "SS0,S0": [_StridedShard(0, split_factor=2), Shard(0)],
                     "R,S1": [Replicate(), Shard(1)], "S1,S1": [Shard(1), Shard(1)]}.items():
            sets[k], meshes[k] = p, grid
    calls = {}
    for key, where in sets.items():
        for i, case in enumerate(M.CALLS):
            for dtype in (torch.float32, torch.bfloat16):
                if dtype == torch.bfloat16 and case[0] not in M.BFLOAT16:
                    continue
                dt = sharded_zeros(case[3], dtype, meshes[key], where)
                torch.manual_seed(M.SEED + i)
                M.call(ft, case, dt)
                calls[(key, i, str(dtype))] = dt.full_tensor()
    for name, g in (("fastinit", fastinit.Generator(M.SEED)), ("torch", torch.Generator().manual_seed(M.SEED))):
        dt = distribute_tensor(torch.zeros(33, 10), mesh, [Shard(0)])
        ft.kaiming_uniform_(dt, generator=g)
        ft.normal_(dt, std=2.0, generator=g)                     # the generator's second draw
        calls[("generator", name)] = dt.full_tensor()
    results["records"] = {"kaiming": ft.init_record(dt)}
    for key in ("S0", "S1", "R"):                               # views of DTensors, under patch()
        dt = sharded_zeros((33, 10), torch.float32, meshes[key], sets[key])
        with ft.patch():
            M.views(ft, dt)
        calls[("views", key)] = dt.full_tensor()
    results["calls"] = calls

    # A Partial DTensor is refused before torch's generator is touched.
    partial = DTensor.from_local(torch.ones(4, 3), mesh, [Partial()])
    state = torch.get_rng_state()
    try:
        ft.normal_(partial)
        mine["partial"] = "no error"
    except ValueError as exc:
        mine["partial"] = str(exc)
    mine["partial_rng_untouched"] = torch.equal(state, torch.get_rng_state())

    # 2. FSDP2 without fastinit: every rank fills its shard from the same generator state.
    if world > 1:
        with torch.device("meta"):
            lin = torch.nn.Linear(M.D, M.HIDDEN)
        fully_shard(lin, mesh=mesh)
        lin.to_empty(device="cpu")
        torch.manual_seed(M.SEED)
        lin.reset_parameters()
        results["torch_fsdp_linear"] = lin.weight.full_tensor()

    # 3. FSDP2: reset_parameters(), torchtitan's init_weights(), materialize_().
    for flow in ("reset", "titan", "materialize"):
        model = fsdp(meta_net(), mesh)
        torch.manual_seed(M.SEED)
        if flow == "materialize":
            before = collectives()
            report = ft.materialize_(model)
            mine["materialize_collectives"] = collectives() - before
            mine[f"fsdp_{flow}_untouched"] = report.untouched
        else:
            model.to_empty(device="cpu")
            torch.manual_seed(M.SEED)
            with ft.patch():
                M.reset_all(model) if flow == "reset" else model.init_weights()
        results[f"fsdp_{flow}"] = gathered(model)
        results[f"fsdp_{flow}_placements"] = placements(model)
        mine[f"fsdp_{flow}_records"] = (sorted(ft.init_records(model)), sorted(n for n, _ in model.named_parameters()))
        train_step(model)

    # materialize_ with a checkpoint for part of the model: each shard takes its slice.
    model = fsdp(meta_net(), mesh)
    torch.manual_seed(M.SEED)
    ft.materialize_(model, state_dict=M.checkpoint())
    results["fsdp_materialize_loaded"] = gathered(model)

    # 4. Tensor parallelism on the 1-D mesh; 5. FSDP2 x TP on the 2 x 2 mesh (FSDP2 over
    # TP-sharded rows: _StridedShard).
    layouts = {"tp": lambda: parallelize_module(meta_net(), mesh, M.tp_plan())}
    if world == 4:
        layouts["fsdp_tp"] = lambda: fsdp(parallelize_module(meta_net(), grid["tp"], M.tp_plan()), grid["dp"])
    for layout, build in layouts.items():
        for flow in ("reset", "materialize"):
            model = build()
            torch.manual_seed(M.SEED)
            if flow == "materialize":
                ft.materialize_(model)
            else:
                model.to_empty(device="cpu")
                with ft.patch():
                    M.reset_all(model)
            results[f"{layout}_{flow}"] = gathered(model)
            results[f"{layout}_{flow}_placements"] = placements(model)

    # 6. A Hugging Face Llama under FSDP2: init_weights() after to_empty (where installed).
    try:
        import transformers
    except ImportError:
        transformers = None
    for flow in ("init_weights", "materialize") if transformers else ():
        with torch.device("meta"):
            llama = transformers.LlamaForCausalLM(M.tiny_llama_config())
        for layer in llama.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(llama, mesh=mesh)
        torch.manual_seed(M.SEED)
        if flow == "materialize":
            ft.materialize_(llama)
        else:
            llama.to_empty(device="cpu")
            with ft.patch():
                llama.init_weights()
        results[f"hf_fsdp_{flow}"] = gathered(llama)

    # 7. Seeds that differ across ranks: materialize_ refuses on every rank.
    model = fsdp(meta_net(), mesh)
    torch.manual_seed(M.SEED + (rank if world > 1 else 0))
    try:
        ft.materialize_(model)
        mine["mismatch"] = None
    except RuntimeError as exc:
        mine["mismatch"] = str(exc)
    mine["mismatch_still_meta"] = all(p.device.type == "meta" for p in model.parameters())

    # 8. Without DTensor: init_shard_ on plain local blocks (Megatron style).
    cols = fastinit.shard_index((32, 4096), 1, rank, world)[1]
    lora = torch.empty(32, cols.stop - cols.start)
    rows = fastinit.shard_index((M.HIDDEN, M.D), 0, rank, world)[0]
    up = torch.empty(rows.stop - rows.start, M.D, dtype=torch.bfloat16)
    torch.manual_seed(M.SEED)
    ft.init_shard_(lora, "xavier_normal_", global_shape=(32, 4096), dim=1, rank=rank, world_size=world)
    ft.init_shard_(up, torch.nn.init.kaiming_uniform_, global_shape=(M.HIDDEN, M.D), dim=0, rank=rank,
                   world_size=world, a=5 ** 0.5)
    torch.manual_seed(M.SEED)
    plain = torch.empty(32, cols.stop - cols.start)
    with ft.patch(False):
        torch.nn.init.xavier_normal_(plain)                   # torch's: std from the shard's fans
    parts = [None] * world
    dist.all_gather_object(parts, (lora, up, float(plain.std())))
    results["init_shard"] = (torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 0),
                             [p[2] for p in parts])

    # 9. materialize_ of DTensors allocates the local shards only.
    if world in (2, 4):
        with torch.device("meta"):
            big = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048, bias=False) for _ in range(8)])   # 128 MiB
        for layer in big:
            fully_shard(layer, mesh=mesh)
        fully_shard(big, mesh=mesh)
        before = _rss_kib()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ft.materialize_(big, seed=M.SEED)
        mine["rss_growth_mib"] = (_rss_kib() - before) / 1024
        mine["peak_growth_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
        mine["global_mib"] = sum(p.numel() * 4 for p in big.parameters()) / 2 ** 20


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def worker(rank, world, port, outdir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    results, mine = {}, {}
    try:
        flows(rank, world, results, mine)
    except BaseException:
        mine["error"] = traceback.format_exc()
        raise
    finally:
        torch.save(mine, os.path.join(outdir, f"world{world}.rank{rank}.pt"))
        if rank == 0 and "error" not in mine:
            torch.save(results, os.path.join(outdir, f"world{world}.pt"))
        dist.destroy_process_group()


if __name__ == "__main__":
    world, port, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mp.spawn(worker, args=(world, port, outdir), nprocs=world)
