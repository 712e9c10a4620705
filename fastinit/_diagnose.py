"""Why initialization matters, measured: the depth profile of a plain MLP
under each scheme (``diagnose``) and the scheme to use (``recommend``).

The network is ``depth`` layers ``a_l = f(a_{l-1} W_l^T + b_l)`` with
``W_l`` of shape ``(width, fan_in)`` (torch's layout) filled by a fastinit
fill, in NumPy float64 so that an exploding profile shows its size instead of
``inf``. One forward pass on a batch of standard normal inputs, and one
backward pass of the loss ``L = sum(R * a_depth)`` with ``R`` standard normal
noise (so the gradient entering the last layer has unit scale, whatever the
forward pass did). Every draw is seeded: the weights of layer ``l`` are stream
``name_stream('diagnose/layer<l>')`` of ``seed`` for every scheme, so two
schemes of the same distribution see the same underlying values, only scaled.
"""
import json
import math

import numpy as np

from ._checks import check_choice, check_positive_int, check_real, check_uint64
from ._fans import calculate_gain
from ._generator import name_stream

__all__ = ["diagnose", "recommend", "Diagnosis", "Profile", "Recommendation", "ACTIVATIONS", "SCHEMES"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu", "linear")
FIELDS = ("pre_std", "act_std", "grad_w_std", "grad_a_std", "dead_fraction", "symmetric")
NORMALIZATIONS = ("batch", "layer")

_SELU_LAMBDA = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717
_SATURATED = 0.01          # |f'| below this, with |h| >= _SATURATED_FROM: a saturated unit
_SATURATED_FROM = 2.0
_SYMMETRY_TOL = 1e-7       # units equal to this relative spread: identical
_SYMMETRY_ULPS = 16        # or to this many ulps of a narrower dtype (a float32 torch model)


# ---------------------------------------------------------------------------- activations

def _erf(x):
    """erf to 1.2e-7 absolute (Numerical Recipes' erfc in Chebyshev form, W. H.
    Press et al., 3rd ed. 6.2.2), in NumPy: NumPy has no erf and SciPy is not
    a dependency."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _forward(name, slope, h):
    """(f(h), f'(h)) elementwise."""
    if name == "relu":
        return np.maximum(h, 0.0), (h > 0).astype(h.dtype)
    if name == "leaky_relu":
        return np.where(h > 0, h, slope * h), np.where(h > 0, 1.0, slope)
    if name == "tanh":
        a = np.tanh(h)
        return a, 1.0 - a * a
    if name == "sigmoid":
        e = np.exp(-np.abs(h))                   # no overflow on either side
        a = np.where(h >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return a, a * (1.0 - a)
    if name == "selu":
        neg = _SELU_ALPHA * np.exp(np.minimum(h, 0.0))
        return (_SELU_LAMBDA * np.where(h > 0, h, neg - _SELU_ALPHA),
                _SELU_LAMBDA * np.where(h > 0, 1.0, neg))
    if name == "gelu":                           # the exact form, x * Phi(x), as torch's default
        cdf = 0.5 * (1.0 + _erf(h / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)
        return h * cdf, cdf + h * pdf
    return h, np.ones_like(h)                    # linear


def _dead_fraction(name, h, deriv):
    """ReLU family: the share of units whose pre-activation is <= 0 for every
    sample (dead: no gradient flows through them). Saturating activations
    (tanh, sigmoid, selu, gelu): the share of (sample, unit) pairs where
    |f'| < 0.01 with |h| >= 2, i.e. each unit's fraction of samples on which
    it is saturated, averaged over units (the |h| bound leaves out the zero
    of GELU's and SiLU's derivative near -0.75 and -1.28, which is no
    saturation; tanh and sigmoid only reach 0.01 beyond |h| = 2.99). linear: 0."""
    if name in ("relu", "leaky_relu"):
        return float(np.mean(np.all(h <= 0, axis=0)))
    if name == "linear":
        return 0.0
    return float(np.mean((np.abs(deriv) < _SATURATED) & (np.abs(h) >= _SATURATED_FROM)))


def _identical_units(h, eps=None):
    """Every unit of the layer computed the same pre-activation on every
    sample (up to the rounding of a matrix product in the precision it was
    computed in, whose machine epsilon ``eps`` is (default: h's): a float32
    product may sum each unit in its own order), h being (samples, units). One unit is never "identical"; units that only look alike after
    the activation (dead ReLUs, all 0) are not either."""
    if h.shape[1] < 2:
        return False
    spread = np.max(np.ptp(h, axis=1))
    scale = np.max(np.abs(h))
    if eps is None:
        eps = float(np.finfo(h.dtype).eps) if h.dtype.kind == "f" else 0.0
    tol = max(_SYMMETRY_TOL, _SYMMETRY_ULPS * eps)
    return bool(spread <= tol * scale) if np.isfinite(scale) else False


def _std(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.std(x))


# ---------------------------------------------------------------------------- schemes

def _public():
    import fastinit
    return fastinit


# scheme name -> (fastinit fill, fixed keyword arguments)
_NAMED = {
    "zeros": ("zeros_", {}),
    "constant": ("constant_", {}),
    "normal_0.01": ("normal_", {"std": 0.01}),
    "normal_1": ("normal_", {"std": 1.0}),
    "lecun_uniform": ("lecun_uniform_", {}),
    "lecun_normal": ("lecun_normal_", {}),
    "xavier_uniform": ("xavier_uniform_", {}),
    "xavier_normal": ("xavier_normal_", {}),
    "he_uniform": ("he_uniform_", {}),
    "he_normal": ("he_normal_", {}),
}
SCHEMES = tuple(_NAMED)
_CONSTANT_DEFAULT = 0.1
# every fastinit fill a scheme may name (with or without the trailing underscore)
_FILLS = ("uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_",
          "lecun_uniform_", "lecun_normal_", "xavier_uniform_", "xavier_normal_",
          "glorot_uniform_", "glorot_normal_", "kaiming_uniform_", "kaiming_normal_",
          "he_uniform_", "he_normal_", "variance_scaling_")
_LATER_FILLS = ("orthogonal_", "sparse_")     # taken as soon as fastinit has them


def _fills():
    fi = _public()
    return _FILLS + tuple(f for f in _LATER_FILLS if hasattr(fi, f))


DEFAULT_SCHEMES = ("zeros", "normal_0.01", "normal_1", "lecun_normal", "xavier_normal", "he_normal")


class _Scheme:
    """One resolved scheme: a label, the fastinit fill, its keyword arguments and the bias."""

    def __init__(self, label, fill_name, kwargs, bias):
        self.label, self.fill_name, self.kwargs, self.bias = label, fill_name, kwargs, bias

    def fill(self, w, seed, stream):
        _call(self.fill_name, w, self.kwargs, seed=seed, stream=stream)


def _call(fill_name, w, kwargs, **source):
    """fill_name(w, **kwargs), seeded when the fill draws (constants take no seed)."""
    fill = getattr(_public(), fill_name)
    if fill_name in ("zeros_", "ones_", "constant_"):
        source = {}
    return fill(w, **kwargs, **source)


def _label(name, kwargs):
    if not kwargs:
        return name
    # a float as short as it reads back exactly: 1.5, -10, 1.6666666666666667
    show = lambda v: (f"{v:.6g}" if float(f"{v:.6g}") == v else repr(v)) if isinstance(v, float) else repr(v)
    return f"{name}(" + ", ".join(f"{k}={show(v)}" for k, v in kwargs.items()) + ")"


def _resolve(spec, bias):
    """A scheme given as a name or as (name, {keyword: value})."""
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        name, kwargs = spec[0], dict(spec[1])
    else:
        raise TypeError(f"a scheme is a name or a (name, kwargs) pair, got {spec!r}")
    label = _label(name, kwargs)
    b = kwargs.pop("bias", bias)
    b = check_real(b, f"bias of scheme {label!r}")
    if name in _NAMED:
        fill_name, fixed = _NAMED[name]
        if name == "constant":
            if "value" in kwargs:
                kwargs["val"] = kwargs.pop("value")
            kwargs.setdefault("val", _CONSTANT_DEFAULT)
        elif name in ("zeros", "normal_0.01", "normal_1") and kwargs:
            raise ValueError(f"scheme {name!r} takes only a 'bias' option, got {', '.join(sorted(kwargs))}")
        kwargs = {**fixed, **kwargs}
    else:
        fill_name = name if name.endswith("_") else name + "_"
        if fill_name not in _fills():
            raise ValueError(f"unknown scheme {name!r}; valid names: {', '.join(SCHEMES)}, "
                             f"or a fastinit fill: {', '.join(_fills())}")
    # check the keyword arguments now, on a small buffer: a bad one fails before any work
    probe = np.empty((2, 2), np.float32)
    try:
        _call(fill_name, probe, kwargs, seed=0)
    except TypeError as e:
        raise TypeError(f"scheme {label!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"scheme {label!r}: {e}") from None
    return _Scheme(label, fill_name, kwargs, b)


def _resolve_all(schemes, bias):
    if isinstance(schemes, str) or (isinstance(schemes, tuple) and len(schemes) == 2
                                    and isinstance(schemes[1], dict)):
        schemes = [schemes]                   # one scheme given alone
    schemes = list(schemes)
    if not schemes:
        raise ValueError("schemes must name at least one scheme")
    out = [_resolve(s, bias) for s in schemes]
    labels = [s.label for s in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"schemes repeats {', '.join(dup)}")
    return out


def same_scheme(a, b):
    """Whether two scheme specs draw the same weights (``he_normal`` and
    ``('kaiming_normal', {'nonlinearity': 'relu'})``): compared on a probe."""
    sa, sb = _resolve(a, 0.0), _resolve(b, 0.0)
    if sa.bias != sb.bias:
        return False
    pa, pb = np.empty((24, 40), np.float32), np.empty((24, 40), np.float32)
    sa.fill(pa, 1, 2)
    sb.fill(pb, 1, 2)
    return pa.tobytes() == pb.tobytes()


def _check_activation(activation):
    return check_choice(activation, "activation", ACTIVATIONS)


def _layer_weights(sch, dims, seed, prefix):
    """The weights of each layer l (1-based) of an MLP of widths dims, as a
    model holds them, float32 (out, in), from stream name_stream('<prefix>/layer<l>')
    of seed, and then as float64 to compute with."""
    out = []
    for layer in range(len(dims) - 1):
        w32 = np.empty((dims[layer + 1], dims[layer]), np.float32)
        sch.fill(w32, seed, name_stream(f"{prefix}/layer{layer + 1}"))
        out.append(w32.astype(np.float64))
    return out


class _Fields:
    """Item access to the fields named in _fields, as to attributes."""
    _fields = FIELDS
    _called = "fields"                # in the KeyError: "the fields are ..."

    def __getitem__(self, field):
        if field not in self._fields:
            raise KeyError(f"{field!r}; the {self._called} are {', '.join(self._fields)}")
        return getattr(self, field)

    def keys(self):
        return self._fields


# ---------------------------------------------------------------------------- results

class Profile(_Fields):
    """One scheme's depth profile: NumPy arrays with one value per layer
    (``pre_std``, ``act_std``, ``grad_w_std``, ``grad_a_std``,
    ``dead_fraction``, ``symmetric``), also readable as ``profile['act_std']``,
    and a one-word ``verdict`` with its sentence ``summary``."""

    def __init__(self, scheme, activation, values):
        self.scheme = scheme
        self.activation = activation
        for f in FIELDS:
            setattr(self, f, values[f])
        self.verdict, self.summary = _verdict(self)

    def __repr__(self):
        return f"<Profile {self.scheme}: {self.verdict}, {len(self.act_std)} layers>"

    def to_dict(self):
        d = {f: [_clean(v) for v in getattr(self, f).tolist()] for f in FIELDS}
        d["verdict"] = self.verdict
        d["summary"] = self.summary
        return d


def _clean(v):
    """JSON has no inf or NaN: an overflowed figure is null."""
    if isinstance(v, bool):
        return v
    return float(v) if math.isfinite(v) else None


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(np.float64(a) / np.float64(b))


def _verdict(p):
    """What a profile shows, in a word and a sentence. The scale is judged at
    its extremes over all layers: within 2x of the first layer's is stable,
    beyond 10x vanishes or explodes, between the two drifts (a finite width
    alone moves He's ReLU scale by up to 2-3x over 50 layers of 256)."""
    act, grad, dead = p.act_std, p.grad_a_std, p.dead_fraction
    depth = len(act)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ra, rg = act / act[0], grad / grad[-1]
    finite = bool(np.all(np.isfinite(ra)))
    hi, lo = (float(ra.max()), float(ra.min())) if finite else (math.inf, 0.0)
    ghi, glo = (float(rg.max()), float(rg.min())) if np.all(np.isfinite(rg)) else (math.inf, 0.0)
    if np.all(p.symmetric):
        return "symmetric", ("every unit of a layer computes the same value: the gradient is the same for "
                             "all of them too, so training can never tell them apart")
    if not np.all(np.isfinite(act)):
        return "explodes", f"the activations overflow within {depth} layers"
    if p.activation in ("relu", "leaky_relu") and dead[-1] > 0.5:
        return "dies", f"{100 * dead[-1]:.0f} % of the last layer's units are never active"
    if not finite:                                 # a first layer of zeros
        return "vanishes", "the activations are 0 from the first layer on"
    if hi > 10:
        return "explodes", f"the activations grow to {hi:.3g}x the first layer's over {depth} layers"
    if p.activation in ("tanh", "sigmoid", "selu", "gelu") and dead[-1] > 0.5:
        return "saturates", (f"{100 * dead[-1]:.0f} % of the last layer's unit outputs sit where the "
                             f"derivative is below {_SATURATED}: the gradient stops there")
    if lo < 0.1:
        return "vanishes", f"the activations shrink to {lo:.3g} of the first layer's over {depth} layers"
    if glo < 1e-3:
        return "vanishes", (f"the activations keep their scale, but the gradient reaching the first "
                            f"layer is {rg[0]:.3g} of the last layer's")
    if ghi > 1e3:
        return "explodes", f"the gradient reaching the first layer is {rg[0]:.3g} times the last layer's"
    spread = max(hi, 1 / lo)
    grad_note = f"; the gradient stays within {max(ghi, 1 / glo):.3g}x of the last layer's"
    if spread > 2:
        far = hi if hi > 1 / lo else lo
        return "drifts", (f"the activations' scale moves to {far:.3g}x the first layer's over {depth} layers "
                          f"(beyond 2x, within 10x)" + grad_note)
    return "stable", f"the activations stay within {spread:.3g}x of the first layer's over {depth} layers" + grad_note


class _Results:
    """A config and named entries (profiles, training runs, modules): item
    access, iteration and JSON, shared by Diagnosis, TrainResult and
    fastinit.torch's ModelDiagnosis."""
    _key = "schemes"                  # to_dict()'s name of the entries
    _has = "this diagnosis has"       # KeyError: "<name>; <_has> a, b, c"

    def __init__(self, config, entries):
        self.config = config
        self._entries = entries

    def __getitem__(self, name):
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"{name!r}; {self._has} {', '.join(self._entries)}") from None

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def items(self):
        return self._entries.items()

    def to_dict(self):
        return {"config": dict(self.config), self._key: {k: v.to_dict() for k, v in self._entries.items()}}

    def to_json(self, **kw):
        return json.dumps(self.to_dict(), allow_nan=False, **kw)

    def __str__(self):
        return self.table()


def _text_table(head, body, left=1):
    """Rows of strings as aligned columns, the first ``left`` left-aligned, a
    rule under the head; a ``None`` row is a blank line."""
    widths = [max(len(row[j]) for row in [head] + [r for r in body if r is not None]) for j in range(len(head))]
    fmt = lambda row: "  ".join(x.ljust(w) if j < left else x.rjust(w)
                                for j, (x, w) in enumerate(zip(row, widths))).rstrip()
    return [fmt(head), "  ".join("-" * w for w in widths)] + ["" if r is None else fmt(r) for r in body]


class Diagnosis(_Results):
    """The depth profiles of one network under several schemes:
    ``result[scheme]`` is a :class:`Profile`; ``result.table()`` a plain-text
    table; ``result.to_dict()`` JSON-clean."""

    @property
    def schemes(self):
        return tuple(self._entries)

    def __repr__(self):
        c = self.config
        return (f"<Diagnosis {c['depth']} x {c['width']} {c['activation']}: "
                + ", ".join(f"{k} {p.verdict}" for k, p in self.items()) + ">")

    def table(self, layers=None):
        """One row per scheme and layer: by default the first layers, a few
        between and the last; ``layers='all'`` or a list of 1-based layers."""
        depth = self.config["depth"]
        if layers is None:
            rows = sorted({1, 2, 3, max(1, depth // 4), max(1, depth // 2), max(1, 3 * depth // 4), depth})
            rows = [r for r in rows if r <= depth]
        elif layers == "all":
            rows = list(range(1, depth + 1))
        else:
            rows = [check_positive_int(r, "layer") for r in layers]
            bad = [r for r in rows if r > depth]
            if bad:
                raise ValueError(f"layers must be in 1..{depth}, got {bad}")
        c = self.config
        dead_head = "dead %" if c["activation"] in ("relu", "leaky_relu") else "sat. %"
        head = ["scheme", "layer", "pre std", "act std", "grad W std", "grad a std", dead_head, "sym"]
        body = []
        for name, p in self.items():
            if body:
                body.append(None)
            for r in rows:
                i = r - 1
                body.append([name, str(r), _g(p.pre_std[i]), _g(p.act_std[i]), _g(p.grad_w_std[i]),
                             _g(p.grad_a_std[i]), f"{100 * p.dead_fraction[i]:.1f}",
                             "yes" if p.symmetric[i] else "no"])
        title = (f"{c['depth']} layers of {c['width']} units, {c['activation']}"
                 + (f" (slope {c['negative_slope']})" if c["activation"] == "leaky_relu" else "")
                 + f", batch {c['batch']}, seed {c['seed']}")
        lines = [title, ""] + _text_table(head, body) + [""]
        lines += [f"{name}: {p.verdict}: {p.summary}" for name, p in self.items()]
        return "\n".join(lines)


def _g(x):
    return f"{x:.3g}" if math.isfinite(x) else str(x)


# ---------------------------------------------------------------------------- diagnose

def diagnose(depth, width, activation, schemes=DEFAULT_SCHEMES, *, batch=1024, seed=0, in_features=None,
             bias=0.0, negative_slope=0.01):
    """The depth profile of a plain MLP under each initialization scheme.

    Builds ``depth`` fully connected layers of ``width`` units with
    ``activation``, fills their weights with each scheme (seeded; the same
    draws for every scheme), runs one forward pass on ``batch`` standard
    normal inputs of ``in_features`` (default ``width``) and one backward pass
    of ``L = sum(R * output)`` with standard normal ``R``, and records per
    layer: the std of the pre-activations and activations, of the gradient
    with respect to the weights and to the activations, the fraction of dead
    (ReLU family) or saturated units, and whether the layer's units are all
    identical.

    Parameters
    ----------
    depth, width : int
        Layers and units per layer (positive).
    activation : str
        One of ``relu``, ``leaky_relu`` (slope ``negative_slope``), ``tanh``,
        ``sigmoid``, ``selu``, ``gelu``, ``linear``.
    schemes : sequence
        Each a name (``zeros``, ``constant`` (value 0.1 unless given),
        ``normal_0.01``, ``normal_1``, ``lecun_uniform``, ``lecun_normal``,
        ``xavier_uniform``, ``xavier_normal``, ``he_uniform``, ``he_normal``,
        or any fastinit fill such as ``kaiming_normal_``) or a pair ``(name,
        {keyword: value})``: ``('constant', {'value': 0.5})``,
        ``('normal_0.01', {'bias': 1.0})`` (AlexNet), ``('kaiming_normal_',
        {'a': 0.2, 'nonlinearity': 'leaky_relu'})``. The key of a pair's
        profile is ``name(keyword=value, ...)``.
    batch : int
        Samples in the random input batch.
    seed : int
        Seeds the weights, the input and the backward noise.
    in_features : int, optional
        Width of the input (default ``width``).
    bias : float
        The value of every bias (a scheme's own ``bias`` option wins).
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.

    Returns
    -------
    Diagnosis
        ``result[scheme].act_std`` and the other fields, ``result.table()``,
        ``result.to_dict()``.

    Examples
    --------
    >>> r = fastinit.diagnose(20, 256, "relu", ["normal_0.01", "he_normal"])
    >>> r["he_normal"].verdict
    'stable'
    """
    depth = check_positive_int(depth, "depth")
    width = check_positive_int(width, "width")
    activation = _check_activation(activation)
    batch = check_positive_int(batch, "batch")
    seed = check_uint64(seed, "seed")
    in_features = width if in_features is None else check_positive_int(in_features, "in_features")
    bias = check_real(bias, "bias")
    slope = check_real(negative_slope, "negative_slope")
    resolved = _resolve_all(schemes, bias)
    fi = _public()

    x = fi.normal((batch, in_features), dtype=np.float64, seed=seed, stream=name_stream("diagnose/input"))
    noise = fi.normal((batch, width), dtype=np.float64, seed=seed, stream=name_stream("diagnose/output-gradient"))
    profiles = {}
    for sch in resolved:
        profiles[sch.label] = Profile(sch.label, activation,
                                      _run(sch, depth, width, activation, slope, x, noise, seed))
    config = {"depth": depth, "width": width, "activation": activation, "negative_slope": slope,
              "batch": batch, "seed": seed, "in_features": in_features, "bias": bias,
              "schemes": [s.label for s in resolved],
              "loss": "sum(R * output), R standard normal"}
    return Diagnosis(config, profiles)


def _run(sch, depth, width, activation, slope, x, noise, seed):
    vals = {f: np.empty(depth, bool if f == "symmetric" else np.float64) for f in FIELDS}
    weights = _layer_weights(sch, [x.shape[1]] + [width] * depth, seed, "diagnose")
    acts, derivs = [x], []
    a = x
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for layer, w in enumerate(weights):
            h = a @ w.T + sch.bias
            a, d = _forward(activation, slope, h)
            acts.append(a)
            derivs.append(d)
            vals["pre_std"][layer] = _std(h)
            vals["act_std"][layer] = _std(a)
            vals["dead_fraction"][layer] = _dead_fraction(activation, h, d)
            vals["symmetric"][layer] = _identical_units(h)
        grad_a = noise
        for layer in reversed(range(depth)):
            vals["grad_a_std"][layer] = _std(grad_a)
            delta = grad_a * derivs[layer]
            vals["grad_w_std"][layer] = _std(delta.T @ acts[layer])
            grad_a = delta @ weights[layer]
    return vals


# ---------------------------------------------------------------------------- recommend

class Recommendation:
    """What to initialize with: ``scheme`` (a fastinit fill's name, without
    the underscore), its keyword arguments ``kwargs``, the resulting ``gain``
    and a one-sentence ``reason``. ``spec`` is the ``(scheme, kwargs)`` pair
    that ``diagnose`` takes."""

    __slots__ = ("activation", "normalization", "scheme", "kwargs", "gain", "reason")

    def __init__(self, activation, normalization, scheme, kwargs, gain, reason):
        self.activation, self.normalization = activation, normalization
        self.scheme, self.kwargs, self.gain, self.reason = scheme, kwargs, gain, reason

    @property
    def spec(self):
        return (self.scheme, dict(self.kwargs))

    @property
    def call(self):
        """The call to write, e.g. ``fastinit.kaiming_normal_(w, nonlinearity='relu')``."""
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"fastinit.{self.scheme}_(w{args})"

    def to_dict(self):
        return {"activation": self.activation, "normalization": self.normalization, "scheme": self.scheme,
                "kwargs": dict(self.kwargs), "gain": self.gain, "reason": self.reason, "call": self.call}

    def __repr__(self):
        return f"Recommendation({self.call}, gain={self.gain:.4g})"


def _gelu_gain():
    """The gain for which unit-variance inputs keep their second moment
    through a GELU layer: g with E[gelu(g z)^2] = 1, z standard normal. (GELU
    is not homogeneous, so no gain keeps every scale: He's sqrt(2) lets a deep
    stack's scale decay, about 2x in 10 layers.) Solved by bisection on a
    Gauss-Hermite quadrature."""
    z, wq = np.polynomial.hermite_e.hermegauss(120)
    wq = wq / wq.sum()

    def m2(g):
        h = g * z
        return float(np.sum(wq * (h * 0.5 * (1.0 + _erf(h / math.sqrt(2.0)))) ** 2))
    lo, hi = 1.0, 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if m2(mid) < 1.0 else (lo, mid)
    return 0.5 * (lo + hi)


def recommend(activation, *, normalization=None, negative_slope=0.01):
    """The initialization to use before ``activation``, and why.

    ReLU -> He (``kaiming_normal_``, gain sqrt 2); leaky ReLU -> He with its
    slope; tanh and sigmoid -> Xavier with torch's gain (5/3, 1); SELU ->
    LeCun normal (self-normalizing); GELU -> fan-in scaling with the gain that
    keeps a unit-variance signal's scale (for about 20 layers: no gain keeps
    a deep GELU stack's scale, which is unstable); linear -> LeCun normal (Xavier's
    equal when fan_in == fan_out). With ``normalization='batch'`` or
    ``'layer'`` the choice matters less, and the reason says why.

    Returns
    -------
    Recommendation
        ``scheme``, ``kwargs``, ``gain``, ``reason``; ``spec`` for ``diagnose``.

    Examples
    --------
    >>> fastinit.recommend("relu").call
    "fastinit.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')"
    """
    activation = _check_activation(activation)
    if normalization is not None:
        normalization = check_choice(normalization, "normalization", NORMALIZATIONS)
    slope = check_real(negative_slope, "negative_slope")
    if activation == "relu":
        scheme, kw, gain = "kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"}, math.sqrt(2.0)
        why = ("ReLU zeroes half of its input, so He's gain sqrt(2) on fan_in keeps the variance of the "
               "pre-activations from layer to layer")
    elif activation == "leaky_relu":
        scheme = "kaiming_normal"
        kw = {"a": slope, "mode": "fan_in", "nonlinearity": "leaky_relu"}
        gain = calculate_gain("leaky_relu", slope)
        why = (f"leaky ReLU with slope {slope:g} keeps (1 + slope^2) / 2 of the variance, so He's gain "
               f"sqrt(2 / (1 + slope^2)) = {gain:.4g} on fan_in restores it")
    elif activation in ("tanh", "sigmoid"):
        gain = calculate_gain(activation)
        scheme, kw = "xavier_uniform", {"gain": gain}
        why = (("tanh is near-linear around 0 and squashes large inputs: Xavier's fan-average scaling with "
                "torch's gain 5/3 keeps the activations in its responsive range without saturating")
               if activation == "tanh" else
               ("sigmoid's slope is at most 1/4 and its output is not centred: Xavier with torch's gain 1 "
                "keeps the pre-activations near the responsive range, though deep sigmoid stacks still lose "
                "gradient (prefer tanh or ReLU)"))
    elif activation == "selu":
        scheme, kw, gain = "lecun_normal", {}, 1.0
        why = ("SELU is self-normalizing only from LeCun normal weights (variance 1 / fan_in): the activations "
               "are then pulled toward mean 0 and variance 1 at every layer")
    elif activation == "gelu":
        gain = _gelu_gain()
        scheme = "variance_scaling"
        kw = {"scale": round(gain * gain, 6), "mode": "fan_in", "distribution": "untruncated_normal"}
        why = (f"GELU is ReLU-like for large inputs but shrinks small ones, so He's sqrt(2) loses a factor 2 "
               f"of the scale in about 10 layers; the gain {gain:.4g} on fan_in keeps a unit-variance signal's "
               f"second moment, within 2x for about 20 layers, but no gain holds a deep GELU stack (the scale "
               f"it keeps is unstable), so normalize beyond that")
    else:
        scheme, kw, gain = "lecun_normal", {}, 1.0
        why = ("a linear layer keeps the variance with weights of variance 1 / fan_in (LeCun; Xavier is the "
               "same when fan_in == fan_out)")
    if normalization is not None:
        which = "BatchNorm" if normalization == "batch" else "LayerNorm"
        why += (f"; with {which} after each layer the choice matters less, because the normalization rescales "
                f"the activations to unit variance whatever the weights' scale, but the first steps and the "
                f"residual branches still start from these weights")
    return Recommendation(activation, normalization, scheme, kw, float(gain), why + ".")
