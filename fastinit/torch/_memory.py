"""The memory an init call writes, and where it lies in the tensor the call stands for.

A plain CPU tensor is written in place through a zero-copy NumPy view. Two
kinds of tensor hold only part of the tensor they stand for:

- a DTensor: its local shard, placed by its device mesh and placements;
- a plain tensor inside ``init_shard_``: one rank's block of a
  tensor-parallel weight.

Either way the fill runs over the *global* shape with the part's index, so the
part holds exactly its slice of a single-process fill of the whole tensor (the
stream is counter-based: a value depends only on its global index). Memory on
a CUDA device is written there by fastinit's Triton kernels (fastinit.gpu) where
Triton is installed; memory on another device, or on CUDA without Triton, is
generated on the CPU, a bounded staging buffer at a time, and copied over while
the next buffer is generated. Either way the bits are the CPU's.
"""
import functools
import itertools
import math
import os
import sys
import warnings

import numpy as np
import torch

from .. import _buffers, _fill
from .._fill import Source

#: The torch dtypes fastinit fills, by their names in fastinit (the torch layer's one dtype table).
DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16"}
TORCH_DTYPES = {name: dt for dt, name in DTYPES.items()}

#: Bytes of each of the two CPU staging buffers for tensors on other devices.
STAGE_BYTES = 32 << 20

_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_has_internal_overlap = getattr(torch, "_debug_has_internal_overlap", lambda t: 0)


def plain_tensor(tensor):
    """A tensor of torch's own classes (subclasses, e.g. with __torch_function__, go to torch)."""
    return type(tensor) in _PLAIN_TYPES


def is_dtensor(tensor):
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (without importing it)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def overlaps(tensor):
    """Whether two elements of the tensor share memory (an expand()ed view, say)."""
    verdict = _has_internal_overlap(tensor)       # 0: no, 1: yes, 2: torch cannot tell quickly
    if verdict != 2:
        return verdict == 1
    dims = sorted((st, sz) for st, sz in zip(tensor.stride(), tensor.shape) if sz > 1)
    reach = 0                                     # furthest offset the smaller-stride dims reach
    for stride, size in dims:
        if stride <= reach:
            return True
        reach += stride * (size - 1)
    return False


def _writable(tensor):
    """Whether fastinit writes this plain tensor's memory itself: strided, a dtype it fills,
    not an inference tensor, no element stored twice (torch refuses to fill those, and so
    do we by handing them to it), on a device that holds values."""
    return (plain_tensor(tensor) and tensor.layout == torch.strided and tensor.dtype in DTYPES
            and tensor.device.type != "meta" and not tensor.is_inference() and not overlaps(tensor))


def view(tensor):
    """(zero-copy NumPy view, kernel output code) of a plain CPU tensor fastinit can fill, or None."""
    if not _writable(tensor) or tensor.device.type != "cpu":
        return None
    name = DTYPES[tensor.dtype]
    t = tensor.detach()
    if name == "bfloat16":
        arr = t.view(torch.int16).numpy().view(np.uint16).view(_buffers.BFloat16Bits)
    else:
        arr = t.numpy()
    return arr, _buffers.FLOAT_CODES[name]


# ---------------------------------------------------------------------------
# Parts of a global tensor

def _strided_shard():
    """torch's _StridedShard class (None where this torch has none)."""
    from torch.distributed.tensor import placement_types
    return getattr(placement_types, "_StridedShard", None)


def dtensor_indices(tensor):
    """For each axis of a DTensor, the global indices its local shard holds (ascending).

    Placements are applied over the mesh dimensions left to right, as
    ``distribute_tensor`` does: ``Shard(d)`` keeps chunk ``coordinate`` of the
    indices left along axis d; ``_StridedShard(d, split_factor=f)`` (FSDP2 over a
    dim that tensor parallelism already split in f) cuts them in f pieces first
    and keeps that chunk of each; ``Replicate()`` keeps all. A ``Partial``
    DTensor holds addends rather than values and is refused."""
    mesh, placements = tensor.device_mesh, tensor.placements
    ndim = tensor.dim()
    coordinate = mesh.get_coordinate()
    if coordinate is None:                        # this rank is not in the mesh: it holds nothing
        return [np.arange(0)] * ndim
    shape, sizes = tuple(tensor.shape), tuple(mesh.shape)
    _check_strided(shape, tuple(placements), sizes)
    indices = _indices(shape, tuple(placements), sizes, tuple(coordinate))
    local = tuple(tensor._local_tensor.shape)
    if tuple(len(i) for i in indices) != local:
        raise ValueError(f"the DTensor's local shard has shape {local}, but its placements "
                         f"{tuple(placements)} on a mesh of shape {sizes} give "
                         f"{tuple(len(i) for i in indices)}")
    return indices


def _indices(shape, placements, sizes, coordinate):
    """dtensor_indices for one mesh coordinate (pure: shapes and placements only)."""
    strided = _strided_shard()
    ndim = len(shape)
    indices = [np.arange(n) for n in shape]
    for mesh_dim, p in enumerate(placements):
        if p.is_replicate():
            continue
        if p.is_partial():
            raise ValueError(f"cannot initialize a DTensor with a Partial placement ({p!r} on mesh dim "
                             f"{mesh_dim}): its shards are addends of the values, not values; "
                             "redistribute it to Shard or Replicate first")
        is_strided = strided is not None and isinstance(p, strided)
        if not (is_strided or p.is_shard()):
            raise ValueError(f"cannot initialize a DTensor with placement {p!r}: fastinit knows "
                             "Shard, _StridedShard and Replicate")
        axis = p.dim % ndim
        parts, mine = sizes[mesh_dim], coordinate[mesh_dim]
        split = int(p.split_factor) if is_strided else 1
        left = indices[axis]
        pieces = [left[slice(*_buffers.chunk(len(left), split, j))] for j in range(split)]
        indices[axis] = np.concatenate([piece[slice(*_buffers.chunk(len(piece), parts, mine))] for piece in pieces])
    return indices


@functools.lru_cache(maxsize=256)
def _check_strided(shape, placements, sizes):
    """FSDP2 over a TP-sharded dim stores chunk_dp(chunk_tp(rows)) and labels it
    (_StridedShard(d, split_factor=tp), Shard(d)). The two readings agree when the sizes
    divide evenly; where they do not, the label does not say which rows a rank holds. That
    depends only on shapes, so every rank raises the same ValueError (none is left waiting
    in a collective)."""
    strided = _strided_shard()
    ndim = len(shape)
    right_to_left = False                         # the FSDP2 x TP pattern: split_factor = the later splits
    for i, p in enumerate(placements):
        if strided is not None and isinstance(p, strided):
            later = [sizes[j] for j in range(i + 1, len(placements))
                     if placements[j].is_shard() and placements[j].dim % ndim == p.dim % ndim]
            right_to_left |= bool(later) and math.prod(later) == int(p.split_factor)
    if not right_to_left:
        return
    for coordinate in itertools.product(*(range(n) for n in sizes)):
        stored = [np.arange(n) for n in shape]    # right to left, every shard a plain chunk
        for mesh_dim in reversed(range(len(placements))):
            p = placements[mesh_dim]
            if p.is_replicate() or p.is_partial():
                continue
            axis = p.dim % ndim
            left = stored[axis]
            stored[axis] = left[slice(*_buffers.chunk(len(left), sizes[mesh_dim], coordinate[mesh_dim]))]
        labelled = _indices(shape, placements, sizes, coordinate)
        if any(not np.array_equal(a, b) for a, b in zip(stored, labelled)):
            raise ValueError(f"cannot place a DTensor of shape {shape} with placements {placements} on a "
                             f"mesh of shape {sizes}: with these uneven sizes _StridedShard does not say "
                             "which elements a rank holds (FSDP2 over tensor parallelism wants every "
                             "sharded dim divisible by the product of the mesh sizes that split it)")


def _runs(indices):
    """Maximal runs of consecutive global indices: [(local start, global start, length)]."""
    if len(indices) == 0:
        return []
    cuts = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [len(indices)]))
    return [(int(a), int(indices[a]), int(b - a)) for a, b in zip(starts, stops)]


def parts_of(indices):
    """The blocks of a local tensor: (local slices, global slices) pairs, one per combination
    of runs of consecutive global indices along its axes (one block for a plain shard)."""
    per_axis = [_runs(i) for i in indices]
    return [(tuple(slice(lo, lo + n) for lo, _, n in combo), tuple(slice(g, g + n) for _, g, n in combo))
            for combo in itertools.product(*per_axis)]


# ---------------------------------------------------------------------------
# Targets: the memory a call writes

class Target:
    """What one init call writes.

    local: the tensor whose memory is written (a DTensor's local shard, else the
    tensor); shape: the shape of the tensor the call stands for (the global
    one); parts: (local slices, global slices) blocks, or None when ``local`` is
    the whole tensor; code: the kernel output code of the dtype."""

    __slots__ = ("local", "shape", "parts", "code")

    def __init__(self, local, shape, parts, code):
        self.local, self.shape, self.parts, self.code = local, tuple(shape), parts, code

    @property
    def whole(self):
        """Whether the local memory is the whole tensor."""
        return self.parts is None

    def blocks(self):
        """(local slices, global slices) pairs covering the local memory."""
        if self.parts is not None:
            return self.parts
        full = tuple(slice(0, n) for n in self.shape)
        return [(full, full)] if math.prod(self.shape) > 0 else []

    def run(self, fill, stage_bytes=None):
        """Write ``fill`` (which describes the whole tensor) into the local memory, taking
        its stream once; returns the (seed, stream) drawn, or None for a deterministic fill."""
        if stage_bytes is None and device_kernels(self.local):
            return device_run(fill, self)
        if self.local.device.type == "cpu" and stage_bytes is None:
            arr, code = view(self.local)
            if self.parts is None:
                return _fill.run(fill, arr, code)
            pieces = ((arr[lo], gl) for lo, gl in self.parts)
            return _run_pieces(fill, self.shape, code, pieces)
        return _staged(fill, self, STAGE_BYTES if stage_bytes is None else stage_bytes)


#: CUDA devices where Triton failed to build or compile a kernel: staged from then on.
_NO_KERNELS = set()


def device_kernels(tensor):
    """Whether ``tensor``'s memory is written by fastinit's Triton kernels on its own device
    (fastinit.gpu) instead of through CPU staging: a CUDA tensor, with a usable Triton,
    unless FASTINIT_GPU_KERNELS=0 or Triton already failed on that device. The bits are
    the same either way."""
    if tensor.device.type != "cuda" or os.environ.get("FASTINIT_GPU_KERNELS", "1") == "0":
        return False
    if tensor.device in _NO_KERNELS:
        return False
    from .. import gpu
    return gpu.available()


def device_run(fill, target):
    """Target.run through fastinit.gpu's kernels on the local tensor's own device: each
    block of the local memory is one launch over the global shape (one stream taken).
    Where Triton cannot build or compile a kernel (fastinit.gpu.KernelUnavailable, raised
    before that launch writes or takes anything), a warning, and the CPU staging path
    writes the tensor instead, with the stream already taken if any: the same bits."""
    from .. import gpu
    local = target.local.detach()                 # written in place, outside autograd (as torch's fills)
    taken = []

    def run(part, tensor, code):
        got = gpu.run(part, tensor, code)
        if got is not None and not taken:
            taken.append(got)
        return got

    try:
        if target.parts is None:
            return run(fill, local, target.code)
        pieces = ((local[lo], gl) for lo, gl in target.parts)
        return _run_pieces(fill, target.shape, target.code, pieces, run)
    except gpu.KernelUnavailable as exc:
        _NO_KERNELS.add(local.device)
        warnings.warn(f"{exc}; fastinit generates on the CPU and copies to {local.device} instead "
                      "(the same values)", RuntimeWarning, stacklevel=2)
        if taken:
            fill = fill.replace(source=Source.fixed(*taken[0]))
        return _staged(fill, target, STAGE_BYTES)


def _run_pieces(fill, shape, code, pieces, run=_fill.run):
    """Run ``fill`` over (array, global slices) pieces of a tensor of ``shape`` (with
    ``run``: fastinit._fill.run for arrays, fastinit.gpu.run for device tensors): the
    first piece takes the stream, the others reuse it. With no piece, the stream is still
    taken (every rank takes the same streams, whatever it holds)."""
    taken = None
    for arr, index in pieces:
        part = fill.replace(global_shape=shape, index=index)
        if taken is not None:
            part = part.replace(source=Source.fixed(*taken))
        got = run(part, arr, code)
        taken = taken or got
    if taken is None and fill.draw.random:
        _fill.check(fill, shape, code)
        taken = fill.source.take()
    return taken


def pieces(shape, limit):
    """Index tuples of concrete slices, in C order, covering an array of ``shape`` with at
    most ``limit`` elements each: whole rows of the first axis while they fit, else
    each row cut the same way along the next axes."""
    if len(shape) == 0:
        yield ()
        return
    inner = math.prod(shape[1:])
    if inner <= limit:
        rest = tuple(slice(0, n) for n in shape[1:])
        step = max(1, limit // max(inner, 1))
        for a in range(0, shape[0], step):
            yield (slice(a, min(a + step, shape[0])),) + rest
        return
    for a in range(shape[0]):
        for tail in pieces(shape[1:], limit):
            yield (slice(a, a + 1),) + tail


def _shift(outer, inner):
    """``inner`` (slices relative to a block) inside ``outer`` (the block's slices; an int
    entry is an axis the block drops, kept as it is)."""
    inner = iter(inner)
    out = []
    for o in outer:
        if isinstance(o, slice):
            i = next(inner)
            out.append(slice(o.start + i.start, o.start + i.stop))
        else:
            out.append(o)
    return tuple(out)


def _staged(fill, target, stage_bytes):
    """Generate on the CPU and copy to the target's device, through two staging buffers
    of ``stage_bytes`` (pinned for CUDA): while one buffer's copy runs, the next piece is
    generated into the other. The values are the CPU's, bit for bit."""
    local = target.local.detach()                 # written in place, outside autograd (as torch's fills)
    limit = max(1, stage_bytes // local.element_size())
    cuda = local.device.type == "cuda"
    size = min(limit, max(1, local.numel()))
    buffers = [torch.empty(size, dtype=local.dtype, pin_memory=cuda) for _ in range(2)]
    events = [None, None]
    code = _buffers.FLOAT_CODES[DTYPES[local.dtype]]

    def generate():
        k = 0
        for lo, gl in target.blocks():
            for piece in pieces(tuple(s.stop - s.start for s in gl), limit):
                if events[k] is not None:
                    events[k].synchronize()           # that buffer's last copy is done
                shape = tuple(s.stop - s.start for s in piece)
                buf = buffers[k][:math.prod(shape)].view(shape)
                yield view(buf)[0], _shift(gl, piece)
                local[_shift(lo, piece)].copy_(buf, non_blocking=cuda)
                if cuda:                              # on the stream of the tensor's device, which ran the copy
                    events[k] = torch.cuda.Event()
                    events[k].record(torch.cuda.current_stream(local.device))
                k ^= 1

    try:
        return _run_pieces(fill, target.shape, code, generate())
    finally:
        for event in events:
            if event is not None:
                event.synchronize()


def target(tensor, where=None):
    """The Target of an init call on ``tensor``, or None when torch's own function is to run
    (another dtype or layout, a tensor subclass other than DTensor, an inference tensor,
    an expanded view). ``where``: (global shape, per-axis global indices) of a plain tensor
    that is a block of a bigger one. Raises ValueError for a DTensor fastinit cannot place
    (Partial)."""
    if is_dtensor(tensor):
        local = tensor._local_tensor
        if not _writable(local):
            return None
        indices = dtensor_indices(tensor)
        return Target(local, tensor.shape, parts_of(indices), _buffers.FLOAT_CODES[DTYPES[local.dtype]])
    if not _writable(tensor):
        return None
    code = _buffers.FLOAT_CODES[DTYPES[tensor.dtype]]
    if where is not None:
        return Target(tensor, where[0], parts_of(where[1]), code)
    return Target(tensor, tensor.shape, None, code)


def is_meta(tensor):
    """A floating tensor that holds no values: on the meta device, or a DTensor whose local
    shard is (FSDP2 before ``to_empty``): initializing it is a no-op after the checks."""
    if is_dtensor(tensor):
        tensor = tensor._local_tensor
    return plain_tensor(tensor) and tensor.device.type == "meta" and tensor.is_floating_point()
