"""N-dimensional shards: a local buffer holding global[index]
receives exactly those elements of the whole-tensor fill, with the whole
tensor's fans, for every fill, every dtype and every way of cutting."""
import itertools

import numpy as np
import pytest

import fastinit

ml_dtypes = pytest.importorskip("ml_dtypes")

DTYPES = [np.float32, np.float64, np.float16, ml_dtypes.bfloat16]

FILLS = [
    ("uniform_", {"a": -0.3, "b": 0.7}),
    ("normal_", {"mean": 0.1, "std": 0.5}),
    ("trunc_normal_", {"std": 0.02}),
    ("lecun_uniform_", {}),
    ("lecun_normal_", {"distribution": "truncated_normal"}),
    ("xavier_uniform_", {"gain": 1.3}),
    ("xavier_normal_", {}),
    ("glorot_uniform_", {}),
    ("kaiming_uniform_", {"a": 5 ** 0.5}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("he_uniform_", {}),
    ("he_normal_", {"distribution": "truncated_normal"}),
    ("variance_scaling_", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
]


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


def bounds(n, parts):
    """Uneven cut points of range(n) into `parts` pieces (the first ones larger)."""
    cuts = [0]
    for i in range(parts):
        cuts.append(cuts[-1] + n // parts + (1 if i < n % parts else 0))
    return list(zip(cuts[:-1], cuts[1:]))


def tile(gshape, fill, kwargs, dtype, seed, index, offset=0):
    local_shape = tuple(s.stop - s.start for s in index)
    buf = np.full(local_shape, 7, dtype)
    return getattr(fastinit, fill)(buf, seed=seed, stream=3, offset=offset, global_shape=gshape, index=index,
                                   **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fill,kwargs", FILLS, ids=[f for f, _ in FILLS])
def test_row_column_and_tile_shards_equal_slices_of_the_whole(fill, kwargs, dtype):
    seed = fresh_seed()
    gshape = (37, 29)
    whole = getattr(fastinit, fill)(np.empty(gshape, dtype), seed=seed, stream=3, **kwargs)
    cuts = {
        "rows": [(slice(a, b), slice(0, 29)) for a, b in bounds(37, 4)],
        "columns": [(slice(0, 37), slice(a, b)) for a, b in bounds(29, 3)],
        "tiles": [(slice(a, b), slice(c, d)) for (a, b), (c, d) in itertools.product(bounds(37, 3), bounds(29, 2))],
    }
    for kind, pieces in cuts.items():
        seen = np.zeros(gshape, bool)
        for index in pieces:
            local = tile(gshape, fill, kwargs, dtype, seed, index)
            assert np.array_equal(local.view(np.uint8), np.ascontiguousarray(whole[index]).view(np.uint8)), \
                (kind, index, seed)
            seen[index] = True
        assert seen.all()


@pytest.mark.parametrize("gshape", [(6, 5, 3, 3), (4, 3, 2, 5, 2), (1000,)])
def test_conv_and_1d_shards(gshape):
    seed = fresh_seed()
    fill, kwargs = ("kaiming_uniform_", {"a": 5 ** 0.5}) if len(gshape) > 1 else ("normal_", {})
    whole = getattr(fastinit, fill)(np.empty(gshape, np.float32), seed=seed, stream=3, offset=11, **kwargs)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        index = []
        for g in gshape:
            a = int(rng.integers(0, g))
            b = int(rng.integers(a + 1, g + 1))
            index.append(slice(a, b))
        index = tuple(index)
        local = tile(gshape, fill, kwargs, np.float32, seed, index, offset=11)
        assert np.array_equal(local, whole[index]), (index, seed)


def test_index_forms_offsets_and_negative_bounds():
    seed = fresh_seed()
    g = (20, 30)
    whole = fastinit.xavier_uniform_(np.empty(g, np.float32), seed=seed)
    a = fastinit.xavier_uniform_(np.empty((5, 7), np.float32), seed=seed, global_shape=g, index=(10, 20))
    assert np.array_equal(a, whole[10:15, 20:27])
    b = fastinit.xavier_uniform_(np.empty((5, 30), np.float32), seed=seed, global_shape=g,
                                 index=(slice(-5, None), slice(None)))
    assert np.array_equal(b, whole[-5:])
    c = fastinit.xavier_uniform_(np.empty((3, 4), np.float32), seed=seed, global_shape=list(g),
                                 index=(slice(2, 5), 26))
    assert np.array_equal(c, whole[2:5, 26:30])
    # global_shape alone: the buffer is the whole tensor
    d = fastinit.xavier_uniform_(np.empty(g, np.float32), seed=seed, global_shape=g)
    assert np.array_equal(d, whole)


def test_fans_come_from_the_global_shape():
    seed = fresh_seed()
    g = (256, 64)
    shard = fastinit.kaiming_uniform_(np.empty((256, 8), np.float32), seed=seed, global_shape=g,
                                      index=(slice(None), slice(0, 8)))
    bound = np.sqrt(6.0 / 64)                         # fan_in of the whole tensor, not of the shard (8)
    assert np.abs(shard).max() <= bound and np.abs(shard).max() > 0.9 * bound
    same = fastinit.kaiming_uniform_(np.empty((256, 8), np.float32), seed=seed, fan_in=64,
                                     global_shape=g, index=(slice(None), slice(0, 8)))
    assert np.array_equal(shard, same)


def test_non_contiguous_local_buffer_and_random_bits():
    seed = fresh_seed()
    g = (16, 40)
    whole = fastinit.he_normal_(np.empty(g, np.float64), seed=seed)
    host = np.zeros((8, 30), np.float64)
    view = host[:, ::3]                                  # (8, 10), strided
    fastinit.he_normal_(view, seed=seed, global_shape=g, index=(slice(4, 12), slice(30, 40)))
    assert np.array_equal(view, whole[4:12, 30:40])
    assert (host[:, 1::3] == 0).all()
    bits = fastinit.random_bits_(np.empty(g, np.uint32), seed=seed)
    part = fastinit.random_bits_(np.empty((3, 9), np.uint32), seed=seed, global_shape=g, index=(5, 31))
    assert np.array_equal(part, bits[5:8, 31:40])


def test_allocating_constructors_take_shards():
    seed = fresh_seed()
    whole = fastinit.trunc_normal((64, 48), std=0.02, seed=seed, dtype="bfloat16")
    part = fastinit.trunc_normal((16, 12), std=0.02, seed=seed, dtype="bfloat16", global_shape=(64, 48),
                                 index=(slice(16, 32), slice(36, 48)))
    assert np.array_equal(part.view(np.uint16), whole[16:32, 36:48].view(np.uint16))


def test_rewind_a_shard():
    seed = fresh_seed()
    g = (50, 40)
    index = (slice(10, 30), slice(5, 25))
    shard = fastinit.kaiming_uniform_(np.empty((20, 20), np.float32), seed=seed, global_shape=g, index=index)
    init = shard.copy()
    mask = fastinit.prune_magnitude_(shard, 0.6, return_mask=True)
    shard += 1.0
    fastinit.rewind_(shard, mask, fastinit.kaiming_uniform_, seed=seed, global_shape=g, index=index)
    assert np.array_equal(shard, np.where(mask, init, 0))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"index": (slice(0, 2), slice(0, 3))}, ValueError, "needs global_shape"),
    ({"global_shape": (10, 10)}, ValueError, "pass index="),
    ({"global_shape": (10, 10), "index": (slice(0, 2),)}, ValueError, "1 entries"),
    ({"global_shape": (10, 10), "index": (slice(0, 4, 2), slice(0, 3))}, ValueError, "step"),
    ({"global_shape": (10, 10), "index": (slice(0, 3), slice(0, 3))}, ValueError, "spans 3"),
    ({"global_shape": (10, 10), "index": (9, 0)}, ValueError, "does not fit"),
    ({"global_shape": (10, 10), "index": ("0", 0)}, TypeError, "slice or an int"),
    ({"global_shape": (10, -1), "index": (0, 0)}, ValueError, "negative"),
    ({"global_shape": "ab", "index": (0, 0)}, TypeError, "global_shape"),
    ({"global_shape": (2, 10, 3), "index": (0, 0, 0)}, ValueError, "3 entries|dimensions"),
    ({"global_shape": (1 << 40, 1 << 30), "index": (0, 0), "offset": 1 << 63}, ValueError, "2\\*\\*64"),
])
def test_bad_placements_raise_before_writing(kwargs, exc, match):
    buf = np.full((2, 3), 5.0, np.float32)
    with pytest.raises(exc, match=match):
        fastinit.xavier_uniform_(buf, seed=1, **kwargs)
    assert (buf == 5.0).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_tiles_are_shared_over_threads_with_the_same_bits(threads):
    seed = fresh_seed()
    g = (2048, 1031)
    index = (slice(17, 2001), slice(300, 811))            # 1984 runs of 511: well over one chunk
    before = fastinit.get_num_threads()
    try:
        fastinit.set_num_threads(1)
        whole = fastinit.trunc_normal_(np.empty(g, np.float32), std=0.02, seed=seed)
        fastinit.set_num_threads(threads)
        tile = fastinit.trunc_normal_(np.empty((1984, 511), np.float32), std=0.02, seed=seed,
                                      global_shape=g, index=index)
        bits = fastinit.random_bits_(np.empty((1984, 511), np.uint32), seed=seed, global_shape=g, index=index)
    finally:
        fastinit.set_num_threads(before)
    assert np.array_equal(tile, whole[index])
    assert np.array_equal(bits, fastinit.random_bits_(np.empty(g, np.uint32), seed=seed)[index])


def test_edge_placements():
    seed = fresh_seed()
    # a tensor of exactly 2**64 elements: the row stride is 2**64 and the tile has one row
    a = fastinit.uniform_(np.empty((1, 5), np.float32), seed=seed, global_shape=(1, 2 ** 64), index=(0, 10))
    assert np.array_equal(a[0], fastinit.uniform_(np.empty(5, np.float32), seed=seed, offset=10))
    # offsets near the end of the stream
    g = (4, 6)
    off = 2 ** 64 - 24
    whole = fastinit.normal_(np.empty(g, np.float32), seed=seed, offset=off)
    part = fastinit.normal_(np.empty((2, 3), np.float32), seed=seed, offset=off, global_shape=g, index=(2, 3))
    assert np.array_equal(part, whole[2:, 3:])
    # 0-d and size-0 tensors
    z = fastinit.normal_(np.empty((), np.float32), seed=seed, global_shape=(), index=())
    assert z == fastinit.normal_(np.empty((), np.float32), seed=seed)
    e = fastinit.normal_(np.empty((0, 3), np.float32), seed=seed, global_shape=(5, 3), index=(slice(2, 2), slice(None)))
    assert e.shape == (0, 3)


def test_tall_narrow_tiles_batch_their_run_tables(monkeypatch):
    seed = fresh_seed()
    g = (5000, 9)
    whole = fastinit.he_normal_(np.empty(g, np.float16), seed=seed)
    monkeypatch.setattr(fastinit._buffers, "RUNS_PER_CALL", 777)        # many batches of run tables
    tile = fastinit.he_normal_(np.empty((4990, 1), np.float16), seed=seed, global_shape=g,
                               index=(slice(7, 4997), slice(4, 5)))
    assert np.array_equal(tile, whole[7:4997, 4:5])
