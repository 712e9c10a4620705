"""The lottery ticket on torch models: init records, magnitude pruning, rewinding.

fastinit records, for every tensor it initializes, the distribution, seed,
stream and offset it drew from (``init_record``). Those few numbers are all
that is needed to regenerate the initial values later: ``rewind_`` writes them
back where a keep-mask is True (and zero elsewhere), with no copy of the
initial weights stored anywhere.

Iterative magnitude pruning builds on three more pieces: ``prune_(model, amount,
masks=previous)`` prunes a fraction of the weights that survived the previous
rounds (the new masks nested in the old), ``snapshot`` keeps one copy of the
weights for late rewinding (``rewind_(model, masks, snapshot=...)``), and
``reinit_`` is the random-reinitialization control: the same masks over a
fresh draw of each parameter's recorded initialization. docs/pruning.md is the
guide.
"""
import json
import os
import warnings

import numpy as np
import torch
from torch import nn

from .. import _buffers, _fill, _prune
from .._checks import check_uint64
from .._generator import name_stream
from .._report import write_atomic
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
    """Write the init records of a model (or a dict of records) to ``path`` as JSON.

    Written atomically: under a temporary name unique to the call in ``path``'s
    directory, fsynced, renamed over ``path`` and the directory fsynced, so
    ``path`` holds either the old records or the complete new ones."""
    records = init_records(model_or_records) if isinstance(model_or_records, nn.Module) else model_or_records
    if not isinstance(records, dict):
        raise TypeError("save_init_records takes a torch.nn.Module or a dict of records")
    text = json.dumps({"fastinit_init_records": 1, "records": records}, indent=1, sort_keys=True)
    # a unique temporary name beside path, fsynced, renamed, the directory fsynced: a failed or
    # interrupted save leaves the old file whole and never a partial one at path
    write_atomic(os.fspath(path), text)


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


def selection(model, names, masks=None):
    """(names, {name: parameter}, [NumPy view]) of the parameters a prune works on, in
    ranking order: ``names``, else the keys of ``masks``, else the default targets;
    every name checked against the model, every parameter viewable (what prune_ and
    GradualPruner select with)."""
    _check_model(model)
    params = dict(model.named_parameters())
    if masks is not None:
        if not isinstance(masks, dict):
            raise TypeError("masks must be a dict {parameter name: bool mask}, as prune_ returns")
        if names is None:
            names = list(masks)
        else:
            names = list(names)
            if set(names) != set(masks):
                raise ValueError(f"names and masks must name the same parameters: names has "
                                 f"{sorted(set(names) - set(masks))} that masks has not, masks "
                                 f"{sorted(set(masks) - set(names))} that names has not")
    elif names is None:
        names = _default_targets(model)
    else:
        if isinstance(names, str):
            raise TypeError(f"names must be a list of parameter names, got the str {names!r}")
        names = list(names)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"model has no parameters named {missing}")
    if len(set(names)) != len(names):
        raise ValueError(f"names lists a parameter twice: {sorted({n for n in names if names.count(n) > 1})}")
    return names, params, [_numpy(n, params[n])[0] for n in names]


def check_alive(entries):
    """Refuse (before anything changes) a NaN among the surviving weights of ``entries``
    ([(name, parameter, array, keep-mask)]): magnitude ranking needs every |w| to compare.
    A NaN where the mask already prunes is harmless: it is zeroed first."""
    for name, p, _, mask in entries:
        with torch.no_grad():
            if bool(torch.isnan(p.detach()).logical_and_(torch.from_numpy(mask)).any()):
                raise ValueError(f"parameter {name!r} holds NaN among its surviving weights; magnitude "
                                 "pruning needs every |w| to compare")


def grow_(entries, k):
    """Prune ``entries`` ([(name, parameter, array, keep-mask)], ranked as one
    concatenation in list order) in place so that exactly ``k`` of their entries are
    pruned, those the masks already prune included; returns the new keep-masks (new
    arrays, nested in the old: masks only grow). The internal interface of prune_ with
    ``masks=`` and of GradualPruner; ``check_alive`` has run, and ``k`` is at least
    the number already pruned.

    The previously pruned entries are zeroed first, so the exact selection (where zeros
    count as the smallest |w|) keeps them pruned, and adds the smallest surviving |w|,
    ties to the lower index. A surviving weight that is exactly 0.0 (or -0.0) would tie
    with them: when the zeros outnumber ``k``, the selection would otherwise be free to
    pick a surviving zero over a pruned one, so then the new entries are the first
    surviving zeros in flat order, chosen without the kernel (the smallest |w| there is,
    ties to the lower index, as the kernel would rank them)."""
    masks = [mask for _, _, _, mask in entries]
    pruned = sum(m.size - int(np.count_nonzero(m)) for m in masks)
    if k < pruned:
        raise ValueError(f"cannot prune {k} entries: {pruned} are pruned already and masks only grow")
    with torch.no_grad():
        alive_zeros = [(p.detach() == 0).logical_and_(torch.from_numpy(m)) for _, p, _, m in entries]
    zeros = pruned + sum(int(z.sum()) for z in alive_zeros)
    for _, _, arr, m in entries:
        _prune.apply_mask_(arr, m)
    if k >= zeros:              # every zero is among the k smallest: the kernel decides the rest
        arrays = [arr for _, _, arr, _ in entries]
        if len(arrays) == 1:
            return [_prune.prune_magnitude_(arrays[0], k, return_mask=True)]
        return _prune.global_prune_magnitude_(arrays, k, return_masks=True)
    need, out = k - pruned, []
    for (_, _, arr, m), z in zip(entries, alive_zeros):
        new = m.copy()
        if need:
            take = np.flatnonzero(z.numpy().reshape(-1))[:need]
            new.reshape(-1)[take] = False
            need -= take.size
            _prune.apply_mask_(arr, new)            # a surviving -0.0 is written +0.0, as the kernel writes
        out.append(new)
    return out


def prune_(model, amount, *, scope="global", names=None, masks=None):
    """Magnitude-prune the weights of ``model`` in place; returns the keep-masks.

    Parameters
    ----------
    model : torch.nn.Module
    amount : int or float
        A count, or a fraction in [0, 1] (rounded as torch.nn.utils.prune does),
        of the selected entries to zero: over all selected tensors together
        (``scope='global'``, as ``global_unstructured``) or in each tensor
        (``scope='layer'``, as ``l1_unstructured`` per tensor). With ``masks=``,
        a count or fraction of the entries those masks keep (the survivors).
    names : list of str, optional
        The parameters to prune; by default the keys of ``masks``, or without
        them every parameter of 2 or more dimensions named ``*weight``.
    masks : dict, optional
        The keep-masks of the previous round ({name: bool tensor}, as this
        function returns): one round of iterative magnitude pruning. The
        entries they prune are zeroed and stay pruned; ``amount`` of the
        surviving entries (globally or per tensor) with the smallest magnitude
        are added, so ``prune_(model, 0.2, masks=m)`` keeps 80 % of what ``m``
        kept, and the new masks are nested in the old (which are not modified).
        A surviving weight that is exactly zero ranks as the smallest survivor,
        never in place of an entry already pruned.

    Returns
    -------
    dict
        {name: bool tensor}, True where the weight was kept. Selection is exact:
        ties go to the lower index; dtypes may be mixed (bfloat16 included).
        Every argument and mask, and every surviving weight (NaN), is checked
        before any weight changes.
    """
    _check_model(model)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    names, params, arrays = selection(model, names, masks)
    if masks is None:
        if scope == "global":
            _prune.count(amount, sum(a.size for a in arrays))        # validate before writing
            new = _prune.global_prune_magnitude_(arrays, amount, return_masks=True)
        else:
            for a in arrays:
                _prune.count(amount, a.size)
            new = [_prune.prune_magnitude_(a, amount, return_mask=True) for a in arrays]
        return {n: torch.from_numpy(m) for n, m in zip(names, new)}
    entries = [(n, params[n], a, _mask_array(n, masks[n], params[n])) for n, a in zip(names, arrays)]
    groups = [entries] if scope == "global" else [[e] for e in entries]
    targets = []
    for group in groups:
        alive = sum(int(np.count_nonzero(m)) for _, _, _, m in group)
        size = sum(m.size for _, _, _, m in group)
        try:
            k = _prune.count(amount, alive)
        except ValueError as exc:
            where = "" if scope == "global" else f" of {group[0][0]!r}"
            raise ValueError(f"amount={amount!r} of the {alive} surviving entries{where} (the masks keep "
                             f"those): {exc}") from None
        targets.append(size - alive + k)
    check_alive(entries)
    new = [m for group, k in zip(groups, targets) for m in grow_(group, k)]
    return {n: torch.from_numpy(m) for n, m in zip(names, new)}


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


def snapshot(model, names=None):
    """A copy of the parameters of ``model`` ({name: tensor}), for late rewinding.

    Late rewinding (Frankle et al. 2020, "Linear mode connectivity and the lottery
    ticket hypothesis") rewinds the surviving weights to their values after a few
    hundred or thousand training steps, not to the initialization. Those values were
    written by training, not drawn from a stream, so they cannot be regenerated: this
    stores ONE copy of the named parameters (all of them by default), as much memory
    as those parameters take. Pass it to ``rewind_(model, masks, snapshot=...)``;
    it can be saved with ``torch.save``."""
    _check_model(model)
    params = dict(model.named_parameters())
    names = list(params) if names is None else list(names)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"model has no parameters named {missing}")
    return {n: params[n].detach().clone() for n in names}


def _check_masks(masks):
    if not isinstance(masks, dict):
        raise TypeError("masks must be a dict {parameter name: bool mask}, as prune_ returns")


def _record_plan(model, masks, records):
    """[(parameter, array, code, mask, fill, record, name, dtype name)] for ``masks``, every
    mask and record checked (what rewind_ and reinit_ write from)."""
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
    return plan


def _write_records(plan):
    with torch.no_grad():
        for p, arr, code, mask, fill, rec, name, dtype_name in plan:
            if fill.draw.kind in _fill.KERNEL_KINDS and _buffers.NAMES[code] == dtype_name:
                _fill.run(fill, arr, code, mask=_buffers.flat_bytes(mask))      # one fused pass
            else:
                initial = _functions.regenerate(torch.empty(p.shape, dtype=TORCH_DTYPES[dtype_name]), rec, name)
                p.copy_(initial.to(p.dtype))
                _prune.apply_mask_(arr, mask)


def rewind_(model, masks, records=None, *, snapshot=None):
    """Rewind the masked parameters of ``model`` to their initial values, in place.

    For each ``name, mask`` in ``masks``: where the mask is True the parameter
    gets back exactly the value fastinit's initialization wrote (regenerated
    from its record's seed, stream and offset: nothing was stored), elsewhere
    zero. ``records`` defaults to the records fastinit left on the parameters
    in this process; pass ``load_init_records(path)`` after a restart. Every
    record and mask is checked before any parameter changes.

    ``snapshot=`` (what ``snapshot(model)`` returned, instead of ``records``)
    rewinds to those stored values instead: late rewinding, which needs that
    one stored copy. To rewind parameters that are not pruned (biases) as well,
    give them an all-True mask.
    """
    _check_model(model)
    _check_masks(masks)
    if snapshot is None:
        _write_records(_record_plan(model, masks, records))
        return model
    if records is not None:
        raise TypeError("rewind_ takes records= (back to the initialization) or snapshot= (back to a stored "
                        "copy), not both")
    if not isinstance(snapshot, dict):
        raise TypeError("snapshot must be a dict {parameter name: tensor}, as snapshot(model) returns")
    params = dict(model.named_parameters())
    plan = []
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"model has no parameter named {name!r}")
        p, saved = params[name], snapshot.get(name)
        if saved is None:
            raise ValueError(f"the snapshot has no parameter {name!r}")
        if not isinstance(saved, torch.Tensor):
            raise TypeError(f"snapshot[{name!r}] must be a tensor, got {type(saved).__name__}")
        if tuple(saved.shape) != tuple(p.shape):
            raise ValueError(f"snapshot[{name!r}] has shape {tuple(saved.shape)}, the parameter {tuple(p.shape)}")
        if saved.dtype != p.dtype:
            raise TypeError(f"snapshot[{name!r}] is {saved.dtype}, the parameter {p.dtype}")
        plan.append((p, _numpy(name, p)[0], _mask_array(name, mask, p), saved))
    with torch.no_grad():
        for p, arr, mask, saved in plan:
            p.copy_(saved)
            _prune.apply_mask_(arr, mask)
    return model


def reinit_(model, masks, seed=None, *, records=None):
    """The random-reinitialization control of the lottery-ticket papers, in place.

    For each ``name, mask`` in ``masks``: draw the parameter's recorded
    initialization again (the same scheme, distribution and parameters, the
    same dtype) from a fresh stream, ``seed`` with stream ``name_stream(name)``,
    and keep it where the mask is True, zero elsewhere. So the control has the
    ticket's masks and the ticket's init distribution, but not its initial
    values. ``seed`` (an int in [0, 2**64)) defaults to one drawn from torch's
    default generator, as the init functions draw theirs (``seed_from()``).
    A deterministic init (``constant_``, ``eye_``, ``dirac_``) has nothing to
    redraw and is written as it was. ``records`` as for ``rewind_``. Every mask
    and record is checked before any parameter changes (and before the seed is
    drawn). The parameters' own records are left as they were: they still
    describe the original initialization.

    Examples
    --------
    >>> control = copy.deepcopy(model)          # records do not follow a deepcopy: pass them
    >>> ft.reinit_(control, masks, seed=1234, records=ft.init_records(model))
    """
    _check_model(model)
    _check_masks(masks)
    if seed is not None:
        seed = check_uint64(seed, "seed")
    plan = _record_plan(model, masks, records)
    if seed is None:
        seed = _functions.seed_from()
    fresh = []
    for p, arr, code, mask, fill, rec, name, dtype_name in plan:
        if rec.get("seed") is not None:
            rec = dict(rec, seed=seed, stream=name_stream(name))
            fill = _fill.from_record(rec, name)[0]
        fresh.append((p, arr, code, mask, fill, rec, name, dtype_name))
    _write_records(fresh)
    return model
