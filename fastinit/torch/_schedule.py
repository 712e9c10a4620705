"""Pruning during training: sparsity schedules and a pruner that follows one.

The schedules are TensorFlow Model Optimization's (``tfmot.sparsity.keras``):
``PolynomialDecay`` (Zhu & Gupta 2017, "To prune, or not to prune") and
``ConstantSparsity``, with the same arguments, the same formula and the same
rule for which steps prune. ``GradualPruner`` applies one to a torch model with
fastinit's exact selection: on each pruning step the masks grow to exactly the
scheduled sparsity (the count rounded as ``torch.nn.utils.prune`` rounds it),
and between pruning steps the pruned entries are held at zero (gradients masked,
weights re-masked after each optimizer step, and optionally the optimizer's state
zeroed). docs/pruning.md is the guide.
"""
import math
import numbers
import operator
import weakref

import numpy as np
import torch

from .. import _prune
from .._checks import check_real
from . import _lottery

_FORMAT = 1        # the version of GradualPruner.state_dict()'s layout


def _check_step(value, name, allow_minus_one=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    v = operator.index(value)
    if v < 0 and not (allow_minus_one and v == -1):
        raise ValueError(f"{name} must be >= 0{' (or -1: no end)' if allow_minus_one else ''}, got {v}")
    return v


def _check_frequency(value):
    v = _check_step(value, "frequency")
    if v == 0:
        raise ValueError("frequency must be a positive int, got 0")
    return v


def _check_sparsity(value, name):
    v = check_real(value, name)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


class _Schedule:
    """What the two schedules share: which steps prune (TF-MOT's rule) and a config."""

    def should_prune(self, step):
        """Whether ``step`` is a pruning step: ``begin_step <= step <= end_step`` (no upper
        bound when ``end_step == -1``) and ``(step - begin_step) % frequency == 0``. As in
        TF-MOT, ``end_step`` itself prunes only if it falls on that grid."""
        step = _check_step(step, "step")
        in_range = step >= self.begin_step and (self.end_step == -1 or step <= self.end_step)
        return in_range and (step - self.begin_step) % self.frequency == 0

    def __call__(self, step):
        """(should_prune(step), sparsity(step)), as a TF-MOT schedule returns."""
        return self.should_prune(step), self.sparsity(step)

    def get_config(self):
        """{'class_name': ..., 'config': {...}}: JSON, and what ``from_config`` takes."""
        return {"class_name": type(self).__name__, "config": dict(self._config())}

    @staticmethod
    def from_config(config):
        """The schedule a ``get_config()`` describes (checked as the constructor checks)."""
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            raise ValueError(f"a schedule config is {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
        cls = _SCHEDULES.get(config.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown schedule {config.get('class_name')!r}; known: {sorted(_SCHEDULES)}")
        return cls(**config["config"])

    def __eq__(self, other):
        return type(other) is type(self) and other._config() == self._config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._config())))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._config())})"


class PolynomialDecay(_Schedule):
    """Sparsity rising from ``initial_sparsity`` to ``final_sparsity`` (Zhu & Gupta 2017).

    ``sparsity(step) = final + (initial - final) * (1 - p) ** power`` with
    ``p = (step - begin_step) / (end_step - begin_step)`` clamped to [0, 1]: fast
    at first, flattening out toward ``final_sparsity``, which holds after
    ``end_step``. Pruning happens on the steps ``should_prune`` names:
    ``begin_step, begin_step + frequency, ...`` up to ``end_step`` included.
    As TF-MOT's ``tfmot.sparsity.keras.PolynomialDecay`` (same arguments and
    order), computed in double precision. The formula with ``power=0`` would hold
    ``initial_sparsity`` at every step and never reach ``final_sparsity``; that
    is refused unless the two are equal (``ConstantSparsity`` is the constant
    schedule).

    Raises ``ValueError`` for sparsities outside [0, 1), ``final_sparsity <
    initial_sparsity``, ``begin_step < 0``, ``end_step <= begin_step``,
    ``frequency <= 0``, ``power < 0``, or ``power=0`` with ``final_sparsity !=
    initial_sparsity``; ``TypeError`` for non-numbers.
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100):
        initial = _check_sparsity(initial_sparsity, "initial_sparsity")
        final = _check_sparsity(final_sparsity, "final_sparsity")
        if final < initial:
            raise ValueError(f"final_sparsity={final} must be >= initial_sparsity={initial} (masks only grow)")
        begin = _check_step(begin_step, "begin_step")
        end = _check_step(end_step, "end_step")
        if end <= begin:
            raise ValueError(f"end_step={end} must be greater than begin_step={begin}")
        power = check_real(power, "power")
        if power < 0:
            raise ValueError(f"power must be >= 0, got {power}")
        if power == 0 and final != initial:
            raise ValueError(f"power=0 holds initial_sparsity={initial} at every step (1 - p to the power 0 is "
                             f"1) and never reaches final_sparsity={final}; for a constant sparsity use "
                             f"ConstantSparsity({final}, begin_step, end_step, frequency)")
        self.initial_sparsity, self.final_sparsity = initial, final
        self.begin_step, self.end_step = begin, end
        self.power, self.frequency = power, _check_frequency(frequency)

    def sparsity(self, step):
        """The fraction of the selected weights pruned at ``step`` (the formula above)."""
        step = _check_step(step, "step")
        p = min(1.0, max(0.0, (step - self.begin_step) / (self.end_step - self.begin_step)))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p) ** self.power

    def _config(self):
        return (("initial_sparsity", self.initial_sparsity), ("final_sparsity", self.final_sparsity),
                ("begin_step", self.begin_step), ("end_step", self.end_step), ("power", self.power),
                ("frequency", self.frequency))


class ConstantSparsity(_Schedule):
    """Prune to ``target_sparsity`` on steps ``begin_step, begin_step + frequency, ...``
    up to ``end_step`` (``-1``: no end), as TF-MOT's ``ConstantSparsity``.

    ``sparsity(step)`` is ``target_sparsity`` at every step. ``end_step ==
    begin_step`` prunes once, at ``begin_step``. Raises ``ValueError`` for a target
    outside [0, 1), ``begin_step < 0``, ``0 <= end_step < begin_step`` or an
    ``end_step`` below -1, ``frequency <= 0``.
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        target = _check_sparsity(target_sparsity, "target_sparsity")
        begin = _check_step(begin_step, "begin_step")
        end = _check_step(end_step, "end_step", allow_minus_one=True)
        if end != -1 and end < begin:
            raise ValueError(f"end_step={end} must be >= begin_step={begin} (or -1: no end)")
        self.target_sparsity, self.begin_step, self.end_step = target, begin, end
        self.frequency = _check_frequency(frequency)

    def sparsity(self, step):
        """``target_sparsity`` (for any step >= 0)."""
        _check_step(step, "step")
        return self.target_sparsity

    def _config(self):
        return (("target_sparsity", self.target_sparsity), ("begin_step", self.begin_step),
                ("end_step", self.end_step), ("frequency", self.frequency))


_SCHEDULES = {"PolynomialDecay": PolynomialDecay, "ConstantSparsity": ConstantSparsity}


def _mask_grad(pruner_ref, name):
    """The gradient hook of one parameter: the pruner's mask applied (nothing once the pruner
    is gone or stripped). A sparse gradient (``nn.Embedding(sparse=True)``) stays sparse."""
    def mask_grad(grad):
        pruner = pruner_ref()
        if pruner is None or pruner._stripped:
            return grad
        mask = pruner._masks[name].to(grad.device)
        if grad.is_sparse:
            return grad * mask
        return torch.where(mask, grad, 0)
    return mask_grad


def _remove_hooks(hooks):
    for _, handle in hooks.values():
        handle.remove()
    hooks.clear()


def _check_n_m(n_m):
    if not isinstance(n_m, (tuple, list)) or len(n_m) != 2:
        raise TypeError(f"n_m must be a pair (n, m), got {n_m!r}")
    for what, v in zip(("n", "m"), n_m):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"n_m: {what} must be an int, got {v!r}")
    n, m = (operator.index(v) for v in n_m)
    if not 1 <= m <= 64:
        raise ValueError(f"n_m: m must be between 1 and 64, got {m}")
    if not 1 <= n <= m:
        raise ValueError(f"n_m: n must be between 1 and m={m} (the entries kept in each group of m), got {n}")
    return n, m


class GradualPruner:
    """Magnitude pruning during training, on a schedule (TF-MOT's ``prune_low_magnitude``).

    Call ``step()`` right after every ``optimizer.step()``. The ``t``-th call
    (counting from 0: ``t`` is the index of the optimizer step just taken) does,
    in order:

    1. zero the pruned entries again (an optimizer's momentum or decoupled weight
       decay may have moved them);
    2. if ``schedule.should_prune(t)``: grow the masks so that exactly
       ``round(schedule.sparsity(t) * size)`` of the selected entries are pruned
       (over all of them with ``scope='global'``, in each tensor with
       ``'layer'``): the entries pruned before stay pruned, and the smallest
       surviving |w| join them (exact selection, ties to the lower index; a
       surviving weight that is exactly 0.0 ranks as the smallest survivor);
       zero them; and, with ``optimizer=``, zero that optimizer's per-parameter
       state tensors (momentum buffers, Adam's moments) at every pruned entry.

    Between pruning steps a gradient hook zeroes the gradient of every pruned
    entry. With ``optimizer=`` given, SGD (momentum, weight decay, Nesterov),
    Adam and AdamW then leave the pruned entries at exactly 0.0 on their own;
    without it, their stale state can move them until step 1 zeroes them again,
    so read or save the weights after ``step()``.

    Parameters
    ----------
    model : torch.nn.Module
    final_sparsity : float, optional
        With ``end_step``: a ``PolynomialDecay(initial_sparsity, final_sparsity,
        begin_step, end_step, power, frequency)`` schedule (the issue's and
        TF-MOT's arguments, same defaults).
    schedule : PolynomialDecay or ConstantSparsity, optional
        Instead of those arguments (passing both is a ``TypeError``).
    scope : {'global', 'layer'}
    names : list of str, optional
        The parameters to prune; by default every parameter of 2 or more
        dimensions named ``*weight``.
    n_m : (int, int), optional
        N:M structured sparsity instead of a magnitude schedule: at
        ``begin_step`` every group of ``m`` consecutive entries along the last
        dimension keeps its ``n`` largest |w|, and those masks are held from then
        on (N:M has one sparsity, ``1 - n/m``; there is nothing to grow
        gradually without breaking the pattern). Takes no other schedule
        argument (``final_sparsity`` may be given if it equals ``1 - n/m``);
        ``scope`` does not apply.
    optimizer : torch.optim.Optimizer, optional
        Whose state to zero at pruned entries on each pruning step.

    The parameters are CPU tensors of float32, float64, float16 or bfloat16
    (fastinit's selection runs on their memory; other devices are a
    ``TypeError`` at construction). They are looked up in the model again on
    every call, so ``model.double()``, ``share_memory()``, a change of memory
    format or ``load_state_dict(assign=True)`` keep working (a replaced or
    unfrozen parameter gets its gradient hook then). A pruner dropped without
    ``strip()`` removes its hooks when it is garbage-collected.

    ``state_dict()`` / ``load_state_dict()`` resume an interrupted run exactly;
    ``strip()`` removes the hooks and leaves plain parameters (zeros where
    pruned). Every argument is checked before a hook is registered or a weight
    changes; no weight changes before the first ``step()``.
    """

    def __init__(self, model, final_sparsity=None, *, initial_sparsity=0.0, begin_step=0, end_step=None,
                 frequency=100, power=3, scope="global", names=None, n_m=None, schedule=None, optimizer=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        changed = [k for k, v, default in (("final_sparsity", final_sparsity, None),
                                           ("initial_sparsity", initial_sparsity, 0.0),
                                           ("end_step", end_step, None), ("frequency", frequency, 100),
                                           ("power", power, 3)) if v is not default and v != default]
        if n_m is not None:
            if schedule is not None or [k for k in changed if k != "final_sparsity"]:
                raise TypeError(f"n_m applies the N:M pattern once, at begin_step; it takes no schedule "
                                f"(got {'schedule' if schedule is not None else ', '.join(changed)})")
            n, m = _check_n_m(n_m)
            if final_sparsity is not None and not math.isclose(check_real(final_sparsity, "final_sparsity"),
                                                               1 - n / m, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"final_sparsity={final_sparsity} is not the sparsity of {n}:{m}, {1 - n / m}")
            n_m = (n, m)
            schedule = ConstantSparsity(1 - n / m, begin_step, begin_step, 1)
        elif schedule is not None:
            if not isinstance(schedule, _Schedule):
                raise TypeError(f"schedule must be a PolynomialDecay or ConstantSparsity, got "
                                f"{type(schedule).__name__}")
            if changed or begin_step != 0:
                raise TypeError(f"pass either schedule= or the schedule's arguments, not both "
                                f"(got {', '.join(changed + (['begin_step'] if begin_step != 0 else []))})")
        else:
            if final_sparsity is None or end_step is None:
                raise TypeError("GradualPruner needs final_sparsity and end_step (a PolynomialDecay), "
                                "or schedule=, or n_m=")
            schedule = PolynomialDecay(initial_sparsity, final_sparsity, begin_step, end_step, power, frequency)
        names, params, arrays = _lottery.selection(model, names)
        if not names:
            raise ValueError("there are no parameters to prune (names is empty, or the model has no "
                             "parameter of 2 or more dimensions named *weight)")
        if n_m is not None:
            for name, a in zip(names, arrays):
                if a.ndim == 0 or a.shape[-1] % n_m[1]:
                    raise ValueError(f"parameter {name!r} of shape {a.shape}: its last dimension is not a "
                                     f"multiple of m={n_m[1]}")
        self._model, self._optimizer = model, optimizer
        self.schedule, self.scope, self.names, self.n_m = schedule, scope, names, n_m
        self._params = [params[name] for name in names]
        self._masks = {name: torch.ones(params[name].shape, dtype=torch.bool) for name in names}
        self._step = 0
        self._stripped = False
        # name -> (the parameter hooked, its handle); the hooks hold the pruner weakly, and
        # a pruner dropped without strip() takes its hooks with it
        self._hooks = {}
        self._finalizer = weakref.finalize(self, _remove_hooks, self._hooks)
        self._hook_params()

    def _hook_params(self):
        """A gradient hook on each selected parameter that takes gradients now (again on a
        parameter replaced since, e.g. by ``load_state_dict(assign=True)``, or unfrozen)."""
        me = weakref.ref(self)
        for name, p in zip(self.names, self._params):
            hooked = self._hooks.get(name)
            if hooked is not None and hooked[0] is p:
                continue
            if hooked is not None:
                hooked[1].remove()
                del self._hooks[name]
            if p.requires_grad:
                self._hooks[name] = (p, p.register_hook(_mask_grad(me, name)))

    def _current(self):
        """[(name, parameter, NumPy view, mask)], looked up in the model now: a parameter's
        memory may have moved since the last call (``model.double()``, ``share_memory()``,
        ``to(memory_format=...)``), and a parameter may have been replaced."""
        _, params, arrays = _lottery.selection(self._model, self.names)
        for name, p in zip(self.names, self._params):
            q = params[name]
            if q is not p and tuple(q.shape) != tuple(p.shape):
                raise RuntimeError(f"parameter {name!r} was replaced by one of shape {tuple(q.shape)}; "
                                   f"this pruner's mask is {tuple(p.shape)}")
        self._params = [params[name] for name in self.names]
        self._hook_params()
        return [(name, p, a, self._masks[name].numpy()) for name, p, a in zip(self.names, self._params, arrays)]

    def _check_usable(self):
        if self._stripped:
            raise RuntimeError("this GradualPruner was stripped; its masks are in .masks, its hooks are gone")

    # ---------------------------------------------------------------- what it reads
    @property
    def steps_done(self):
        """How many times ``step()`` ran: the index the next call will handle."""
        return self._step

    @property
    def masks(self):
        """{name: bool tensor}, True where kept (copies: changing them changes nothing)."""
        return {name: m.clone() for name, m in self._masks.items()}

    def sparsity(self, step):
        """The schedule's sparsity at ``step`` (TF-MOT's formula for PolynomialDecay)."""
        return self.schedule.sparsity(step)

    def should_prune(self, step):
        """Whether ``step`` is one of the schedule's pruning steps."""
        return self.schedule.should_prune(step)

    def pruned_fraction(self):
        """The fraction of the selected entries the masks prune now."""
        total = sum(m.numel() for m in self._masks.values())
        return sum(m.numel() - int(m.sum()) for m in self._masks.values()) / total if total else 0.0

    # ---------------------------------------------------------------- what it does
    def _apply(self, entries):
        for _, _, a, mask in entries:
            _prune.apply_mask_(a, mask)

    def _zero_optimizer_state(self):
        if self._optimizer is None:
            return
        with torch.no_grad():
            for p, name in zip(self._params, self.names):
                pruned = ~self._masks[name]
                for value in self._optimizer.state.get(p, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == p.shape:
                        value.masked_fill_(pruned.to(value.device), 0)

    def _prune(self, entries, sparsity):
        if self.n_m is not None:
            n, m = self.n_m
            new = [_prune.prune_n_m_(a, n, m, return_mask=True) & mask for _, _, a, mask in entries]
            for (_, _, a, _), mask in zip(entries, new):
                _prune.apply_mask_(a, mask)
        else:
            groups = [entries] if self.scope == "global" else [[e] for e in entries]
            targets = []
            for group in groups:
                size = sum(mask.size for _, _, _, mask in group)
                pruned = size - sum(int(np.count_nonzero(mask)) for _, _, _, mask in group)
                targets.append(max(pruned, _prune.count(sparsity, size)))
            new = [mask for group, k in zip(groups, targets) for mask in _lottery.grow_(group, k)]
        self._masks = {name: torch.from_numpy(mask) for name, mask in zip(self.names, new)}

    def step(self):
        """Call after each ``optimizer.step()``: re-zero the pruned entries, prune if this
        step is a pruning step, and count the step. Returns whether it pruned."""
        self._check_usable()
        t = self._step
        pruned = self.schedule.should_prune(t)
        entries = self._current()
        if pruned:
            _lottery.check_alive(entries)           # a NaN among the survivors: nothing changes
        self._apply(entries)
        if pruned:
            self._prune(entries, self.schedule.sparsity(t))
            self._zero_optimizer_state()
        self._step = t + 1
        return pruned

    def state_dict(self):
        """What resumes this pruner: the step count, the schedule, the selection and the
        masks (bool tensors, copies). Save it beside the model's and the optimizer's."""
        return {"fastinit_gradual_pruner": _FORMAT, "steps_done": self._step,
                "schedule": self.schedule.get_config(), "scope": self.scope, "names": list(self.names),
                "n_m": None if self.n_m is None else list(self.n_m), "masks": self.masks}

    def load_state_dict(self, state):
        """Resume from ``state_dict()``: the step count, the schedule and the masks (which are
        applied to the weights at once). The pruner must select the same parameters
        (names, scope, n_m) as the one that saved it; everything is checked first."""
        self._check_usable()
        if not isinstance(state, dict) or state.get("fastinit_gradual_pruner") != _FORMAT:
            raise ValueError("state is not a GradualPruner state_dict (format 1)")
        for key, mine in (("names", list(self.names)), ("scope", self.scope),
                          ("n_m", None if self.n_m is None else list(self.n_m))):
            theirs = state.get(key)
            theirs = list(theirs) if isinstance(theirs, (list, tuple)) else theirs
            if theirs != mine:
                raise ValueError(f"state[{key!r}] is {theirs!r}; this pruner's is {mine!r}")
        schedule = _Schedule.from_config(state.get("schedule"))
        steps = _check_step(state.get("steps_done"), "state['steps_done']")
        masks = state.get("masks")
        if not isinstance(masks, dict) or set(masks) != set(self.names):
            raise ValueError(f"state['masks'] must hold a mask for each of {self.names}")
        checked = {}
        for name, p in zip(self.names, self._params):
            mask = masks[name]
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                raise TypeError(f"state['masks'][{name!r}] must be a bool tensor")
            if tuple(mask.shape) != tuple(p.shape):
                raise ValueError(f"state['masks'][{name!r}] has shape {tuple(mask.shape)}, the parameter "
                                 f"{tuple(p.shape)}")
            checked[name] = mask.detach().cpu().clone().contiguous()
        self.schedule, self._step, self._masks = schedule, steps, checked
        self._apply(self._current())
        self._zero_optimizer_state()

    def strip(self):
        """Remove the gradient hooks and zero the pruned entries one last time; returns the
        model, whose parameters are plain tensors again (zeros where pruned, nothing
        holding them there). The pruner is finished: ``step()`` and
        ``load_state_dict()`` raise ``RuntimeError``; ``masks`` and ``state_dict()``
        still read."""
        self._check_usable()
        entries = self._current()
        _remove_hooks(self._hooks)
        self._apply(entries)
        self._stripped = True
        return self._model

    def __repr__(self):
        state = "stripped" if self._stripped else f"{self._step} steps done"
        return (f"GradualPruner({self.schedule!r}, scope={self.scope!r}, {len(self.names)} tensors, "
                f"n_m={self.n_m}, {state}, pruned {self.pruned_fraction():.4f})")


__all__ = ["PolynomialDecay", "ConstantSparsity", "GradualPruner"]
