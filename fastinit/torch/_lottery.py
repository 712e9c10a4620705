"""The lottery ticket on torch models: init records, magnitude pruning, rewinding.

fastinit records, for every tensor it initializes, the distribution, seed,
stream and offset it drew from (``init_record``). Those few numbers are all
that is needed to regenerate the initial values later: ``rewind_`` writes them
back where a keep-mask is True (and zero elsewhere), with no copy of the
initial weights stored anywhere.
"""
import json
import os
import warnings

import numpy as np
import torch
from torch import nn

from .. import _buffers, _fill, _prune
from . import _functions, _memory
from ._functions import TORCH_DTYPES



def _check_model(model):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


_VERIFY_PREFIX = 4096          # elements compared with a regenerated prefix
_VERIFY_WHOLE = 1 << 22        # structured inits (orthogonal, sparse, eye, dirac) regenerated whole up to this


def _matches(name, p, rec):
    """Whether the parameter still holds what its record says was written (checked on a
    prefix, plus every element of the record's steps)."""
    fill, shape, dtype_name = _fill.from_record(rec, name)      # a corrupt record is an error, not stale
    if shape != tuple(p.shape):
        return False
    dtype = TORCH_DTYPES[dtype_name]
    if _memory.is_dtensor(p):
        return _shard_matches(p, fill, dtype)
    with torch.no_grad():
        flat = p.detach().reshape(-1)
        kind = fill.draw.kind
        if kind == "constant" and not fill.steps:
            return bool((flat == torch.tensor(fill.draw.params["val"], dtype=dtype).to(p.dtype)).all())
        if kind in _fill.KERNEL_KINDS:
            k = min(flat.numel(), _VERIFY_PREFIX)
            scratch = torch.empty(k, dtype=dtype)
            _fill.run(fill.replace(steps=()), *_functions.view(scratch))
            for step in fill.steps:
                idx = torch.from_numpy(_fill.step_indices(step))
                value = torch.tensor(step[0], dtype=dtype)
                if not bool((flat[idx] == value.to(p.dtype)).all()):
                    return False
                scratch[idx[idx < k]] = value
            return torch.equal(scratch.to(p.dtype), flat[:k])
        if p.numel() > _VERIFY_WHOLE:
            return True                # too big to regenerate just to check; trusted
        again = _functions.regenerate(torch.empty(p.shape, dtype=dtype), rec, name)
        return torch.equal(again.to(p.dtype), p.detach())


def _shard_matches(p, fill, dtype):
    """A DTensor's check, on this rank's shard (no collective): a kernel fill without steps is
    regenerated there and compared; other records are trusted."""
    if fill.draw.kind not in _fill.KERNEL_KINDS or fill.steps:
        return True
    target = _memory.target(p)
    if target is None:
        return True
    local = target.local.detach()
    scratch = torch.empty(local.shape, dtype=dtype)
    _memory.Target(scratch, target.shape, target.parts, _functions.view(scratch)[1]).run(fill)
    return torch.equal(scratch.to(local.dtype), local.cpu())


def init_records(model, *, verify=True):
    """{parameter name: record} for every parameter of ``model`` that fastinit initialized.

    The records are plain JSON-serializable dicts (see ``init_record``): save
    them beside a checkpoint with ``save_init_records`` to rewind later. Call
    it right after initialization: with ``verify=True`` each record is checked
    against the parameter's current values (a regenerated prefix of 4096
    elements), and a parameter that something else rewrote since fastinit
    initialized it (``.data.normal_()``, a slice, torch's own functions) is
    left out with a warning, so a later ``rewind_`` cannot restore values the
    model never started from. Every record is checked as ``rewind_`` checks it (a
    corrupt one is a ValueError naming the parameter and the field)."""
    _check_model(model)
    out, stale = {}, []
    for name, p in model.named_parameters():
        rec = _functions.init_record(p)
        if rec is None:
            continue
        _fill.from_record(rec, name)
        if verify and not _matches(name, p, rec):
            stale.append(name)
            continue
        out[name] = rec
    if stale:
        warnings.warn(f"init_records: {stale} no longer hold what fastinit wrote (rewritten since, or already "
                      "trained); their records are left out", RuntimeWarning, stacklevel=2)
    return out


def save_init_records(model_or_records, path):
    """Write the init records of a model (or a dict of records) to ``path`` as JSON."""
    records = init_records(model_or_records) if isinstance(model_or_records, nn.Module) else model_or_records
    if not isinstance(records, dict):
        raise TypeError("save_init_records takes a torch.nn.Module or a dict of records")
    text = json.dumps({"fastinit_init_records": 1, "records": records}, indent=1, sort_keys=True)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:     # a failed save leaves the old file whole
        f.write(text)
    os.replace(tmp, path)


def load_init_records(path):
    """Read records written by ``save_init_records``; every record is checked (a ValueError
    naming the parameter and the field for a corrupt or partial one)."""
    with open(os.fspath(path), encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("fastinit_init_records") != 1 or not isinstance(doc.get("records"), dict):
        raise ValueError(f"{os.fspath(path)} is not a fastinit init-records file")
    for name, rec in doc["records"].items():
        _fill.from_record(rec, name)
    return doc["records"]


def _default_targets(model):
    """The weights magnitude pruning usually targets: every parameter of 2 or more
    dimensions whose name ends in 'weight' (Linear, Conv, Embedding, ...)."""
    return [name for name, p in model.named_parameters() if p.dim() >= 2 and name.rsplit(".", 1)[-1] == "weight"]


def _numpy(name, p):
    target = _functions.view(p)
    if target is None:
        what = "a DTensor" if _memory.is_dtensor(p) else f"a {p.dtype} tensor on {p.device}"
        raise TypeError(f"parameter {name!r} is {what}; fastinit prunes and rewinds plain CPU tensors "
                        "of float32, float64, float16 or bfloat16")
    arr, code = target
    if not arr.flags.c_contiguous:
        raise ValueError(f"parameter {name!r} must be contiguous")
    return arr, code


def prune_(model, amount, *, scope="global", names=None):
    """Magnitude-prune the weights of ``model`` in place; returns the keep-masks.

    Parameters
    ----------
    model : torch.nn.Module
    amount : int or float
        A count, or a fraction in [0, 1] (rounded as torch.nn.utils.prune does),
        of the selected entries to zero: over all selected tensors together
        (``scope='global'``, as ``global_unstructured``) or in each tensor
        (``scope='layer'``, as ``l1_unstructured`` per tensor).
    names : list of str, optional
        The parameters to prune; by default every parameter of 2 or more
        dimensions named ``*weight``.

    Returns
    -------
    dict
        {name: bool tensor}, True where the weight was kept. Selection is exact:
        ties go to the lower index; dtypes may be mixed (bfloat16 included).
    """
    _check_model(model)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    params = dict(model.named_parameters())
    names = _default_targets(model) if names is None else list(names)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"model has no parameters named {missing}")
    arrays = [_numpy(n, params[n])[0] for n in names]
    if scope == "global":
        _prune.count(amount, sum(a.size for a in arrays))        # validate before writing
        masks = _prune.global_prune_magnitude_(arrays, amount, return_masks=True)
    else:
        for a in arrays:
            _prune.count(amount, a.size)
        masks = [_prune.prune_magnitude_(a, amount, return_mask=True) for a in arrays]
    return {n: torch.from_numpy(m) for n, m in zip(names, masks)}


def _mask_array(name, mask, p):
    if isinstance(mask, torch.Tensor):
        if mask.dtype != torch.bool:
            raise TypeError(f"masks[{name!r}] must be a bool tensor, got {mask.dtype}")
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(f"masks[{name!r}] must be a bool tensor or NumPy bool array")
    if tuple(mask.shape) != tuple(p.shape):
        raise ValueError(f"masks[{name!r}] has shape {tuple(mask.shape)}, the parameter {tuple(p.shape)}")
    return np.ascontiguousarray(mask)


def apply_masks_(model, masks):
    """Zero each named parameter where its mask is False (after an optimizer step)."""
    _check_model(model)
    params = dict(model.named_parameters())
    checked = []
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"model has no parameter named {name!r}")
        checked.append((_numpy(name, params[name])[0], _mask_array(name, mask, params[name])))
    for arr, mask in checked:
        _prune.apply_mask_(arr, mask)
    return model


def rewind_(model, masks, records=None):
    """Rewind the masked parameters of ``model`` to their initial values, in place.

    For each ``name, mask`` in ``masks``: where the mask is True the parameter
    gets back exactly the value fastinit's initialization wrote (regenerated
    from its record's seed, stream and offset: nothing was stored), elsewhere
    zero. ``records`` defaults to the records fastinit left on the parameters
    in this process; pass ``load_init_records(path)`` after a restart. Every
    record and mask is checked before any parameter changes.
    """
    _check_model(model)
    if not isinstance(masks, dict):
        raise TypeError("masks must be a dict {parameter name: bool mask}, as prune_ returns")
    params = dict(model.named_parameters())
    plan = []
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"model has no parameter named {name!r}")
        p = params[name]
        rec = _functions.init_record(p) if records is None else records.get(name)
        if rec is None:
            raise ValueError(f"parameter {name!r} has no fastinit init record (it was not initialized through "
                             "fastinit in this process); pass records=load_init_records(path)")
        fill, shape, dtype_name = _fill.from_record(rec, name)
        if shape != tuple(p.shape):
            raise ValueError(f"the init record of {name!r}: shape: {shape}, the parameter is {tuple(p.shape)}")
        arr, code = _numpy(name, p)
        plan.append((p, arr, code, _mask_array(name, mask, p), fill, rec, name, dtype_name))
    with torch.no_grad():
        for p, arr, code, mask, fill, rec, name, dtype_name in plan:
            if fill.draw.kind in _fill.KERNEL_KINDS and _buffers.NAMES[code] == dtype_name:
                _fill.run(fill, arr, code, mask=_buffers.flat_bytes(mask))      # one fused pass
            else:
                initial = _functions.regenerate(torch.empty(p.shape, dtype=TORCH_DTYPES[dtype_name]), rec, name)
                p.copy_(initial.to(p.dtype))
                _prune.apply_mask_(arr, mask)
    return model
