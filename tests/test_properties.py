"""Promises of the stream (docs/STREAM.md) checked on the package itself, over inputs
chosen by hypothesis: a shard equals the slice of the whole, a strided view
gets the values of its contiguous twin, and the float32 normal is accurate."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastinit

FILLS = {
    "uniform": lambda buf, **kw: fastinit.uniform_(buf, -1.5, 0.5, **kw),
    "normal": lambda buf, **kw: fastinit.normal_(buf, 0.3, 2.0, **kw),
    "trunc_normal": lambda buf, **kw: fastinit.trunc_normal_(buf, 0.0, 0.5, -0.4, 1.1, **kw),
    "he_uniform": lambda buf, **kw: fastinit.he_uniform_(buf, fan_in=64, fan_out=64, **kw),
}
DTYPES = [np.float32, np.float64, np.float16]

u64 = st.integers(0, 2 ** 64 - 1)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bytes(a):
    return np.ascontiguousarray(a).view(np.uint8)


@SETTINGS
@given(kernel=st.sampled_from(sorted(FILLS)), dtype=st.sampled_from(DTYPES), seed=u64, stream=u64,
       offset=st.integers(0, 2 ** 40), n=st.integers(1, 3000), data=st.data())
def test_shard_equals_slice_of_whole(kernel, dtype, seed, stream, offset, n, data):
    whole = FILLS[kernel](np.empty(n, dtype), seed=seed, stream=stream, offset=offset)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    for lo, hi in zip([0] + cuts, cuts + [n]):
        shard = FILLS[kernel](np.empty(hi - lo, dtype), seed=seed, stream=stream, offset=offset + lo)
        assert np.array_equal(_bytes(shard), _bytes(whole[lo:hi])), (kernel, dtype, seed, stream, offset, lo, hi)


@SETTINGS
@given(kernel=st.sampled_from(sorted(FILLS)), dtype=st.sampled_from(DTYPES), seed=u64,
       shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), data=st.data())
def test_strided_view_gets_values_of_contiguous_twin(kernel, dtype, seed, shape, data):
    ndim = len(shape)
    steps = [data.draw(st.sampled_from([1, 2, -1, -3])) for _ in range(ndim)]
    perm = data.draw(st.permutations(range(ndim)))
    base = np.full([s * abs(k) for s, k in zip(shape, steps)], 7.0, dtype)
    view = base[tuple(slice(None, None, k) for k in steps)].transpose(perm)
    twin = FILLS[kernel](np.empty(view.shape, dtype), seed=seed)
    untouched = np.ones(base.shape, bool)
    untouched[tuple(slice(None, None, k) for k in steps)] = False
    FILLS[kernel](view, seed=seed)
    assert np.array_equal(_bytes(view), _bytes(twin))
    assert (base[untouched] == 7.0).all(), "wrote outside the view"


def test_large_strided_view_spans_several_scratch_pieces():
    base = np.zeros((700, 1100), np.float32)
    view = base[:, ::2]  # 385,000 elements: more than one scratch piece
    fastinit.normal_(view, seed=11)
    twin = fastinit.normal_(np.empty(view.shape, np.float32), seed=11)
    assert np.array_equal(view, twin)
    assert (base[:, 1::2] == 0).all()


def test_f32_normal_within_4_ulp_of_f64_formula():
    """|z32 - z64| <= 4 ulp(max(|z64|, 1)), z64 the same Box-Muller formula in
    float64 on the same Philox words (fresh seed, 2 Mi values)."""
    seed = int(np.random.SeedSequence().entropy % 2 ** 64)
    n = 1 << 21
    words = fastinit.random_bits_(np.empty(n, np.uint32), seed=seed)
    z = fastinit.normal_(np.empty(n, np.float32), seed=seed).astype(np.float64)
    x1 = words[0::2].astype(np.float64)
    x2 = (words[1::2] >> 8).astype(np.float64)
    r = np.sqrt(-2.0 * np.log((x1 + 1.0) / 2.0 ** 32))
    theta = 2.0 * np.pi * x2 / 2.0 ** 24
    z64 = np.empty(n)
    z64[0::2] = r * np.cos(theta)
    z64[1::2] = r * np.sin(theta)
    ulp = np.spacing(np.maximum(np.abs(z64), 1.0).astype(np.float32)).astype(np.float64)
    err = np.abs(z - z64) / ulp
    assert err.max() <= 4.0, (seed, int(err.argmax()), err.max())
