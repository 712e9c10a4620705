"""LSUV, layer-sequential unit-variance initialization (Mishkin & Matas 2015, "All
you need is a good init"): orthogonal pre-initialization, then, layer by layer in
forward order, the weight is rescaled until the variance of the layer's output on
a data batch is 1 within a tolerance.

How ``lsuv_`` goes about it (its docstring has the rules):

- one discovery pass with a forward hook on every listed layer gives the order
  in which their first outputs appear, and how often each runs; a listed layer
  that never runs is left alone (warned about and named in the report);
- every layer that ran then gets ``orthogonal_`` and a zero bias, all before
  the first rescale;
- each measurement is a forward pass that a hook stops, by a private
  exception, right after the first output of the layer being measured; the
  variance is taken over that whole output tensor, in float64;
- with ``orthogonal=True`` a rescale writes ``orthogonal_(weight, gain=g)``
  again from the same stream, with ``g = g / sqrt(var)``: the same weights as
  the paper's ``w /= sqrt(var)``, and a weight that stays exactly
  ``orthogonal_`` of a known gain, so its init record (and ``rewind_``) holds;
- the passes run under ``torch.no_grad()`` in the model's own modes, with the
  same random state each time (the same dropout masks); hooks, modes, buffers
  and torch's random state are put back afterwards, also on error.
"""
import math
import warnings

import torch
from torch import nn

from .._checks import check_positive_int, check_real, check_uint64
from .._diagnose import _Fields, _Results, _clean, _g, _text_table
from .._generator import Generator, name_stream
from ._diagnose import ModelState, split_args
from ._functions import orthogonal_, seed_from, zeros_

__all__ = ["lsuv_", "LSUVReport", "LayerLSUV"]

DEFAULT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_KEYS = ("type", "calls", "iterations", "initial_variance", "variance", "scale", "status")
STATUSES = ("converged", "not converged", "zero variance", "non-finite")


# ---------------------------------------------------------------------------- report

class LayerLSUV(_Fields):
    """What ``lsuv_`` did to one layer: its ``name`` (from ``named_modules()``),
    ``type`` (class name), ``calls`` (times it ran in one forward pass; the first
    call's output is the one measured), ``iterations`` (rescales made),
    ``initial_variance`` (of its output after the pre-initialization, before
    any rescale), ``variance`` (the last one measured), ``scale`` (the factor
    that multiplied the pre-initialized weight: the gain of ``orthogonal_``)
    and ``status``: ``'converged'``, ``'not converged'``, ``'zero variance'``
    or ``'non-finite'``; also readable as ``layer['variance']``."""
    _fields, _called = _KEYS, "keys"

    def __init__(self, name, type_name, values):
        self.name, self.type = name, type_name
        for k in _KEYS[1:]:
            setattr(self, k, values[k])

    @property
    def converged(self):
        return self.status == "converged"

    def __repr__(self):
        return (f"<LayerLSUV {self.name or '(model)'} ({self.type}): {self.status}, variance "
                f"{_g(self.initial_variance)} -> {_g(self.variance)} in {self.iterations} iterations>")

    def to_dict(self):
        return {"type": self.type, "calls": self.calls, "iterations": self.iterations,
                "initial_variance": _clean(self.initial_variance), "variance": _clean(self.variance),
                "scale": _clean(self.scale), "status": self.status}


class LSUVReport(_Results):
    """What ``lsuv_`` did, per layer in forward order: ``report[name]`` is a
    :class:`LayerLSUV`, iteration gives the names, ``report.layers`` the
    names in order, ``report.not_called`` the listed layers the forward pass
    never ran (left untouched), ``report.converged`` whether every layer
    reached unit variance, ``report.seed`` the seed of the orthogonal
    pre-initialization (None without it); ``report.table()`` a plain-text
    table; ``report.to_dict()`` JSON-clean."""

    _key = "layers"
    _has = "not a layer lsuv_ initialized; these are"

    def __init__(self, config, entries, not_called):
        super().__init__(config, entries)
        self.not_called = tuple(not_called)

    @property
    def layers(self):
        return tuple(self._entries)

    @property
    def seed(self):
        return self.config["seed"]

    @property
    def converged(self):
        return all(e.converged for e in self._entries.values())

    def __repr__(self):
        done = sum(e.converged for e in self._entries.values())
        return f"<LSUVReport {self.config['model']}: {done} of {len(self)} layers at unit variance>"

    def to_dict(self):
        return dict(super().to_dict(), not_called=list(self.not_called))

    def table(self):
        """One row per layer, in forward order."""
        head = ["layer", "type", "calls", "iterations", "initial var", "final var", "scale", "status"]
        body = [[name or "(model)", e.type, str(e.calls), str(e.iterations), _g(e.initial_variance),
                 _g(e.variance), _g(e.scale), e.status] for name, e in self.items()]
        c = self.config
        title = (f"LSUV of {c['model']}: tol {c['tol']}, max_iter {c['max_iter']}, "
                 + (f"orthogonal pre-init (seed {c['seed']})" if c["orthogonal"] else "no pre-init")
                 + (", biases zeroed" if c["zero_bias"] else ", biases kept"))
        lines = [title, ""] + _text_table(head, body, left=2)
        if self.not_called:
            lines += ["", "not called (left untouched): " + ", ".join(n or "(model)" for n in self.not_called)]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the passes

class _Stop(Exception):
    """Raised by the probe after the output it waits for: the rest of the pass is not needed."""


class _Probe:
    """The forward hook on every listed layer. With no target: the discovery pass
    (first-output order, calls, outputs checked). With a target: the variance of
    the target's first output, then _Stop."""

    def __init__(self, names):
        self.names = names             # module -> qualified name
        self.calls = {}                # module -> calls, in first-output order
        self.target = None
        self.variance = None

    def __call__(self, module, args, output):
        if self.target is None:
            if module not in self.calls:
                _check_output(self.names[module], module, output)
            self.calls[module] = self.calls.get(module, 0) + 1
        elif module is self.target:
            self.variance = float(output.detach().to(torch.float64).var(correction=0))
            raise _Stop


def _check_output(name, module, output):
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        what = f"a {output.dtype} tensor" if isinstance(output, torch.Tensor) else type(output).__name__
        raise TypeError(f"layer {_label(name)} ({type(module).__name__}) must return a floating tensor "
                        f"to be rescaled to unit variance, got {what}")
    if output.numel() < 2:
        raise ValueError(f"layer {_label(name)} ({type(module).__name__}) gives an output of "
                         f"{output.numel()} element(s) on this batch: no variance to measure")


class _Runner:
    """Forward passes that all start from the same random state (dropout draws the
    same masks each time), under a fork of torch's RNG that the caller opens."""

    def __init__(self, model, args, kwargs, probe, cuda):
        self.model, self.args, self.kwargs, self.probe = model, args, kwargs, probe
        self.cuda = cuda
        self.cpu_state = torch.random.get_rng_state()
        self.cuda_states = [torch.cuda.get_rng_state(d) for d in cuda]

    def run(self, target=None):
        torch.random.set_rng_state(self.cpu_state)
        for d, s in zip(self.cuda, self.cuda_states):
            torch.cuda.set_rng_state(s, d)
        self.probe.target, self.probe.variance = target, None
        try:
            self.model(*self.args, **self.kwargs)
        except _Stop:
            pass
        return self.probe.variance


# ---------------------------------------------------------------------------- lsuv_

def _label(name):
    return repr(name) if name else "(the model itself)"


def _check_layers(layers):
    types = (layers,) if isinstance(layers, type) else layers
    if not isinstance(types, tuple) or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types):
        raise TypeError(f"layers must be an nn.Module subclass or a tuple of them, got {layers!r}")
    if not types:
        raise ValueError("layers must name at least one layer type, got ()")
    return types


def _check_flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def _param_name(layer_name, attr):
    return f"{layer_name}.{attr}" if layer_name else attr


def _pre_init_generator(seed, layer_name):
    """The fastinit.Generator whose next fill is stream name_stream('<layer>.weight') of seed."""
    g = Generator(seed)
    g.set_state({"seed": seed, "stream": name_stream(_param_name(layer_name, "weight"))})
    return g


def _parametrized(module):
    is_parametrized = getattr(getattr(torch.nn.utils, "parametrize", None), "is_parametrized", None)
    return bool(is_parametrized and is_parametrized(module, "weight"))


def _listed(model, types, orthogonal):
    """[(name, module)] of the listed layers in named_modules() order, each checked
    (a floating, real weight; two dimensions for orthogonal_; no weight shared)."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, types)]
    if not found:
        raise ValueError(f"model ({type(model).__name__}) has no layer of the types in layers "
                         f"({', '.join(t.__name__ for t in types)})")
    owner = {}
    for name, m in found:
        w = getattr(m, "weight", None)
        kind = type(m).__name__
        if not isinstance(w, torch.Tensor) or not w.is_floating_point():
            raise TypeError(f"layer {_label(name)} ({kind}) has no floating tensor 'weight' to rescale")
        if "weight" not in m._parameters or _parametrized(m):
            raise ValueError(f"layer {_label(name)} ({kind}) computes its weight (a parametrization such as "
                             "weight_norm or spectral_norm, or a hook): lsuv_ rescales the parameter 'weight' "
                             "in place, which this layer does not have; leave it out of layers or initialize "
                             "it before adding the parametrization")
        if w.is_meta:
            raise ValueError(f"layer {_label(name)} ({kind}) has its weight on the meta device: "
                             "materialize the model first (fastinit.torch.materialize_)")
        if orthogonal and w.dim() < 2:
            raise ValueError(f"layer {_label(name)} ({kind}) has a weight of {w.dim()} dimension(s); "
                             "orthogonal pre-initialization needs 2 or more (or pass orthogonal=False)")
        if id(w) in owner:
            raise ValueError(f"layers {_label(owner[id(w)])} and {_label(name)} share one weight tensor: "
                             "rescaling it for one would undo the other's unit variance; "
                             "leave one out of layers")
        owner[id(w)] = name
        b = getattr(m, "bias", None)
        if b is not None and not isinstance(b, torch.Tensor):
            raise TypeError(f"layer {_label(name)} ({kind}) has a bias that is not a tensor "
                            f"({type(b).__name__})")
    return found


def _failure(name, module, status, variance, initial, tol, max_iter):
    head = f"lsuv_: layer {_label(name)} ({type(module).__name__})"
    if status == "zero variance":
        why = (" gives a constant output on this batch (variance 0): no rescaling can make its variance 1. "
               "Its input may be constant (a constant batch, dead units upstream) or its weight zero")
    elif status == "non-finite":
        why = f" gives an output of non-finite variance ({variance}) on this batch"
    else:
        why = (f" did not reach unit output variance within tol={tol} in max_iter={max_iter} rescales "
               f"(variance {_g(initial)} at first, {_g(variance)} at the end): its output does not scale with "
               "its weight, as with a kept bias or a nonlinearity inside the layer. Raise max_iter or tol")
    return head + why


def lsuv_(model, batch, *, tol=0.1, max_iter=10, layers=DEFAULT_LAYERS, orthogonal=True, zero_bias=True,
          strict=True, seed=None):
    """Layer-sequential unit-variance initialization of ``model``, in place, on a data batch.

    Mishkin & Matas (2015), "All you need is a good init": each listed layer's
    weight is pre-initialized orthogonal (``orthogonal_``) and its bias
    zeroed; then, one layer at a time in forward order, the weight is divided
    by ``sqrt(var)``, with ``var`` the variance of the layer's output on
    ``batch``, until ``|var - 1| < tol``.

    - **Order**: the order in which the listed layers' first outputs appear in
      a forward pass of ``batch`` (a discovery pass with hooks), not
      ``named_modules()`` order. A listed layer the pass never runs is left
      untouched, named in ``report.not_called`` and in a ``RuntimeWarning``.
    - **Several calls** in one pass (a shared layer): its first call's output
      is measured; ``calls`` in the report counts them. Two listed layers that
      share one weight tensor are refused (``ValueError``).
    - **Variance**: of the whole output tensor of the layer (every sample and
      unit together, ``ddof=0``), in float64, measured in a forward pass that
      stops right after that output. ``iterations`` counts the rescales; each
      is followed by a pass that measures again, so a layer takes at most
      ``max_iter + 1`` passes.
    - **Rescale**: with ``orthogonal=True`` the weight is written as
      ``orthogonal_(weight, gain=g)`` of its stream, with ``g`` updated to
      ``g / sqrt(var)`` (the paper's ``w /= sqrt(var)``, without rounding
      piling up); it stays exactly an ``orthogonal_`` fill, and its init record
      (seed, stream, gain) describes it for ``rewind_``. With
      ``orthogonal=False`` the existing weight is divided in place; a record an
      earlier fastinit fill left on it no longer describes it.
    - **Passes** run under ``torch.no_grad()`` in the model's current modes
      (``model.train()`` first measures what training sees: BatchNorm on batch
      statistics, dropout on), each from the same random state, so dropout
      draws the same masks in every pass. Afterwards the hooks are removed,
      every module's ``training`` flag and buffers (BatchNorm's running
      statistics) are put back, and torch's random state is as before except
      for the seed draw below; also on error. Only the listed layers' weights
      and biases change.

    Seeds: with ``seed=None`` one seed is drawn from torch's default generator
    (``seed_from()``, one draw; none with ``orthogonal=False``), so
    ``torch.manual_seed(s)`` reproduces the result; an int seed gives a fixed
    one. The weight of the layer named ``name`` is drawn from stream
    ``name_stream(name + '.weight')`` of that seed, as ``materialize_`` names
    streams: it depends only on the seed, the layer's name and shape, and the
    batch. The same seed and batch give bitwise the same weights.

    Errors: every argument, every listed layer (a floating ``weight``
    parameter, not computed by a parametrization, not on ``meta``, two or
    more dimensions for the pre-initialization, not shared)
    and the discovery pass (each layer's output a floating tensor of two or
    more elements; a model with no listed layer, or none that runs, is a
    ``ValueError``) are checked before anything changes, and torch's
    generator is not touched then. A layer whose output is constant (variance
    0), of non-finite variance, or not at unit variance after ``max_iter``
    rescales raises ``RuntimeError`` naming the layer; by then every layer
    has had its pre-initialization (orthogonal weight, zeroed bias) and the
    layers before it their rescaling. ``strict=False`` gives a ``RuntimeWarning``
    instead, leaves that layer as it is and goes on.

    Parameters
    ----------
    model : torch.nn.Module
    batch : tensor, tuple or dict
        The data: a tensor, a tuple of positional arguments or a dict of
        keyword arguments of ``model``.
    tol : float
        Tolerance on the variance: stop once ``|var - 1| < tol`` (> 0).
    max_iter : int
        Most rescales per layer (>= 1).
    layers : type or tuple of types
        The module classes to initialize (``isinstance``), each with a ``weight``.
    orthogonal : bool
        Pre-initialize each weight with ``orthogonal_``; False rescales the
        weights as they are.
    zero_bias : bool
        Zero each layer's bias before rescaling (the paper); False keeps them.
    strict : bool
        Raise on a layer that cannot reach unit variance; False warns.
    seed : int, optional
        Seed of the orthogonal pre-initialization, in ``[0, 2**64)``.

    Returns
    -------
    LSUVReport
        ``report[name].variance``, ``.iterations``, ``.initial_variance``,
        ``.scale``, ``.status``, ``.calls``; ``report.layers`` (forward order),
        ``report.not_called``, ``report.converged``, ``report.seed``,
        ``report.table()``, ``report.to_dict()``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 10))
    >>> report = fastinit.torch.lsuv_(net, torch.randn(512, 64), seed=0)
    >>> report.layers
    ('0', '2')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args, kwargs = split_args(batch, "batch")
    tol = check_real(tol, "tol")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    max_iter = check_positive_int(max_iter, "max_iter")
    types = _check_layers(layers)
    orthogonal = _check_flag(orthogonal, "orthogonal")
    zero_bias = _check_flag(zero_bias, "zero_bias")
    strict = _check_flag(strict, "strict")
    if seed is not None:
        seed = check_uint64(seed, "seed")
    found = _listed(model, types, orthogonal)

    names = {m: name for name, m in found}
    probe = _Probe(names)
    saved = ModelState(model, params=False)
    tensors = list(model.parameters()) + list(model.buffers()) + [
        t for t in list(args) + list(kwargs.values()) if isinstance(t, torch.Tensor)]
    cuda = sorted({t.get_device() for t in tensors if t.is_cuda})
    handles = []
    entries, not_called = {}, []
    try:
        handles = [m.register_forward_hook(probe) for m in names]
        with torch.no_grad():
            with torch.random.fork_rng(devices=cuda):
                _Runner(model, args, kwargs, probe, cuda).run()
            saved.restore()
            order = list(probe.calls)
            if not order:
                raise ValueError(f"none of the {len(found)} listed layers of {type(model).__name__} ran in a "
                                 f"forward pass of batch ({', '.join(_label(n) for n, _ in found[:5])}"
                                 + (", ..." if len(found) > 5 else "") + ")")
            not_called = [name for name, m in found if m not in probe.calls]
            if not_called:
                warnings.warn(f"lsuv_: {len(not_called)} listed layer(s) did not run in the forward pass and "
                              f"are left untouched: {', '.join(_label(n) for n in not_called)}",
                              RuntimeWarning, stacklevel=2)
            if orthogonal and seed is None:
                seed = seed_from()
            for m in order:                  # the paper: pre-initialize every layer first
                if orthogonal:
                    orthogonal_(m.weight, generator=_pre_init_generator(seed, names[m]))
                if zero_bias and isinstance(getattr(m, "bias", None), torch.Tensor):
                    zeros_(m.bias)
            with torch.random.fork_rng(devices=cuda):
                runner = _Runner(model, args, kwargs, probe, cuda)
                for m in order:
                    entries[names[m]] = _rescale(runner, m, names[m], probe.calls[m], seed, orthogonal,
                                                 tol, max_iter, strict)
    finally:
        for h in handles:
            h.remove()
        saved.restore()
    config = {"model": type(model).__name__, "tol": tol, "max_iter": max_iter,
              "layers": [t.__name__ for t in types], "orthogonal": orthogonal, "zero_bias": zero_bias,
              "strict": strict, "seed": seed if orthogonal else None}
    return LSUVReport(config, entries, not_called)


def _rescale(runner, module, name, calls, seed, orthogonal, tol, max_iter, strict):
    """One layer's loop: measure, rescale, measure again, until |var - 1| < tol."""
    def measure():
        var = runner.run(module)
        if var is None:
            raise RuntimeError(f"lsuv_: layer {_label(name)} ({type(module).__name__}) ran in the discovery "
                               "pass but not in a later one: the model's control flow depends on its weights")
        return var

    scale, iterations = 1.0, 0
    initial = variance = measure()
    while True:
        if not math.isfinite(variance):
            status = "non-finite"
        elif variance == 0:
            status = "zero variance"
        elif abs(variance - 1.0) < tol:
            status = "converged"
        elif iterations == max_iter:
            status = "not converged"
        else:
            step = 1.0 / math.sqrt(variance)
            if not math.isfinite(scale * step):
                status = "non-finite"
            else:
                scale *= step
                if orthogonal:
                    orthogonal_(module.weight, gain=scale, generator=_pre_init_generator(seed, name))
                else:
                    module.weight.div_(math.sqrt(variance))
                iterations += 1
                variance = measure()
                continue
        break
    if status != "converged":
        message = _failure(name, module, status, variance, initial, tol, max_iter)
        if strict:
            raise RuntimeError(message + "; strict=False warns and goes on.")
        warnings.warn(message + "; left as it is (strict=False).", RuntimeWarning, stacklevel=3)
    values = {"calls": calls, "iterations": iterations, "initial_variance": initial, "variance": variance,
              "scale": scale, "status": status}
    return LayerLSUV(name, type(module).__name__, values)
