"""torch.nn.init's functions over fastinit's kernels, and the init records they leave.

Each function takes the name, signature, defaults and argument checks of its
``torch.nn.init`` twin and fills CPU tensors of float32, float64, float16 and
bfloat16 in place through fastinit's kernels, zero-copy (a NumPy view of the
tensor's memory; a non-contiguous tensor gets the values its contiguous twin
would). CUDA tensors are written on their device by fastinit's Triton kernels
(fastinit.gpu) where Triton is installed; tensors on other devices are generated
on the CPU and copied; a DTensor shard by shard either way (see _memory.py), with
the CPU's bits everywhere. Other dtypes go to torch's own function.

Where the randomness comes from (one ``(seed, stream)`` per call):

- ``generator=None``: a seed drawn from torch's default generator, stream 0,
  so ``torch.manual_seed(s)`` followed by the same initializations gives the
  same weights;
- a ``torch.Generator``: a seed drawn from it, stream 0;
- a ``fastinit.Generator``: its seed and its next stream.

The draw is exactly ``seed_from(g)``:
``int(torch.randint(-2**63, 2**63 - 1, (), dtype=torch.int64, generator=g)) % 2**64``.
Inside ``materialize_`` the seed is the materialization's and the stream is
derived from the parameter's name (see ``_materialize.py``).

Every fill through fastinit leaves a small record on the tensor it filled
(``init_record``): what was drawn, from which seed, stream and offset, with the
fans, so ``rewind_`` can regenerate the values later with no stored copy.
"""
import contextlib
import math
import threading
import warnings
import weakref

import numpy as np
import torch

from .. import _buffers, _fill, _structured
from .._checks import plain_number
from .._fans import calculate_gain as _calculate_gain
from .._fill import Fill, Source
from .._generator import Generator as _FGenerator
from . import _memory
from ._memory import DTYPES, TORCH_DTYPES, is_meta as _is_meta, view  # noqa: F401

INIT_NAMES = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_",
)

#: torch.nn.init's deprecated names without the underscore (``nn.init.normal``): each warns
#: with a FutureWarning, then calls its in-place function.
DEPRECATED_NAMES = ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
                    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse")

# torch's own functions, captured at import, before anything can patch torch.nn.init
# (fastinit.torch is imported before patch() can run, so these are torch's originals).
TORCH_FUNCTIONS = {name: getattr(torch.nn.init, name)
                   for name in INIT_NAMES + ("calculate_gain",) + DEPRECATED_NAMES if hasattr(torch.nn.init, name)}



def calculate_gain(nonlinearity, param=None):
    """``torch.nn.init.calculate_gain`` (fastinit's table is the same)."""
    return _calculate_gain(nonlinearity, param)


def seed_from(generator=None):
    """The fastinit seed a call draws from a torch generator (default: torch's default generator).

    Exactly ``int(torch.randint(-2**63, 2**63 - 1, (), dtype=torch.int64, generator=g)) % 2**64``:
    one int64 from the generator, read as two's complement."""
    g = torch.default_generator if generator is None else generator
    return int(torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=torch.int64, generator=g)) % 2 ** 64


# ---------------------------------------------------------------------------
# Where a call's randomness comes from, and materialize_'s per-thread context

_local = threading.local()


class Context:
    """What materialize_ tells the init functions while it runs (per thread).

    names: id(tensor) -> qualified name, for the tensors materialize_ allocated;
    keep: ids of tensors that must not be written (loaded from a state_dict, or
    already real before materialize_); first_wins: the reset pass runs parents
    before children, and a tensor written by one module's reset is skipped by
    every later module's (the parent's write is the one eager construction,
    which resets children first, would have kept); owner: the module whose
    reset is running (it may write its tensors several times)."""

    def __init__(self, seed, names, keep, first_wins, stream_of):
        self.seed = seed
        self.names = names
        self.keep = keep
        self.first_wins = first_wins
        self.stream_of = stream_of
        self.owner = None
        self.written = {}               # id -> number of writes by init functions
        self.written_by = {}            # id -> the module whose reset wrote it first

    def claim(self, tensor):
        """(skip, source): whether to leave the tensor alone, else its (seed, stream) or None."""
        key = id(tensor)
        if key in self.keep:
            return True, None
        name = self.names.get(key)
        if name is None:
            return False, None          # a temporary (e.g. a float32 scratch): the usual rule
        if self.first_wins and self.written_by.get(key, self.owner) is not self.owner:
            return True, None
        self.written_by.setdefault(key, self.owner)
        self.written[key] = self.written.get(key, 0) + 1
        return False, (self.seed, self.stream_of(name))


def current_context():
    """The Context of the materialize_ running in this thread, or None."""
    return getattr(_local, "context", None)


@contextlib.contextmanager
def materializing(ctx):
    """Run the init functions of this thread under materialize_'s Context."""
    previous = current_context()
    _local.context = ctx
    try:
        yield ctx
    finally:
        _local.context = previous


class TorchSource(Source):
    """A seed drawn from a torch generator (``seed_from``) when the fill runs, stream 0."""

    __slots__ = ("torch_generator",)

    def __init__(self, generator=None):
        super().__init__()
        self.torch_generator = generator

    def take(self):
        return seed_from(self.torch_generator), 0


def _source(tensor, generator):
    """(skip, Source) for one call on ``tensor``; nothing is drawn yet."""
    if generator is not None and not isinstance(generator, (torch.Generator, _FGenerator)):
        raise TypeError(f"generator must be a torch.Generator or a fastinit.Generator, "
                        f"got {type(generator).__name__}")
    ctx = current_context()
    if ctx is not None:
        skip, source = ctx.claim(tensor)
        if skip:
            return True, None
        if source is not None and generator is None:
            return False, Source.fixed(*source)
    if isinstance(generator, _FGenerator):
        return False, Source(generator=generator)
    return False, TorchSource(generator)


def _placed(tensor):
    """(global shape, per-axis global indices) of a plain tensor inside init_shard_, or None."""
    table = getattr(_local, "placed", None)
    entry = table.get(id(tensor)) if table else None
    return entry[1:] if entry is not None and entry[0] is tensor else None


@contextlib.contextmanager
def _placing(tensor, global_shape, indices):
    """Within the block, ``tensor`` stands for a block of a tensor of ``global_shape``."""
    table = getattr(_local, "placed", None)
    if table is None:
        table = _local.placed = {}
    previous = table.get(id(tensor))
    table[id(tensor)] = (tensor, tuple(global_shape), indices)
    try:
        yield
    finally:
        if previous is None:
            del table[id(tensor)]
        else:
            table[id(tensor)] = previous


def _target(tensor):
    """The memory an init call on ``tensor`` writes (see _memory.target), or None."""
    view = _dtensor_view(tensor)
    if view is not None:
        return _view_target(*view)
    return _memory.target(tensor, _placed(tensor))


# Views of DTensors taken under patch() (``weight[padding_idx]``): indexing a sharded DTensor
# gives a gathered copy, so an init call on it would write the copy. patch() notes each
# such view here, and the call writes the base's shards instead.
_VIEWS = {}                   # id(view) -> (weakref to the view, base DTensor, region)


def note_view(view, base, key):
    """Remember that ``view`` is ``base[key]`` (ints and step-1 slices over leading dims)."""
    region = _region(tuple(base.shape), key)
    if region is None or not _memory.is_dtensor(view):
        return
    k = id(view)
    ref = weakref.ref(view, lambda r, k=k: _VIEWS.pop(k, None) if _VIEWS.get(k, (None,))[0] is r else None)
    _VIEWS[k] = (ref, base, region)


def _region(shape, key):
    """[(start, stop, dropped)] for each axis of a tensor of ``shape`` indexed by ``key``, or
    None for keys other than ints and step-1 slices."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) > len(shape):
        return None
    out = []
    for k, n in zip(key, shape):
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            i = int(k) + n if k < 0 else int(k)
            if not 0 <= i < n:
                return None
            out.append((i, i + 1, True))
        elif isinstance(k, slice):
            a, b, step = k.indices(n)
            if step != 1:
                return None
            out.append((a, max(a, b), False))
        else:
            return None
    return out + [(0, n, False) for n in shape[len(key):]]


def _dtensor_view(tensor):
    entry = _VIEWS.get(id(tensor))
    return entry[1:] if entry is not None and entry[0]() is tensor else None


def _view_target(base, region):
    """The Target of ``base[region]``: the parts of base's shards inside the region, placed in
    the view (its own shape; dropped axes indexed by int)."""
    whole = _memory.target(base)
    if whole is None:
        return None
    shape = tuple(b - a for a, b, dropped in region if not dropped)
    parts = []
    for local, index in whole.blocks():
        lo, gl = [], []
        for (a, b, dropped), l, g in zip(region, local, index):
            start, stop = max(a, g.start), min(b, g.stop)
            if start >= stop:
                break
            if dropped:
                lo.append(l.start + start - g.start)
            else:
                lo.append(slice(l.start + start - g.start, l.start + stop - g.start))
                gl.append(slice(start - a, stop - a))
        else:
            parts.append((tuple(lo), tuple(gl)))
    return _memory.Target(whole.local, shape, parts, whole.code)


def _region_step(base, region, val):
    """A constant written over ``base[region]`` joins base's record as a step."""
    shape = tuple(base.shape)
    strides = [math.prod(shape[a + 1:]) for a in range(len(shape))]
    start = sum(a * st for (a, _, _), st in zip(region, strides))
    kept = [(b - a, st) for (a, b, dropped), st in zip(region, strides) if not dropped]
    _append_step(base, (val, start, tuple(n for n, _ in kept), tuple(st for _, st in kept)))


def logical_shape(tensor):
    """The shape of the tensor an init call on ``tensor`` stands for: a DTensor's global shape,
    the global shape given to init_shard_, else the tensor's own."""
    where = _placed(tensor)
    return torch.Size(where[0]) if where is not None else tensor.shape


def _skipped(tensor):
    """Deterministic fills inside materialize_: whether this tensor is to be left alone."""
    ctx = current_context()
    return ctx is not None and ctx.claim(tensor)[0]


# ---------------------------------------------------------------------------
# Init records

_RECORDS = {}                 # id(tensor) -> (weakref to the tensor, record dict)
_RECORDS_LOCK = threading.Lock()


def _forget(key, ref):
    with _RECORDS_LOCK:
        entry = _RECORDS.get(key)
        if entry is not None and entry[0] is ref:
            del _RECORDS[key]


def _record(tensor, fill, taken, scheme, args):
    """Attach the record of what was just written to ``tensor`` (replacing any earlier one);
    ``taken``: the (seed, stream) the fill drew from, or None."""
    shape = logical_shape(tensor)
    fans = _fans(tensor) if len(shape) >= 2 else (None, None)
    seed, stream = taken or (None, None)
    rec = _fill.to_record(fill, seed, stream, shape, DTYPES[tensor.dtype], scheme=scheme,
                          args={k: _plain_value(v) for k, v in args.items()}, fan_in=fans[0], fan_out=fans[1])
    _attach(tensor, rec)


def _attach(tensor, rec):
    key = id(tensor)
    with _RECORDS_LOCK:
        entry = _RECORDS.get(key)
        if entry is not None and entry[0]() is tensor:
            _RECORDS[key] = (entry[0], rec)
            return
        ref = weakref.ref(tensor, lambda r, key=key: _forget(key, r))
        _RECORDS[key] = (ref, rec)


def init_record(tensor):
    """The record of the last fastinit initialization of ``tensor`` (a dict), or None.

    Keys: ``scheme`` and ``args`` (the torch.nn.init call as made), ``fill`` and
    ``params`` (the distribution that call drew from, with its resolved
    parameters), ``seed``, ``stream``, ``offset``, ``fan_in``, ``fan_out``,
    ``shape``, ``dtype``, ``stream_version`` and ``steps``: the same JSON form
    as the records of ``fastinit.save_random``. Records attach to the tensor
    object passed (the Parameter, in torch's and Hugging Face's init code). A
    constant written afterwards through ``constant_``/``zeros_``/``ones_`` on a
    view of it (``zeros_(weight[padding_idx])``, and ``nn.Embedding``'s own
    padding row under ``patch()``) is added to its ``steps``; other writes
    through ``.data`` or a slice are not recorded."""
    with _RECORDS_LOCK:
        entry = _RECORDS.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return dict(entry[1], steps=list(entry[1]["steps"]))


def _add_step(view, val):
    """A constant written over a view of a recorded, contiguous tensor joins its record."""
    base = view._base
    if base is None or not base.is_contiguous():
        return
    _append_step(base, (val, view.storage_offset() - base.storage_offset(), tuple(view.shape),
                        tuple(view.stride())))


def _append_step(base, step):
    """Add ``step`` (val, start, shape, strides over the flat elements of the tensor ``base``
    stands for) to base's record, if it has one and the step fits."""
    with _RECORDS_LOCK:
        entry = _RECORDS.get(id(base))
        if entry is None or entry[0]() is not base:
            return
        try:
            step = _fill.check_step(step, math.prod(logical_shape(base)))
        except (TypeError, ValueError):
            return
        rec = dict(entry[1])
        rec["steps"] = rec["steps"] + [{"val": step[0], "start": step[1], "shape": list(step[2]),
                                        "strides": list(step[3])}]
        _RECORDS[id(base)] = (entry[0], rec)


# ---------------------------------------------------------------------------
# Tensors as NumPy views, fans

_increment_version = getattr(getattr(torch.autograd, "graph", None), "increment_version", None)


def _written(tensor):
    """Tell autograd the tensor changed in place (as torch's own in-place fills do), so a
    backward pass through a value saved before the write raises instead of going wrong."""
    if _increment_version is not None:
        _increment_version(tensor)


def _plain_value(value):
    """A JSON-friendly copy of an argument (NumPy and 0-d torch numbers become Python numbers)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    value = plain_number(value)
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


def _handled(tensor):
    """Tensors fastinit initializes: float tensors it can write (CPU ones in place, CUDA
    ones by the Triton kernels where Triton is installed, others through a CPU staging
    buffer, DTensors shard by shard), and floating tensors
    on the meta device, which hold no values: initializing them is a no-op after the
    argument checks (so building a model under torch.device('meta') with patch() skips
    torch's meta-device decompositions, which import about 800 modules on first use)."""
    return _is_meta(tensor) or _target(tensor) is not None


def _fans(tensor):
    """torch's fan rule over the shape the tensor stands for (a DTensor's global shape), and
    torch's error for fewer than 2 dimensions."""
    shape = logical_shape(tensor)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _numel(tensor):
    return math.prod(logical_shape(tensor))


# ---------------------------------------------------------------------------
# Records back to values; one random fill through fastinit

def regenerate(tensor, rec, name="tensor"):
    """Write into ``tensor`` (a CPU float tensor of the record's shape) what the recorded
    initialization wrote. The record is checked whole first (a ValueError naming ``name``
    and the field); values are regenerated in the tensor's dtype."""
    fill, shape, _ = _fill.from_record(rec, name)
    if shape != tuple(tensor.shape):
        raise ValueError(f"the init record of {name!r}: shape: {shape}, the tensor is {tuple(tensor.shape)}")
    target = view(tensor)
    if target is None:
        raise TypeError(f"regenerate writes CPU tensors of float32, float64, float16 or bfloat16, "
                        f"got a {tensor.dtype} tensor on {tensor.device}")
    if not target[0].flags.c_contiguous:
        with torch.no_grad():
            return tensor.copy_(regenerate(torch.empty(shape, dtype=tensor.dtype), rec, name))
    kind, p = fill.draw.kind, fill.draw.params
    with torch.no_grad():
        if kind in _fill.KERNEL_KINDS:
            _fill.run(fill, *target)
            return tensor
        whole = _target(tensor)
        if kind == "eye":
            TORCH_FUNCTIONS["eye_"](tensor)
        elif kind == "dirac":
            TORCH_FUNCTIONS["dirac_"](tensor, p["groups"])
        elif kind == "orthogonal":
            _orthogonal_fill(whole, p["gain"], fill.source)
        else:
            _sparse_fill(whole, p["sparsity"], p["std"], fill.source)
        _fill.apply_steps(*target, fill.steps)
    return tensor


def _torch_errors(make, *args):
    """fastinit's checks, with torch's error class for bad values (RuntimeError)."""
    try:
        return make(*args)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None


def _random(tensor, generator, make, params, scheme, args, fallback):
    """One random fill through fastinit: describe (``make(*params)`` checks), claim the
    tensor, run (which checks the dtype's range, then draws the seed), record."""
    if _is_meta(tensor):
        return tensor
    target = _target(tensor)
    if target is None:
        return fallback()
    draw = _torch_errors(make, *params)          # before the generator is touched
    _torch_errors(_fill.check, Fill(draw), target.shape, target.code)
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    fill = Fill(draw, source)
    taken = target.run(fill)                     # an empty tensor takes its seed too, as torch's calls do
    if _numel(tensor) == 0:
        return tensor
    _written(tensor)
    _record(tensor, fill, taken, scheme, args)
    return tensor


# ---------------------------------------------------------------------------
# torch.nn.init's functions

def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """``torch.nn.init.uniform_``: U(a, b), through fastinit for float tensors."""
    if _handled(tensor):
        if a > b:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
        if tensor.dtype in (torch.float16, torch.bfloat16):
            top = torch.finfo(tensor.dtype).max
            for name, value in (("from", a), ("to", b)):
                if not -top <= value <= top:
                    raise RuntimeError(f"{name} is out of bounds for {tensor.dtype}")
        if a == b:
            return constant_(tensor, a)
    return _random(tensor, generator, _fill.uniform, (float(a), float(b)), "uniform_", {"a": a, "b": b},
                   lambda: TORCH_FUNCTIONS["uniform_"](tensor, a, b, generator=generator))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """``torch.nn.init.normal_``: N(mean, std**2), through fastinit for float tensors."""
    if _handled(tensor) and not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random(tensor, generator, _fill.normal, (float(mean), float(std)), "normal_",
                   {"mean": mean, "std": std},
                   lambda: TORCH_FUNCTIONS["normal_"](tensor, mean, std, generator=generator))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """``torch.nn.init.trunc_normal_``: N(mean, std**2) truncated to [a, b] (absolute bounds).

    fastinit samples it by an exact inverse CDF, with no pile-up at far bounds."""
    if _handled(tensor):
        if (mean < a - 2 * std) or (mean > b + 2 * std):
            warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                          "The distribution of values may be incorrect.", stacklevel=2)
        if a > b:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    params = (float(mean), float(std), float(a), float(b))
    return _random(tensor, generator, _fill.trunc_normal, params, "trunc_normal_",
                   dict(zip(("mean", "std", "a", "b"), params)),
                   lambda: TORCH_FUNCTIONS["trunc_normal_"](tensor, mean, std, a, b, generator=generator))


def _through_float32(value):
    """torch's fill_ of a 32- or 16-bit tensor rounds the number to float32 first (then to
    the dtype): the record holds that float32 value, so one rounding from it gives torch's."""
    if not isinstance(value, float):
        return value
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def _pattern(target, kind, groups=1):
    """eye_ and dirac_ over the parts of a tensor (a DTensor's shard, an init_shard_ block):
    each part gets its slice of what torch's function writes into the whole tensor."""
    shape = target.shape
    for local, index in target.blocks():
        axes = [torch.arange(s.start, s.stop).view([-1 if k == a else 1 for k in range(len(shape))])
                for a, s in enumerate(index)]
        if kind == "eye":
            on = axes[0] == axes[1]
        else:                                     # 1 at (g * per_group + d, d, centre...) for d < per_group
            on = axes[0] % (shape[0] // groups) == axes[1]
            for a in range(2, len(shape)):
                on = on & (axes[a] == shape[a] // 2)
        target.local[local].copy_(on)


def _deterministic(tensor, make, params, scheme, args, write):
    """A deterministic fill by torch's own function (``write(t)`` applies it to a plain
    tensor ``t``), then its record (``make(*params)``), unless torch wrote what no record can
    hold (a non-finite constant). A constant on a view of a recorded tensor also joins that
    tensor's record as a step. A tensor that is part of a bigger one (a DTensor's shard)
    gets its slice of what the function writes into the whole."""
    if _skipped(tensor) or _is_meta(tensor):
        return tensor
    target = _target(tensor)
    if target is None or target.whole:
        out = write(tensor)
    else:
        out = tensor
        with torch.no_grad():
            if make in (_fill.eye, _fill.dirac):
                _pattern(target, make.__name__, *params)
            else:
                for local, _ in target.blocks():
                    write(target.local[local])
    if target is not None and _numel(tensor) > 0:
        params = [_plain_value(v) for v in params]
        if make is _fill.constant and target.code != _buffers.FLOAT_CODES["float64"]:
            params = [_through_float32(v) for v in params]
        try:
            draw = make(*params)
        except (TypeError, ValueError):
            return out
        _record(tensor, Fill(draw), None, scheme, args)
        if draw.kind == "constant" and target.whole:
            _add_step(tensor, draw.params["val"])
        elif draw.kind == "constant" and _dtensor_view(tensor) is not None:
            _region_step(*_dtensor_view(tensor), draw.params["val"])
    return out


def zero_row(weight, row):
    """``weight[row] = 0`` as nn.Embedding's padding row, recorded as a step of the weight's
    record. A DTensor weight is zeroed in place by the ranks whose shard holds the row, as
    for a noted view, without indexing it (which would gather the whole weight)."""
    if not _memory.is_dtensor(weight):
        return zeros_(weight[row])
    region = _region(tuple(weight.shape), row)
    target = None if _is_meta(weight) else _view_target(weight, region)
    if target is not None:
        for local, _ in target.blocks():
            target.local[local].zero_()
        _region_step(weight, region, 0.0)
    return weight


def _shape_checks(kind, tensor, groups=1):
    """torch's shape checks of eye_ and dirac_, for tensors torch's function does not see
    (meta tensors, which are not written, and parts of bigger tensors)."""
    shape = logical_shape(tensor)
    if kind == "eye" and len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if kind == "dirac":
        if len(shape) not in (3, 4, 5):
            raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
        if shape[0] % groups != 0:
            raise ValueError("dim 0 must be divisible by groups")


def _whole(tensor):
    """Whether torch's own function sees the whole tensor (so it makes its own checks)."""
    if _is_meta(tensor):
        return False
    target = _target(tensor)
    return target is None or target.whole


def constant_(tensor, val):
    """``torch.nn.init.constant_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (val,), "constant_", {"val": val},
                          lambda t: TORCH_FUNCTIONS["constant_"](t, val))


def ones_(tensor):
    """``torch.nn.init.ones_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (1.0,), "ones_", {}, TORCH_FUNCTIONS["ones_"])


def zeros_(tensor):
    """``torch.nn.init.zeros_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (0.0,), "zeros_", {}, TORCH_FUNCTIONS["zeros_"])


def eye_(tensor):
    """``torch.nn.init.eye_`` (torch's own fill: deterministic)."""
    if not _whole(tensor):
        _shape_checks("eye", tensor)
    return _deterministic(tensor, _fill.eye, (), "eye_", {}, TORCH_FUNCTIONS["eye_"])


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_`` (torch's own fill: deterministic)."""
    if not _whole(tensor):
        _shape_checks("dirac", tensor, groups)
    return _deterministic(tensor, _fill.dirac, (groups,), "dirac_", {"groups": groups},
                          lambda t: TORCH_FUNCTIONS["dirac_"](t, groups))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """``torch.nn.init.xavier_uniform_``: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["xavier_uniform_"](tensor, gain, generator=generator)
    fin, fout = _fans(tensor)
    bound = gain * math.sqrt(6.0 / float(fin + fout))      # (0, 0): ZeroDivisionError, as torch
    return _random(tensor, generator, _fill.uniform, (-bound, bound), "xavier_uniform_", {"gain": gain}, None)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """``torch.nn.init.xavier_normal_``: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["xavier_normal_"](tensor, gain, generator=generator)
    fin, fout = _fans(tensor)
    std = gain * math.sqrt(2.0 / float(fin + fout))
    return _random(tensor, generator, _fill.normal, (0.0, std), "xavier_normal_", {"gain": gain}, None)


def _kaiming_std(tensor, a, mode, nonlinearity):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fin, fout = _fans(tensor)
    fan = fin if mode == "fan_in" else fout
    return _calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``torch.nn.init.kaiming_uniform_``: U(-bound, bound), bound = gain * sqrt(3 / fan_mode)."""
    if not _handled(tensor) or _numel(tensor) == 0:
        return TORCH_FUNCTIONS["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator=generator)
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return _random(tensor, generator, _fill.uniform, (-bound, bound), "kaiming_uniform_",
                   {"a": a, "mode": mode, "nonlinearity": nonlinearity}, None)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``torch.nn.init.kaiming_normal_``: N(0, std**2), std = gain / sqrt(fan_mode)."""
    if not _handled(tensor) or _numel(tensor) == 0:
        return TORCH_FUNCTIONS["kaiming_normal_"](tensor, a, mode, nonlinearity, generator=generator)
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return _random(tensor, generator, _fill.normal, (0.0, std), "kaiming_normal_",
                   {"a": a, "mode": mode, "nonlinearity": nonlinearity}, None)


def _orthogonal_fill(target, gain, source):
    """fastinit.orthogonal_'s matrix (the same bits): in place when the tensor is one
    C-contiguous float32/float64 CPU tensor (wide or square), else the whole Q is computed
    (QR needs the whole matrix: every rank computes it) and each part takes its slice,
    rounded once to the tensor's dtype. Other devices get the CPU's bits, copied."""
    seed, stream = source.take()
    shape = target.shape
    local = target.local
    on_cpu = local.device.type == "cpu"
    if target.whole and on_cpu:
        arr, code = view(local)
        _structured.write_orthogonal(arr, code, gain, seed, stream)
        return seed, stream
    rows = shape[0]
    q = _structured.orthogonal_matrix(rows, math.prod(shape) // rows, _structured.work_dtype(target.code),
                                      gain, seed, stream).reshape(shape)
    with torch.no_grad():
        for lo, gl in target.blocks():
            part = local[lo] if on_cpu else torch.empty(q[gl].shape, dtype=local.dtype)
            _structured.store(view(part)[0], q[gl], target.code)
            if not on_cpu:
                local[lo].copy_(part)
    return seed, stream


def orthogonal_(tensor, gain=1, generator=None):
    """``torch.nn.init.orthogonal_``: the Q of the QR decomposition of a fastinit standard-normal
    matrix (in float32, or float64 for float64 tensors), sign-corrected by R's diagonal, times gain."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["orthogonal_"](tensor, gain, generator=generator)
    if len(logical_shape(tensor)) < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if _numel(tensor) == 0 or _is_meta(tensor):
        return tensor
    factor = float(_plain_value(gain))          # a number or a one-element tensor, as torch's mul_ takes
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    taken = _orthogonal_fill(_target(tensor), factor, source)
    _written(tensor)
    _record_if_valid(tensor, _fill.orthogonal, (gain,), taken, "orthogonal_", {"gain": gain})
    return tensor


def _record_if_valid(tensor, make, params, taken, scheme, args):
    """Record a structured init whose arguments torch accepts beyond what a record can hold
    (a nan gain, a sparsity above 1): those are written, and left unrecorded."""
    try:
        draw = make(*[_plain_value(v) for v in params])
    except (TypeError, ValueError):
        return
    _record(tensor, Fill(draw), taken, scheme, args)


def _sparse_fill(target, sparsity, std, source):
    """N(0, std**2) values, then in each column the rows holding the ceil(sparsity * rows)
    smallest of rows * cols raw Philox words that follow the normal's in the same stream
    are zeroed, a block of columns at a time (fastinit.sparse_'s pattern and scratch)."""
    rows, cols = target.shape
    num_zeros = int(math.ceil(sparsity * rows))
    taken = target.run(Fill(_fill.normal(0.0, std), source))
    if num_zeros == 0:
        return taken
    local = target.local
    block = max(1, _structured.SPARSE_BLOCK // rows)
    for lo, gl in target.blocks():
        for c0 in range(gl[1].start, gl[1].stop, block):
            c1 = min(gl[1].stop, c0 + block)
            zero_rows = _structured.sparse_zero_rows(rows, cols, num_zeros, *taken, 0, c0, c1)
            zero_cols = np.broadcast_to(np.arange(c0 - gl[1].start, c1 - gl[1].start), zero_rows.shape)
            mine = (zero_rows >= gl[0].start) & (zero_rows < gl[0].stop)
            at_rows = torch.from_numpy(zero_rows[mine] - gl[0].start).to(local.device)
            at_cols = torch.from_numpy(zero_cols[mine].copy()).to(local.device)
            with torch.no_grad():
                local[lo][at_rows, at_cols] = 0
    return taken


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """``torch.nn.init.sparse_``: a fastinit N(0, std**2) with ceil(sparsity * rows) zeros in each column.

    Unlike torch (which draws the zero rows with torch.randperm), the zero rows come from
    the same fastinit stream as the values, so ``rewind_`` can regenerate them."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["sparse_"](tensor, sparsity, std, generator=generator)
    if len(logical_shape(tensor)) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if _numel(tensor) == 0 or _is_meta(tensor):
        return tensor
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    values = _torch_errors(_fill.normal, 0.0, _plain_value(std))
    target = _target(tensor)
    _torch_errors(_fill.check, Fill(values), target.shape, target.code)
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    taken = _sparse_fill(target, sparsity, values.params["std"], source)
    _written(tensor)
    _record_if_valid(tensor, _fill.sparse, (sparsity, std), taken, "sparse_", {"sparsity": sparsity, "std": std})
    return tensor


# ---------------------------------------------------------------------------
# One rank's block of a tensor-parallel weight, without DTensor

def init_shard_(tensor, init, *args, global_shape, dim, rank, world_size, **kwargs):
    """Initialize ``tensor``, rank ``rank``'s block of a tensor of ``global_shape`` split along
    ``dim`` over ``world_size`` ranks, as its slice of ``init`` applied to the whole tensor.

    ``init`` is one of torch.nn.init's functions, fastinit.torch's, or its name
    (``"xavier_normal_"``); ``args`` and ``kwargs`` are its arguments. The fans, and so
    the bound or std, come from ``global_shape``; the seed is drawn as for the whole tensor
    (``torch.manual_seed(s)`` on every rank: the same seed everywhere). For
    Megatron-style code that keeps plain local tensors::

        # LoRA A of a row-parallel layer: (rank 32, in_features 4096) split on dim 1 over TP ranks
        fastinit.torch.init_shard_(lora_a.weight, "xavier_normal_", global_shape=(32, 4096),
                                   dim=1, rank=tp_rank, world_size=tp_size)
    """
    fn = _init_function(init)
    if not isinstance(tensor, torch.Tensor) or _memory.is_dtensor(tensor):
        raise TypeError("init_shard_ fills a plain torch.Tensor block" + (
            "; a DTensor knows its placement: call the init function on it directly"
            if isinstance(tensor, torch.Tensor) else f", got {type(tensor).__name__}"))
    index = _buffers.shard_index(global_shape, dim, rank, world_size)
    shape = tuple(s.stop - s.start for s in index)
    if tuple(tensor.shape) != shape:
        raise ValueError(f"tensor has shape {tuple(tensor.shape)}, but rank {rank}'s block of "
                         f"{tuple(global_shape)} split along dim {dim} over {world_size} ranks is {shape}")
    indices = [np.arange(s.start, s.stop) for s in index]
    with _placing(tensor, global_shape, indices):
        fn(tensor, *args, **kwargs)
    return tensor


def _init_function(init):
    """fastinit.torch's function for ``init`` (a name, or torch's or fastinit's function)."""
    name = init if isinstance(init, str) else getattr(init, "__name__", None)
    ours = globals().get(name) if name in INIT_NAMES else None
    if ours is None or not (isinstance(init, str) or init is ours or init is TORCH_FUNCTIONS[name]):
        raise ValueError(f"init must be one of torch.nn.init's functions or their names "
                         f"({', '.join(INIT_NAMES)}), got {init!r}")
    return ours


# ---------------------------------------------------------------------------
# torch.nn.init's deprecated names

def _deprecated(name):
    """torch's deprecated alias ``name`` of ``name + '_'``: torch's FutureWarning, then fastinit's function."""
    new = globals()[name + "_"]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`.", FutureWarning,
                      stacklevel=2)
        return new(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = name
    deprecated_init.__doc__ = (f"``torch.nn.init.{name}``, deprecated in favor of :func:`{name}_` (a FutureWarning, "
                               f"as torch's), then :func:`{name}_`.")
    return deprecated_init


uniform = _deprecated("uniform")
normal = _deprecated("normal")
constant = _deprecated("constant")
eye = _deprecated("eye")
dirac = _deprecated("dirac")
xavier_uniform = _deprecated("xavier_uniform")
xavier_normal = _deprecated("xavier_normal")
kaiming_uniform = _deprecated("kaiming_uniform")
kaiming_normal = _deprecated("kaiming_normal")
orthogonal = _deprecated("orthogonal")
sparse = _deprecated("sparse")
