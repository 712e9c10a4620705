"""torch.nn.init's functions over fastinit's kernels, and the init records they leave.

Each function takes the name, signature, defaults and argument checks of its
``torch.nn.init`` twin and fills CPU tensors of float32, float64, float16 and
bfloat16 in place through fastinit's kernels, zero-copy (a NumPy view of the
tensor's memory; a non-contiguous tensor gets the values its contiguous twin
would). Other devices and dtypes go to torch's own function.

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

from .. import _buffers, _fill
from .._checks import plain_number
from .._fans import calculate_gain as _calculate_gain
from .._fill import Fill, Source
from .._generator import Generator as _FGenerator

INIT_NAMES = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_",
)

# torch's own functions, captured at import, before anything can patch torch.nn.init
# (fastinit.torch is imported before patch() can run, so these are torch's originals).
TORCH_FUNCTIONS = {name: getattr(torch.nn.init, name) for name in INIT_NAMES + ("calculate_gain",)}

#: The torch dtypes fastinit fills, by their names in fastinit (the torch layer's one dtype table).
DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16"}
TORCH_DTYPES = {name: dt for dt, name in DTYPES.items()}


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
    fans = _fans(tensor) if tensor.dim() >= 2 else (None, None)
    seed, stream = taken or (None, None)
    rec = _fill.to_record(fill, seed, stream, tensor.shape, DTYPES[tensor.dtype], scheme=scheme,
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
    with _RECORDS_LOCK:
        entry = _RECORDS.get(id(base))
        if entry is None or entry[0]() is not base:
            return
        try:
            step = _fill.check_step((val, view.storage_offset() - base.storage_offset(), tuple(view.shape),
                                     tuple(view.stride())), base.numel())
        except (TypeError, ValueError):
            return
        rec = dict(entry[1])
        rec["steps"] = rec["steps"] + [{"val": step[0], "start": step[1], "shape": list(step[2]),
                                        "strides": list(step[3])}]
        _RECORDS[id(base)] = (entry[0], rec)


# ---------------------------------------------------------------------------
# Tensors as NumPy views, fans

_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_has_internal_overlap = getattr(torch, "_debug_has_internal_overlap", lambda t: 0)
_increment_version = getattr(getattr(torch.autograd, "graph", None), "increment_version", None)


def _plain_tensor(tensor):
    """A tensor of torch's own classes (subclasses, e.g. with __torch_function__, go to torch)."""
    return type(tensor) in _PLAIN_TYPES


def _overlaps(tensor):
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


def view(tensor):
    """(zero-copy NumPy view, kernel output code) of a CPU tensor we can fill, or None (then
    torch's function runs): strided CPU tensors of torch's own classes, not inference tensors,
    with no element stored twice (torch refuses to fill those, and so do we by handing them
    to it)."""
    if not _plain_tensor(tensor) or tensor.device.type != "cpu" or tensor.layout != torch.strided:
        return None
    name = DTYPES.get(tensor.dtype)
    if name is None or tensor.is_inference() or _overlaps(tensor):
        return None
    t = tensor.detach()
    if name == "bfloat16":
        arr = t.view(torch.int16).numpy().view(np.uint16).view(_buffers.BFloat16Bits)
    else:
        arr = t.numpy()
    return arr, _buffers.FLOAT_CODES[name]


def _is_meta(tensor):
    return _plain_tensor(tensor) and tensor.device.type == "meta" and tensor.is_floating_point()


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
    """Tensors fastinit initializes: CPU float tensors (filled), and floating tensors on the
    meta device, which hold no values: initializing them is a no-op after the argument
    checks (so building a model under torch.device('meta') with patch() skips torch's
    meta-device decompositions, which import about 800 modules on first use)."""
    return _is_meta(tensor) or view(tensor) is not None


def _fans(tensor):
    """torch's fan rule, and its error for fewer than 2 dimensions."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.size(1) * receptive, tensor.size(0) * receptive


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
        if kind == "eye":
            TORCH_FUNCTIONS["eye_"](tensor)
        elif kind == "dirac":
            TORCH_FUNCTIONS["dirac_"](tensor, p["groups"])
        elif kind == "orthogonal":
            _orthogonal_fill(tensor, p["gain"], fill.source)
        else:
            _sparse_fill(tensor, p["sparsity"], p["std"], fill.source)
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
    target = view(tensor)
    if target is None:
        return fallback()
    draw = _torch_errors(make, *params)          # before the generator is touched
    _torch_errors(_fill.check, Fill(draw), tensor.shape, target[1])
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    fill = Fill(draw, source)
    taken = _fill.run(fill, *target)             # an empty tensor takes its seed too, as torch's calls do
    if tensor.numel() == 0:
        return tensor
    _written(tensor)
    _record(tensor, fill, taken, scheme, args)
    return tensor


# ---------------------------------------------------------------------------
# torch.nn.init's functions

def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """``torch.nn.init.uniform_``: U(a, b), through fastinit for CPU float tensors."""
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
    """``torch.nn.init.normal_``: N(mean, std**2), through fastinit for CPU float tensors."""
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


def _deterministic(tensor, make, params, scheme, args, run):
    """A deterministic fill by torch's own function, then its record (``make(*params)``),
    unless torch wrote what no record can hold (a non-finite constant). A constant on a
    view of a recorded tensor also joins that tensor's record as a step."""
    if _skipped(tensor) or _is_meta(tensor):
        return tensor
    out = run()
    target = view(tensor)
    if target is not None and tensor.numel() > 0:
        params = [_plain_value(v) for v in params]
        if make is _fill.constant and target[1] != _buffers.FLOAT_CODES["float64"]:
            params = [_through_float32(v) for v in params]
        try:
            draw = make(*params)
        except (TypeError, ValueError):
            return out
        _record(tensor, Fill(draw), None, scheme, args)
        if draw.kind == "constant":
            _add_step(tensor, draw.params["val"])
    return out


def _meta_checks(kind, tensor, groups=1):
    """torch's shape checks of eye_ and dirac_, for meta tensors (which are not written)."""
    if kind == "eye" and tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if kind == "dirac":
        if tensor.ndimension() not in (3, 4, 5):
            raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
        if tensor.size(0) % groups != 0:
            raise ValueError("dim 0 must be divisible by groups")


def constant_(tensor, val):
    """``torch.nn.init.constant_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (val,), "constant_", {"val": val},
                          lambda: TORCH_FUNCTIONS["constant_"](tensor, val))


def ones_(tensor):
    """``torch.nn.init.ones_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (1.0,), "ones_", {}, lambda: TORCH_FUNCTIONS["ones_"](tensor))


def zeros_(tensor):
    """``torch.nn.init.zeros_`` (torch's own fill: deterministic)."""
    return _deterministic(tensor, _fill.constant, (0.0,), "zeros_", {}, lambda: TORCH_FUNCTIONS["zeros_"](tensor))


def eye_(tensor):
    """``torch.nn.init.eye_`` (torch's own fill: deterministic)."""
    if _is_meta(tensor):
        _meta_checks("eye", tensor)
    return _deterministic(tensor, _fill.eye, (), "eye_", {}, lambda: TORCH_FUNCTIONS["eye_"](tensor))


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_`` (torch's own fill: deterministic)."""
    if _is_meta(tensor):
        _meta_checks("dirac", tensor, groups)
    return _deterministic(tensor, _fill.dirac, (groups,), "dirac_", {"groups": groups},
                          lambda: TORCH_FUNCTIONS["dirac_"](tensor, groups))


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
    if not _handled(tensor) or tensor.numel() == 0:
        return TORCH_FUNCTIONS["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator=generator)
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return _random(tensor, generator, _fill.uniform, (-bound, bound), "kaiming_uniform_",
                   {"a": a, "mode": mode, "nonlinearity": nonlinearity}, None)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``torch.nn.init.kaiming_normal_``: N(0, std**2), std = gain / sqrt(fan_mode)."""
    if not _handled(tensor) or tensor.numel() == 0:
        return TORCH_FUNCTIONS["kaiming_normal_"](tensor, a, mode, nonlinearity, generator=generator)
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return _random(tensor, generator, _fill.normal, (0.0, std), "kaiming_normal_",
                   {"a": a, "mode": mode, "nonlinearity": nonlinearity}, None)


def _orthogonal_fill(tensor, gain, source):
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    work = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    flattened = torch.empty((rows, cols), dtype=work)
    taken = _fill.run(Fill(_fill.normal(0.0, 1.0), source), *view(flattened))
    if rows < cols:
        flattened.t_()
    q, r = torch.linalg.qr(flattened)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q.t_()
    with torch.no_grad():
        tensor.copy_(q.reshape(tensor.shape))
        tensor.mul_(gain)
    return taken


def orthogonal_(tensor, gain=1, generator=None):
    """``torch.nn.init.orthogonal_``: the Q of the QR decomposition of a fastinit standard-normal
    matrix (in float32, or float64 for float64 tensors), sign-corrected by R's diagonal, times gain."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["orthogonal_"](tensor, gain, generator=generator)
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0 or _is_meta(tensor):
        return tensor
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    taken = _orthogonal_fill(tensor, gain, source)
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


def _sparse_fill(tensor, sparsity, std, source):
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    taken = _fill.run(Fill(_fill.normal(0.0, std), source), *view(tensor))
    if num_zeros == 0:
        return taken
    # The zero positions: in each column, the rows holding the num_zeros smallest
    # of rows*cols raw Philox words that follow the normal's in the same stream.
    keys = np.empty((rows, cols), np.uint32)
    _fill.run(Fill(_fill.bits(), Source.fixed(*taken), offset=rows * cols), keys, _fill.BITS_CODE)
    zero_rows = np.argsort(keys, axis=0, kind="stable")[:num_zeros]
    zero_cols = np.broadcast_to(np.arange(cols), zero_rows.shape)
    with torch.no_grad():
        tensor[torch.from_numpy(zero_rows.ravel()), torch.from_numpy(zero_cols.ravel().copy())] = 0
    return taken


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """``torch.nn.init.sparse_``: a fastinit N(0, std**2) with ceil(sparsity * rows) zeros in each column.

    Unlike torch (which draws the zero rows with torch.randperm), the zero rows come from
    the same fastinit stream as the values, so ``rewind_`` can regenerate them."""
    if not _handled(tensor):
        return TORCH_FUNCTIONS["sparse_"](tensor, sparsity, std, generator=generator)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if tensor.numel() == 0 or _is_meta(tensor):
        return tensor
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    values = _torch_errors(_fill.normal, 0.0, _plain_value(std))
    _torch_errors(_fill.check, Fill(values), tensor.shape, view(tensor)[1])
    skip, source = _source(tensor, generator)
    if skip:
        return tensor
    taken = _sparse_fill(tensor, sparsity, values.params["std"], source)
    _written(tensor)
    _record_if_valid(tensor, _fill.sparse, (sparsity, std), taken, "sparse_", {"sparsity": sparsity, "std": std})
    return tensor

