"""Pruning: prune_magnitude_, global_prune_magnitude_,
prune_n_m_, apply_mask_ and rewind_.

Every result is compared bitwise with a NumPy reference: the k entries of
smallest |w| are ``np.argsort(np.abs(w.astype(np.float64)), kind='stable')[:k]``
(ties toward the lower flat index, zeros counting as the smallest), written
as +0.0, everything else unchanged; the mask is the keep-mask. Every data set
comes from a fresh seed, printed in the assertion messages.
"""
import array
import math
import os
import sys

import numpy as np
import pytest

from _child import run_python_fresh

import fastinit
from fastinit import _kernels
from _stats import fresh_seed, get_dtype

# child interpreters run outside the repository root, where the uncompiled
# fastinit/ source folder would shadow the installed package
_NEUTRAL_CWD = os.path.dirname(os.path.abspath(__file__))

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
# ragged sizes around the 65,536-element chunk and the 262,144-element threshold of the pool
SIZES = (1, 2, 3, 5, 64, 1000, 65_536, 131_075, 262_144, 300_007)
THREADS = (1, 2, 3, 7)
LEVELS = [lv for lv in _kernels.LEVELS
          if _kernels.LEVELS.index(lv) <= _kernels.LEVELS.index(_kernels.detected_simd_level())]
MI = 1 << 20


@pytest.fixture
def restore_runtime():
    level, threads = fastinit.simd_level(), fastinit.get_num_threads()
    yield
    _kernels.set_simd_level(level)
    fastinit.set_num_threads(threads)


# ---------------------------------------------------------------------------
# references and data


def ref_prune(w, k, order=None):
    """(pruned copy, keep-mask) by the stable-argsort rule; order may be precomputed."""
    flat = np.ascontiguousarray(w).reshape(-1)
    if order is None:
        order = np.argsort(np.abs(flat.astype(np.float64)), kind="stable")
    out = flat.copy()
    out[order[:k]] = np.zeros((), w.dtype)
    keep = np.ones(flat.shape, np.bool_)
    keep[order[:k]] = False
    return out.reshape(w.shape), keep.reshape(w.shape)


def stable_order(w):
    return np.argsort(np.abs(np.ascontiguousarray(w).reshape(-1).astype(np.float64)), kind="stable")


def bits(a):
    return np.ascontiguousarray(a).view(np.uint8).tobytes()


def describe_diff(got, want):
    g = np.ascontiguousarray(got).reshape(-1)
    w = np.ascontiguousarray(want).reshape(-1)
    gb = g.view(np.uint8).reshape(g.size, -1)
    wb = w.view(np.uint8).reshape(w.size, -1)
    bad = np.nonzero((gb != wb).any(axis=1))[0]
    if bad.size == 0:
        return "same"
    i = bad[:5]
    return (f"{bad.size} elements differ; first at {i.tolist()}: got {g[i].astype(np.float64).tolist()}, "
            f"want {w[i].astype(np.float64).tolist()}; zeros got {int((g == 0).sum())}, "
            f"want {int((w == 0).sum())}")


# magnitudes log-uniform over (almost) the whole range of each dtype, subnormals included
_EXP_RANGE = {"float32": (-44.5, 38.4), "float64": (-320.0, 308.0), "float16": (-7.9, 4.8),
              "bfloat16": (-40.0, 38.4)}


def make_data(kind, dtype_name, n, rng):
    dt = get_dtype(dtype_name)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    if kind == "random":
        lo, hi = _EXP_RANGE[dtype_name]
        with np.errstate(over="ignore", under="ignore"):
            x = sign * 10.0 ** rng.uniform(lo, hi, n)
            if rng.random() < 0.5:
                x = rng.standard_normal(n)          # a narrow range: many ties for the 16-bit types
    elif kind == "ties":
        levels = np.array([0.0, 0.25, 0.5, 1.0, 3.0])[: rng.integers(2, 6)]
        x = sign * levels[rng.integers(0, levels.size, n)]   # -0.0 too
    elif kind == "equal":
        c = float(rng.choice([0.75, -0.75, 3.0]))
        x = np.full(n, c) * (sign if rng.random() < 0.5 else 1.0)
    elif kind == "zeros":
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.4] = 0.0
        x = x * sign                                 # +0.0 and -0.0
    elif kind == "specials":
        x = rng.standard_normal(n)
        fi = pytest.importorskip("ml_dtypes").finfo(dt) if dtype_name == "bfloat16" else np.finfo(dt)
        special = np.array([np.inf, -np.inf, 0.0, -0.0, float(fi.max), -float(fi.max),
                            float(fi.smallest_subnormal), -float(fi.smallest_subnormal),
                            float(fi.smallest_normal), 1.0, -1.0])
        pick = rng.random(n) < 0.3
        x[pick] = special[rng.integers(0, special.size, int(pick.sum()))]
    else:
        raise AssertionError(kind)
    with np.errstate(over="ignore"):
        return x.astype(dt)


def shaped(x, rng):
    """Some multi-dimensional shape with x.size elements (C order)."""
    n = x.size
    for d in (7, 5, 4, 3, 2):
        if n % d == 0 and n > d and rng.random() < 0.7:
            return x.reshape(d, n // d)
    return x


def k_values(n, rng):
    ks = {0, n, 1 if n else 0, max(n - 1, 0), int(rng.integers(0, n + 1)), int(rng.integers(0, n + 1))}
    return sorted(ks)


# ---------------------------------------------------------------------------
# 1. exact counts, agreement with the reference


@pytest.mark.parametrize("kind", ["random", "ties", "equal", "zeros", "specials"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_prune_magnitude_matches_reference(dtype, kind):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for n in SIZES:
        w0 = shaped(make_data(kind, dtype, n, rng), rng)
        order = stable_order(w0)
        amounts = [(k, k) for k in k_values(n, rng)]
        f = float(rng.random())
        amounts += [(f, round(f * n)), (0.0, 0), (1.0, n), (np.int64(n // 3), n // 3), (np.float32(0.5), round(float(np.float32(0.5)) * n))]
        for amount, k in amounts:
            want, keep = ref_prune(w0, k, order)
            return_mask = bool(rng.random() < 0.5)
            w = w0.copy()
            out = fastinit.prune_magnitude_(w, amount, return_mask=return_mask)
            ctx = f"seed={seed} dtype={dtype} kind={kind} n={n} shape={w0.shape} amount={amount!r} k={k} return_mask={return_mask}"
            assert bits(w) == bits(want), f"{ctx}: {describe_diff(w, want)}"
            if return_mask:
                assert isinstance(out, np.ndarray) and out.dtype == np.bool_ and out.shape == w0.shape, ctx
                assert np.array_equal(out, keep), f"{ctx}: mask differs at {np.argwhere(out != keep)[:5].tolist()}"
                assert int(out.sum()) == n - k, ctx
            else:
                assert out is w, ctx


def test_pruned_entries_are_positive_zero_and_kept_ones_unchanged():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for dtype in FLOAT_DTYPES:
        dt = get_dtype(dtype)
        w0 = (-np.abs(rng.standard_normal(300_007)) - 0.5).astype(dt)   # all negative
        w0[::11] = -0.0
        w = w0.copy()
        mask = fastinit.prune_magnitude_(w, 0.6, return_mask=True)
        pruned = w[~mask]
        assert pruned.size == round(0.6 * w.size), f"seed={seed} dtype={dtype}"
        assert not np.signbit(pruned.astype(np.float64)).any(), f"seed={seed} dtype={dtype}: a pruned entry is -0.0"
        assert bits(w[mask]) == bits(w0[mask]), f"seed={seed} dtype={dtype}"


@pytest.mark.parametrize("amount, k", [(0.25, 2), (0.35, 4), (0.15, 2), (0.05, 0), (0.5, 5), (0.0, 0),
                                       (1.0, 10), (0.96, 10), (0.94, 9), (3, 3), (10, 10)])
def test_float_amount_rounds_as_torch(amount, k):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w = (rng.random(10) + 0.5).astype(np.float32)
    mask = fastinit.prune_magnitude_(w, amount, return_mask=True)
    assert int((~mask).sum()) == k == int((w == 0).sum()), f"seed={seed} amount={amount}"
    if isinstance(amount, float):
        assert round(amount * 10) == k


def test_float_amount_counts_agree_with_torch():
    prune = pytest.importorskip("torch.nn.utils.prune")
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w0 = (rng.random(1000) + 1.0).astype(np.float32)
    for n in (1, 3, 10, 99, 1000):
        for amount in [0.0, 1.0, 0.5, 0.25, 0.35, 0.45, 0.125] + list(rng.random(5)):
            amount = float(amount)
            w = w0[:n].copy()
            mask = fastinit.prune_magnitude_(w, amount, return_mask=True)
            assert int((~mask).sum()) == prune._compute_nparams_toprune(amount, n), \
                f"seed={seed} n={n} amount={amount!r}"


def test_buffer_protocol_object_is_returned_itself():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    vals = rng.standard_normal(1000).astype(np.float32)
    buf = array.array("f", vals.tobytes())
    out = fastinit.prune_magnitude_(buf, 400)
    assert out is buf, f"seed={seed}"
    want, _ = ref_prune(vals, 400)
    assert buf.tobytes() == want.tobytes(), f"seed={seed}"


def test_empty_buffers():
    for dtype in ("float32", "float64"):
        w = np.empty((0, 3), get_dtype(dtype))
        assert fastinit.prune_magnitude_(w, 0) is w
        assert fastinit.prune_magnitude_(w, 1.0) is w
        m = fastinit.prune_magnitude_(w, 0.5, return_mask=True)
        assert m.shape == (0, 3) and m.dtype == np.bool_
        with pytest.raises(ValueError):
            fastinit.prune_magnitude_(w, 1)


# ---------------------------------------------------------------------------
# 2. the same bits at every thread count and SIMD level


BIG = 3 * MI + 4321


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_same_bits_for_every_thread_count_and_simd_level(dtype, restore_runtime):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    dt = get_dtype(dtype)
    levels = np.array([0.0, 0.125, 0.5, 1.0, 2.0])
    x = np.where(rng.random(BIG) < 0.5, -1.0, 1.0) * levels[rng.integers(0, levels.size, BIG)]
    noisy = rng.random(BIG) < 0.2
    x[noisy] = rng.standard_normal(int(noisy.sum()))
    w0 = x.astype(dt)
    a = np.abs(w0.reshape(-1).astype(np.float64))
    # mid-tie: all of the zeros and 0.125s, then 37 % of the 0.5s
    k_tie = int((a < 0.5).sum() + 0.37 * (a == 0.5).sum())
    order = np.argsort(a, kind="stable")
    for amount, k in ((k_tie, k_tie), (0.9, round(0.9 * BIG))):
        want, keep = ref_prune(w0, k, order)
        for level in LEVELS:
            for threads in THREADS:
                _kernels.set_simd_level(level)
                fastinit.set_num_threads(threads)
                w = w0.copy()
                mask = fastinit.prune_magnitude_(w, amount, return_mask=True)
                ctx = f"seed={seed} dtype={dtype} level={level} threads={threads} amount={amount} k={k}"
                assert bits(w) == bits(want), f"{ctx}: {describe_diff(w, want)}"
                assert np.array_equal(mask, keep), ctx


def test_global_same_bits_for_every_thread_count(restore_runtime):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    levels = np.array([0.0, 0.25, 0.5, 1.0])
    parts0 = [(np.where(rng.random(n) < 0.5, -1.0, 1.0) * levels[rng.integers(0, 4, n)]).astype(dt)
              for n, dt in ((MI + 77, np.float32), (300_001, np.float16), (500_003, np.float64))]
    cat = np.concatenate([np.abs(p.astype(np.float64)) for p in parts0])
    order = np.argsort(cat, kind="stable")
    k = int((cat < 0.5).sum() + 0.61 * (cat == 0.5).sum())
    want, _ = ref_prune(np.concatenate([p.astype(np.float64) for p in parts0]), k, order)
    for level in LEVELS:
        for threads in THREADS:
            _kernels.set_simd_level(level)
            fastinit.set_num_threads(threads)
            parts = [p.copy() for p in parts0]
            fastinit.global_prune_magnitude_(parts, k)
            got = np.concatenate([p.astype(np.float64) for p in parts])
            assert bits(got) == bits(want), \
                f"seed={seed} level={level} threads={threads} k={k}: {describe_diff(got, want)}"


def test_rewind_same_bits_for_every_thread_count_and_simd_level(restore_runtime):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    shape = (1000, 1031)
    mask = rng.random(shape) < 0.3
    inits = [(fastinit.normal_, dict(std=0.02)), (fastinit.he_normal_, dict(distribution="truncated_normal")),
             (fastinit.kaiming_uniform_, dict(a=math.sqrt(5)))]
    for dtype in ("float32", "bfloat16"):
        dt = get_dtype(dtype)
        for init, kw in inits:
            _kernels.set_simd_level("scalar")
            fastinit.set_num_threads(1)
            want = np.where(mask, init(np.empty(shape, dt), seed=seed, stream=3, offset=5, **kw), np.zeros((), dt))
            for level in LEVELS:
                for threads in THREADS:
                    _kernels.set_simd_level(level)
                    fastinit.set_num_threads(threads)
                    w = np.ones(shape, dt)
                    fastinit.rewind_(w, mask, init, seed=seed, stream=3, offset=5, **kw)
                    assert bits(w) == bits(want), \
                        f"seed={seed} dtype={dtype} init={init.__name__} level={level} threads={threads}"


# ---------------------------------------------------------------------------
# 3. global pruning over mixed dtypes


def _global_parts(rng, kind, with_f64=True, with_bf16=True):
    specs = [((400, 700), "float32"), ((70_001,), "float64"), ((3, 50, 40), "float16"),
             ((0,), "float32"), ((2, 1000), "bfloat16"), ((0, 5), "float64"), ((17,), "float32")]
    parts = []
    for shape, dtype in specs:
        if dtype == "float64" and not with_f64:
            dtype = "float32"
        if dtype == "bfloat16" and not with_bf16:
            continue
        n = int(np.prod(shape))
        if kind == "ties":
            levels = np.array([0.0, 0.25, 0.5, 1.0, 2.0])   # exact in every dtype
            x = np.where(rng.random(n) < 0.5, -1.0, 1.0) * levels[rng.integers(0, 5, n)]
            parts.append(x.astype(get_dtype(dtype)).reshape(shape))
        else:
            parts.append(make_data("random", dtype, n, rng).reshape(shape))
    return parts


def ref_global(parts, k):
    cat = np.concatenate([np.abs(p.reshape(-1).astype(np.float64)) for p in parts])
    order = np.argsort(cat, kind="stable")[:k]
    keep = np.ones(cat.size, np.bool_)
    keep[order] = False
    outs, masks, at = [], [], 0
    for p in parts:
        m = keep[at: at + p.size].reshape(p.shape)
        at += p.size
        o = p.copy()
        o[~m] = np.zeros((), p.dtype)
        outs.append(o)
        masks.append(m)
    return outs, masks


@pytest.mark.parametrize("with_f64", [True, False], ids=["wide-keys", "32-bit-keys"])
@pytest.mark.parametrize("kind", ["random", "ties"])
def test_global_prune_matches_reference_on_the_concatenation(kind, with_f64):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    try:
        get_dtype("bfloat16")
        with_bf16 = True
    except pytest.skip.Exception:
        with_bf16 = False
    parts0 = _global_parts(rng, kind, with_f64, with_bf16)
    total = sum(p.size for p in parts0)
    f = float(rng.random())
    cases = [(0, 0), (total, total), (int(rng.integers(0, total + 1)), None), (f, round(f * total)),
             (0.9, round(0.9 * total)), (1, 1)]
    for amount, k in cases:
        k = amount if k is None else k
        want, keep = ref_global(parts0, k)
        for return_masks in (False, True):
            parts = [p.copy() for p in parts0]
            out = fastinit.global_prune_magnitude_(parts, amount, return_masks=return_masks)
            ctx = f"seed={seed} kind={kind} with_f64={with_f64} amount={amount!r} k={k} return_masks={return_masks}"
            for i, (p, w) in enumerate(zip(parts, want)):
                assert bits(p) == bits(w), f"{ctx} buffer {i} ({p.dtype}, {p.shape}): {describe_diff(p, w)}"
            assert len(out) == len(parts), ctx
            if return_masks:
                for i, (m, km, p) in enumerate(zip(out, keep, parts)):
                    assert m.dtype == np.bool_ and m.shape == p.shape, f"{ctx} buffer {i}"
                    assert np.array_equal(m, km), f"{ctx} buffer {i}"
                assert sum(int((~m).sum()) for m in out) == k, ctx
            else:
                assert all(o is p for o, p in zip(out, parts)), ctx
    # a tuple works too, and a single buffer in a list is prune_magnitude_
    parts = tuple(p.copy() for p in parts0)
    fastinit.global_prune_magnitude_(parts, 0.5)
    for i, (p, w) in enumerate(zip(parts, ref_global(parts0, round(0.5 * total))[0])):
        assert bits(p) == bits(w), f"seed={seed} tuple, buffer {i}"


def test_global_ties_across_dtypes_go_to_the_lower_index_in_list_order():
    # the same magnitude in three dtypes: the first buffers in the list lose it first
    a = np.full(5, 0.5, np.float16)
    b = np.full(5, -0.5, np.float32)
    c = np.full(5, 0.5, np.float64)
    masks = fastinit.global_prune_magnitude_([a, b, c], 7, return_masks=True)
    assert [m.tolist() for m in masks] == [[False] * 5, [False, False, True, True, True], [True] * 5]


def test_global_of_only_empty_buffers():
    bufs = [np.empty(0, np.float32), np.empty((0, 2), np.float64)]
    assert fastinit.global_prune_magnitude_(bufs, 0)[0] is bufs[0]
    masks = fastinit.global_prune_magnitude_(bufs, 1.0, return_masks=True)
    assert [m.shape for m in masks] == [(0,), (0, 2)]
    assert fastinit.global_prune_magnitude_([], 0) == []


# ---------------------------------------------------------------------------
# 4. N:M


def ref_n_m(w, n, m, axis):
    moved = np.moveaxis(w, axis, -1)
    groups = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // m, m))
    mag = np.abs(groups.astype(np.float64))
    order = np.argsort(-mag, axis=-1, kind="stable")[..., :n]   # largest first, ties to the lower index
    keep = np.zeros(groups.shape, np.bool_)
    np.put_along_axis(keep, order, True, axis=-1)
    keep = np.moveaxis(keep.reshape(moved.shape), -1, axis)
    return np.where(keep, w, np.zeros((), w.dtype)), keep


@pytest.mark.parametrize("nm", [(2, 4), (1, 4), (4, 8), (0, 4), (4, 4), (3, 64), (1, 1)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_prune_n_m_pattern(dtype, nm):
    n, m = nm
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for axis in (-1, 0, 1):
        for kind in ("random", "ties"):
            shape = [int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 6))]
            shape[axis] = m * int(rng.integers(1, 4))
            shape = tuple(shape)
            w0 = make_data(kind, dtype, int(np.prod(shape)), rng).reshape(shape)
            want, keep = ref_n_m(w0, n, m, axis)
            ctx = f"seed={seed} dtype={dtype} n={n} m={m} axis={axis} kind={kind} shape={shape}"
            w = w0.copy()
            assert fastinit.prune_n_m_(w, n, m, axis) is w, ctx
            assert bits(w) == bits(want), f"{ctx}: {describe_diff(w, want)}"
            w = w0.copy()
            mask = fastinit.prune_n_m_(w, n, m, axis=axis, return_mask=True)
            assert bits(w) == bits(want), ctx
            assert np.array_equal(mask, keep), ctx
            # the pattern itself: exactly n kept in every group of m along the axis
            g = np.moveaxis(mask, axis, -1)
            counts = g.reshape(g.shape[:-1] + (-1, m)).sum(axis=-1)
            assert (counts == n).all(), ctx


def test_prune_n_m_2_4_on_a_large_layer_and_default_arguments():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((512, 1024)).astype(np.float32)
    want, keep = ref_n_m(w0, 2, 4, -1)
    w = w0.copy()
    fastinit.prune_n_m_(w)
    assert bits(w) == bits(want), f"seed={seed}: {describe_diff(w, want)}"


# ---------------------------------------------------------------------------
# 5. apply_mask_ and rewind_


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_apply_mask(dtype):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for shape in ((1,), (7, 9), (3, 300, 300)):
        w0 = make_data("random", dtype, int(np.prod(shape)), rng).reshape(shape)
        mask = rng.random(shape) < 0.3
        for m in (mask, np.asfortranarray(mask)):
            w = w0.copy()
            assert fastinit.apply_mask_(w, m) is w
            want = np.where(mask, w0, np.zeros((), w0.dtype))
            assert bits(w) == bits(want), f"seed={seed} dtype={dtype} shape={shape}"


def _random_bytes(shape, dtype, rng):
    dt = get_dtype(dtype)
    return rng.integers(0, 256, int(np.prod(shape)) * dt.itemsize, dtype=np.uint8).view(dt).reshape(shape)


def test_apply_mask_errors_leave_the_buffer_untouched():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w = _random_bytes((6, 8), "float32", rng)
    before = bits(w)
    for bad, exc in ((np.ones((8, 6), bool), ValueError), (np.ones(48, bool), ValueError),
                     (np.ones((6, 8, 1), bool), ValueError),
                     (np.ones((6, 8), np.int8), TypeError), (np.ones((6, 8), np.uint8), TypeError),
                     (np.ones((6, 8), np.float32), TypeError), (np.ones((6, 8), np.int64), TypeError),
                     ([[True] * 8] * 6, TypeError)):
        with pytest.raises(exc):
            fastinit.apply_mask_(w, bad)
        assert bits(w) == before, f"seed={seed} mask={type(bad).__name__}"


INITS = {
    "uniform_": (fastinit.uniform_, dict(a=-0.3, b=0.7)),
    "normal_": (fastinit.normal_, dict(mean=0.1, std=0.5)),
    "trunc_normal_": (fastinit.trunc_normal_, dict(std=0.02)),
    "trunc_normal_std0": (fastinit.trunc_normal_, dict(mean=0.25, std=0.0)),
    "kaiming_uniform_": (fastinit.kaiming_uniform_, dict(a=math.sqrt(5))),
    "xavier_normal_": (fastinit.xavier_normal_, dict(gain=1.3)),
    "he_normal_": (fastinit.he_normal_, dict(distribution="truncated_normal")),
    "variance_scaling_": (fastinit.variance_scaling_, dict(scale=2.0, mode="fan_avg")),
    "variance_scaling_uniform": (fastinit.variance_scaling_, dict(distribution="uniform")),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", sorted(INITS))
def test_rewind_equals_a_fresh_init_masked(name, dtype):
    init, kw = INITS[name]
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    dt = get_dtype(dtype)
    shape = (600, 500) if dtype in ("float32", "float16") else (60, 50)   # big enough for the pool
    stream = int(rng.integers(0, 1 << 40))
    offset = (1 << 33) + 3
    init_seed = int(rng.integers(0, 1 << 63))
    modes = {
        "seed": dict(seed=init_seed),
        "seed+stream": dict(seed=init_seed, stream=stream),
        "seed+offset": dict(seed=init_seed, offset=offset),
        "generator+stream": dict(generator="G", stream=stream),
        "generator+stream+offset": dict(generator="G", stream=stream, offset=offset),
    }
    for mode, src in modes.items():
        ctx = f"seed={seed} init_seed={init_seed} init={name} dtype={dtype} mode={mode}"
        if "generator" in src:
            g = fastinit.Generator(init_seed)
            g.set_state({"seed": init_seed, "stream": stream})
            fresh = init(np.empty(shape, dt), generator=g, offset=src.get("offset", 0), **kw)   # takes `stream`
            assert g.get_state() == {"seed": init_seed, "stream": stream + 1}, ctx
            src = dict(src, generator=g)
        else:
            fresh = init(np.empty(shape, dt), **src, **kw)
        # "training": the weights move, then magnitude pruning picks a mask
        w = (fresh.astype(np.float64) + rng.standard_normal(shape) * 0.01).astype(dt)
        mask = fastinit.prune_magnitude_(w, 0.7, return_mask=True)
        state = g.get_state() if "generator" in src else None
        for m in (mask, np.asfortranarray(mask)):
            w2 = w.copy()
            assert fastinit.rewind_(w2, m, init, **src, **kw) is w2, ctx
            want = np.where(mask, fresh, np.zeros((), dt))
            assert bits(w2) == bits(want), f"{ctx}: {describe_diff(w2, want)}"
        if state is not None:
            assert g.get_state() == state, f"{ctx}: the Generator advanced"
    # the mask of a rewind does not leak into the next fill
    plain = init(np.empty(shape, dt), seed=init_seed, **kw)
    again = init(np.empty(shape, dt), seed=init_seed, **kw)
    assert bits(plain) == bits(again)


def test_rewind_with_stream_of_the_default_generator():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    state = fastinit.default_generator.get_state()
    fresh = fastinit.normal_(np.empty((300, 1000), np.float32), generator=fastinit.default_generator, stream=5)
    mask = rng.random((300, 1000)) < 0.5
    w = rng.standard_normal((300, 1000)).astype(np.float32)
    fastinit.rewind_(w, mask, fastinit.normal_, stream=5)
    assert bits(w) == bits(np.where(mask, fresh, np.float32(0))), f"seed={seed}"
    assert fastinit.default_generator.get_state() == state


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_rewind_with_constant_inits(dtype):
    """constant_/zeros_/ones_ take no stream: rewind_ fills and masks (the fallback path)."""
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    dt = get_dtype(dtype)
    mask = rng.random((300, 1000)) < 0.4
    w0 = make_data("random", dtype, mask.size, rng).reshape(mask.shape)
    for init, kw, value in ((fastinit.constant_, dict(val=0.5), 0.5), (fastinit.zeros_, {}, 0.0),
                            (fastinit.ones_, {}, 1.0)):
        w = w0.copy()
        ctx = f"seed={seed} dtype={dtype} init={init.__name__}"
        error = None
        try:
            fastinit.rewind_(w, mask, init, **kw)
        except (TypeError, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
        assert error is None, f"{ctx}: rewind_(buf, mask, fastinit.{init.__name__}, **{kw}) was rejected: {error}"
        want = np.where(mask, np.asarray(value, dt), np.zeros((), dt))
        assert bits(w) == bits(want), ctx


def test_rewind_with_another_callable_fills_then_masks():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    mask = rng.random((300, 1000)) < 0.4
    w = rng.standard_normal(mask.shape).astype(np.float32)
    seen = {}

    def init(buf, *, seed, scale):
        seen["seed"] = seed
        buf[...] = scale * (np.arange(buf.size, dtype=np.float32).reshape(buf.shape) + 1)
        return buf

    fastinit.rewind_(w, mask, init, seed=11, scale=np.float32(0.5))
    want = np.where(mask, 0.5 * (np.arange(mask.size, dtype=np.float32).reshape(mask.shape) + 1), np.float32(0))
    assert bits(w) == bits(want.astype(np.float32)), f"seed={seed}"
    assert seen == {"seed": 11}


def test_rewind_errors_leave_the_buffer_and_generator_untouched():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w = _random_bytes((300, 1000), "float32", rng)
    w[np.isnan(w)] = 1.0
    before = bits(w)
    mask = rng.random(w.shape) < 0.5
    g = fastinit.Generator(3)
    default_state = fastinit.default_generator.get_state()
    cases = [
        (ValueError, (w, mask, fastinit.normal_), {}),                          # no seed, no stream
        (ValueError, (w, mask, fastinit.normal_), dict(generator=g)),           # a generator alone
        (ValueError, (w, mask.T, fastinit.normal_), dict(seed=1)),
        (ValueError, (w, mask[:10], fastinit.normal_), dict(seed=1)),
        (TypeError, (w, mask.astype(np.uint8), fastinit.normal_), dict(seed=1)),
        (TypeError, (w, mask.astype(np.float32), fastinit.normal_), dict(seed=1)),
        (TypeError, (w, mask, "normal_"), dict(seed=1)),
        (ValueError, (w, mask, fastinit.normal_), dict(seed=1, std=-1.0)),    # the init's own check
        (ValueError, (w, mask, fastinit.uniform_), dict(seed=1, a=1.0, b=0.0)),
    ]
    for exc, args, kw in cases:
        with pytest.raises(exc):
            fastinit.rewind_(*args, **kw)
        assert bits(w) == before, f"seed={seed} kwargs={kw}"
    assert g.get_state() == {"seed": 3, "stream": 0}
    assert fastinit.default_generator.get_state() == default_state
    # a failed rewind leaves no mask behind for the next fill
    a = fastinit.normal_(np.empty(1000, np.float32), seed=1)
    b = fastinit.normal_(np.empty(1000, np.float32), seed=1)
    assert bits(a) == bits(b) and np.count_nonzero(a) == 1000


# ---------------------------------------------------------------------------
# 6. errors leave the buffer untouched


def _nan_bits(dtype, rng):
    """A NaN of dtype with a random sign and payload (quiet or signalling)."""
    dt = get_dtype(dtype)
    if dt.itemsize == 8:
        b = 0x7FF0000000000000 | int(rng.integers(1, 1 << 52))
        u = np.uint64
    elif dt.itemsize == 4:
        b = 0x7F800000 | int(rng.integers(1, 1 << 23))
        u = np.uint32
    elif dtype == "float16":
        b = 0x7C00 | int(rng.integers(1, 1 << 10))
        u = np.uint16
    else:
        b = 0x7F80 | int(rng.integers(1, 1 << 7))
        u = np.uint16
    if rng.random() < 0.5:
        b |= 1 << (8 * dt.itemsize - 1)
    return np.array([b], u).view(dt)[0]


def _finite_random(shape, dtype, rng):
    w = make_data("random", dtype, int(np.prod(shape)), rng).reshape(shape)
    return w


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_is_rejected_before_any_change(dtype):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for shape in ((1,), (8, 16), (300_007,), ((1 << 20) + 5,)):     # the last: the sampled window's pass
        n = int(np.prod(shape))
        for where in {0, n - 1, int(rng.integers(0, n))}:
            w = _finite_random(shape, dtype, rng)
            w.reshape(-1)[where] = _nan_bits(dtype, rng)
            before = bits(w)
            ctx = f"seed={seed} dtype={dtype} shape={shape} nan at {where}"
            for call in (lambda: fastinit.prune_magnitude_(w, 0.5),
                         lambda: fastinit.prune_magnitude_(w, 0, return_mask=True),
                         lambda: fastinit.prune_magnitude_(w, n),
                         lambda: fastinit.prune_n_m_(w, 1, shape[-1] if shape[-1] <= 64 else 1)):
                with pytest.raises(ValueError, match="NaN"):
                    call()
                assert bits(w) == before, ctx
    # global: the NaN in the second buffer, the first one stays as it was
    first = _finite_random((400, 700), "float32", rng)
    second = _finite_random((1000,), dtype, rng)
    second[int(rng.integers(0, 1000))] = _nan_bits(dtype, rng)
    b1, b2 = bits(first), bits(second)
    for amount in (0.5, 0, 1.0):
        with pytest.raises(ValueError, match="NaN"):
            fastinit.global_prune_magnitude_([first, second], amount, return_masks=True)
        assert bits(first) == b1 and bits(second) == b2, f"seed={seed} dtype={dtype} amount={amount}"


def test_bad_amounts():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w = _finite_random((10, 10), "float32", rng)
    before = bits(w)
    n = w.size
    for amount in (-1, n + 1, 1.5, -0.1, float("nan"), float("inf"), np.int64(-1), np.float64(1.0001)):
        for call in (lambda: fastinit.prune_magnitude_(w, amount),
                     lambda: fastinit.global_prune_magnitude_([w], amount)):
            with pytest.raises(ValueError):
                call()
            assert bits(w) == before, f"seed={seed} amount={amount!r}"
    for amount in (True, False, np.bool_(True), "3", None, [3], 1j):
        for call in (lambda: fastinit.prune_magnitude_(w, amount),
                     lambda: fastinit.global_prune_magnitude_([w], amount)):
            with pytest.raises(TypeError):
                call()
            assert bits(w) == before, f"seed={seed} amount={amount!r}"


def test_bad_buffers():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    base = _finite_random((40, 64), "float32", rng)
    mask = np.ones((40, 64), bool)

    ro = base.copy()
    ro.flags.writeable = False
    ints = rng.integers(-100, 100, (40, 64)).astype(np.int32)
    view_owner = base.copy()
    strided = view_owner[:, ::2]          # (40, 32), not C-contiguous
    fortran = np.asfortranarray(base)
    cases = [(ro, ValueError), (ints, TypeError), (strided, ValueError), (fortran, ValueError),
             (view_owner.T, ValueError), (base.astype(">f4"), TypeError)]
    for buf, exc in cases:
        owner = buf.base if buf.base is not None and isinstance(buf.base, np.ndarray) else buf
        before = bits(owner)
        ctx = f"seed={seed} buffer {buf.dtype} {buf.shape} c_contiguous={buf.flags.c_contiguous} writeable={buf.flags.writeable}"
        m = np.ones(buf.shape, bool)
        calls = [lambda: fastinit.prune_magnitude_(buf, 0.5),
                 lambda: fastinit.prune_magnitude_(buf, 3, return_mask=True),
                 lambda: fastinit.global_prune_magnitude_([base.copy(), buf], 0.5),
                 lambda: fastinit.prune_n_m_(buf, 2, 4, axis=-1),
                 lambda: fastinit.apply_mask_(buf, m),
                 lambda: fastinit.rewind_(buf, m, fastinit.normal_, seed=1)]
        for i, call in enumerate(calls):
            with pytest.raises(exc):
                call()
            assert bits(owner) == before, f"{ctx} call {i}"
    with pytest.raises(TypeError):
        fastinit.global_prune_magnitude_(base, 0.5)          # an array, not a list
    with pytest.raises(TypeError):
        fastinit.global_prune_magnitude_(iter([base]), 0.5)
    del mask


def test_prune_n_m_errors_leave_the_buffer_untouched():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    w = _finite_random((6, 12, 8), "float32", rng)
    before = bits(w)
    cases = [
        (ValueError, dict(n=2, m=5, axis=-1)),        # 8 not a multiple of 5
        (ValueError, dict(n=2, m=5, axis=0)),         # 6
        (ValueError, dict(n=2, m=16, axis=1)),        # 12
        (ValueError, dict(n=5, m=4)),                 # n > m
        (ValueError, dict(n=-1, m=4)),
        (ValueError, dict(n=0, m=0)),                 # m < 1
        (ValueError, dict(n=1, m=65)),                # m > 64
        (ValueError, dict(n=2, m=4, axis=3)),
        (ValueError, dict(n=2, m=4, axis=-4)),
        (TypeError, dict(n=2, m=4, axis=1.0)),
        (TypeError, dict(n=2, m=4, axis="0")),
        (TypeError, dict(n=2.0, m=4)),
        (TypeError, dict(n=2, m=4.0)),
        (TypeError, dict(n=True, m=4)),
    ]
    for exc, kw in cases:
        with pytest.raises(exc):
            fastinit.prune_n_m_(w, **kw)
        assert bits(w) == before, f"seed={seed} {kw}"
    with pytest.raises(ValueError):
        fastinit.prune_n_m_(np.array(1.0, np.float32), 1, 1)


# ---------------------------------------------------------------------------
# 7. the memory bound (no buffer-sized allocation): a few seconds, kept in the default run


def _run_child(code, timeout=300):
    # ru_maxrss survives exec: start the child through a launcher (tests/_child.py)
    return run_python_fresh(code, timeout=timeout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_peak_memory_of_pruning_a_1_gib_buffer():
    """Slow-ish (a few seconds: two 1 GiB fills and prunes in a child)."""
    out = _run_child("""
        import resource, numpy as np, fastinit
        def peak():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        n = 1 << 28
        buf = fastinit.normal((n,), seed=1)                  # float32, 1 GiB
        base = peak()
        fastinit.prune_magnitude_(buf, 0.9)
        grown = peak() - base
        zeros = n - int(np.count_nonzero(buf))
        fastinit.normal_(buf, seed=2)
        base2 = peak()
        mask = fastinit.prune_magnitude_(buf, 0.9, return_mask=True)
        grown_mask = peak() - base2
        print(base, grown, zeros, grown_mask, int(np.count_nonzero(mask)), fastinit.get_num_threads())
    """)
    base, grown, zeros, grown_mask, kept, threads = map(int, out.split())
    n = 1 << 28
    assert zeros == round(0.9 * n), out
    assert kept == n - round(0.9 * n), out
    assert base >= n * 4, f"the fill did not touch the buffer? peak {base / MI:.0f} MiB"
    assert grown < 16 * MI, f"pruning 1 GiB ({threads} threads) grew the peak RSS by {grown / MI:.1f} MiB"
    assert 200 * MI < grown_mask < 300 * MI, \
        f"with return_mask=True the peak RSS grew by {grown_mask / MI:.1f} MiB (the mask is 256 MiB)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_peak_memory_when_the_sampled_window_holds_almost_everything():
    """A 1 GiB layout whose strided sample spreads over [0, 2] while every other
    entry is one value inside the window: the window's keys stay bounded (8 MiB),
    the radix passes decide, and the result is exact."""
    out = _run_child("""
        import resource, numpy as np, fastinit
        def peak():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        n = 1 << 28
        buf = np.full(n, 1.0, np.float32)
        buf[::256] = np.linspace(0.0, 2.0, buf[::256].size, dtype=np.float32)   # the sample's stride
        base = peak()
        fastinit.prune_magnitude_(buf, 0.5)
        grown = peak() - base
        print(grown, n - int(np.count_nonzero(buf)), int(np.count_nonzero(buf[::256][-1000:])))
    """)
    grown, zeros, top_kept = map(int, out.split())
    assert zeros == (1 << 27), out
    assert top_kept == 1000, out                # the largest sampled entries are kept
    assert grown < 16 * MI, f"pruning grew the peak RSS by {grown / MI:.1f} MiB"


# ---------------------------------------------------------------------------
# Big 32-bit-key selections (>= 2**20 keys): the threshold is bracketed from a
# strided sample first; the sample decides only the speed, never the result
# ---------------------------------------------------------------------------

BIG = (1 << 20) + 4099


def _check_prune(w, k, want, keep, ctx):
    """prune_magnitude_(w, k) with its mask: the reference's values and mask, bit for bit."""
    mask = fastinit.prune_magnitude_(w, k, return_mask=True)
    assert bits(w) == bits(want), f"{ctx}: {describe_diff(w, want)}"
    assert np.array_equal(mask, keep), ctx


def _adversarial(n, rng):
    """Every 16th key huge: a strided sample (stride a power of two) sees mostly those."""
    x = rng.standard_normal(n) * 1e-3
    x[::16] = 100.0 + rng.random(x[::16].size)
    return x


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "adversarial", "equal"])
def test_big_prune_matches_reference(dtype, kind, restore_runtime):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.standard_normal(BIG)
    elif kind == "adversarial":
        x = _adversarial(BIG, rng)
    else:
        x = make_data(kind, "float64", BIG, rng)
    w0 = x.astype(get_dtype(dtype))
    order = stable_order(w0)
    for k in (1, BIG // 100, BIG // 2, int(0.9 * BIG), BIG - 17, int(rng.integers(1, BIG))):
        want, keep = ref_prune(w0, k, order)
        for threads in (1, 2):
            fastinit.set_num_threads(threads)
            _check_prune(w0.copy(), k, want, keep, f"seed={seed} dtype={dtype} kind={kind} k={k} threads={threads}")


def test_big_prune_of_an_unaligned_view(restore_runtime):
    """float32 keys read eight at a time from a view one element off its
    allocation's alignment, with a length that leaves a scalar tail."""
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(BIG + 8).astype(np.float32)
    for off in (1, 3):
        w0 = base[off:off + BIG]
        order = stable_order(w0)
        for k in (BIG // 10, int(0.9 * BIG)):
            want, keep = ref_prune(w0, k, order)
            for threads in (1, 2):
                fastinit.set_num_threads(threads)
                full = base.copy()
                w = full[off:off + BIG]
                assert w.ctypes.data % 32 != 0
                ctx = f"seed={seed} off={off} k={k} threads={threads}"
                _check_prune(w, k, want, keep, ctx)
                assert bits(full[:off]) == bits(base[:off]) and bits(full[off + BIG:]) == bits(base[off + BIG:]), ctx


def test_big_global_prune_matches_reference(restore_runtime):
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(700_001).astype(np.float32)
    b = (rng.standard_normal(500_003) * 0.5).astype(np.float16)
    c = _adversarial(300_007, rng).astype(np.float32)
    cat = np.concatenate([a.astype(np.float64), b.astype(np.float64), c.astype(np.float64)])
    order = np.argsort(np.abs(cat), kind="stable")
    for k in (cat.size // 3, int(0.9 * cat.size)):
        pruned = np.ones(cat.size, bool)
        pruned[order[:k]] = False
        bufs = [a.copy(), b.copy(), c.copy()]
        masks = fastinit.global_prune_magnitude_(bufs, k, return_masks=True)
        start = 0
        for buf, orig, mask in zip(bufs, (a, b, c), masks):
            keep = pruned[start:start + orig.size]
            want = np.where(keep, orig, np.zeros((), orig.dtype))
            assert bits(buf) == bits(want), f"seed={seed} k={k}: {describe_diff(buf, want)}"
            assert np.array_equal(mask, keep), f"seed={seed} k={k}"
            start += orig.size
