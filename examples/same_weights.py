"""The same weights for any world size: FSDP2, tensor parallelism, Hugging Face and
torchtitan-style init, each sharded over WORLD_SIZE ranks and compared, gathered,
with the same calls in one process.

    python examples/same_weights.py [WORLD_SIZE]       (default 2 processes, gloo on loopback)

It prints `2 ranks: every flow equals the single-process build (...)`, naming the
flows it ran (the Hugging Face one needs transformers). The flows are
the ones docs/distributed.md shows; tests/test_sharded.py checks many more.
"""
import math
import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import fastinit.torch as ft

SEED = 0


class Block(nn.Module):
    def __init__(self, d=64, hidden=176, layer=0):
        super().__init__()
        self.layer = layer
        self.norm = nn.RMSNorm(d)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def init_weights(self):                      # torchtitan's style: trunc normals, std by depth
        nn.init.trunc_normal_(self.up.weight, std=0.02)
        nn.init.trunc_normal_(self.down.weight, std=0.02 / math.sqrt(2 * (self.layer + 1)))
        self.norm.reset_parameters()


class Model(nn.Module):
    def __init__(self, vocab=1000, d=64, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Block(d, layer=i) for i in range(layers))
        self.head = nn.Linear(d, vocab, bias=False)

    def init_weights(self):
        nn.init.normal_(self.embed.weight)
        for layer in self.layers:
            layer.init_weights()
        std = self.head.in_features ** -0.5
        nn.init.trunc_normal_(self.head.weight, std=std, a=-3 * std, b=3 * std)


def reset_parameters(model):
    for m in model.modules():
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()


def whole(model):
    from torch.distributed.tensor import DTensor
    return {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone()
            for n, p in model.state_dict().items()}


# ---------------------------------------------------------------------------- the flows

def fsdp2(init, mesh):
    from torch.distributed.fsdp import fully_shard
    with torch.device("meta"):
        model = Model()
    for layer in model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    torch.manual_seed(SEED)                      # the same seed on every rank
    with ft.patch():
        init(model)                              # reset_parameters(model), or model.init_weights()
    return model


def tensor_parallel(mesh):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
    with torch.device("meta"):
        model = Model()
    plan = {}
    for i in range(len(model.layers)):
        plan[f"layers.{i}.up"] = ColwiseParallel()
        plan[f"layers.{i}.down"] = RowwiseParallel()
    parallelize_module(model, mesh, plan)
    torch.manual_seed(SEED)
    ft.materialize_(model)                       # allocates the local shards only
    return model


def hugging_face(mesh):
    import transformers
    from torch.distributed.fsdp import fully_shard
    cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    if mesh is not None:
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    torch.manual_seed(SEED)
    with ft.patch():
        model.init_weights()
    return model


# ---------------------------------------------------------------------------- one process

def single(flow):
    """The same calls on plain tensors in this process."""
    if flow == "hugging_face":
        return hugging_face(None)
    if flow == "tensor_parallel":
        with torch.device("meta"):
            model = Model()
        torch.manual_seed(SEED)
        ft.materialize_(model)
        return model
    torch.manual_seed(SEED)
    with ft.patch():
        model = Model()                          # construction resets every module, in order
    if flow == "fsdp2_torchtitan":
        torch.manual_seed(SEED)
        with ft.patch():
            model.init_weights()
    return model


def worker(rank, world, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (world,))
    try:
        flows = {"fsdp2_reset_parameters": lambda: fsdp2(reset_parameters, mesh),
                 "fsdp2_torchtitan": lambda: fsdp2(lambda m: m.init_weights(), mesh),
                 "tensor_parallel": lambda: tensor_parallel(mesh)}
        try:
            import transformers  # noqa: F401
            flows["hugging_face"] = lambda: hugging_face(mesh)
        except ImportError:
            pass
        differ = []
        for name, build in flows.items():
            got = whole(build())
            if rank == 0:
                want = whole(single(name))
                differ += [f"{name}: {k}" for k in want if not torch.equal(got[k], want[k])]
        if rank == 0:
            print(f"{world} ranks: " + (f"every flow equals the single-process build ({', '.join(flows)})"
                                        if not differ else "DIFFERENT: " + ", ".join(differ)))
            if differ:
                raise SystemExit(1)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    mp.spawn(worker, args=(world, free_port()), nprocs=world)
