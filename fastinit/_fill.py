"""One description of a fill, and the one function that runs it.

A :class:`Fill` says three things:

- *what is drawn* (:class:`Draw`): a distribution and its parameters, checked
  once when the draw is made (``uniform(a, b)``, ``normal(mean, std)``, ...);
- *where the randomness comes from* (:class:`Source`): a seed and a stream,
  or a generator whose next stream is taken, seed and stream together, only
  when the fill runs;
- *where it lands*: the placement in the stream (``offset``, and for a shard
  ``global_shape`` and ``index``), plus deterministic ``steps`` applied after
  the draw (a constant written over a region, as ``nn.Embedding`` zeroes its
  padding row).

:func:`run` checks a description against a buffer, takes the stream, and is
the only caller of the fill kernels; it optionally writes under a keep-mask
(rewinding). Every path builds the same description: the public fills and
schemes (through :class:`Rule`, the table of fills), the allocating
constructors, ``rewind_``, ``fastinit.torch``, ``fastinit.dask``, the
checkpoint writer. Records (``to_record`` / ``from_record``) are descriptions
serialized to JSON.
"""
import inspect
import math
import numbers
import operator

import numpy as np

from . import _buffers, _kernels
from ._checks import check_real, check_uint64
from ._fans import Fans
from ._generator import STREAM_VERSION, Generator, default_generator
from ._truncation import f32_values, trunc_params

__all__ = ["Draw", "Source", "Fill", "Rule", "FILLS", "run", "check", "lookup", "to_record", "from_record"]

_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).tiny)
_F64_MAX = float(np.finfo(np.float64).max)
# |z| of a normal never exceeds this (8.57 for float64 words, 6.66 for float32; docs/STREAM.md)
_Z_BOUND = 9.0


# ---------------------------------------------------------------------------
# What is drawn

class Draw:
    """A distribution and its checked parameters (build one with the functions below)."""

    __slots__ = ("kind", "params", "_setup")

    def __init__(self, kind, params, setup=None):
        self.kind = kind
        self.params = params            # {name: value}, in the order of PARAMS[kind]
        self._setup = setup             # trunc_normal: the truncation constants

    @property
    def random(self):
        return self.kind in RANDOM_KINDS

    def __repr__(self):
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def __reduce__(self):
        return (_rebuild, (self.kind, self.params))

    def kernel(self, code):
        """(kernel kind, parameter tuple) for an output of this code; a ValueError when the
        parameters do not fit its working precision (float32 for 32- and 16-bit outputs)."""
        p = self.params
        kind = self.kind
        f64 = code == _kernels.F64
        if kind == "uniform":
            width = p["b"] - p["a"]
            if not f64:
                working_range(code, a=p["a"], b=p["b"], **{"b - a": width})
            return _kernels.UNIFORM, (p["a"], width)
        if kind == "normal":
            _normal_range(code, p["mean"], p["std"])
            return _kernels.NORMAL, (p["mean"], p["std"])
        if kind == "trunc_normal":
            if not f64:
                working_range(code, mean=p["mean"], std=p["std"], a=p["a"], b=p["b"])
                if 0.0 < p["std"] < _F32_TINY:
                    raise ValueError(f"std={p['std']} is below the smallest normal float32 "
                                     f"({_F32_TINY:.4g}), the working precision used to fill "
                                     f"{_buffers.NAMES[code]} buffers; use a float64 buffer")
            if self._setup is None:          # std == 0: the mean, clipped into [a, b]
                return _kernels.PATTERN, (_buffers.constant_bytes(code, min(max(p["mean"], p["a"]), p["b"])),)
            values, narrow = self._setup
            if f64:
                return _kernels.TRUNC, values
            if narrow:                       # too narrow for float32 probabilities: the f64 rule
                return _kernels.TRUNC_WIDE, values
            return _kernels.TRUNC, f32_values(values)
        if kind == "constant":
            return _kernels.PATTERN, (_buffers.constant_bytes(code, p["val"], check=True),)
        if kind == "bits":
            return _kernels.BITS, ()
        raise TypeError(f"a {kind} initialization is written by fastinit.torch, not by a fill kernel")


def _rebuild(kind, params):
    return KINDS[kind](**params)


def working_range(code, **params):
    for name, value in params.items():
        if abs(value) > _F32_MAX:
            raise ValueError(f"{name}={value} is outside the float32 range used to fill "
                             f"{_buffers.NAMES[code]} buffers")


def _normal_range(code, mean, std):
    reach = abs(mean) + _Z_BOUND * std
    if code == _kernels.F64:
        if not reach <= _F64_MAX:
            raise ValueError(f"normal(mean={mean}, std={std}) overflows float64: |mean| + {_Z_BOUND:g} * std "
                             "exceeds the largest float64")
    else:
        working_range(code, mean=mean, std=std, **{_REACH: reach})


_REACH = f"|mean| + {_Z_BOUND:g} * std"


def _check_std(std):
    std = check_real(std, "std")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return std


def uniform(a=0.0, b=1.0):
    """U[a, b): finite bounds, a < b, b - a finite."""
    a = check_real(a, "a")
    b = check_real(b, "b")
    if not a < b:
        raise ValueError(f"uniform_ needs a < b, got a={a}, b={b}")
    if not math.isfinite(b - a):
        raise ValueError(f"the interval [{a}, {b}] is too wide to sample (b - a overflows)")
    return Draw("uniform", {"a": a, "b": b})


def normal(mean=0.0, std=1.0):
    """N(mean, std**2): finite, std >= 0."""
    return Draw("normal", {"mean": check_real(mean, "mean"), "std": _check_std(std)})


def trunc_normal(mean=0.0, std=1.0, a=-2.0, b=2.0):
    """N(mean, std**2) truncated to [a, b] (absolute bounds), a < b; the truncation
    constants are computed here, so an interval that cannot be sampled is a ValueError now."""
    mean = check_real(mean, "mean")
    std = _check_std(std)
    a = check_real(a, "a")
    b = check_real(b, "b")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    setup = trunc_params(mean, std, a, b) if std != 0.0 else None
    return Draw("trunc_normal", {"mean": mean, "std": std, "a": a, "b": b}, setup)


def constant(val=0.0):
    """Every element ``val`` (finite; rounded once to the buffer's dtype)."""
    return Draw("constant", {"val": check_real(val, "val")})


def bits():
    """The raw Philox words (uint32 buffers)."""
    return Draw("bits", {})


# Structured initializations (QR, identities, sparse patterns): written whole by the
# writers of fastinit._structured, registered in WRITERS.
def eye():
    return Draw("eye", {})


def dirac(groups=1):
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (numbers.Integral, np.integer)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    if operator.index(groups) < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    return Draw("dirac", {"groups": operator.index(groups)})


def orthogonal(gain=1.0):
    return Draw("orthogonal", {"gain": check_real(gain, "gain")})


def sparse(sparsity=0.1, std=0.01):
    sparsity = check_real(sparsity, "sparsity")
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    return Draw("sparse", {"sparsity": sparsity, "std": _check_std(std)})


def identity(gain=1.0):
    return Draw("identity", {"gain": check_real(gain, "gain")})


_LAYOUTS = ("torch", "keras")


def delta_orthogonal(gain=1.0, layout="torch"):
    if not isinstance(layout, str) or layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, _LAYOUTS))}; got {layout!r}")
    return Draw("delta_orthogonal", {"gain": check_real(gain, "gain"), "layout": layout})


#: The table of distributions: kind -> the function that checks its parameters and makes it.
KINDS = {f.__name__: f for f in (uniform, normal, trunc_normal, constant, bits, eye, dirac, orthogonal, sparse,
                                 identity, delta_orthogonal)}
#: Each kind's parameter names, in order.
PARAMS = {kind: tuple(inspect.signature(f).parameters) for kind, f in KINDS.items()}
#: Kinds that take a stream (a trunc_normal of std 0 too, so that its stream use does not
#: depend on the parameters).
RANDOM_KINDS = frozenset(("uniform", "normal", "trunc_normal", "bits", "orthogonal", "sparse", "delta_orthogonal"))
#: kind -> the writer of a structured initialization (check_shape, check_params, write), which
#: run() calls instead of a fill kernel; fastinit._structured registers them.
WRITERS = {}


# ---------------------------------------------------------------------------
# Where the randomness comes from

class Source:
    """(seed, stream) of a fill: a seed (with stream 0 or ``stream``), or a generator's
    seed with ``stream`` or its next stream, taken when the fill runs."""

    __slots__ = ("seed", "generator", "stream")

    def __init__(self, seed=None, generator=None, stream=None):
        if seed is not None and generator is not None:
            raise ValueError("pass either seed= or generator=, not both")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator must be a fastinit.Generator, got {type(generator).__name__}")
        self.seed = None if seed is None else check_uint64(seed, "seed")
        self.generator = generator
        self.stream = None if stream is None else check_uint64(stream, "stream")

    @classmethod
    def fixed(cls, seed, stream):
        """A source already resolved (checked values)."""
        s = cls.__new__(cls)
        s.seed, s.generator, s.stream = seed, None, stream
        return s

    def take(self):
        """The (seed, stream) of one fill; a generator's next stream is reserved now."""
        if self.seed is not None:
            return self.seed, 0 if self.stream is None else self.stream
        g = default_generator if self.generator is None else self.generator
        return g.take(self.stream)

    def resolved(self):
        """This source with its stream taken: the same values every time it runs."""
        return Source.fixed(*self.take())

    def __reduce__(self):
        if self.generator is not None or self.seed is None:
            raise TypeError("only a resolved Source (seed and stream) can be pickled")
        return (Source.fixed, (self.seed, self.stream))

    def __repr__(self):
        if self.seed is not None:
            return f"Source(seed={self.seed}, stream={self.stream})"
        return f"Source(generator={self.generator!r}, stream={self.stream})"


class _NoSource(Source):
    """The source of a deterministic fill: nothing may draw from it."""

    __slots__ = ()

    def take(self):
        raise RuntimeError("a deterministic fill has no random source")

    def __reduce__(self):
        return (_no_source, ())


def _no_source():
    return NO_SOURCE


NO_SOURCE = _NoSource()


# ---------------------------------------------------------------------------
# The description, and where it lands

class Fill:
    """What is drawn, from where, and where it lands (see the module docstring).

    ``steps``: ((val, start, shape, strides), ...), constants written after the draw over
    the region of the tensor's flat C-order elements ``start + sum(i_k * strides_k)``."""

    __slots__ = ("draw", "source", "offset", "global_shape", "index", "steps")

    def __init__(self, draw, source=NO_SOURCE, offset=0, global_shape=None, index=None, steps=()):
        self.draw = draw
        self.source = source
        self.offset = offset
        self.global_shape = global_shape
        self.index = index
        self.steps = steps

    @classmethod
    def of(cls, draw, source=NO_SOURCE, offset=0, global_shape=None, index=None):
        """A description from a caller's placement arguments (types and ranges checked)."""
        offset = check_uint64(offset, "offset")
        if global_shape is not None:
            global_shape = _buffers.check_shape(global_shape, "global_shape")
        elif index is not None:
            raise ValueError("index= needs global_shape=, the shape of the whole tensor")
        return cls(draw, source, offset, global_shape, index)

    def replace(self, **changes):
        values = {k: getattr(self, k) for k in self.__slots__}
        values.update(changes)
        return Fill(**values)

    def __reduce__(self):
        return (Fill, tuple(getattr(self, k) for k in self.__slots__))

    def __repr__(self):
        return (f"Fill({self.draw!r}, {self.source!r}, offset={self.offset}, global_shape={self.global_shape}, "
                f"index={self.index}, steps={self.steps})")


def check(fill, shape, code):
    """Everything ``run`` checks before it writes or takes a stream: the placement for a
    buffer of ``shape``, the parameters for output ``code``. Returns (placement, kernel, params)."""
    draw = fill.draw
    writer = WRITERS.get(draw.kind)
    if writer is not None:                       # structured: written whole, from fill.offset
        if fill.global_shape is not None:
            raise ValueError(f"a {draw.kind} initialization is computed whole; it takes no global_shape")
        writer.check_shape(shape, draw.params)
        writer.check_params(fill, shape, code)
        place, kind, params = None, writer, None
    elif draw.random:
        place = _buffers.check_placement(shape, fill.offset, fill.global_shape, fill.index)
        kind, params = draw.kernel(code)
    else:
        place = _buffers.Placement(0)
        kind, params = draw.kernel(code)
    for step in fill.steps:
        _buffers.constant_bytes(code, step[0], check=True)
    return place, kind, params


def run(fill, arr, code, mask=None):
    """Write ``fill`` into ``arr`` (an ndarray of kernel output ``code``); the only caller
    of the fill kernels. With ``mask`` (a flat uint8 keep-mask of arr.size, arr
    C-contiguous), the values are written where it is set and zero elsewhere, in the
    same pass. Checks everything first, then takes the stream; returns (seed, stream),
    or None for a deterministic fill."""
    place, kind, params = check(fill, arr.shape, code)
    if mask is not None and (not arr.flags.c_contiguous or mask.shape != (arr.size,)):
        raise ValueError("a keep-mask needs a C-contiguous buffer and one mask byte per element")
    if fill.steps and not arr.flags.c_contiguous:
        raise ValueError("a fill with steps needs a C-contiguous buffer")
    taken = fill.source.take() if fill.draw.random else None
    seed, stream = taken or (0, 0)
    fn = _kernels.fill
    if params is None:                           # a structured writer, then the mask
        kind.write(arr, code, fill.draw.params, seed, stream, fill.offset)
        if mask is not None and arr.size:
            if arr.flags.aligned:
                _kernels.apply_mask(_buffers.flat_bytes(arr), arr.itemsize, mask)
            else:                                # (the kernel writes whole items)
                arr.reshape(-1)[~mask.view(np.bool_)] = 0
    elif mask is None:
        _buffers.run(arr, place, lambda raw, first, local: fn(kind, raw, code, seed, stream, first, params),
                     batch=True)
    else:
        size = arr.itemsize
        _buffers.run(arr, place, lambda raw, first, local: fn(
            kind, raw, code, seed, stream, first, params, mask[local: local + raw.shape[0] // size]))
    apply_steps(arr, code, fill.steps, mask)
    return taken


def apply_steps(arr, code, steps, mask=None):
    """Write the constant steps of a fill over a C-contiguous ``arr`` (under ``mask``, as in run)."""
    for step in steps:
        _write_step(arr, code, step, mask)


def _step_view(flat, step):
    val, start, shape, strides = step
    item = flat.itemsize
    # (the stride of a length-1 axis is never used, and may be any uint64: ignore it)
    return np.lib.stride_tricks.as_strided(flat[start:], shape,
                                           tuple((s if n > 1 else 0) * item for n, s in zip(shape, strides)))


def _write_step(arr, code, step, mask):
    flat = arr.reshape(-1)
    region = _step_view(flat, step)
    pattern = np.frombuffer(_buffers.constant_bytes(code, step[0]), flat.dtype)[0]
    if mask is None:
        region[...] = pattern
    else:
        keep = _step_view(mask.view(np.bool_), step)
        region[...] = np.where(keep, pattern, np.zeros((), flat.dtype))


def step_indices(step):
    """The flat element indices a step writes (a NumPy int64 array)."""
    val, start, shape, strides = step
    idx = np.full(shape, start, np.int64)
    for axis, (n, s) in enumerate(zip(shape, strides)):
        r = np.arange(n, dtype=np.int64) * (s if n > 1 else 0)
        idx += r.reshape((n,) + (1,) * (len(shape) - axis - 1))
    return idx.reshape(-1)


def check_step(step, size):
    """A step (val, start, shape, strides) that writes at most ``size`` elements, all inside a
    tensor of ``size`` elements; a step that writes nothing is normalized to shape (0,)."""
    val, start, shape, strides = step
    val = check_real(val, "val")
    start = check_uint64(start, "start")
    if not isinstance(shape, (tuple, list)) or not isinstance(strides, (tuple, list)):
        raise TypeError(f"a step's shape and strides are sequences of ints, got {shape!r}, {strides!r}")
    shape = tuple(check_uint64(n, "shape") for n in shape)
    strides = tuple(check_uint64(s, "strides") for s in strides)
    if len(strides) != len(shape):
        raise ValueError(f"a step of shape {shape} needs {len(shape)} strides, got {len(strides)}")
    count = math.prod(shape)
    if count == 0:
        return (val, 0, (0,), (1,))
    if count > size:
        raise ValueError(f"a step of shape {shape} writes more elements than the tensor's {size}")
    if start + sum((n - 1) * s for n, s in zip(shape, strides)) >= size:
        raise ValueError(f"a step of shape {shape} from element {start} reaches past the tensor's {size} elements")
    return (val, start, shape, strides)


# ---------------------------------------------------------------------------
# The table of fills: rules, the options they take, their public functions

#: Options shared by fills, declared once: where the randomness comes from, where it lands,
#: how the fans are read.
SOURCE_OPTIONS = {"seed": None, "generator": None, "stream": None}
PLACEMENT_OPTIONS = {"offset": 0, "global_shape": None, "index": None}
FAN_OPTIONS = {"layout": "torch", "fan_in": None, "fan_out": None}

#: name (no trailing underscore) -> Rule, in the order the rules were defined; aliases included.
FILLS = {}


class Rule:
    """A fill by name: its draw rule ``fn(fans, *args, **kwargs) -> Draw`` (``fans`` a
    :class:`fastinit._fans.Fans` for schemes, else None), the shared options it takes, and
    the in-place public function built from both."""

    def __init__(self, fn, options, buffer="float", structured=False):
        self.fn = fn
        self.name = fn.__name__.rstrip("_")
        self.options = dict(options)
        self.buffer = buffer            # 'float' or 'uint32'
        self.structured = structured    # written whole (QR, patterns), never by pieces
        self.random = "seed" in self.options
        self.schemes = "layout" in self.options
        self.public = self._public()

    def describe(self, shape, args=(), kwargs=None):
        """The Fill of a call ``fill_(buf of shape, *args, **kwargs)``: every argument checked
        (a ValueError or TypeError as documented), nothing written, no stream taken.
        ``shape``: a tuple of non-negative ints; ``kwargs`` (a dict the caller owns) is consumed."""
        kw = {} if kwargs is None else kwargs
        if not self.options:                      # constants: nothing to place or seed
            return Fill(self.fn(None, *args, **kw))
        opts = {k: kw.pop(k, d) for k, d in self.options.items()}
        source = Source(opts["seed"], opts["generator"], opts["stream"]) if self.random else NO_SOURCE
        fill = Fill.of(None, source, opts.get("offset", 0), opts.get("global_shape"), opts.get("index"))
        fans = None
        if self.schemes:
            fans = Fans(shape if fill.global_shape is None else fill.global_shape,
                        opts["layout"], opts["fan_in"], opts["fan_out"])
        fill.draw = self.fn(fans, *args, **kw)
        return fill

    def _public(self):
        describe, check_buffer = self.describe, _BUFFER_CHECKS[self.buffer]

        def fill_(buf, *args, **kwargs):
            arr, code = check_buffer(buf)
            run(describe(arr.shape, args, kwargs), arr, code)
            return buf

        sig = inspect.signature(self.fn)
        params = list(sig.parameters.values())
        params[0] = params[0].replace(name="buf")
        params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d) for k, d in self.options.items()]
        fill_.__signature__ = sig.replace(parameters=params)
        fill_.__name__ = fill_.__qualname__ = self.fn.__name__
        fill_.__doc__ = self.fn.__doc__
        fill_.__module__ = "fastinit"
        fill_.rule = self
        return fill_

    def __repr__(self):
        return f"<fastinit fill {self.fn.__name__}>"


#: The output code passed with uint32 buffers (the bits kernel writes 4-byte words, whatever the code).
BITS_CODE = _kernels.F32
_BUFFER_CHECKS = {"float": _buffers.check_float, "uint32": lambda buf: (_buffers.check_uint32(buf), BITS_CODE)}


def rule(*options, buffer="float", structured=False):
    """Decorator: register a draw rule taking these option groups; returns its public function."""
    merged = {}
    for group in options:
        merged.update(group)

    def register(fn):
        r = Rule(fn, merged, buffer, structured)
        FILLS[r.name] = r
        return r.public
    return register


def alias(name, public):
    FILLS[name] = public.rule


def lookup(fill, fills=None, what="fill"):
    """The Rule of a fill given by name (with or without the trailing underscore) or function."""
    fills = FILLS if fills is None else fills
    if isinstance(fill, str):
        r = fills.get(fill.rstrip("_"))
        if r is None:
            raise ValueError(f"unknown {what} {fill!r}; expected one of {sorted(fills)} or a fastinit fill function")
        return r
    r = getattr(fill, "rule", None)
    if isinstance(r, Rule) and r in fills.values():
        return r
    raise TypeError(f"{what} must be the name of a fastinit fill or one of its fill functions, got {fill!r}")


def select(predicate):
    """{name: Rule} of the registered fills for which predicate(rule) holds."""
    return {name: r for name, r in FILLS.items() if predicate(r)}


# ---------------------------------------------------------------------------
# Records: descriptions as JSON

def to_record(fill, seed, stream, shape, dtype, *, scheme, args=None, fan_in=None, fan_out=None):
    """The JSON form of a fill that ran with (seed, stream) on a tensor of shape and dtype name."""
    return {
        "scheme": scheme, "args": dict(args or {}), "fill": fill.draw.kind, "params": dict(fill.draw.params),
        "seed": seed, "stream": stream, "offset": fill.offset, "fan_in": fan_in, "fan_out": fan_out,
        "shape": list(shape), "dtype": dtype, "stream_version": STREAM_VERSION,
        "steps": [{"val": v, "start": s, "shape": list(sh), "strides": list(st)} for v, s, sh, st in fill.steps],
    }


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


#: Kinds a fill kernel writes (the others are structured: see WRITERS).
KERNEL_KINDS = frozenset(("uniform", "normal", "trunc_normal", "constant"))


def from_record(rec, name="tensor"):
    """(Fill, shape, dtype name) rebuilt from a record, every field checked, for the
    record's dtype too (what ``run`` would check before writing): a ValueError naming the
    tensor and the field for anything missing, mistyped or out of range."""
    def bad(field, why):
        return ValueError(f"the init record of {name!r}: {field}: {why}")

    if not isinstance(rec, dict):
        raise bad("record", f"expected a dict, got {type(rec).__name__}")
    version = rec.get("stream_version")
    if not _is_int(version) or version != STREAM_VERSION:
        raise bad("stream_version", f"made with stream version {version!r}; this fastinit generates "
                                    f"version {STREAM_VERSION}, whose values differ (docs/STREAM.md, "
                                    "changelog), so it cannot regenerate or verify them: draw the tensor "
                                    "again and keep the new record")
    kind = rec.get("fill")
    if not isinstance(kind, str) or kind not in KINDS or kind == "bits":
        raise bad("fill", f"{kind!r} is not one of {sorted(k for k in KINDS if k != 'bits')}")
    params = rec.get("params")
    if not isinstance(params, dict):
        raise bad("params", f"expected a dict, got {params!r}")
    missing = [k for k in PARAMS[kind] if k not in params]
    extra = [k for k in params if k not in PARAMS[kind]]
    if missing or extra:
        raise bad("params", f"a {kind} record has parameters {list(PARAMS[kind])}; "
                            f"{'missing ' + str(missing) if missing else 'unknown ' + str(extra)}")
    try:
        draw = KINDS[kind](**params)
    except (TypeError, ValueError) as exc:
        raise bad("params", exc) from None
    shape = rec.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise bad("shape", f"expected a list of non-negative ints, got {shape!r}")
    size = math.prod(shape)
    dtype = rec.get("dtype")
    if not isinstance(dtype, str) or dtype not in _buffers.FLOAT_CODES:
        raise bad("dtype", f"expected one of {sorted(_buffers.FLOAT_CODES)}, got {dtype!r}")
    offset = rec.get("offset")
    writer = WRITERS.get(kind)
    if writer is not None:                   # its reach depends on the shape: checked below
        if not _is_int(offset) or not 0 <= offset < 1 << 64:
            raise bad("offset", f"expected an int in [0, 2**64), got {offset!r}")
    elif not _is_int(offset) or not 0 <= offset <= (1 << 64) - size:
        raise bad("offset", f"expected an int in [0, 2**64 - {size}], got {offset!r}")
    seed, stream = rec.get("seed"), rec.get("stream")
    if draw.random:
        if not _is_int(seed) or not 0 <= seed < 1 << 64:
            raise bad("seed", f"expected an int in [0, 2**64), got {seed!r}")
        if not _is_int(stream) or not 0 <= stream < 1 << 64:
            raise bad("stream", f"expected an int in [0, 2**64), got {stream!r}")
        source = Source.fixed(seed, stream)
    else:
        if seed is not None or stream is not None:
            raise bad("seed", f"a {kind} record draws nothing and has no seed or stream, got {seed!r}, {stream!r}")
        source = NO_SOURCE
    steps = rec.get("steps", [])
    if not isinstance(steps, list):
        raise bad("steps", f"expected a list, got {steps!r}")
    checked = []
    for i, st in enumerate(steps):
        if not isinstance(st, dict) or set(st) != {"val", "start", "shape", "strides"} \
                or not isinstance(st["shape"], list) or not isinstance(st["strides"], list):
            raise bad(f"steps[{i}]", f"expected {{'val', 'start', 'shape', 'strides'}}, got {st!r}")
        try:
            checked.append(check_step((st["val"], st["start"], st["shape"], st["strides"]), size))
        except (TypeError, ValueError) as exc:
            raise bad(f"steps[{i}]", exc) from None
    fill = Fill(draw, source, offset, steps=tuple(checked))
    code = _buffers.FLOAT_CODES[dtype]
    if kind in KERNEL_KINDS:
        try:
            draw.kernel(code)
        except ValueError as exc:
            raise bad("params", exc) from None
    else:
        try:
            writer.check_shape(tuple(shape), draw.params)
        except ValueError as exc:
            raise bad("shape", f"a {kind} initialization of shape {tuple(shape)}: {exc}") from None
        reach = writer.draws(tuple(shape), draw.params)
        if offset > (1 << 64) - reach:
            raise bad("offset", f"a {kind} initialization of shape {tuple(shape)} reads {reach} stream "
                                f"indices: expected an int in [0, 2**64 - {reach}], got {offset}")
        try:
            writer.check_params(fill, tuple(shape), code)
        except ValueError as exc:
            raise bad("params", exc) from None
    for i, step in enumerate(fill.steps):
        try:
            _buffers.constant_bytes(code, step[0], check=True)
        except ValueError as exc:
            raise bad(f"steps[{i}]", exc) from None
    return fill, tuple(shape), dtype
