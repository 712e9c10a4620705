"""fastinit.dask: lazy Dask arrays whose chunks are generated
where they are computed, bitwise equal to the eager NumPy fill. Skips cleanly
without Dask (and the cluster test without dask.distributed)."""
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
fd = pytest.importorskip("fastinit.dask")

import fastinit  # noqa: E402


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


CASES = [
    ("he_uniform", (), {}, (301, 257), (64, 100), np.float32),
    ("kaiming_normal", (), {"mode": "fan_out", "nonlinearity": "relu"}, (40, 16, 3, 3), (7, 5, 3, 2), np.float64),
    ("trunc_normal", (0.0, 0.02), {}, (333,), (50,), np.float16),
    ("xavier_uniform", (), {"gain": 1.5}, (128, 96), "auto", "bfloat16"),
    ("variance_scaling", (2.0, "fan_avg", "uniform"), {"layout": "keras"}, (3, 3, 32, 48), (2, 3, 10, 13),
     np.float32),
    ("normal", (), {"mean": 1.0, "std": 0.1}, (1000, 3), (333, 1), np.float32),
]


@pytest.mark.parametrize("name,args,kwargs,shape,chunks,dtype", CASES, ids=[c[0] for c in CASES])
def test_threaded_compute_equals_eager_fill(name, args, kwargs, shape, chunks, dtype):
    seed = fresh_seed()
    lazy = getattr(fd, name)(shape, *args, chunks=chunks, dtype=dtype, seed=seed, **kwargs)
    assert isinstance(lazy, da.Array) and lazy.shape == shape
    eager = getattr(fastinit, name + "_")(fastinit.empty(shape, dtype), *args, seed=seed, **kwargs)
    got = lazy.compute(scheduler="threads")
    assert got.dtype == eager.dtype and np.array_equal(got.view(np.uint8), eager.view(np.uint8))
    # any slice computes only what it needs and equals the slice of the whole
    sl = tuple(slice(s // 3, s // 3 + max(1, s // 4)) for s in shape)
    assert np.array_equal(lazy[sl].compute(scheduler="sync").view(np.uint8), eager[sl].view(np.uint8))


def test_values_do_not_depend_on_chunking_and_are_fixed_at_creation():
    fastinit.manual_seed(fresh_seed())
    state = fastinit.default_generator.get_state()
    a = fd.init("lecun_normal_", (200, 150), chunks=(64, 64))      # reserves the default's next stream now
    assert fastinit.default_generator.get_state()["stream"] == state["stream"] + 1
    first = a.compute(scheduler="threads")
    assert np.array_equal(first, a.compute(scheduler="sync"))     # the same values every time
    fresh = fastinit.lecun_normal_(np.empty((200, 150), np.float32), seed=state["seed"], stream=state["stream"])
    assert np.array_equal(first, fresh)
    for chunks in [(200, 150), (1, 150), (37, 11), "auto"]:
        c = fd.lecun_normal((200, 150), chunks=chunks, seed=state["seed"], stream=state["stream"])
        assert np.array_equal(c.compute(), first), chunks


def test_graph_holds_parameters_not_data():
    big = fd.he_normal((1 << 20, 1 << 14), chunks=(1 << 14, 1 << 14), seed=1)    # 64 GiB, never allocated
    graph = dict(big.__dask_graph__())
    assert len(graph) == 64 and len(pickle.dumps(graph)) < 64 * 2048
    corner = big[:3, :3].compute()
    whole_rows = fastinit.he_normal_(np.empty((3, 1 << 14), np.float32), seed=1, fan_in=1 << 14)
    assert np.array_equal(corner, whole_rows[:, :3])


def test_bad_arguments_raise_at_creation():
    with pytest.raises(ValueError, match="unknown fill"):
        fd.init("he_sideways", (4, 4), seed=1)
    with pytest.raises(ValueError, match="Mode|mode"):
        fd.kaiming_uniform((4, 4), mode="fan_sideways", seed=1)
    with pytest.raises(ValueError, match="fewer than 2"):
        fd.xavier_uniform((10,), seed=1)
    with pytest.raises(TypeError, match="dtype"):
        fd.uniform((4, 4), dtype=np.int32, seed=1)
    with pytest.raises(ValueError, match="a < b"):
        fd.uniform((4, 4), 1.0, 0.0, seed=1)


def test_local_cluster_with_worker_processes():
    distributed = pytest.importorskip("dask.distributed")
    seed = fresh_seed()
    shape, chunks = (1200, 800), (300, 200)
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        lazy = fd.kaiming_uniform(shape, a=5 ** 0.5, chunks=chunks, dtype="bfloat16", seed=seed)
        kept = client.persist(lazy)
        distributed.wait(kept)
        holders = {w for ws in client.who_has(kept).values() for w in ws}
        assert len(holders) >= 2                         # chunks were generated on several workers
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 3 and __import__("os").getpid() not in pids
        got = kept.compute()
    eager = fastinit.kaiming_uniform_(fastinit.empty(shape, "bfloat16"), a=5 ** 0.5, seed=seed)
    assert np.array_equal(got.view(np.uint16), eager.view(np.uint16))


def test_rejected_arrays_take_no_stream_and_bad_inputs_say_what():
    g = fastinit.Generator(7)
    for bad in (lambda: fd.normal((4, 4), 0.0, -1.0, generator=g),
                lambda: fd.kaiming_uniform((10,), generator=g)):
        with pytest.raises(ValueError):
            bad()
    assert g.get_state() == {"seed": 7, "stream": 0}
    with pytest.raises(TypeError, match="generator"):
        fd.normal((4, 4), generator=np.random.default_rng())
    with pytest.raises(TypeError, match="dtype must be"):
        fd.normal((4, 4), dtype="int32", seed=1)
    with pytest.raises(ValueError, match="not both"):
        fd.normal((4, 4), seed=1, generator=g)
