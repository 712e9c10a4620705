"""Hostile arguments, by property tests (issue 17, item 2).

Hypothesis throws shapes (0-size, 0-d, 1-d, up to 4-d), every dtype (and wrong
ones: integers, bool, complex, object, non-native byte order), strided views
(steps, negative strides, transposes), read-only arrays, memoryviews,
bytearrays and non-buffers, parameter values (NaN, +-inf, negative, subnormal,
huge, huge ints, NumPy scalars, Fractions, strings, None, lists, bools),
seeds / streams / offsets at and beyond the ends of [0, 2**64), generators at
their last stream, and shard placements (valid tiles of huge virtual tensors,
out-of-range and mismatched ones) at the whole public API.

Each test has an oracle written from docs/api.md, not from the code: the set of
exceptions the documented checks allow for the drawn arguments. Every call then
either

- has no documented error and returns its buffer, filled with the values of
  tests/reference.py for the (seed, stream, offset, placement, parameters) the
  docs say it uses (for schemes: the reference of the distribution with the
  documented bound or std), the bytes outside a view untouched, and the
  generator advanced exactly as documented; or
- raises one of the documented exception classes, with every byte of the
  underlying memory (strided-out parts included) and the state of the
  generator it would have used unchanged.

Misaligned buffers (np.frombuffer(..., offset=1)) are another engineer's
(issue 17): no strategy here makes one.
"""
import math
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import fastinit
import reference as R

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)

U64 = 1 << 64
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)
F64_MAX = sys.float_info.max
KERAS_TRUNC_STD = 0.87962566103423978


def hostile(n):
    return settings(max_examples=n, deadline=None, derandomize=False, print_blob=True,
                    suppress_health_check=list(HealthCheck))


GOOD_DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16]
BAD_DTYPES = [np.dtype(d) for d in ("int32", "uint8", "complex64", "object", "bool", ">f4", ">f8", ">f2",
                                     "uint32", "longdouble")]


def ref_dtype(dt):
    return "bfloat16" if dt == BF16 else dt.type


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs) with warnings as errors: a RuntimeWarning (an overflow in a cast, an
    invalid value) is a failure here, as it is for a user running with -W error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = fn(*args, **kwargs)
    except Exception as exc:
        if currently_in_test_context():          # (--hypothesis-show-statistics shows the mix)
            event(f"raised {type(exc).__name__}")
        raise
    if currently_in_test_context():
        event("returned")
    return out


# ---------------------------------------------------------------------------
# Buffers: an owning contiguous base, the object passed, and what the docs say of it

class Buf:
    """``base``: the contiguous array owning the memory (None for a non-buffer); ``view``:
    ``apply(base)``; ``obj``: what is passed (the view, a memoryview of it, of a bytearray
    holding base, of bytes, or a non-buffer); ``wrap`` names which."""

    def __init__(self, base, ops, wrap, dtype, obj=None):
        self.base, self.ops, self.wrap, self.dtype = base, ops, wrap, dtype
        self.view = self.apply(base) if base is not None else None
        if obj is not None or wrap == "notbuffer":
            self.obj = obj
        elif wrap == "memoryview":
            self.obj = memoryview(self.view)
        else:
            self.obj = self.view

    def apply(self, arr):
        steps, perm = self.ops
        if steps is None:
            return arr
        v = arr[tuple(slice(None, None, k) for k in steps)] if steps else arr[...]
        return v.transpose(perm)

    @property
    def shape(self):
        return None if self.view is None else self.view.shape

    def errors(self, uint32=False):
        """The documented exceptions for this buffer itself (empty: a good buffer)."""
        if self.wrap == "notbuffer":
            return {TypeError}
        errs = set()
        if self.wrap == "bytes" or (self.base is not None and not self.base.flags.writeable):
            errs.add(ValueError)
        good = self.dtype == np.dtype(np.uint32) if uint32 else self.dtype in GOOD_DTYPES
        if not good or (uint32 and self.dtype.byteorder == ">"):
            errs.add(TypeError)
        return errs

    def snapshot(self):
        return None if self.base is None else self.base.tobytes()

    def __repr__(self):
        return f"Buf({self.dtype}, base {None if self.base is None else self.base.shape}, ops={self.ops}, wrap={self.wrap!r})"


NOT_BUFFERS = [None, [1.0, 2.0], "abc", 3.0, 7, (1.0,), {"a": 1}, object()]


@st.composite
def buffers(draw, dtypes=None, min_dims=0, max_dims=4, max_size=600, hostile_wraps=True, uint32=False, clean=False,
            contiguous=False):
    """A Buf; ``clean``: only buffers the docs accept (half of each test's examples, so
    that the successful calls are checked as often as the refused ones)."""
    if clean:
        hostile_wraps = False
    if hostile_wraps and draw(st.integers(0, 19)) == 0:
        return Buf(None, (None, None), "notbuffer", None, obj=draw(st.sampled_from(NOT_BUFFERS)))
    if dtypes is None:
        good = [np.dtype(np.uint32)] if uint32 else GOOD_DTYPES
        dtypes = good * 4 + (BAD_DTYPES + ([] if not uint32 else GOOD_DTYPES[:1]) if hostile_wraps else [])
    dt = draw(st.sampled_from(dtypes))
    ndim = draw(st.integers(min_dims, max_dims))
    shape = draw(st.lists(st.integers(0, 7), min_size=ndim, max_size=ndim))
    while math.prod(shape) > max_size:
        shape[shape.index(max(shape))] //= 2
    wrap = "array"
    if clean and dt in GOOD_DTYPES[:3]:
        wrap = draw(st.sampled_from(["array"] * 6 + ["memoryview"] + (["bytearray"] if dt == np.float32 else [])))
    if hostile_wraps and dt in GOOD_DTYPES[:3]:
        wrap = draw(st.sampled_from(["array"] * 8 + ["memoryview", "readonly"]
                                    + (["bytearray", "bytes"] if dt == np.float32 else [])))
    if wrap in ("bytearray", "bytes"):
        shape = [math.prod(shape)]
    strided = wrap in ("array", "memoryview", "readonly") and ndim and not contiguous and draw(st.booleans())
    if strided:
        steps = [draw(st.sampled_from([1, 2, -1, -2, 3])) for _ in shape]
        perm = tuple(draw(st.permutations(range(ndim))))
        base_shape = [n * abs(k) + draw(st.integers(0, 1)) for n, k in zip(shape, steps)]
        ops = (steps, perm)
    else:
        base_shape, ops = shape, (None, None)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    raw = np.random.default_rng(seed).integers(0, 256, math.prod(base_shape) * dt.itemsize, np.uint8)
    if dt.kind == "O":
        base = np.array([float(x) for x in raw[: math.prod(base_shape)]], dtype=object).reshape(base_shape)
    elif dt.kind == "b":
        base = (raw[: math.prod(base_shape)] & 1).astype(bool).reshape(base_shape)
    else:
        base = raw.view(dt).reshape(base_shape)
    if wrap == "bytearray":
        ba = bytearray(raw.tobytes())
        return Buf(np.frombuffer(ba, np.float32), ops, wrap, dt, obj=memoryview(ba).cast("f"))
    if wrap == "bytes":
        return Buf(base, ops, wrap, dt, obj=memoryview(base.tobytes()).cast("f"))
    if wrap == "readonly":
        base.flags.writeable = False
    return Buf(base, ops, "array" if wrap == "readonly" else wrap, dt)


# ---------------------------------------------------------------------------
# Argument values, each with the exception the docs give it (None: valid)

def u64_values(clean=False):
    """(value, exception) for seed=, stream=, offset= (docs: Errors)."""
    valid = st.one_of(st.integers(0, U64 - 1),
                      st.sampled_from([0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 63, U64 - 2, U64 - 1]),
                      st.integers(0, U64 - 1).map(np.uint64),
                      st.integers(0, 2 ** 63 - 1).map(np.int64)).map(lambda v: (v, None))
    bad_range = st.one_of(st.integers(max_value=-1), st.integers(min_value=U64),
                          st.sampled_from([-1, U64, U64 + 1, -(2 ** 70)]),
                          st.integers(-2 ** 63, -1).map(np.int64)).map(lambda v: (v, ValueError))
    bad_type = st.sampled_from([1.0, 0.5, float("nan"), True, False, np.bool_(True), "1", [1], np.float64(2),
                                Fraction(1), 1 + 0j, b"1"]).map(lambda v: (v, TypeError))
    if clean:
        return valid
    return st.one_of(valid, valid, valid, bad_range, bad_type)


def real_values(lo=-10.0, hi=10.0):
    """(value, exception, float) for a real parameter (docs: NaN/inf -> ValueError,
    non-numbers and bools -> TypeError, ints beyond the float range -> ValueError)."""
    def classify(v):
        if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, list, type(None), complex, np.complexfloating)):
            return (v, TypeError, None)
        try:
            f = float(v)
        except OverflowError:
            return (v, ValueError, None)
        if not math.isfinite(f):
            return (v, ValueError, None)
        return (v, None, f)
    nice = st.one_of(st.floats(lo, hi), st.integers(int(lo), int(hi)),
                     st.floats(lo, hi, width=32).map(np.float32), st.floats(lo, hi).map(np.float64),
                     st.integers(int(lo), int(hi)).map(np.int64), st.integers(-30, 30).map(lambda k: Fraction(k, 7)))
    wild = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([float("nan"), float("inf"), -float("inf"), 5e-324, -5e-324, 1e-310,
                                      F32_TINY, 1e-45, F32_MAX, -F32_MAX, 3.5e38, 1e308, -1e308, F64_MAX,
                                      0.0, -0.0, 10 ** 400, -(10 ** 400), 2 ** 64, Fraction(10 ** 400),
                                      np.float16(np.inf), np.float32(np.nan), np.longdouble("1e4000")]),
                     st.sampled_from(["1.0", None, [1.0], True, np.bool_(False), 1j, np.complex64(1)]))
    return st.one_of(nice, nice, nice, wild).map(classify)


# ---------------------------------------------------------------------------
# Sources: seed= / generator= / stream=

@st.composite
def sources(draw, clean=False):
    """(kwargs, errors) of where the randomness comes from."""
    kw, errs = {}, set()
    which = draw(st.sampled_from(["seed", "seed", "generator", "generator", "default"]
                                 + ([] if clean else ["both", "badgen"])))
    if which in ("seed", "both"):
        v, e = draw(u64_values(clean))
        kw["seed"] = v
        errs |= {e} - {None}
    if which in ("generator", "both"):
        start = draw(st.sampled_from([0, 5, U64 - 2] + ([] if clean else [U64 - 1])))
        g = fastinit.Generator(draw(st.integers(0, U64 - 1)))
        g.set_state({"seed": g.seed, "stream": start})
        kw["generator"] = g
    if which == "both":
        errs.add(ValueError)
    if which == "badgen":
        kw["generator"] = draw(st.sampled_from([np.random.default_rng(0), 3, "gen", object()]))
        errs.add(TypeError)
    if draw(st.booleans()):
        v, e = draw(u64_values(clean))
        kw["stream"] = v
        errs |= {e} - {None}
    return kw, errs


def gen_of(kw):
    g = kw.get("generator")
    if kw.get("seed") is None and g is None:
        return fastinit.default_generator
    return g if isinstance(g, fastinit.Generator) else None


def resolve(kw, state):
    """(seed, stream, advances) the docs give a call with these source kwargs, the
    generator (or the default one) in ``state`` before it."""
    stream = kw.get("stream")
    if kw.get("seed") is not None:
        return int(kw["seed"]), 0 if stream is None else int(stream), False
    if stream is not None:
        return state["seed"], int(stream), False
    return state["seed"], state["stream"], True


def exhausted(kw):
    """A call that would take a stream from a generator that has none left (OverflowError)."""
    g = gen_of(kw)
    return kw.get("seed") is None and kw.get("stream") is None and g is not None \
        and g.get_state()["stream"] >= U64 - 1


# ---------------------------------------------------------------------------
# Placement: offset=, global_shape=, index=

@st.composite
def placements(draw, shape, clean=False):
    """(kwargs, errors, global_shape or None, starts or None, offset)."""
    kw, errs = {}, set()
    off, e = draw(u64_values(clean))
    if draw(st.integers(0, 3)) == 0:
        off, e = draw(st.sampled_from([U64 - 1, U64 - 2, U64 - 5, U64 - 600, 2 ** 63])), None
    offset = 0
    if draw(st.booleans()) or e is not None:
        kw["offset"] = off
        errs |= {e} - {None}
        offset = int(off) if e is None else 0
    if shape is None or draw(st.integers(0, 2)) < 2:
        if not clean and draw(st.integers(0, 15)) == 0:
            kw["index"] = (0,) * (len(shape or ()))
            errs.add(ValueError)                       # index= without global_shape=
        return kw, errs, None, None, offset
    ndim = len(shape)
    how = draw(st.sampled_from(["tile"] * 6 + ([] if clean else ["badtype", "badlen", "badstep", "mismatch",
                                                                 "noindex", "negdim", "badentry"])))
    extra = [draw(st.sampled_from([0, 0, 1, 3, 2 ** 20, 2 ** 31])) for _ in shape]
    gshape = [n + x for n, x in zip(shape, extra)]
    starts = [draw(st.integers(0, min(x, 5))) if x < 6 else draw(st.sampled_from([0, x // 2, x])) for x in extra]
    index = []
    for n, g, s in zip(shape, gshape, starts):
        form = draw(st.sampled_from(["int", "slice", "neg", "none"]))
        if form == "none" and n == g:
            index.append(slice(None))
        elif form in ("slice", "none"):
            index.append(slice(s, s + n))
        elif form == "neg" and s < g:             # (a start of -0 would be the beginning)
            index.append(slice(s - g, (s + n - g) or None))
        else:
            index.append(draw(st.sampled_from([s, np.int64(s)])))
        if isinstance(index[-1], slice):               # (the strategy's own check of its slices)
            assert range(g)[index[-1]] == range(s, s + n)
    kw["global_shape"] = tuple(gshape) if draw(st.booleans()) else list(gshape)
    kw["index"] = tuple(index)
    if how == "badtype":
        kw["global_shape"] = draw(st.sampled_from([4.0, "ab", None if ndim else 1.5, [1.5] * max(ndim, 1)]))
        errs.add(TypeError)
        if kw["global_shape"] is None:
            errs.add(ValueError)                       # then it is "index without global_shape"
    elif how == "badlen":
        kw["index"] = tuple(index) + (0,)
        errs.add(ValueError)
    elif how == "badstep" and ndim:
        i = draw(st.integers(0, ndim - 1))
        kw["index"] = tuple(index[:i]) + (slice(starts[i], starts[i] + shape[i], draw(st.sampled_from([0, 2, -1]))),) \
            + tuple(index[i + 1:])
        errs.add(ValueError)
    elif how == "mismatch" and ndim:
        i = draw(st.integers(0, ndim - 1))
        kw["index"] = tuple(index[:i]) + (gshape[i] + draw(st.integers(1, 3)) - shape[i],) + tuple(index[i + 1:])
        errs.add(ValueError)
    elif how == "noindex" and tuple(gshape) != tuple(shape):
        del kw["index"]
        errs.add(ValueError)
    elif how == "negdim" and ndim:
        kw["global_shape"] = (-1,) + tuple(gshape[1:])
        errs.add(ValueError)
    elif how == "badentry" and ndim:
        kw["index"] = (draw(st.sampled_from([None, 1.5, "0", slice(0.5, 2), True])),) + tuple(index[1:])
        errs.add(TypeError)                            # (True too: a bool is no int here either)
    if how not in ("badtype", "negdim") and offset + math.prod(gshape) > U64:
        errs.add(ValueError)                           # (checked before the index)
    return kw, errs, tuple(gshape), tuple(starts), offset


def element_indices(shape, offset, gshape, starts):
    """Stream index of each element of a buffer of ``shape`` (C order), as docs/api.md's Shards say."""
    n = math.prod(shape)
    if gshape is None:
        return offset, n, None
    gstride = [1] * len(gshape)
    for j in range(len(gshape) - 2, -1, -1):
        gstride[j] = gstride[j + 1] * gshape[j + 1]
    idx = np.full(shape, offset + sum(s * g for s, g in zip(starts, gstride)), dtype=object)
    for axis, (m, g) in enumerate(zip(shape, gstride)):
        idx = idx + (np.arange(m, dtype=object) * g).reshape((m,) + (1,) * (len(shape) - axis - 1))
    return None, n, [int(i) for i in idx.reshape(-1)]


def reference_values(draw_, dt, seed, stream, offset, n, indices):
    """The reference of a distribution ('uniform', a, b) / ('normal', mean, std) /
    ('trunc', mean, std, a, b) / ('const', v) / ('bits',) at consecutive indices from offset,
    or at the listed indices (split into consecutive runs)."""
    if indices is None:
        runs = [(offset, n)] if n else []
    else:
        runs, i = [], 0
        while i < len(indices):
            j = i
            while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
                j += 1
            runs.append((indices[i], j - i + 1))
            i = j + 1
    out = []
    for first, m in runs:
        out.append(reference_run(draw_, dt, seed, stream, first, m))
    if not out:
        return np.empty(0, dt)
    return np.concatenate(out).astype(dt)


def reference_run(draw_, dt, seed, stream, first, m):
    kind = draw_[0]
    rd = ref_dtype(dt) if kind != "bits" else None
    if kind == "bits":
        return R.ref_bits(seed, stream, first, m)
    if kind == "uniform":
        return R.ref_uniform(seed, stream, first, m, draw_[1], draw_[2], rd)
    if kind == "normal":
        return R.ref_normal(seed, stream, first, m, draw_[1], draw_[2], rd)
    if kind == "trunc":
        return R.ref_trunc_normal(seed, stream, first, m, *draw_[1:], rd)
    if kind == "const":
        return np.full(m, as_dtype(draw_[1], dt), dt)
    raise AssertionError(kind)


def as_dtype(v, dt):
    with np.errstate(over="ignore"):
        if dt == BF16:
            return np.asarray(np.float32(v), dt)       # docs: float32, then bfloat16 (as ml_dtypes)
        return np.asarray(v, dt)


# ---------------------------------------------------------------------------
# Oracles of the distributions (docs: each function's section and Errors)

def dist_errors(draw_, dt):
    """Documented errors of a distribution's (float) parameters for output dtype dt."""
    kind = draw_[0]
    f64 = dt == np.float64
    if kind == "uniform":
        a, b = draw_[1:]
        if not a < b or not math.isfinite(b - a):
            return {ValueError}
        if not f64 and max(abs(a), abs(b), abs(b - a)) > F32_MAX:
            return {ValueError}
    elif kind == "normal":
        mean, std = draw_[1:]
        if std < 0:
            return {ValueError}
        reach = abs(mean) + 9.0 * std
        if f64 and not reach <= F64_MAX:
            return {ValueError}
        if not f64 and max(abs(mean), std, reach) > F32_MAX:
            return {ValueError}
    elif kind == "trunc":
        mean, std, a, b = draw_[1:]
        if std < 0 or not a < b:
            return {ValueError}
        if not f64 and (max(abs(mean), std, abs(a), abs(b)) > F32_MAX or 0.0 < std < F32_TINY):
            return {ValueError}
        if std > 0:
            try:
                R.trunc_normal_setup(mean, std, a, b, ref_dtype(dt))
            except ValueError:
                return {ValueError}
    elif kind == "const":
        if not math.isfinite(float(as_dtype(draw_[1], dt))):
            return {ValueError}
    return set()


def trunc_zero_std(draw_):
    """trunc_normal_ with std=0 writes the mean clipped into [a, b] (docs)."""
    if draw_[0] == "trunc" and draw_[2] == 0.0:
        return ("const", min(max(draw_[1], draw_[3]), draw_[4]))
    return draw_


# ---------------------------------------------------------------------------
# The harness

def check_call(fn, buf, args, kwargs, errs, expect, source_kw=None, random=True):
    """Call fn(buf.obj, *args, **kwargs). ``errs``: the documented exceptions (empty: the
    call must succeed); ``expect(seed, stream)``: the flat values a success writes (None:
    a deterministic fill). Checks the buffer bytes and the generator state as documented."""
    source_kw = {} if source_kw is None else source_kw
    g = gen_of(source_kw) if random else fastinit.default_generator
    if random and not errs and exhausted(source_kw):
        errs = {OverflowError}
    before = buf.snapshot()
    state = None if g is None else g.get_state()
    try:
        out = call(fn, buf.obj, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001  (the class is the property under test)
        assert errs, f"{fn.__name__} raised {exc!r} on arguments with no documented error"
        assert isinstance(exc, tuple(errs)), f"{fn.__name__} raised {exc!r}; documented: {errs}"
        assert buf.snapshot() == before, f"{fn.__name__} changed the buffer before raising {exc!r}"
        if g is not None:
            assert g.get_state() == state, f"{fn.__name__} moved the generator before raising {exc!r}"
        return exc
    assert not errs, f"{fn.__name__} returned, but the docs give {errs} for these arguments"
    assert out is buf.obj
    if expect is None:
        return None
    seed, stream, advances = resolve(source_kw, state) if random else (None, None, False)
    if g is not None:
        want = dict(state, stream=state["stream"] + 1) if advances else state
        assert g.get_state() == want, (state, g.get_state())
    values = expect(seed, stream)
    check_values(buf, before, values)
    return None


def check_values(buf, before, values):
    """The view holds ``values`` (flat, C order); every other byte of the base is as before."""
    want = np.frombuffer(before, buf.base.dtype).reshape(buf.base.shape).copy()
    buf.apply(want)[...] = values.reshape(buf.view.shape)
    got = np.frombuffer(buf.base.tobytes(), np.uint8)
    exp = np.frombuffer(want.tobytes(), np.uint8)
    if not np.array_equal(got, exp):
        bad = np.unique(np.flatnonzero(got != exp) // buf.base.dtype.itemsize)
        g, w = buf.base.reshape(-1), want.reshape(-1)
        raise AssertionError(f"{buf}: wrong bytes at base elements {bad[:10]} of {buf.base.size}: "
                             f"got {g[bad[:5]]}, want {w[bad[:5]]}")


# ---------------------------------------------------------------------------
# Plain fills

PLAIN = {
    "uniform_": (("a", 0.0), ("b", 1.0)),
    "normal_": (("mean", 0.0), ("std", 1.0)),
    "trunc_normal_": (("mean", 0.0), ("std", 1.0), ("a", -2.0), ("b", 2.0)),
    "random_bits_": (),
}


@st.composite
def plain_params(draw, name, clean=False):
    """(args, kwargs, errors, floats) of a plain fill's parameters, mostly sensible."""
    names = PLAIN[name]
    args, kw, errs, vals = [], {}, set(), []
    sensible = clean or draw(st.integers(0, 2)) > 0
    for i, (p, default) in enumerate(names):
        given = draw(st.sampled_from(["pos", "kw", "default"])) if len(args) == i else draw(st.sampled_from(["kw", "default"]))
        if sensible:
            if name == "uniform_":
                v = (draw(st.floats(-5, 0)) if p == "a" else draw(st.floats(0.001, 5)), None)
            elif p == "std":
                v = (draw(st.sampled_from([0.0, 1e-30, 0.5, 1.0, 3.0])), None)
            elif p == "mean":
                v = (draw(st.floats(-3, 3)), None)
            else:
                v = ((-2.0 if p == "a" else 2.0) + draw(st.floats(-1.5, 1.5)), None)
            v = (v[0], None, float(v[0]))
        else:
            v = draw(real_values())
        if given == "default":
            vals.append(default)
            continue
        if given == "pos":
            args.append(v[0])
        else:
            kw[p] = v[0]
        errs |= {v[1]} - {None}
        vals.append(v[2])
    return tuple(args), kw, errs, vals


@hostile(220)
@given(name=st.sampled_from(sorted(PLAIN)), data=st.data())
def test_plain_fills(name, data):
    uint32 = name == "random_bits_"
    clean = data.draw(st.booleans())
    buf = data.draw(buffers(uint32=uint32, clean=clean))
    args, pkw, errs, vals = data.draw(plain_params(name, clean))
    skw, serrs = data.draw(sources(clean))
    lkw, lerrs, gshape, starts, offset = data.draw(placements(buf.shape, clean))
    errs = set(errs) | serrs | lerrs | buf.errors(uint32=uint32)
    draw_ = {"uniform_": "uniform", "normal_": "normal", "trunc_normal_": "trunc", "random_bits_": "bits"}[name]
    draw_ = (draw_,) + tuple(vals)
    dt = buf.dtype
    if buf.shape is not None and gshape is None and offset + math.prod(buf.shape) > U64:
        errs.add(ValueError)
    if not buf.errors() and not uint32 and None not in vals:
        errs |= dist_errors(draw_, dt)              # (checked before the placement)
    if "std" in dict(PLAIN[name]) and vals[1] is not None and vals[1] < 0:
        errs.add(ValueError)                        # (checked before the other parameters)

    def expect(seed, stream):
        first, n, idx = element_indices(buf.shape, offset, gshape, starts)
        return reference_values(trunc_zero_std(draw_), dt, seed, stream, first, n, idx)
    check_call(getattr(fastinit, name), buf, args, {**pkw, **skw, **lkw}, errs, expect, skw)


CONSTANTS = ["constant_", "zeros_", "ones_"]


@hostile(120)
@given(name=st.sampled_from(CONSTANTS), data=st.data())
def test_constant_fills(name, data):
    clean = data.draw(st.booleans())
    buf = data.draw(buffers(clean=clean))
    errs = buf.errors()
    args, kw = (), {}
    if name == "constant_":
        v, e, f = data.draw(real_values(-1e5, 1e5) if not clean else st.floats(-1e4, 1e4).map(lambda v: (v, None, v)))
        if data.draw(st.booleans()):
            args = (v,)
        else:
            kw = {"val": v}
        errs |= {e} - {None}
        val = f
    else:
        val = 0.0 if name == "zeros_" else 1.0
    if not clean and data.draw(st.integers(0, 9)) == 0:        # constants take no seed/stream/offset
        kw[data.draw(st.sampled_from(["seed", "offset", "stream", "generator"]))] = 0
        errs.add(TypeError)
    if not errs:
        errs = dist_errors(("const", val), buf.dtype)
    n = 0 if buf.shape is None else math.prod(buf.shape)
    check_call(getattr(fastinit, name), buf, args, kw, errs,
               lambda seed, stream: np.full(n, as_dtype(val, buf.dtype), buf.dtype), random=False)


# ---------------------------------------------------------------------------
# Schemes: the documented bound / std, then the plain oracle and reference

SCHEMES = ["lecun_uniform_", "lecun_normal_", "xavier_uniform_", "xavier_normal_", "glorot_uniform_",
           "glorot_normal_", "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_",
           "variance_scaling_"]
NONLINEARITIES = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
                  "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
                  "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def choice_values(valid, invalid, weight=4):
    return st.one_of(*([st.sampled_from(valid)] * weight), st.sampled_from(invalid))


def fan_values():
    return st.one_of(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 5000).map(np.int64),
                     st.sampled_from([0, -1, 2 ** 64, 2 ** 1023, 2 ** 1023 + 2 ** 1022, 10 ** 400, 1.0, 2.5, True,
                                      "3", [3], np.float64(4)])).map(lambda v: (v, fan_values_err(v)))


def shape_fans(shape, layout):
    """docs: compute_fans; None where the torch layout has no fans."""
    if math.prod(shape) == 0:
        return (1, 1)                       # a zero-size buffer is returned unchanged
    if layout == "torch":
        if len(shape) < 2:
            return None
        rec = math.prod(shape[2:])
        return shape[1] * rec, shape[0] * rec
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    rec = math.prod(shape[:-2])
    return shape[-2] * rec, shape[-1] * rec


def scheme_oracle(name, fan_shape, kw, args):
    """(errors, distribution) of a scheme call, from docs/api.md's Schemes section."""
    errs = set()
    layout = kw.get("layout", "torch")
    if not (isinstance(layout, str) and layout in ("torch", "keras")):
        errs.add(ValueError)
        layout = "torch"
    given = []
    for f in ("fan_in", "fan_out"):
        v = kw.get(f)
        if v is None:
            given.append(None)
        else:
            given.append(int(v) if not fan_values_err(v) else None)
            errs |= {fan_values_err(v)} - {None}
    sf = shape_fans(fan_shape, layout) if fan_shape is not None else (1, 1)

    def fan(k):
        if given[k] is not None:
            return given[k]
        if sf is None or sf[k] <= 0:
            raise ValueError
        return sf[k]

    def total():
        t = fan(0) + fan(1)
        float(t)
        return t

    def mode_of(m, valid):
        if not isinstance(m, str) or m.lower() not in valid:
            raise ValueError
        return m.lower()

    def real(v):
        if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, list, type(None), complex, np.complexfloating)):
            raise TypeError
        f = float(v)
        if not math.isfinite(f):
            raise ValueError
        return f

    def normal_dist(std, dist):
        if dist not in ("normal", "truncated_normal") or not isinstance(dist, str):
            raise ValueError
        return ("normal", 0.0, std) if dist == "normal" else keras(std)

    def keras(std):
        s = std / KERAS_TRUNC_STD
        return ("normal", 0.0, 0.0) if s == 0.0 else ("trunc", 0.0, s, -2.0 * s, 2.0 * s)

    def bound(b):
        return ("normal", 0.0, 0.0) if b == 0.0 else ("uniform", -b, b)

    def gain_of(g):
        g = real(g)
        if g < 0:
            raise ValueError
        return g

    def kaiming_std(a, mode, nonlinearity):
        a = real(a)
        mode = mode_of(mode, ("fan_in", "fan_out"))
        if nonlinearity == "leaky_relu":
            gain = math.sqrt(2.0 / (1 + a * a))
        elif isinstance(nonlinearity, str) and nonlinearity in NONLINEARITIES:
            gain = NONLINEARITIES[nonlinearity]
        else:
            raise ValueError
        return gain / math.sqrt(fan(0 if mode == "fan_in" else 1))

    p = dict(args)
    dist = p.get("distribution", "normal")
    try:
        if name == "lecun_uniform_":
            d = bound(math.sqrt(3.0 / fan(0)))
        elif name == "lecun_normal_":
            d = normal_dist(1.0 / math.sqrt(fan(0)), dist)
        elif name in ("xavier_uniform_", "glorot_uniform_"):
            g = gain_of(p.get("gain", 1.0))
            d = bound(g * math.sqrt(6.0 / total()))
        elif name in ("xavier_normal_", "glorot_normal_"):
            g = gain_of(p.get("gain", 1.0))
            d = normal_dist(g * math.sqrt(2.0 / total()), dist)
        elif name == "kaiming_uniform_":
            d = bound(math.sqrt(3.0) * kaiming_std(p.get("a", 0), p.get("mode", "fan_in"),
                                                   p.get("nonlinearity", "leaky_relu")))
        elif name == "kaiming_normal_":
            d = normal_dist(kaiming_std(p.get("a", 0), p.get("mode", "fan_in"),
                                        p.get("nonlinearity", "leaky_relu")), dist)
        elif name == "he_uniform_":
            d = bound(math.sqrt(3.0) * kaiming_std(0, p.get("mode", "fan_in"), "relu"))
        elif name == "he_normal_":
            d = normal_dist(kaiming_std(0, p.get("mode", "fan_in"), "relu"), dist)
        else:
            scale = real(p.get("scale", 1.0))
            if scale <= 0:
                raise ValueError
            mode = mode_of(p.get("mode", "fan_in"), ("fan_in", "fan_out", "fan_avg"))
            vsd = p.get("distribution", "truncated_normal")
            vsd = vsd.lower() if isinstance(vsd, str) else vsd
            if vsd not in ("truncated_normal", "untruncated_normal", "uniform"):
                raise ValueError
            f = {"fan_in": lambda: fan(0), "fan_out": lambda: fan(1), "fan_avg": lambda: total() / 2.0}[mode]()
            var = scale / max(1.0, f)
            d = (bound(math.sqrt(3.0 * var)) if vsd == "uniform" else
                 ("normal", 0.0, math.sqrt(var)) if vsd == "untruncated_normal" else keras(math.sqrt(var)))
    except TypeError:
        return errs | {TypeError}, None
    except (ValueError, OverflowError):
        return errs | {ValueError}, None
    if d[0] == "uniform" and not (math.isfinite(d[1]) and math.isfinite(d[2])):
        return errs | {ValueError}, None
    return errs, d


def fan_values_err(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return TypeError
    if int(v) <= 0:
        return ValueError
    try:
        float(int(v))
    except OverflowError:
        return ValueError
    return None


SCHEME_ARGS = {
    "lecun_uniform_": [],
    "lecun_normal_": ["distribution"],
    "xavier_uniform_": ["gain"], "glorot_uniform_": ["gain"],
    "xavier_normal_": ["gain", "distribution"], "glorot_normal_": ["gain", "distribution"],
    "kaiming_uniform_": ["a", "mode", "nonlinearity"],
    "kaiming_normal_": ["a", "mode", "nonlinearity", "distribution"],
    "he_uniform_": ["mode"], "he_normal_": ["mode", "distribution"],
    "variance_scaling_": ["scale", "mode", "distribution"],
}
POSITIONAL = {"xavier_uniform_": ["gain"], "glorot_uniform_": ["gain"], "xavier_normal_": ["gain"],
              "glorot_normal_": ["gain"], "kaiming_uniform_": ["a", "mode", "nonlinearity"],
              "kaiming_normal_": ["a", "mode", "nonlinearity"], "he_uniform_": ["mode"], "he_normal_": ["mode"],
              "variance_scaling_": ["scale", "mode", "distribution"]}


def arg_value(name, p, data, clean=False):
    if p in ("gain", "a", "scale"):
        nice = st.sampled_from([0.0, 0.5, 1.0, 2.0, math.sqrt(5), 1e-300, 5e-324, 1e200, 3.0, -1.0]
                               if not clean or p == "a" else [0.5, 1.0, 2.0, 1e-3, 1e-300])
        return data.draw(nice if clean else st.one_of(nice, nice, real_values().map(lambda t: t[0])))
    if clean:
        return {"mode": "fan_in" if name != "variance_scaling_" else data.draw(st.sampled_from(["fan_avg", "FAN_OUT"])),
                "nonlinearity": data.draw(st.sampled_from(["leaky_relu", "relu", "tanh"])),
                "distribution": data.draw(st.sampled_from(
                    ["truncated_normal", "untruncated_normal", "Uniform"] if name == "variance_scaling_"
                    else ["normal", "truncated_normal"]))}[p]
    if p == "mode":
        valid = ["fan_in", "fan_out", "FAN_IN", "Fan_Out"] + (["fan_avg", "FAN_AVG"] if name == "variance_scaling_" else [])
        return data.draw(choice_values(valid, ["fan_avg", "fanin", "", None, 1, ["fan_in"]]))
    if p == "nonlinearity":
        return data.draw(choice_values(["leaky_relu", "relu", "linear", "tanh", "selu", "conv2d", "sigmoid"],
                                       ["Relu", "LEAKY_RELU", "gelu", None, 3, ""]))
    if name == "variance_scaling_":
        return data.draw(choice_values(["truncated_normal", "untruncated_normal", "uniform", "Uniform",
                                        "TRUNCATED_NORMAL"], ["normal", "truncated", None, 1]))
    return data.draw(choice_values(["normal", "truncated_normal"], ["Normal", "TRUNCATED_NORMAL", "uniform", None, 1]))


@hostile(260)
@given(name=st.sampled_from(SCHEMES), data=st.data())
def test_schemes(name, data):
    clean = data.draw(st.booleans())
    buf = data.draw(buffers(max_size=300, clean=clean))
    skw, serrs = data.draw(sources(clean))
    lkw, lerrs, gshape, starts, offset = data.draw(placements(buf.shape, clean))
    args, kw, pairs = [], {}, []
    for i, p in enumerate(SCHEME_ARGS[name]):
        if not data.draw(st.booleans()):
            continue
        v = arg_value(name, p, data, clean)
        pairs.append((p, v))
        if p in POSITIONAL.get(name, []) and POSITIONAL[name].index(p) == len(args) and data.draw(st.booleans()):
            args.append(v)
        else:
            kw[p] = v
    fkw = {}
    if data.draw(st.booleans()):
        fkw["layout"] = data.draw(st.sampled_from(["torch", "keras"]) if clean else
                                  choice_values(["torch", "keras"], ["Torch", "tf", None, 0]))
    for f in ("fan_in", "fan_out"):
        if data.draw(st.integers(0, 2)) == 0:
            fkw[f] = data.draw(st.integers(1, 5000) if clean else fan_values().map(lambda t: t[0]))
    errs = serrs | lerrs | buf.errors()
    fan_shape = gshape if gshape is not None and not lerrs else buf.shape
    oerrs, d = scheme_oracle(name, fan_shape, fkw, pairs)
    errs |= oerrs
    dt = buf.dtype
    if buf.shape is not None and gshape is None and offset + math.prod(buf.shape) > U64:
        errs.add(ValueError)
    if not buf.errors() and d is not None:
        errs |= dist_errors(d, dt)

    def expect(seed, stream):
        first, n, idx = element_indices(buf.shape, offset, gshape, starts)
        return reference_values(trunc_zero_std(d), dt, seed, stream, first, n, idx)
    check_call(getattr(fastinit, name), buf, tuple(args), {**kw, **fkw, **skw, **lkw}, errs, expect, skw)


# ---------------------------------------------------------------------------
# Structured initializations: the documented property, or the contiguous twin's bits

STRUCTURED = ["orthogonal_", "sparse_", "eye_", "identity_", "dirac_", "delta_orthogonal_"]
STRUCTURED_RANDOM = {"orthogonal_", "sparse_", "delta_orthogonal_"}


def structured_oracle(name, shape, p, dt, offset):
    """Documented errors of a structured call on a good buffer of ``shape``."""
    errs = set()

    def real(key, default):
        v = p.get(key, default)
        if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, list, type(None), complex, np.complexfloating)):
            errs.add(TypeError)
            return None
        try:
            f = float(v)
        except OverflowError:
            errs.add(ValueError)
            return None
        if not math.isfinite(f):
            errs.add(ValueError)
            return None
        return f

    nd = len(shape)
    size = math.prod(shape)
    if name == "orthogonal_":
        gain = real("gain", 1.0)
        if nd < 2:
            errs.add(ValueError)
        if gain is not None and dt != np.float64 and abs(gain) > F32_MAX:
            errs.add(ValueError)
        reach = size
    elif name == "sparse_":
        sp = real("sparsity", None)
        std = real("std", 0.01)
        if sp is not None and not 0.0 <= sp <= 1.0:
            errs.add(ValueError)
        if std is not None:
            errs |= dist_errors(("normal", 0.0, std), dt)
        if nd != 2:
            errs.add(ValueError)
        reach = 2 * size
    elif name in ("eye_", "identity_"):
        if name == "identity_":
            gain = real("gain", 1.0)
            if gain is not None:
                errs |= dist_errors(("const", gain), dt)
        if nd != 2:
            errs.add(ValueError)
        reach = 0
    elif name == "dirac_":
        groups = p.get("groups", 1)
        if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (int, np.integer)):
            errs.add(TypeError)
        elif groups < 1:
            errs.add(ValueError)
        elif nd not in (3, 4, 5) or shape[0] % int(groups):
            errs.add(ValueError)
        if nd not in (3, 4, 5):
            errs.add(ValueError)
        reach = 0
    else:
        gain = real("gain", 1.0)
        layout = p.get("layout", "torch")
        if not (isinstance(layout, str) and layout in ("torch", "keras")):
            errs.add(ValueError)
            layout = "torch"
        if nd not in (3, 4, 5):
            errs.add(ValueError)
            reach = 0
        else:
            out, inp, kernel = (shape[0], shape[1], shape[2:]) if layout == "torch" else (shape[-1], shape[-2], shape[:-2])
            if any(k % 2 == 0 for k in kernel) or out < inp:
                errs.add(ValueError)
            reach = out * inp
        if gain is not None and dt != np.float64 and abs(gain) > F32_MAX:
            errs.add(ValueError)
    if name in STRUCTURED_RANDOM and offset + reach > U64:
        errs.add(ValueError)
    return errs


def check_structured(name, arr, p, dt):
    """The documented property of a successful call on a contiguous array."""
    a = arr.astype(np.float64)
    if name == "eye_" or name == "identity_":
        want = np.zeros(arr.shape)
        n = min(arr.shape)
        want[np.arange(n), np.arange(n)] = float(as_dtype(float(p.get("gain", 1.0)), dt)) if name == "identity_" else 1.0
        assert np.array_equal(a, want)
    elif name == "dirac_":
        groups = int(p.get("groups", 1))
        want = np.zeros(arr.shape)
        if arr.size == 0:
            return
        per = arr.shape[0] // groups
        centre = tuple(k // 2 for k in arr.shape[2:])
        for g in range(groups):
            for d in range(min(per, arr.shape[1])):
                want[(g * per + d, d) + centre] = 1.0
        assert np.array_equal(a, want)
    elif name in ("orthogonal_", "delta_orthogonal_"):
        gain = float(p.get("gain", 1.0))
        if arr.size == 0:
            return
        if name == "orthogonal_":
            m = a.reshape(arr.shape[0], -1)
        else:
            layout = p.get("layout", "torch")
            if layout == "torch":
                centre = (slice(None), slice(None)) + tuple(k // 2 for k in arr.shape[2:])
                m = a[centre]
            else:
                m = a[tuple(k // 2 for k in arr.shape[:-2]) + (slice(None), slice(None))].T
            rest = a.copy()
            rest[centre if layout == "torch" else tuple(k // 2 for k in arr.shape[:-2]) + (slice(None), slice(None))] = 0
            assert not rest.any(), "delta_orthogonal_ wrote off the centre tap"
        if m.shape[0] < m.shape[1]:
            m = m.T
        tol = {"float64": 1e-9, "float32": 1e-4}.get(dt.name, 2e-2) * max(1.0, gain * gain) * m.shape[1]
        gram = m.T @ m
        if np.isfinite(gram).all():
            assert np.allclose(gram, gain * gain * np.eye(m.shape[1]), atol=tol, rtol=0), (gram, gain)


@hostile(120)
@given(name=st.sampled_from(STRUCTURED), data=st.data())
def test_structured(name, data):
    clean = data.draw(st.booleans())
    two_d = clean and name in ("eye_", "identity_", "sparse_")
    buf = data.draw(buffers(min_dims=2 if two_d else data.draw(st.sampled_from([2, 3] if clean else [0, 1, 2, 3])),
                            max_dims=2 if two_d else 4, max_size=200, clean=clean))
    p, args, kw = {}, [], {}
    for key in {"orthogonal_": ["gain"], "sparse_": ["sparsity", "std"], "eye_": [], "identity_": ["gain"],
                "dirac_": ["groups"], "delta_orthogonal_": ["gain", "layout"]}[name]:
        if key == "sparsity" or data.draw(st.booleans()):
            if key == "groups":
                v = data.draw(st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 2 ** 70, 2.0, True, None, "2"])))
            elif key == "layout":
                v = data.draw(st.sampled_from(["torch", "keras"]) if clean else
                              choice_values(["torch", "keras"], ["Torch", None, 3]))
            elif key == "sparsity":
                v = data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 0.99]) if clean else st.one_of(
                    st.sampled_from([0.0, 0.1, 0.5, 1.0, 0.99]), real_values(-1, 2).map(lambda t: t[0])))
            else:
                v = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e-30]) if clean else st.one_of(
                    st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e-30]), real_values().map(lambda t: t[0])))
            p[key] = v
            if key != "layout" and len(args) == len(p) - 1 and data.draw(st.booleans()):
                args.append(v)
            else:
                kw[key] = v
    skw, serrs = data.draw(sources(clean)) if name in STRUCTURED_RANDOM else ({}, set())
    offset = 0
    if name in STRUCTURED_RANDOM and data.draw(st.booleans()):
        off, e = data.draw(u64_values(clean))
        kw["offset"] = off
        serrs |= {e} - {None}
        offset = int(off) if e is None else 0
    if not clean and name not in STRUCTURED_RANDOM and data.draw(st.integers(0, 9)) == 0:
        kw["seed"] = 0                              # they take no stream
        serrs.add(TypeError)
    if not clean and data.draw(st.integers(0, 9)) == 0:
        kw["global_shape"] = buf.shape              # written whole: no global_shape
        serrs.add(TypeError)
    errs = serrs | buf.errors()
    if not errs:
        errs = structured_oracle(name, buf.shape, p, buf.dtype, offset)
    fn = getattr(fastinit, name)
    exc = check_call(fn, buf, tuple(args), {**kw, **skw}, errs, None, skw, random=name in STRUCTURED_RANDOM)
    if errs or exc is not None:
        return
    g = gen_of(skw) if name in STRUCTURED_RANDOM else None
    # the same call again, on a contiguous array of the same dtype, from the same stream
    seed_kw = {}
    if name in STRUCTURED_RANDOM:
        state = dict(g.get_state()) if g is not None else None
        seed, stream, _ = resolve(skw, dict(state, stream=state["stream"] - 1) if state and
                                         skw.get("seed") is None and skw.get("stream") is None else state)
        seed_kw = {"seed": seed, "stream": stream}
    twin = np.zeros(buf.shape, buf.dtype)
    fn(twin, *args, **kw, **seed_kw)
    got = np.ascontiguousarray(buf.view)
    assert got.tobytes() == twin.tobytes(), f"{name} of a {buf} differs from its contiguous twin"
    check_structured(name, twin, p, buf.dtype)
    if name == "sparse_" and twin.size:
        rows, cols = twin.shape
        zeros = (twin == 0).sum(axis=0)
        assert (zeros >= math.ceil(float(p["sparsity"]) * rows)).all()
        normal = reference_values(("normal", 0.0, float(p.get("std", 0.01))), buf.dtype, seed_kw["seed"],
                                  seed_kw["stream"], offset, twin.size, None).reshape(twin.shape)
        kept = twin != 0
        assert np.array_equal(twin[kept].tobytes(), normal[kept].tobytes())


# ---------------------------------------------------------------------------
# Allocating constructors

CONSTRUCTOR_NAMES = ["uniform", "normal", "trunc_normal", "constant", "zeros", "ones", "he_uniform", "xavier_normal",
                     "variance_scaling", "lecun_uniform", "kaiming_normal", "orthogonal", "eye", "sparse", "dirac",
                     "identity", "delta_orthogonal", "glorot_uniform"]


@st.composite
def shapes_for_constructors(draw):
    """(shape, errors): small shapes in every form, negative, wrong types, and shapes too
    large for any address space (never large-but-allocatable: those would really allocate)."""
    small = st.lists(st.integers(0, 6), max_size=4)
    forms = [
        small.map(lambda s: (tuple(s), None)), small.map(lambda s: (list(s), None)),
        st.integers(0, 50).map(lambda n: (n, None)), st.integers(0, 50).map(lambda n: (np.int64(n), None)),
        small.map(lambda s: (np.array(s, dtype=np.int64), None)),
        st.sampled_from([((-1,), ValueError), ((3, -2), ValueError), (-5, ValueError),
                         ((2 ** 62,), ValueError), ((2 ** 40, 2 ** 40), ValueError), ((2 ** 70,), ValueError),
                         ((0, 2 ** 70), None), (2.0, TypeError), ("3", TypeError), (None, TypeError),
                         ((2.0, 3), TypeError), ((1, "a"), TypeError), ([[2]], TypeError), ({"a": 1}, TypeError)]),
    ]
    return draw(st.one_of(*forms))


def dtype_error(dtype):
    """docs: empty(): float32, float64, float16, bfloat16 (a dtype, a type or a name); else TypeError."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return TypeError
    return None if dt in GOOD_DTYPES and dt.isnative else TypeError


@hostile(150)
@given(name=st.sampled_from(CONSTRUCTOR_NAMES), data=st.data())
def test_constructors(name, data):
    shape, serr = data.draw(shapes_for_constructors())
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.float16, "float32", "float16", "bfloat16",
                                       BF16, np.dtype("f8"), None, "int32", np.int64, ">f4", complex, "nonsense"]))
    dkw = {} if dtype is None else {"dtype": dtype}
    derr = None if dtype is None else dtype_error(dtype)
    args, kw = (), {}
    if name in ("constant",):
        args = (data.draw(st.sampled_from([0.5, float("nan"), 1e39, "x"])),)
    if name == "sparse":
        args = (data.draw(st.sampled_from([0.5, 2.0, float("nan")])),)
    random = name not in ("constant", "zeros", "ones", "eye", "identity", "dirac")
    skw = {"seed": data.draw(st.sampled_from([0, 5, U64 - 1]))} if random else {}
    if random and data.draw(st.integers(0, 4)) == 0:
        skw["stream"] = data.draw(st.sampled_from([-1, U64, 1.5]))
    if data.draw(st.integers(0, 5)) == 0:
        kw = {data.draw(st.sampled_from(["gain", "std", "mode", "offset"])): data.draw(
            st.sampled_from([float("nan"), -1.0, "bad", U64]))}
    fn = getattr(fastinit, name)
    inplace = getattr(fastinit, name + "_")
    state = fastinit.default_generator.get_state()
    try:
        out = call(fn, shape, *args, **dkw, **kw, **skw)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, (TypeError, ValueError)), f"{name}({shape!r}, dtype={dtype!r}) raised {exc!r}"
        assert fastinit.default_generator.get_state() == state
        # the in-place fill of an array of that shape and dtype fails too (or the shape/dtype is bad)
        dims = None
        if serr is None:
            dims = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
        if serr is None and derr is None and max(dims, default=0) < 2 ** 31:
            dt = BF16 if dtype == "bfloat16" else np.dtype(np.float32 if dtype is None else dtype)
            with pytest.raises((TypeError, ValueError)):
                inplace(np.zeros(dims, dt), *args, **kw, **skw)
        return
    assert serr is None and derr is None, f"{name}({shape!r}, dtype={dtype!r}) returned {out.shape}"
    assert fastinit.default_generator.get_state() == state
    dt = BF16 if dtype == "bfloat16" else np.dtype(np.float32 if dtype is None else dtype)
    assert out.dtype == dt and out.flags.writeable and out.flags.c_contiguous
    twin = inplace(np.zeros(out.shape, dt), *args, **kw, **skw)
    assert out.tobytes() == twin.tobytes(), name


# ---------------------------------------------------------------------------
# Pruning, masks

def magnitudes_with_ties(data, n, dt):
    """Values with many ties, signed zeros, infs, subnormals of the dtype."""
    pool = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, float("inf"), -float("inf"), 3.0, 1e-3]
    sub = float(np.finfo(np.float16).smallest_subnormal) if dt == np.float16 else \
        float(np.finfo(np.float32).smallest_subnormal) if dt == np.float32 else 5e-324
    pool.append(sub)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    spread = data.draw(st.sampled_from([0.0, 0.3, 1.0]))           # share of distinct values
    vals = np.where(rng.random(n) < spread, rng.uniform(-4, 4, n), rng.choice(np.array(pool), n))
    with np.errstate(over="ignore"):
        return vals.astype(dt)


def prune_reference(flat_values, k):
    """Indices of the k smallest |w|, ties toward the lower index (docs: Pruning)."""
    mag = np.abs(np.asarray(flat_values, np.float64))
    return np.argsort(mag, kind="stable")[:k]


def amount_values(total):
    def classify(v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating, Fraction)):
            return v, TypeError, None
        if isinstance(v, (int, np.integer)):
            return (v, ValueError, None) if not 0 <= v <= total else (v, None, int(v))
        f = float(v)
        return (v, ValueError, None) if not 0.0 <= f <= 1.0 else (v, None, round(f * total))
    return st.one_of(st.integers(0, total), st.floats(0, 1), st.integers(0, total).map(np.int64),
                     st.floats(0, 1, width=32).map(np.float32),
                     st.sampled_from([-1, total + 1, 2 ** 70, float("nan"), float("inf"), -0.5, 1.5, 5e-324,
                                      Fraction(1, 3), True, None, "0.5", [1], np.float16(0.25)])).map(classify)


@hostile(150)
@given(data=st.data())
def test_prune_magnitude(data):
    buf = data.draw(buffers(max_size=300))
    if buf.base is not None and buf.dtype in GOOD_DTYPES and buf.base.flags.writeable and buf.wrap != "bytes":
        n = buf.base.size
        buf.base[...] = magnitudes_with_ties(data, n, buf.dtype).reshape(buf.base.shape)
        if data.draw(st.integers(0, 5)) == 0 and n:
            buf.base.reshape(-1)[data.draw(st.integers(0, n - 1))] = np.nan
    errs = buf.errors()
    if not errs and not np.asarray(buf.obj).flags.c_contiguous:
        errs.add(ValueError)
    size = 0 if buf.shape is None else math.prod(buf.shape)
    amount, aerr, k = data.draw(amount_values(size))
    errs |= {aerr} - {None}
    values = None if buf.view is None else np.array(buf.view).reshape(-1)
    if not errs and values.dtype.kind == "f" and np.isnan(values.astype(np.float64)).any():
        errs.add(ValueError)
    if not errs and buf.dtype == BF16 and np.isnan(values.astype(np.float64)).any():
        errs.add(ValueError)
    return_mask = data.draw(st.booleans())
    before = buf.snapshot()
    try:
        out = call(fastinit.prune_magnitude_, buf.obj, amount, return_mask=return_mask)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (exc, errs)
        assert buf.snapshot() == before
        return
    assert not errs, f"returned; documented {errs}"
    pruned = prune_reference(values, k)
    want = values.copy()
    want[pruned] = 0.0
    check_values(buf, before, want)
    if return_mask:
        keep = np.ones(size, bool)
        keep[pruned] = False
        assert out.dtype == np.bool_ and np.array_equal(out.reshape(-1), keep) and out.shape == buf.shape
    else:
        assert out is buf.obj


@hostile(80)
@given(data=st.data())
def test_global_prune_magnitude(data):
    bufs = data.draw(st.lists(buffers(max_size=60, hostile_wraps=data.draw(st.integers(0, 3)) == 0), max_size=4))
    errs = set()
    for b in bufs:
        errs |= b.errors()
        if b.base is not None and b.dtype in GOOD_DTYPES and b.base.flags.writeable:
            b.base[...] = magnitudes_with_ties(data, b.base.size, b.dtype).reshape(b.base.shape)
            if not np.asarray(b.obj).flags.c_contiguous:
                errs.add(ValueError)
    container = data.draw(st.sampled_from([list, tuple, "array", "gen"]))
    if container in ("array", "gen"):
        errs.add(TypeError)
    total = sum(0 if b.shape is None else math.prod(b.shape) for b in bufs)
    if not errs and data.draw(st.integers(0, 4)) == 0 and total:
        b = data.draw(st.sampled_from([b for b in bufs if b.view is not None and b.view.size]))
        b.view.reshape(-1)[0] = np.nan if b.view.flags.c_contiguous else 0
        if b.view.flags.c_contiguous:
            errs.add(ValueError)
    amount, aerr, k = data.draw(amount_values(total))
    errs |= {aerr} - {None}
    objs = [b.obj for b in bufs]
    arg = container(objs) if container in (list, tuple) else (np.zeros(3, np.float32) if container == "array"
                                                               else iter(objs))
    befores = [b.snapshot() for b in bufs]
    values = [None if b.view is None else np.array(b.view).reshape(-1) for b in bufs]
    try:
        call(fastinit.global_prune_magnitude_, arg, amount)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (exc, errs)
        assert [b.snapshot() for b in bufs] == befores
        return
    assert not errs, f"returned; documented {errs}"
    cat = np.concatenate([v.astype(np.float64) for v in values]) if values else np.empty(0)
    pruned = set(prune_reference(cat, k).tolist())
    pos = 0
    for b, v, before in zip(bufs, values, befores):
        want = v.copy()
        for i in range(v.size):
            if pos + i in pruned:
                want[i] = 0.0
        pos += v.size
        check_values(b, before, want)


@hostile(100)
@given(data=st.data())
def test_prune_n_m(data):
    clean = data.draw(st.booleans())
    buf = data.draw(buffers(max_size=200, min_dims=1 if clean else data.draw(st.integers(0, 2)), clean=clean,
                            contiguous=clean))
    if buf.base is not None and buf.dtype in GOOD_DTYPES and buf.base.flags.writeable and buf.wrap != "bytes":
        buf.base[...] = magnitudes_with_ties(data, buf.base.size, buf.dtype).reshape(buf.base.shape)
        if not clean and data.draw(st.integers(0, 6)) == 0 and buf.base.size:
            buf.base.reshape(-1)[0] = np.nan
    if clean:
        axis = data.draw(st.integers(-len(buf.shape), len(buf.shape) - 1))
        length = buf.shape[axis]
        m = data.draw(st.sampled_from([d for d in range(1, 65) if length % d == 0] if length else [1, 2, 4, 64]))
        n = data.draw(st.integers(0, m))
    else:
        n = data.draw(st.one_of(st.integers(0, 4), st.sampled_from([-1, 5, 65, 2.0, True, None])))
        m = data.draw(st.one_of(st.sampled_from([1, 2, 4, 3]), st.sampled_from([0, 65, 2 ** 70, 4.0, "4"])))
        axis = data.draw(st.one_of(st.integers(-3, 2), st.sampled_from([2 ** 70, 1.0, None, True])))
    args = {}
    for key, v in (("n", n), ("m", m), ("axis", axis)):
        args[key] = v
    errs = buf.errors()
    if not errs:
        arr = np.asarray(buf.obj)
        if not arr.flags.c_contiguous:
            errs.add(ValueError)
        ok = {key: not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))
              for key, v in args.items()}
        if not all(ok.values()):
            errs.add(TypeError)
        # every other violation, each on its own (the checks run in some order)
        if ok["m"] and not 1 <= m <= 64:
            errs.add(ValueError)
        if ok["n"] and ok["m"] and 1 <= m <= 64 and not 0 <= n <= m:
            errs.add(ValueError)
        if arr.ndim == 0 or ok["axis"] and not -arr.ndim <= axis < arr.ndim:
            errs.add(ValueError)
        if not errs:
            if arr.shape[axis] % m or np.isnan(arr.astype(np.float64)).any():
                errs.add(ValueError)
    before = buf.snapshot()
    try:
        mask = call(fastinit.prune_n_m_, buf.obj, n, m, axis, return_mask=True)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (exc, errs, args)
        assert buf.snapshot() == before
        return
    assert not errs, f"returned; documented {errs} for {args}"
    v = np.array(buf.view)
    moved = np.moveaxis(np.abs(v.astype(np.float64)), axis, -1)
    groups = moved.reshape(-1, m) if moved.size else moved.reshape(0, m)
    keep = np.zeros(groups.shape, bool)
    for r, grp in enumerate(groups):
        keep[r, np.argsort(-grp, kind="stable")[:n]] = True
    keep = np.moveaxis(keep.reshape(moved.shape), -1, axis)
    assert np.array_equal(mask, keep)
    want = np.where(keep, v, np.zeros((), v.dtype))
    check_values(buf, before, want.reshape(-1))


@hostile(80)
@given(data=st.data())
def test_apply_mask(data):
    buf = data.draw(buffers(max_size=200))
    errs = buf.errors()
    shape = buf.shape if buf.shape is not None else (3,)
    form = data.draw(st.sampled_from(["good"] * 4 + ["strided", "shape", "uint8", "list", "int", "none"]))
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape))),
                    bool).reshape(shape)
    mask = keep
    if form == "strided" and shape:
        big = np.zeros(tuple(2 * n for n in shape), bool)
        mask = big[tuple(slice(None, None, 2) for _ in shape)]
        mask[...] = keep
    elif form == "shape":
        mask = np.ones(tuple(shape) + (1,), bool)
        errs.add(ValueError)
    elif form == "uint8":
        mask = keep.astype(np.uint8)
        errs.add(TypeError)
    elif form == "list":
        mask = keep.tolist()
        errs.add(TypeError)
    elif form in ("int", "none"):
        mask = 1 if form == "int" else None
        errs.add(TypeError)
    if not buf.errors() and not np.asarray(buf.obj).flags.c_contiguous:
        errs.add(ValueError)
    before = buf.snapshot()
    try:
        out = call(fastinit.apply_mask_, buf.obj, mask)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (exc, errs)
        assert buf.snapshot() == before
        return
    assert not errs and out is buf.obj
    v = np.array(buf.view)
    check_values(buf, before, np.where(keep, v, np.zeros((), v.dtype)).reshape(-1))


# ---------------------------------------------------------------------------
# rewind_: fill functions with their arguments, and records (corrupt ones too)

REWIND_FILLS = ["uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "he_uniform_", "xavier_normal_",
                "kaiming_uniform_", "variance_scaling_", "random_bits_", "orthogonal_"]


@hostile(120)
@given(name=st.sampled_from(REWIND_FILLS), data=st.data())
def test_rewind_with_fill(name, data):
    clean = data.draw(st.booleans())
    buf = data.draw(buffers(max_size=200, dtypes=GOOD_DTYPES + ([] if clean else [np.dtype(np.int32)]),
                            clean=clean, contiguous=clean))
    shape = buf.shape if buf.shape is not None else (2,)
    errs = buf.errors()
    if not errs and not np.asarray(buf.obj).flags.c_contiguous:
        errs.add(ValueError)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape))),
                    bool).reshape(shape)
    kw = {}
    random = name not in ("constant_", "zeros_")
    if name == "random_bits_":
        errs.add(TypeError)
    if random:
        which = data.draw(st.sampled_from(["seed", "seed+stream", "gen+stream", "stream"]
                                          + ([] if clean else ["none", "gen"])))
        g = fastinit.Generator(data.draw(st.integers(0, U64 - 1)))
        if "seed" in which:
            v, e = data.draw(u64_values(clean))
            kw["seed"] = v
            errs |= {e} - {None}
        if "gen" in which:
            kw["generator"] = g
        if "stream" in which:
            v, e = data.draw(u64_values(clean))
            kw["stream"] = v
            errs |= {e} - {None}
        if which in ("none", "gen"):
            errs.add(ValueError)                   # rewind_ needs the stream of the initialization
        if data.draw(st.booleans()):
            v, e = data.draw(u64_values(clean))
            kw["offset"] = v
            errs |= {e} - {None}
    if name == "constant_":
        v, e, f = data.draw(real_values() if not clean else st.floats(-9, 9).map(lambda v: (v, None, v)))
        kw["val"] = v
        errs |= {e} - {None}
    if name in ("uniform_", "normal_", "trunc_normal_"):
        pargs, pkw, perrs, vals = data.draw(plain_params(name, clean))
        kw.update(pkw)
        errs |= perrs
        if pargs:                                  # rewind_ passes **init_kwargs only
            kw.update({PLAIN[name][i][0]: v for i, v in enumerate(pargs)})
    if name in ("he_uniform_", "xavier_normal_", "kaiming_uniform_", "variance_scaling_") and clean:
        kw.update(fan_in=data.draw(st.integers(1, 99)), fan_out=data.draw(st.integers(1, 99)))
    if not clean and data.draw(st.integers(0, 9)) == 0:
        kw["bogus"] = 1
        errs.add(TypeError)
    fn = getattr(fastinit, name)
    # the oracle: the same fill on a contiguous array of this shape and dtype
    twin = None
    if not errs:
        try:
            twin = fn(np.zeros(shape, buf.dtype), **kw)
        except (TypeError, ValueError) as exc:
            errs.add(type(exc))
    if isinstance(kw.get("generator"), fastinit.Generator):
        state = kw["generator"].get_state()
    before = buf.snapshot()
    dstate = fastinit.default_generator.get_state()
    try:
        out = call(fastinit.rewind_, buf.obj, keep, fn, **kw)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (exc, errs, kw)
        assert buf.snapshot() == before
        assert fastinit.default_generator.get_state() == dstate
        if isinstance(kw.get("generator"), fastinit.Generator):
            assert kw["generator"].get_state() == state
        return
    assert not errs, f"rewind_ returned; documented {errs} for {kw}"
    assert out is buf.obj
    assert fastinit.default_generator.get_state() == dstate
    if isinstance(kw.get("generator"), fastinit.Generator):
        assert kw["generator"].get_state() == state
    check_values(buf, before, np.where(keep, twin, np.zeros((), twin.dtype)).reshape(-1))


def record_of(data, dt, shape):
    kind = data.draw(st.sampled_from(["uniform", "normal", "trunc_normal", "constant"]))
    params = {"uniform": {"a": -0.5, "b": 0.75}, "normal": {"mean": 0.1, "std": 0.02},
              "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -1.0, "b": 2.0}, "constant": {"val": 0.25}}[kind]
    random = kind != "constant"
    rec = {"fill": kind, "params": dict(params), "seed": data.draw(st.integers(0, U64 - 1)) if random else None,
           "stream": data.draw(st.sampled_from([0, 1, U64 - 1])) if random else None,
           "offset": data.draw(st.sampled_from([0, 3, U64 - 1 - math.prod(shape)])),
           "shape": list(shape), "dtype": {"bfloat16": "bfloat16"}.get(dt.name, dt.name),
           "stream_version": fastinit.STREAM_VERSION, "steps": []}
    n = math.prod(shape)
    if n and data.draw(st.booleans()):
        start = data.draw(st.integers(0, n - 1))
        rec["steps"] = [{"val": data.draw(st.sampled_from([0.0, -1.5, 2.0])), "start": start,
                         "shape": [1, n - start], "strides": [data.draw(st.sampled_from([1, n, 2 ** 62, U64 - 1])), 1]}]
    return rec


CORRUPTIONS = {
    "missing": lambda r, d: r.pop(d.draw(st.sampled_from(sorted(k for k in r if k != "steps")))),
    "extra_param": lambda r, d: r["params"].update(bogus=1.0),
    "missing_param": lambda r, d: r["params"].pop(next(iter(r["params"]))),
    "nan_param": lambda r, d: r["params"].update({next(iter(r["params"])): d.draw(st.sampled_from(
        [float("nan"), float("inf"), "1", None, True, [1.0], 10 ** 400]))}),
    "seed": lambda r, d: r.update(seed=d.draw(st.sampled_from([-1, U64, 1.5, "7", True, None, np.uint64(3)]))),
    "stream": lambda r, d: r.update(stream=d.draw(st.sampled_from([-1, U64, 2.0, None, False]))),
    "offset": lambda r, d: r.update(offset=d.draw(st.sampled_from([-1, U64, U64 - 1, 2 ** 70, 0.0, None, True]))),
    "shape": lambda r, d: r.update(shape=d.draw(st.sampled_from([[-1], [2.0], "3", None, [[2]], [True], r["shape"] + [1]]))),
    "dtype": lambda r, d: r.update(dtype=d.draw(st.sampled_from(["int32", "float", None, 4, "bf16", "float128"]))),
    "fill": lambda r, d: r.update(fill=d.draw(st.sampled_from(["bits", "gamma", None, 3, "UNIFORM"]))),
    "version": lambda r, d: r.update(stream_version=d.draw(st.sampled_from([0, 1, 3, "2", None, 2.0, True]))),
    "steps": lambda r, d: r.update(steps=d.draw(st.sampled_from([
        None, "x", [None], [{"val": 1.0}], [{"val": float("nan"), "start": 0, "shape": [1], "strides": [1]}],
        [{"val": 1.0, "start": U64, "shape": [1], "strides": [1]}],
        [{"val": 1.0, "start": 0, "shape": [10 ** 6], "strides": [1]}],
        [{"val": 1.0, "start": 0, "shape": [2, 2], "strides": [1]}],
        [{"val": 1.0, "start": 0, "shape": (1,), "strides": [1]}],
        [{"val": 1e39, "start": 0, "shape": [1], "strides": [1]}],
        [{"val": 1.0, "start": 0, "shape": [1], "strides": [1], "extra": 0}]]))),
    "extra_field": lambda r, d: r.update(comment="hello"),
    "not_a_dict": None,
}


def record_still_valid(corruption, rec, size, dt):
    """Whether a corrupted record still describes a fill of this buffer (docs: Records)."""
    def u64(v):
        return type(v) is int and 0 <= v < U64
    if corruption in ("none", "extra_field"):
        return True
    if not isinstance(rec, dict):
        return False
    random = rec.get("fill") != "constant"
    if corruption in ("seed", "stream", "missing"):
        if any(k not in rec for k in ("fill", "params", "shape", "dtype", "stream_version", "offset")):
            return False
        return all(u64(rec.get(k)) if random else rec.get(k) is None for k in ("seed", "stream"))
    if corruption == "offset":
        return type(rec["offset"]) is int and 0 <= rec["offset"] <= U64 - size
    if corruption == "steps":
        st_ = rec["steps"]
        return (isinstance(st_, list) and len(st_) == 1 and isinstance(st_[0], dict) and size >= 1
                and st_[0] == {"val": 1e39, "start": 0, "shape": [1], "strides": [1]} and dt == np.float64)
    return False


def record_reference(rec, dt):
    kind, p = rec["fill"], rec["params"]
    n = math.prod(rec["shape"])
    d = {"uniform": lambda: ("uniform", p["a"], p["b"]), "normal": lambda: ("normal", p["mean"], p["std"]),
         "trunc_normal": lambda: ("trunc", p["mean"], p["std"], p["a"], p["b"]),
         "constant": lambda: ("const", p["val"])}[kind]()
    out = reference_values(d, dt, rec.get("seed"), rec.get("stream"), rec["offset"], n, None)
    for stp in rec.get("steps", []):
        idx = stp["start"] + sum(np.ix_(*[np.arange(m) * (s if m > 1 else 0) for m, s in zip(stp["shape"], stp["strides"])]))
        out[np.asarray(idx).reshape(-1)] = as_dtype(stp["val"], dt)
    return out


@hostile(150)
@given(data=st.data())
def test_rewind_with_record(data):
    buf = data.draw(buffers(max_size=120, dtypes=GOOD_DTYPES, hostile_wraps=False))
    arr = np.asarray(buf.obj)
    shape = arr.shape
    rec = record_of(data, buf.dtype, shape)
    corruption = data.draw(st.sampled_from(["none", "none"] + sorted(CORRUPTIONS)))
    if corruption == "not_a_dict":
        rec = data.draw(st.sampled_from([[("fill", "uniform")], "uniform", None, 3]))
    elif corruption != "none":
        CORRUPTIONS[corruption](rec, data)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape))),
                    bool).reshape(shape)
    extra = {"seed": 1} if data.draw(st.integers(0, 9)) == 0 else {}
    before = buf.snapshot()
    dstate = fastinit.default_generator.get_state()
    valid = record_still_valid(corruption, rec, arr.size, buf.dtype) and not extra and arr.flags.c_contiguous
    try:
        call(fastinit.rewind_, buf.obj, keep, rec, **extra)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, (TypeError, ValueError)), f"{corruption}: {exc!r}"
        assert buf.snapshot() == before, f"rewind_ changed the buffer before raising {exc!r}"
        assert fastinit.default_generator.get_state() == dstate
        assert not valid, f"a valid record ({corruption}) refused: {exc!r}, {rec}"
        return
    assert valid, f"a record corrupted by {corruption!r} was accepted: {rec}"
    want = record_reference(rec, buf.dtype)
    check_values(buf, before, np.where(keep.reshape(-1), want, np.zeros((), want.dtype)))


# ---------------------------------------------------------------------------
# shard_index

@hostile(200)
@given(data=st.data())
def test_shard_index(data):
    if data.draw(st.booleans()):                  # valid arguments
        gshape = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=4).map(tuple))
        dim = data.draw(st.integers(-len(gshape), len(gshape) - 1))
        world = data.draw(st.integers(1, 9))
        rank = data.draw(st.integers(0, world - 1))
    else:
        gshape = data.draw(st.one_of(st.lists(st.integers(0, 40), max_size=4).map(tuple),
                                     st.sampled_from([(2 ** 64, 3), (-1, 2), 5, np.int64(7), None, "ab", 2.5, (1.5,)])))
        dim = data.draw(st.one_of(st.integers(-5, 5), st.sampled_from([2 ** 70, 1.0, None, True, np.int64(0)])))
        world = data.draw(st.one_of(st.integers(-1, 9), st.sampled_from([2 ** 70, 2.0, None, False, np.int64(3)])))
        rank = data.draw(st.one_of(st.integers(-1, 9), st.sampled_from([2 ** 70, 0.0, None, True, np.int64(1)])))
    try:
        index = call(fastinit.shard_index, gshape, dim, rank, world)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, (TypeError, ValueError)), repr(exc)
        return
    shape = (int(gshape),) if np.ndim(gshape) == 0 else tuple(gshape)
    for v in (dim, rank, world):
        assert isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
    assert all(d >= 0 for d in shape) and -len(shape) <= dim < len(shape) and 0 <= rank < world
    d = int(dim) % len(shape)
    size = -(-shape[d] // int(world))
    start = min(int(rank) * size, shape[d])
    assert index == tuple(slice(start, min(start + size, shape[d])) if a == d else slice(0, n)
                          for a, n in enumerate(shape))
    # and it places a shard exactly where the whole fill has it
    if math.prod(shape) <= 2000:
        whole = fastinit.uniform_(np.empty(shape, np.float32), seed=3)
        part = np.empty(whole[index].shape, np.float32)
        fastinit.uniform_(part, seed=3, global_shape=shape, index=index)
        assert part.tobytes() == whole[index].tobytes()


# ---------------------------------------------------------------------------
# The bugs these properties found, pinned (each failed before its fix)

def test_regression_huge_fraction_is_a_value_error():
    # check_real formatted a Fraction beyond the float range with int.bit_length: AttributeError
    w = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="finite"):
        fastinit.uniform_(w, Fraction(10 ** 400), seed=0)
    assert not w.any()


@pytest.mark.parametrize("call_", [
    lambda w: fastinit.xavier_uniform_(w, fan_in=2 ** 1023, fan_out=2 ** 1023, seed=0),
    lambda w: fastinit.glorot_normal_(w, fan_in=2 ** 1023, fan_out=2 ** 1023, seed=0),
    lambda w: fastinit.variance_scaling_(w, 1.0, "fan_avg", fan_in=2 ** 1023, fan_out=2 ** 1023, seed=0),
])
def test_regression_fan_sum_beyond_float_is_a_value_error(call_):
    # fan_in + fan_out entered a float formula unchecked: OverflowError
    w = np.zeros((2, 2), np.float32)
    g = fastinit.default_generator.get_state()
    with pytest.raises(ValueError, match="fan_in \\+ fan_out"):
        call_(w)
    assert not w.any() and fastinit.default_generator.get_state() == g


@pytest.mark.parametrize("call_", [
    lambda w, g: fastinit.xavier_uniform_(w, gain=0, generator=g),
    lambda w, g: fastinit.xavier_normal_(w, gain=0.0, distribution="truncated_normal", generator=g),
    lambda w, g: fastinit.kaiming_uniform_(w, a=1e200, generator=g),            # gain underflows to 0
    lambda w, g: fastinit.variance_scaling_(w, 5e-324, generator=g),            # variance underflows to 0
    lambda w, g: fastinit.variance_scaling_(w, 5e-324, distribution="uniform", generator=g),
])
def test_regression_zero_spread_writes_zeros(call_):
    # docs: "gain=0 writes zeros"; it raised "uniform_ needs a < b" (ValueError)
    for dt in GOOD_DTYPES:
        w = np.full((3, 4), 7.0, dt)
        g = fastinit.Generator(5)
        assert call_(w, g) is w
        assert w.tobytes() == np.zeros((3, 4), dt).tobytes()     # +0.0 everywhere
        assert g.get_state()["stream"] == 1                      # the stream is taken, as always


@pytest.mark.parametrize("name", ["xavier_uniform_", "lecun_normal_", "kaiming_uniform_", "variance_scaling_"])
@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0), (0, 2, 3)])
def test_regression_zero_size_with_explicit_fans(name, shape):
    # docs: a zero-size buffer is returned unchanged; with one explicit fan the other was
    # read from the shape ("fan_out must be positive, got 0", ValueError)
    w = np.zeros(shape, np.float32)
    assert getattr(fastinit, name)(w, fan_in=3, seed=0) is w


@pytest.mark.parametrize("shape", [(2 ** 62,), (2 ** 40, 2 ** 40), (2 ** 70,), (3, 2 ** 62)])
@pytest.mark.parametrize("name", ["empty", "zeros", "ones", "normal", "he_uniform"])
def test_regression_constructor_beyond_address_space(name, shape):
    # AlignedBuffer's size_t conversion raised OverflowError; NumPy says ValueError
    state = fastinit.default_generator.get_state()
    with pytest.raises(ValueError):
        getattr(fastinit, name)(shape, **({"fan_in": 4, "fan_out": 4} if name == "he_uniform" else {}))
    assert fastinit.default_generator.get_state() == state


@pytest.mark.parametrize("stride", [2 ** 62, 2 ** 63, 2 ** 64 - 1])
def test_regression_record_step_stride_of_a_length_one_axis(stride):
    # the stride of a length-1 axis is never used, and check_step accepts any uint64 there;
    # as_strided overflowed on it after the kernel had written the buffer (OverflowError)
    w = np.full(8, 3.0, np.float32)
    rec = {"fill": "uniform", "params": {"a": 0.0, "b": 1.0}, "seed": 1, "stream": 0, "offset": 0, "shape": [8],
           "dtype": "float32", "stream_version": fastinit.STREAM_VERSION,
           "steps": [{"val": -1.0, "start": 2, "shape": [1, 3], "strides": [stride, 1]}]}
    fastinit.rewind_(w, np.ones(8, bool), rec)
    want = R.ref_uniform(1, 0, 0, 8, 0.0, 1.0, np.float32)
    want[2:5] = -1.0
    assert w.tobytes() == want.tobytes()


@pytest.mark.parametrize("shape", [(0, 0, 0), (1, 1, 0), (2, 2, 0, 3), (0, 4, 3), (2, 2, 3, 0, 1)])
def test_regression_dirac_zero_size(shape):
    # the centre index of an empty kernel axis raised IndexError
    w = np.zeros(shape, np.float32)
    assert fastinit.dirac_(w) is w
    assert fastinit.dirac(shape).shape == shape


def test_regression_half_orthogonal_overflow_is_no_warning():
    # a float16 orthogonal_ whose gain overflows float16 writes inf (as every fill does beyond
    # ±65504); NumPy's cast warned, an exception under -W error after part of the buffer was written
    w = np.zeros((3, 4), np.float16)
    call(fastinit.orthogonal_, w, gain=1e10, seed=1)
    assert np.isinf(w).any()


def test_regression_compute_fans_takes_ints_only():
    # compute_fans converted each dimension with int(): (2.5, 3) gave (3, 2), ("3", 4) gave (4, 3)
    for bad in [(2.5, 3), ("3", 4), (np.float64(2), 3), ([2], 3)]:
        with pytest.raises(TypeError):
            fastinit.compute_fans(bad)
    assert fastinit.compute_fans((np.int64(4), 3)) == (3, 4)


# ---------------------------------------------------------------------------
# Helpers and generators

@hostile(150)
@given(shape=st.one_of(st.lists(st.integers(-2, 9), max_size=5).map(tuple),
                       st.lists(st.sampled_from([2.5, "3", None, True, np.int64(3), 2 ** 70, [1]]), max_size=3),
                       st.sampled_from([None, 5, "ab", 2.0])),
       layout=choice_values(["torch", "keras"], ["Torch", None, 1]))
def test_compute_fans(shape, layout):
    try:
        fans = call(fastinit.compute_fans, shape, layout)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, (TypeError, ValueError)), repr(exc)
        ints = isinstance(shape, (tuple, list)) and all(
            isinstance(d, (int, np.integer)) for d in shape)
        if ints and layout in ("torch", "keras") and all(d >= 0 for d in shape):
            assert layout == "torch" and len(shape) < 2, (shape, layout, exc)
        return
    dims = tuple(int(d) for d in shape)
    want = shape_fans(dims, layout) if math.prod(dims) else (
        (dims[1] * math.prod(dims[2:]), dims[0] * math.prod(dims[2:])) if layout == "torch" else
        (1, 1) if not dims else (dims[0], dims[0]) if len(dims) == 1 else
        (dims[-2] * math.prod(dims[:-2]), dims[-1] * math.prod(dims[:-2])))
    assert fans == want


@hostile(150)
@given(seed=u64_values(), state=st.one_of(
    st.fixed_dictionaries({"seed": u64_values(), "stream": u64_values()}),
    st.sampled_from([None, [1, 2], {"seed": 1}, {"seed": 1, "stream": 0, "x": 0}, "state"])))
def test_generator_hostile_states(seed, state):
    value, err = seed
    try:
        g = call(fastinit.Generator, value)
    except Exception as exc:  # noqa: BLE001
        assert err is not None and isinstance(exc, err), (value, exc)
        return
    assert err is None and g.seed == int(value) and g.get_state() == {"seed": int(value), "stream": 0}
    errs = set()
    if isinstance(state, dict) and set(state) == {"seed", "stream"}:
        plain = {k: v[0] for k, v in state.items()}
        errs = {v[1] for v in state.values()} - {None}
    else:
        plain, errs = state, {ValueError}
    before = g.get_state()
    try:
        call(g.set_state, plain)
    except Exception as exc:  # noqa: BLE001
        assert errs and isinstance(exc, tuple(errs)), (plain, exc)
        assert g.get_state() == before
        return
    assert not errs
    assert g.get_state() == {k: int(v) for k, v in plain.items()}
    if plain["stream"] < U64 - 1:
        assert g.take() == (int(plain["seed"]), int(plain["stream"]))
    else:
        with pytest.raises(OverflowError):
            g.next_stream()
        assert g.get_state() == {k: int(v) for k, v in plain.items()}
