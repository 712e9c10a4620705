"""Generator semantics: one call = one stream.

fastinit.Generator(s) hands streams 0, 1, 2, ... to successive fills, so its
k-th fill equals the fill with seed=s, stream=k; get_state()/set_state()
replay fills exactly; manual_seed makes the module default reproducible.
Which stream a call used is observed by comparing its output with
seed=..., stream=k fills.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastinit
from _stats import fresh_seed, get_dtype

# run child interpreters outside the repository root, where the uncompiled
# fastinit/ source folder would shadow the installed package
_NEUTRAL_CWD = os.path.dirname(os.path.abspath(__file__))

U64 = 1 << 64

SCHEMES = [
    "lecun_uniform_", "lecun_normal_", "xavier_uniform_", "xavier_normal_", "glorot_uniform_",
    "glorot_normal_", "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_",
    "variance_scaling_",
]
RANDOM_FILLS = ["uniform_", "normal_", "trunc_normal_"] + SCHEMES


def fill(name, shape=(24, 10), dtype=np.float32, **kw):
    buf = np.full(shape, np.nan, dtype=dtype)
    out = getattr(fastinit, name)(buf, **kw)
    assert out is buf
    assert not np.isnan(buf.astype(np.float64)).any()
    return buf.tobytes()


@pytest.fixture
def restore_default():
    """Tests that reseed the module default generator put its state back afterwards."""
    state = fastinit.default_generator.get_state()
    yield
    fastinit.default_generator.set_state(state)


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_successive_calls_take_successive_streams(name, dtype_name):
    dtype = get_dtype(dtype_name)
    s = fresh_seed()
    g = fastinit.Generator(s)
    assert g.seed == s
    assert g.get_state() == {"seed": s, "stream": 0}
    got = [fill(name, dtype=dtype, generator=g) for _ in range(4)]
    assert g.get_state() == {"seed": s, "stream": 4}
    for k in range(4):
        assert got[k] == fill(name, dtype=dtype, seed=s, stream=k), f"{name} call {k} of Generator({s}) != stream {k}"
    assert got[0] == fill(name, dtype=dtype, seed=s), f"seed={s} is not stream 0 of Generator({s})"
    assert len(set(got)) == 4, f"{name} Generator({s}): repeated output across streams"


def test_streams_shared_across_functions():
    """The stream counter is per generator, not per function."""
    s = fresh_seed()
    g = fastinit.Generator(s)
    seq = ["uniform_", "kaiming_normal_", "trunc_normal_", "xavier_uniform_", "normal_", "variance_scaling_"]
    got = [fill(n, generator=g) for n in seq]
    for k, n in enumerate(seq):
        assert got[k] == fill(n, seed=s, stream=k), f"{n} as call {k} of Generator({s})"


def test_constants_do_not_take_streams():
    s = fresh_seed()
    g = fastinit.Generator(s)
    fastinit.he_uniform_(np.empty((256, 128), np.float32), generator=g)
    fastinit.zeros_(np.empty(256, np.float32))
    fastinit.ones_(np.empty(256, np.float32))
    fastinit.constant_(np.empty(256, np.float32), 0.5)
    assert g.get_state() == {"seed": s, "stream": 1}


def test_get_state_set_state_replays():
    s = fresh_seed()
    g = fastinit.Generator(s)
    for _ in range(5):
        fill("normal_", generator=g)
    state = g.get_state()
    assert state == {"seed": s, "stream": 5}
    plan = [("uniform_", np.float32), ("kaiming_uniform_", np.float64), ("trunc_normal_", np.float16),
            ("xavier_normal_", np.float32), ("variance_scaling_", np.float64)]
    first = [fill(n, dtype=d, generator=g) for n, d in plan]
    after = g.get_state()
    g.set_state(state)
    assert g.get_state() == state
    again = [fill(n, dtype=d, generator=g) for n, d in plan]
    assert again == first, f"set_state did not replay the fills of Generator({s})"
    assert g.get_state() == after
    # the state is portable to another generator
    h = fastinit.Generator()
    h.set_state(state)
    assert [fill(n, dtype=d, generator=h) for n, d in plan] == first
    # get_state returns a copy: changing it does not change the generator
    st = g.get_state()
    st["stream"] = 0
    assert g.get_state() == after


def test_set_state_rejects_bad_states():
    s = fresh_seed()
    g = fastinit.Generator(s)
    g.next_stream()
    before = g.get_state()
    for bad, exc in [({"seed": s}, ValueError), ({"stream": 1}, ValueError), ((s, 1), ValueError),
                     ({"seed": s, "stream": 1, "x": 0}, ValueError), ({"seed": -1, "stream": 0}, ValueError),
                     ({"seed": U64, "stream": 0}, ValueError), ({"seed": s, "stream": -1}, ValueError),
                     ({"seed": 1.0, "stream": 0}, TypeError), ({"seed": s, "stream": "2"}, TypeError)]:
        with pytest.raises(exc):
            g.set_state(bad)
        assert g.get_state() == before, f"failed set_state({bad!r}) changed the generator"


def test_manual_seed_makes_default_reproducible(restore_default):
    s = fresh_seed()
    r = fastinit.manual_seed(s)
    assert r is fastinit.default_generator
    assert fastinit.default_generator.get_state() == {"seed": s, "stream": 0}
    a = [fill("kaiming_uniform_"), fill("normal_"), fill("trunc_normal_", dtype=np.float64)]
    fastinit.manual_seed(s)
    b = [fill("kaiming_uniform_"), fill("normal_"), fill("trunc_normal_", dtype=np.float64)]
    assert a == b, f"manual_seed({s}) is not reproducible"
    assert a[0] == fill("kaiming_uniform_", seed=s, stream=0)
    assert a[1] == fill("normal_", seed=s, stream=1)
    assert a[2] == fill("trunc_normal_", dtype=np.float64, seed=s, stream=2)
    # the same through the generator's own method, and np.uint64 seeds
    fastinit.default_generator.manual_seed(np.uint64(s))
    assert fill("kaiming_uniform_") == a[0]


def test_manual_seed_validates(restore_default):
    before = fastinit.default_generator.get_state()
    for bad, exc in [(-1, ValueError), (U64, ValueError), (1.0, TypeError), ("3", TypeError), (True, TypeError)]:
        with pytest.raises(exc):
            fastinit.manual_seed(bad)
        assert fastinit.default_generator.get_state() == before


def test_default_generator_takes_streams(restore_default):
    s = fresh_seed()
    fastinit.manual_seed(s)
    fill("uniform_")
    fill("he_normal_")
    assert fastinit.default_generator.get_state() == {"seed": s, "stream": 2}
    # seed= does not use the default generator; stream= names the stream without advancing it
    fill("uniform_", seed=3)
    assert fastinit.default_generator.get_state() == {"seed": s, "stream": 2}
    x = fill("uniform_", stream=7)
    assert fastinit.default_generator.get_state() == {"seed": s, "stream": 2}
    assert x == fill("uniform_", seed=s, stream=7)


def test_reseed_from_entropy(restore_default):
    fastinit.manual_seed(5)
    fill("uniform_")
    new = fastinit.seed()
    assert isinstance(new, int) and 0 <= new < U64
    assert fastinit.default_generator.get_state() == {"seed": new, "stream": 0}
    assert fastinit.seed() != new  # 2**-64 chance of a false failure


def test_different_seeds_differ():
    s = fresh_seed()
    seeds = {s, s ^ 1, s ^ (1 << 32), s ^ (1 << 63), 0, U64 - 1, 1 << 32, 1}
    outs = {fill("uniform_", shape=(64,), seed=t) for t in seeds}
    assert len(outs) == len(seeds), f"two of the seeds {sorted(seeds)} gave the same output"
    for name in RANDOM_FILLS:
        a = fill(name, seed=s)
        b = fill(name, seed=s ^ (1 << 40))
        assert a != b, f"{name}: seeds {s} and {s ^ (1 << 40)} gave the same output"
        assert np.mean(np.frombuffer(a, np.float32) == np.frombuffer(b, np.float32)) < 0.01


def test_different_streams_differ():
    s = fresh_seed()
    streams = [0, 1, 2, 1 << 32, (1 << 32) + 1, U64 - 1, 12345]
    outs = {fill("normal_", shape=(64,), seed=s, stream=t) for t in streams}
    assert len(outs) == len(streams), f"seed {s}: two of the streams {streams} gave the same output"


@pytest.mark.parametrize("name", RANDOM_FILLS)
def test_explicit_stream_does_not_advance_generator(name):
    s = fresh_seed()
    g = fastinit.Generator(s)
    for _ in range(3):
        fill(name, generator=g)
    before = g.get_state()
    for k in (0, 5, 2, U64 - 1):
        x = fill(name, generator=g, stream=k)
        assert g.get_state() == before, f"{name} generator=, stream={k} advanced the generator"
        assert x == fill(name, seed=s, stream=k)
    # and the generator then continues where it was
    assert fill(name, generator=g) == fill(name, seed=s, stream=3)


def test_generator_without_seed_differs():
    g1, g2 = fastinit.Generator(), fastinit.Generator()
    assert g1.seed != g2.seed  # 2**-64
    assert 0 <= g1.seed < U64 and isinstance(g1.seed, int)
    assert g1.get_state()["stream"] == 0
    assert fill("uniform_", generator=g1) != fill("uniform_", generator=g2)
    g3 = fastinit.Generator(None)
    assert g3.seed not in (g1.seed, g2.seed)


def test_generator_constructor_validates():
    assert fastinit.Generator(0).seed == 0
    assert fastinit.Generator(U64 - 1).seed == U64 - 1
    assert fastinit.Generator(np.uint64(U64 - 1)).seed == U64 - 1
    assert fastinit.Generator(np.int64(5)).seed == 5
    assert type(fastinit.Generator(np.int64(5)).seed) is int
    for bad in (-1, U64, np.int64(-1)):
        with pytest.raises(ValueError):
            fastinit.Generator(bad)
    for bad in (1.0, 1.5, "3", True, np.float64(2.0), np.bool_(False)):
        with pytest.raises(TypeError):
            fastinit.Generator(bad)


def test_numpy_integer_seeds_are_the_same_streams():
    s = fresh_seed()
    assert fill("uniform_", generator=fastinit.Generator(np.uint64(s))) == fill("uniform_", seed=s)
    g = fastinit.Generator(U64 - 1)
    assert fill("normal_", generator=g) == fill("normal_", seed=np.uint64(U64 - 1))


def test_last_streams():
    """Near the end of the stream space: fills keep matching seed=, stream=; running out never
    writes the buffer."""
    s = fresh_seed()
    g = fastinit.Generator(s)
    g.set_state({"seed": s, "stream": U64 - 2})
    assert fill("uniform_", generator=g) == fill("uniform_", seed=s, stream=U64 - 2)
    for _ in range(2):
        buf = np.random.default_rng().standard_normal(40).astype(np.float32)
        before = buf.tobytes()
        try:
            fastinit.uniform_(buf, generator=g)
        except Exception:
            assert buf.tobytes() == before, "a generator that ran out of streams changed the buffer"
        else:
            assert buf.tobytes() == fill("uniform_", shape=(40,), seed=s, stream=U64 - 1)


# ------------------------------------------------------------ threads
def _run_threads(g, name, n_threads, per_thread, shape):
    barrier = threading.Barrier(n_threads)
    results = [[] for _ in range(n_threads)]
    errors = []

    def work(t):
        try:
            barrier.wait()
            for _ in range(per_thread):
                buf = np.full(shape, np.nan, np.float32)
                getattr(fastinit, name)(buf, generator=g)
                results[t].append(buf.tobytes())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return [x for r in results for x in r]


@pytest.mark.parametrize("name,shape", [("uniform_", (16, 64)), ("kaiming_normal_", (256, 300)),
                                        ("trunc_normal_", (128, 129))])
def test_threads_share_a_generator(name, shape):
    """Threads filling with one Generator: every stream used exactly once, none lost."""
    s = fresh_seed()
    g = fastinit.Generator(s)
    n_threads, per_thread = 8, 12
    total = n_threads * per_thread
    outputs = _run_threads(g, name, n_threads, per_thread, shape)
    assert g.get_state() == {"seed": s, "stream": total}, f"Generator({s}) lost or repeated streams"
    expected = {}
    for k in range(total):
        expected[fill(name, shape=shape, seed=s, stream=k)] = k
    assert len(expected) == total
    used = sorted(expected.get(x, -1) for x in outputs)
    assert used == list(range(total)), (
        f"{name} Generator({s}): streams used {used} (−1 = output of no stream in range)"
    )


def test_threads_each_with_own_generator_are_independent():
    """Different generators in different threads do not disturb each other."""
    seeds = [fresh_seed() for _ in range(4)]
    gens = [fastinit.Generator(s) for s in seeds]
    out = [[] for _ in seeds]

    def work(i):
        for _ in range(10):
            out[i].append(fill("normal_", shape=(64, 65), generator=gens[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(seeds))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, s in enumerate(seeds):
        assert out[i] == [fill("normal_", shape=(64, 65), seed=s, stream=k) for k in range(10)], f"seed {s}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_children_do_not_repeat_unseeded_fills():
    """An entropy-seeded default generator is reseeded in a forked child; after
    manual_seed the child keeps the parent's (reproducible) state."""
    script = textwrap.dedent("""
        import os, sys, numpy as np, fastinit
        def child_fill():
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(w, fastinit.normal_(np.empty(16, np.float32)).tobytes())
                os._exit(0)
            os.waitpid(pid, 0)
            return os.read(r, 64)
        a, b = child_fill(), child_fill()
        fastinit.manual_seed(7)
        c, d = child_fill(), child_fill()
        sys.exit(0 if (a != b and c == d) else 1)
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=_NEUTRAL_CWD, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
