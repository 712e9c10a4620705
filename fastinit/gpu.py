"""fastinit fills on GPU tensors, bit for bit the values of the CPU kernels.

``fill_(tensor, init, *args, **kwargs)`` writes into a torch tensor that Triton can
address (a CUDA tensor; a CPU tensor under Triton's interpreter,
``TRITON_INTERPRET=1``) exactly the bits that the NumPy fill of the same name
writes into an array of the same shape and dtype, with the same seed, stream,
offset and placement (docs/STREAM.md, stream version 2)::

    w = torch.empty(768, 3072, device="cuda")
    fastinit.gpu.fill_(w, "kaiming_uniform", seed=0)
    # == torch.from_numpy(fastinit.kaiming_uniform_(np.empty((768, 3072), np.float32), seed=0))

The arguments go through the same description of a fill as the CPU functions
(``fastinit._fill``: ``lookup`` -> ``Rule.describe`` -> ``check``), so a bad argument
raises the CPU's exception, before the tensor changes and before a stream is taken
from a generator. The kernels are in ``fastinit._triton``.

Tensors: float32, float64, float16 or bfloat16 (uint32 or int32 for
``random_bits``), any shape and strides. A tensor that is not contiguous is filled
through a contiguous temporary of its shape and copied in (its elements get the
values of their C-order index, as on the CPU); a tensor whose elements overlap in
memory (a stride 0 over more than one element, as ``expand`` makes) is refused.
Structured initializations (orthogonal, sparse, eye, dirac, identity,
delta_orthogonal) are computed whole on the CPU and are not written here.
"""
import importlib
import math
import os
from collections.abc import Mapping

from . import _kernels
from ._buffers import FLOAT_CODES, NAMES, constant_bytes
from ._fill import BITS_CODE, check, from_record, lookup, step_indices

__all__ = ["available", "fill_", "rewind_", "run", "KernelUnavailable"]

#: The oldest Triton these kernels are checked with (older ones: fastinit.torch stages on the CPU).
MIN_TRITON = (3, 9)

_KERNEL_KINDS = frozenset((_kernels.BITS, _kernels.UNIFORM, _kernels.NORMAL, _kernels.TRUNC,
                           _kernels.TRUNC_WIDE, _kernels.PATTERN))
_STRUCTURED = "orthogonal, sparse, eye, dirac, identity, delta_orthogonal"


def _interpreting():
    """Whether Triton's interpreter is on (TRITON_INTERPRET), as Triton reads it."""
    import triton
    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def available():
    """True when triton imports and either a CUDA device is present or Triton's
    interpreter is on (then CPU tensors are filled too)."""
    try:
        import torch
        import triton
    except ImportError:
        return False
    if _version(triton.__version__) < MIN_TRITON:
        return False
    if _interpreting():
        return True
    # NVIDIA only: ROCm builds of torch call their devices "cuda" too, and the kernels'
    # rounding has been checked against NVIDIA's instructions only
    return torch.cuda.is_available() and getattr(torch.version, "hip", None) is None


def _version(text):
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _backend():
    """fastinit._triton, re-imported when the interpreter setting changed since its
    kernels were decorated (Triton fixes the mode at decoration)."""
    mod = importlib.import_module("fastinit._triton")
    if mod.INTERPRET != _interpreting():
        mod = importlib.reload(mod)
    return mod


def _rule(init):
    rule = lookup(init)
    if rule.structured:
        raise NotImplementedError(
            f"fastinit.gpu does not write {rule.name!r}: structured initializations ({_STRUCTURED}) are "
            f"computed whole on the CPU; fill a CPU tensor (fastinit.{rule.name}_ or fastinit.torch) and copy it")
    return rule


def _check_tensor(tensor, rule, name="tensor"):
    """The kernel output code of a tensor this rule can fill; TypeError / ValueError otherwise."""
    import torch
    from .torch._memory import DTYPES, overlaps      # the torch layer's dtype table and overlap test
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.layout != torch.strided:
        raise TypeError(f"{name} has layout {tensor.layout}; fastinit.gpu fills dense (strided) tensors")
    if rule.buffer == "uint32":
        if tensor.dtype not in (torch.int32, getattr(torch, "uint32", torch.int32)):
            raise TypeError(f"{name} has dtype {tensor.dtype}; {rule.name}_ fills uint32 or int32 tensors")
        code = BITS_CODE
    else:
        if tensor.dtype not in DTYPES:
            raise TypeError(f"{name} has dtype {tensor.dtype}; expected torch.float32, torch.float64, "
                            "torch.float16 or torch.bfloat16")
        code = FLOAT_CODES[DTYPES[tensor.dtype]]
    kind = tensor.device.type
    if not (kind == "cuda" or (kind == "cpu" and _interpreting())):
        raise ValueError(f"{name} is on device {tensor.device}; fastinit.gpu fills CUDA tensors "
                         "(CPU tensors only under Triton's interpreter, TRITON_INTERPRET=1; use the "
                         "NumPy fills or fastinit.torch for CPU tensors)")
    if overlaps(tensor):
        raise ValueError(f"{name} has overlapping elements (two of them share memory, as after "
                         "expand() or some as_strided views); fill a tensor that owns its elements")
    return code


class _Unset:
    def __repr__(self):
        return "<not given>"


_UNSET = _Unset()


def _with_options(rule, kwargs, seed, stream, offset):
    """kwargs plus the seed / stream / offset the caller passed (a rule that takes none,
    such as constant, then raises the CPU's TypeError for them, even for None or 0)."""
    kw = dict(kwargs)
    for key, value in (("seed", seed), ("stream", stream), ("offset", offset)):
        if value is not _UNSET:
            kw[key] = value
    return kw


def fill_(tensor, init, *args, seed=_UNSET, stream=_UNSET, offset=_UNSET, **kwargs):
    """Fill ``tensor`` in place with the fill or scheme ``init`` and return it.

    ``init``: a fill's name as in ``save_random`` specs ('uniform', 'normal',
    'trunc_normal', 'constant', 'zeros', 'ones', 'kaiming_uniform', 'xavier_normal',
    'lecun_normal', 'variance_scaling', 'random_bits', ...; with or without the
    trailing underscore) or the fastinit fill function itself. ``args`` and ``kwargs``
    are that fill's (``a``, ``b``, ``std``, ``mode``, ``generator``, ``global_shape``,
    ``index``, ``layout``, ``fan_in``, ...), checked exactly as the CPU function checks
    them. The values are bit for bit those of the CPU fill of an array of
    ``tensor``'s shape and dtype.
    """
    rule = _rule(init)
    code = _check_tensor(tensor, rule)
    fill = rule.describe(tuple(tensor.shape), args, _with_options(rule, kwargs, seed, stream, offset))
    run(fill, tensor, code)
    return tensor


def rewind_(tensor, mask, init, **init_kwargs):
    """``fastinit.rewind_`` for tensors: where the bool tensor ``mask`` (same shape and
    device) is True, the values ``fill_(tensor, init, **init_kwargs)`` writes, and zero
    elsewhere, in one pass. ``init`` is a fill (name or function) with the arguments of the
    initialization, which must name its stream (``seed=``, ``stream=``), or a record."""
    import torch
    if isinstance(init, Mapping):
        if init_kwargs:
            raise TypeError("rewind_ from a record takes no other arguments; the record holds them")
        fill, shape, dtype = from_record(dict(init), "tensor")
        rule = _rule(fill.draw.kind)
        code = _check_tensor(tensor, rule)
        if shape != tuple(tensor.shape) or dtype != NAMES[code]:
            raise ValueError(f"the record is for a {dtype} tensor of shape {shape}, "
                             f"the tensor is {NAMES[code]} of shape {tuple(tensor.shape)}")
    else:
        rule = _rule(init)
        code = _check_tensor(tensor, rule)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a torch bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    if tuple(mask.shape) != tuple(tensor.shape):
        raise ValueError(f"mask has shape {tuple(mask.shape)}, the tensor {tuple(tensor.shape)}")
    if mask.device != tensor.device:
        raise ValueError(f"mask is on {mask.device}, the tensor on {tensor.device}")
    if not isinstance(init, Mapping):
        if rule.buffer != "float":
            raise TypeError(f"init must fill float buffers; {rule.name}_ fills {rule.buffer} ones")
        if rule.random and init_kwargs.get("seed") is None and init_kwargs.get("stream") is None:
            raise ValueError("rewind_ needs the stream the initialization used: pass seed= (and stream= if "
                             "it was not 0), or generator= with stream=")
        fill = rule.describe(tuple(tensor.shape), (), dict(init_kwargs))
    run(fill, tensor, code, mask=mask.reshape(-1).contiguous().view(torch.uint8))
    return tensor


def run(fill, tensor, code, mask=None):
    """Write a checked-to-be description ``fill`` (a fastinit._fill.Fill) into ``tensor``
    (output ``code``), as ``fastinit._fill.run`` does for arrays: everything checked
    first, then the stream taken, then one kernel launch, then the fill's steps. ``mask``:
    None or a flat uint8 keep-mask of the tensor's size on its device. Returns (seed,
    stream), or None for a deterministic fill."""
    import torch
    shape = tuple(tensor.shape)
    place, kind, params = check(fill, shape, code)
    if params is None or kind not in _KERNEL_KINDS:
        raise NotImplementedError(f"fastinit.gpu does not write a {fill.draw.kind} initialization "
                                  f"(structured: {_STRUCTURED}); fill it on the CPU and copy it")
    if mask is not None and tuple(mask.shape) != (math.prod(shape),):
        raise ValueError("a keep-mask needs one mask byte per element")
    with torch.no_grad(), _on(tensor.device):
        dest = tensor.detach()
        target = dest if dest.is_contiguous() else torch.empty(shape, dtype=dest.dtype, device=dest.device)
        flat = target.view(-1)
        try:
            backend = _backend()
            go = backend.prepare(flat, kind, code, params, backend.tile_runs(shape, place), mask)
        except Exception as exc:                 # Triton cannot build or compile here
            raise KernelUnavailable(f"fastinit.gpu cannot run its kernels on {tensor.device}: "
                                    f"{type(exc).__name__}: {exc}") from exc
        taken = fill.source.take() if fill.draw.random else None
        seed, stream = taken or (0, 0)
        go(seed, stream)
        _apply_steps(flat, code, fill.steps, mask)
        if target is not dest:
            dest.copy_(target)
    return taken


class KernelUnavailable(RuntimeError):
    """Triton could not build or compile a kernel for this device (raised by :func:`run`
    before anything is written or a stream is taken; fastinit.torch then falls back to
    generating on the CPU)."""


def _on(device):
    """The context that makes ``device`` current for Triton's launch (it launches on the
    current CUDA device and stream, whatever the tensor's device)."""
    import contextlib
    if device.type == "cuda":
        import torch
        return torch.cuda.device(device)
    return contextlib.nullcontext()


def _apply_steps(flat, code, steps, mask):
    """The constant steps of a fill (``fastinit._fill.apply_steps``) on a flat tensor."""
    if not steps:
        return
    import torch
    ints = flat.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[flat.element_size()])
    for step in steps:
        raw = constant_bytes(code, step[0])
        value = int.from_bytes(raw, "little", signed=True)
        idx = torch.from_numpy(step_indices(step)).to(flat.device)
        if idx.numel() == 0:
            continue
        fill = torch.full(idx.shape, value, dtype=ints.dtype, device=flat.device)
        if mask is not None:
            fill = torch.where(mask[idx] != 0, fill, torch.zeros_like(fill))
        ints[idx] = fill
