"""Why initialization matters, measured on a real model: ``diagnose(model,
example_input)`` records, per leaf module, the figures that ``fastinit.diagnose``
records per layer of its NumPy MLP (fastinit/_diagnose.py): the std of the
module's input and output, of the gradient with respect to its output and to
its weight, its dead or saturated share and whether its units are identical.

One forward pass of the example input and one backward pass, through hooks
that are removed afterwards; the model is left as it was: parameters, their
``.grad`` and ``requires_grad``, buffers (BatchNorm's running statistics),
training modes, hooks, and torch's RNG state (dropout draws from a fork).

Rules (the docstring of ``diagnose`` has them all):
- a module that runs several times is recorded on its first call (``calls``
  counts them); only ``grad_w_std`` is the whole pass's, being the gradient
  of the weight;
- a unit is a feature (last axis) of a 1-D to 3-D tensor, a channel (axis 1)
  of a 4-D or 5-D one and of a 3-D one after a convolution or a channel
  normalization; every other index counts as a sample;
- of an output that is not a tensor the figures take ``logits``, else
  ``last_hidden_state``, else the first tensor in it.
"""
import math
import re
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from .._checks import check_uint64
from .._diagnose import FIELDS, _Fields, _Results, _clean, _dead_fraction, _g, _identical_units, _std, _text_table
from .._generator import name_stream
from .._plain import normal_

__all__ = ["diagnose", "ModelDiagnosis", "ModuleProfile"]

_RELU_FAMILY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.PReLU)      # dead units
_SATURATING = (nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardsigmoid, nn.Softsign, nn.LogSigmoid,
               nn.GELU, nn.SELU, nn.ELU, nn.CELU, nn.SiLU, nn.Mish, nn.Softplus, nn.Hardswish)
# other libraries' parameter-free activations, by class name (Hugging Face's GELUActivation)
_SATURATING_NAME = re.compile("gelu|silu|swish|mish|tanh|sigmoid|softplus|elu", re.IGNORECASE)
# modules whose 3-D outputs are (sample, channel, length), as Conv1d's
_CHANNEL_MODULES = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm)
_KEYS = ("type", "calls") + FIELDS
_DEFAULT_LOSS = "sum(R * output), R standard normal"


# ---------------------------------------------------------------------------- figures

def _kind(module):
    """'relu' (dead units counted), 'saturating' (saturated entries counted) or None."""
    if isinstance(module, _RELU_FAMILY):           # before Hardtanh: ReLU6 is one
        return "relu"
    if isinstance(module, _SATURATING):
        return "saturating"
    if next(module.parameters(recurse=False), None) is None:
        name = type(module).__name__
        if "relu" in name.lower():
            return "relu"
        if _SATURATING_NAME.search(name):
            return "saturating"
    return None


def _first_tensor(obj):
    """The tensor that stands for obj: obj itself; of a mapping (a dict, a Hugging Face
    ModelOutput) its 'logits', else its 'last_hidden_state', else its first tensor value;
    of a tuple or list its first tensor, depth first. None if it holds none."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):
        for key in ("logits", "last_hidden_state"):
            if isinstance(obj.get(key), torch.Tensor):
                return obj[key]
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


def _units(t, channels_first):
    """t as a float64 (samples, units) array: the units are the last axis of a 0-D to
    3-D tensor, axis 1 of a 4-D or 5-D one (NCHW) and of a 3-D one after a
    channel module (NCL); every other index counts as a sample."""
    a = t.detach().to("cpu", torch.float64).reshape(t.shape or (1,))
    axis = 1 if a.dim() >= 4 or (a.dim() == 3 and channels_first) else -1
    return a.movedim(axis, -1).reshape(-1, a.shape[axis]).numpy()


def _derivative(module, x):
    """f'(x) entrywise, in float64, by autograd through the module's own forward
    (no hooks) on a copy of x: an in-place activation leaves x alone."""
    with torch.enable_grad():
        z = x.detach().to(torch.float64).requires_grad_(True)
        (d,) = torch.autograd.grad(module.forward(z.clone()).sum(), z)
    return _numpy(d)


class _Recorder:
    """The hooks: figures of each leaf module's first call, in execution order."""

    def __init__(self):
        self.records = {}              # module -> {field: value}, in execution order
        self.handles = []              # every hook, module and tensor, to remove
        self.channels_first = False    # 3-D tensors are NCL: after a channel module, until another weighted one

    def pre(self, module, args, kwargs):
        rec = self.records.get(module)
        if rec is None:
            rec = self.records[module] = {f: math.nan for f in FIELDS}
            rec.update(calls=0, symmetric=False, dead_fraction=0.0)
        rec["calls"] += 1
        kind = _kind(module)
        if isinstance(module, _CHANNEL_MODULES):
            self.channels_first = True
        elif kind is None and next(module.parameters(recurse=False), None) is not None:
            self.channels_first = False
        x = _first_tensor((args, kwargs))
        if rec["calls"] > 1 or x is None or x.numel() == 0 or not x.is_floating_point():
            return                     # (an Embedding's indices have no std to speak of)
        # from the input, before an in-place activation overwrites it
        rec["pre_std"] = _std(_numpy(x))
        if kind is not None:           # an activation's units are identical when its inputs are
            units = _units(x, self.channels_first)
            rec["symmetric"] = _identical_units(units, torch.finfo(x.dtype).eps)
        if kind == "relu":
            rec["dead_fraction"] = _dead_fraction("relu", units, None)
        elif kind == "saturating":     # _dead_fraction's rule for any saturating activation
            rec["dead_fraction"] = _dead_fraction("tanh", _numpy(x), _derivative(module, x))

    def post(self, module, args, output):
        rec = self.records[module]
        y = _first_tensor(output)
        if rec["calls"] > 1 or y is None or y.numel() == 0:
            return
        a = _units(y, self.channels_first)
        rec["act_std"] = _std(a)
        if _kind(module) is None:
            with np.errstate(invalid="ignore"):     # inf - inf in an overflowed output
                rec["symmetric"] = _identical_units(a, torch.finfo(y.dtype).eps if y.is_floating_point() else 0.0)
        if y.requires_grad:            # the gradient w.r.t. this value, even if later changed in place
            self.handles.append(y.register_hook(lambda g: rec.__setitem__("grad_a_std", _std(_numpy(g)))))


class ModelState:
    """What a forward pass may change (every module's mode, the buffers such as BatchNorm's
    running statistics) and, with ``params``, what diagnose changes (grads and requires_grad),
    to put back with ``restore()``; lsuv_ takes it without ``params``."""

    def __init__(self, model, params=True):
        self.params = [(p, p.grad, p.requires_grad) for p in model.parameters()] if params else []
        self.modes = [(m, m.training) for m in model.modules()]
        self.buffers = [(m, k, b, b.detach().clone()) for m in model.modules()
                        for k, b in m._buffers.items() if b is not None]

    def restore(self):
        for p, grad, flag in self.params:
            p.requires_grad_(flag)
            p.grad = grad
        for m, flag in self.modes:
            m.training = flag
        with torch.no_grad():
            for m, k, b, copy in self.buffers:
                m._buffers[k] = b
                b.copy_(copy)


# ---------------------------------------------------------------------------- results

class ModuleProfile(_Fields):
    """The figures of one leaf module: ``pre_std``, ``act_std``, ``grad_w_std``,
    ``grad_a_std``, ``dead_fraction`` (floats, NaN where there is none) and
    ``symmetric`` (bool), with its ``name``, ``type`` (class name) and
    ``calls`` (times it ran); also readable as ``profile['act_std']``."""
    _fields, _called = _KEYS, "keys"

    def __init__(self, name, type_name, values):
        self.name, self.type = name, type_name
        for k in _KEYS[1:]:
            setattr(self, k, values[k])

    def __repr__(self):
        return (f"<ModuleProfile {self.name or '(model)'} ({self.type}): act std {_g(self.act_std)}, "
                f"grad a std {_g(self.grad_a_std)}>")

    def to_dict(self):
        d = {f: _clean(getattr(self, f)) for f in FIELDS}
        return {"type": self.type, "calls": self.calls, **d}


class ModelDiagnosis(_Results):
    """The figures of every leaf module that ran: ``result[name]`` (the name of
    ``named_modules()``) is a :class:`ModuleProfile`; ``result.modules`` the
    names in execution order; ``result.table()`` a plain-text table;
    ``result.to_dict()`` JSON-clean (null for non-finite figures)."""

    _key = "modules"
    _has = "not a leaf module that ran; these are"

    @property
    def modules(self):
        return tuple(self._entries)

    def __repr__(self):
        return f"<ModelDiagnosis {self.config['model']}: {len(self)} leaf modules>"

    def table(self):
        """One row per leaf module, in execution order."""
        head = ["module", "type", "pre std", "act std", "grad W std", "grad a std", "dead/sat %", "sym"]
        body = [[name or "(model)", p.type, _g(p.pre_std), _g(p.act_std), _g(p.grad_w_std), _g(p.grad_a_std),
                 f"{100 * p.dead_fraction:.1f}", "yes" if p.symmetric else "no"] for name, p in self.items()]
        c = self.config
        title = f"{c['model']} ({'training' if c['training'] else 'eval'} mode), loss {c['loss']}, seed {c['seed']}"
        return "\n".join([title, ""] + _text_table(head, body, left=2))


# ---------------------------------------------------------------------------- diagnose

def split_args(value, name):
    """(args, kwargs) of a model's input given as a tensor, a tuple of positional arguments or a
    dict of keyword arguments (``name``: the argument, for the error)."""
    if isinstance(value, torch.Tensor):
        return (value,), {}
    if isinstance(value, tuple):
        return value, {}
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return (), dict(value)
    raise TypeError(f"{name} must be a tensor, a tuple of positional arguments or a dict of keyword "
                    f"arguments, got {type(value).__name__}")


def _with_grad(obj):
    """Floating tensors as copies that require grad (so the modules on the input's path
    get a gradient too; the caller's tensors are not touched)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().requires_grad_(True).clone() if obj.is_floating_point() else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_with_grad(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _with_grad(v) for k, v in obj.items()}
    return obj


def _objective(output, loss, seed):
    """The scalar to differentiate: loss(output), or sum(R * y) with y the tensor that
    stands for the output and R standard normal (the NumPy version's stream)."""
    if loss is not None:
        value = loss(output)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"loss must return a scalar tensor, got {type(value).__name__}")
        if value.numel() != 1:
            raise ValueError(f"loss must return a scalar tensor, got one of shape {tuple(value.shape)}")
    else:
        y = _first_tensor(output)
        if y is None or not y.is_floating_point():
            raise ValueError("the model's output holds no floating tensor to differentiate; pass loss=")
        r = np.empty(tuple(y.shape), np.float64)
        normal_(r, seed=seed, stream=name_stream("diagnose/output-gradient"))
        value = (torch.from_numpy(r).to(y.device, y.dtype) * y).sum()
    if not value.requires_grad:
        raise ValueError("the loss does not depend on the model's parameters or floating inputs")
    return value.reshape(())


def diagnose(model, example_input, *, loss=None, seed=0):
    """The figures of ``fastinit.diagnose``, per leaf module of a torch model.

    Runs ``model`` once on ``example_input`` and differentiates ``loss(output)``
    (default: ``sum(R * y)`` with ``R`` standard normal noise of ``y``'s shape,
    seeded, so that the gradient entering the model has unit scale); records,
    for each module without children that ran, in execution order:

    - ``pre_std``: std of its input (the first tensor among its arguments;
      NaN if that is not floating, as an Embedding's indices),
    - ``act_std``: std of its output,
    - ``grad_a_std``: std of the gradient with respect to its output,
    - ``grad_w_std``: std of the gradient of its ``weight`` (NaN without one),
    - ``dead_fraction``: ReLU family (ReLU, ReLU6, LeakyReLU, RReLU, PReLU):
      the share of units whose input is <= 0 for every sample; saturating
      activations (Tanh, Sigmoid, GELU, SELU, ELU, SiLU, ... and other
      libraries' parameter-free modules named so): the share of input entries
      where ``|f'| < 0.01`` and ``|x| >= 2``; 0 for other modules,
    - ``symmetric``: every unit equals every other one on each sample (within
      1e-7 of the largest magnitude, or 16 ulps of the tensor's dtype when
      that is more: float32 products sum each unit in their own order; never
      with one unit), the symmetry that
      zero or constant weights leave and training cannot break. For an
      activation module the units compared are its inputs, so that dead ReLUs
      (all 0) are not taken for identical ones.

    Std is the population std (``ddof=0``), in float64. A unit is a feature
    (the last axis) of a 1-D to 3-D tensor and a channel (axis 1) of a 4-D or
    5-D one, or of a 3-D one after a convolution or channel normalization
    (BatchNorm, InstanceNorm, GroupNorm); the other indices are samples. A
    module that runs several times is recorded on its first call (``calls``
    counts them), except ``grad_w_std``: the weight's gradient sums them all.
    The tensor that stands for an output (a module's, or the model's for the
    default loss) is the output itself, its ``logits`` or else
    ``last_hidden_state`` (dict, ModelOutput), else its first tensor.

    The model is left as it was: parameters, their ``.grad`` (None stays
    None) and ``requires_grad`` (set for the pass so that frozen weights get a
    gradient), buffers, training modes, hooks, torch's RNG state; also when
    the forward pass or the loss raises.

    Parameters
    ----------
    model : torch.nn.Module
        Run in its current mode (training mode: BatchNorm on batch statistics).
    example_input : tensor, tuple or dict
        A tensor, a tuple of positional arguments or a dict of keyword arguments.
    loss : callable, optional
        ``loss(output) -> scalar tensor``, given the model's output as it is.
    seed : int
        Seeds the default loss's noise ``R``.

    Returns
    -------
    ModelDiagnosis
        ``result['0'].act_std`` and the other fields, ``result.modules``,
        ``result.table()``, ``result.to_dict()``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    >>> r = fastinit.torch.diagnose(net, torch.randn(256, 64))
    >>> r.modules
    ('0', '1', '2')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable returning a scalar tensor, got {type(loss).__name__}")
    seed = check_uint64(seed, "seed")
    args, kwargs = split_args(example_input, "example_input")

    names = {m: name for name, m in model.named_modules()}
    rec = _Recorder()
    saved = ModelState(model)
    tensors = list(model.parameters()) + list(model.buffers()) + [
        t for t in list(args) + list(kwargs.values()) if isinstance(t, torch.Tensor)]
    cuda = sorted({t.get_device() for t in tensors if t.is_cuda})
    try:
        for p, _, _ in saved.params:
            p.grad = None
            if p.is_floating_point() or p.is_complex():
                p.requires_grad_(True)
        for m in names:
            if next(m.children(), None) is None:
                rec.handles += [m.register_forward_pre_hook(rec.pre, with_kwargs=True),
                                m.register_forward_hook(rec.post)]
        with torch.random.fork_rng(devices=cuda), torch.enable_grad():
            output = model(*_with_grad(args), **_with_grad(kwargs))
            _objective(output, loss, seed).backward()
        profiles = {}
        for m, values in rec.records.items():
            w = getattr(m, "weight", None)
            if isinstance(w, torch.Tensor) and w.grad is not None:
                values["grad_w_std"] = _std(_numpy(w.grad))
            profiles[names[m]] = ModuleProfile(names[m], type(m).__name__, values)
    finally:
        for h in rec.handles:
            h.remove()
        saved.restore()
    loss_name = _DEFAULT_LOSS if loss is None else getattr(loss, "__name__", type(loss).__name__)
    config = {"model": type(model).__name__, "training": model.training, "loss": loss_name, "seed": seed,
              "modules": len(profiles)}
    return ModelDiagnosis(config, profiles)
