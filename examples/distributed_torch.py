"""Each rank of a torch.distributed job fills only its own shard of a weight;
gathered, the shards equal the single-process fill bit for bit.

    python examples/distributed_torch.py [WORLD_SIZE]      (default 2 processes, gloo on loopback)

Rank r holds an uneven row block of the column-parallel weight W1 (r's rows)
and a column block of the row-parallel weight W2 (r's columns), as in tensor
(model) parallelism. Each fills its block from the global shape and its index;
no rank ever allocates a whole weight. Rank 0 then gathers the blocks and
compares them with a fill of the whole tensors in one process.
"""
import socket
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import fastinit

SEED = 1234
W1 = (1000, 384)          # column-parallel (e.g. an MLP's up projection): rows split across ranks
W2 = (384, 1000)          # row-parallel (the down projection): columns split across ranks


def block(n, rank, world):
    """Rank's part of range(n) when split as evenly as possible (the first ranks get one more)."""
    size, extra = divmod(n, world)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (1 if rank < extra else 0))


def my_shards(rank, world):
    rows = block(W1[0], rank, world)
    w1 = torch.empty(rows.stop - rows.start, W1[1])
    fastinit.kaiming_uniform_(w1.numpy(), a=5 ** 0.5, seed=SEED, stream=0,
                              global_shape=W1, index=(rows, slice(None)))
    cols = block(W2[1], rank, world)
    w2 = torch.empty(W2[0], cols.stop - cols.start)
    fastinit.kaiming_uniform_(w2.numpy(), a=5 ** 0.5, seed=SEED, stream=1,
                              global_shape=W2, index=(slice(None), cols))
    return w1, w2


def worker(rank, world, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        w1, w2 = my_shards(rank, world)
        gathered = [None] * world
        dist.all_gather_object(gathered, (w1, w2))        # uneven blocks: gather them as objects
        if rank == 0:
            full1 = torch.cat([g[0] for g in gathered], dim=0)
            full2 = torch.cat([g[1] for g in gathered], dim=1)
            whole1 = fastinit.kaiming_uniform_(np.empty(W1, np.float32), a=5 ** 0.5, seed=SEED, stream=0)
            whole2 = fastinit.kaiming_uniform_(np.empty(W2, np.float32), a=5 ** 0.5, seed=SEED, stream=1)
            same = np.array_equal(full1.numpy(), whole1) and np.array_equal(full2.numpy(), whole2)
            print(f"{world} ranks: gathered shards {'equal' if same else 'DIFFER FROM'} the single-process fill")
            if not same:
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
