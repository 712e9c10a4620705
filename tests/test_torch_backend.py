"""fastinit.torch: torch.nn.init's names and behaviour over fastinit's kernels
(same signatures, defaults and errors). Skips cleanly without PyTorch."""
import inspect
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("fastinit.torch")
from scipy import stats  # noqa: E402

import fastinit  # noqa: E402

FUNCS = ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
         "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
         "sparse_", "calculate_gain"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


@pytest.mark.parametrize("name", FUNCS)
def test_same_signature_as_torch(name):
    ours = inspect.signature(getattr(ft, name))
    theirs = inspect.signature(getattr(torch.nn.init, name))
    assert list(ours.parameters) == list(theirs.parameters), (name, ours, theirs)
    for p in theirs.parameters.values():
        assert ours.parameters[p.name].default == p.default, (name, p.name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_manual_seed_keeps_its_meaning(dtype):
    seed = fresh_seed()

    def build():
        torch.manual_seed(seed)
        w = ft.kaiming_uniform_(torch.empty(96, 40, dtype=dtype), a=math.sqrt(5))
        b = ft.normal_(torch.empty(96, dtype=dtype), std=0.02)
        return w, b

    (w1, b1), (w2, b2) = build(), build()
    assert torch.equal(w1, w2) and torch.equal(b1, b2), seed
    torch.manual_seed(seed + 1)
    w3 = ft.kaiming_uniform_(torch.empty(96, 40, dtype=dtype), a=math.sqrt(5))
    assert not torch.equal(w1, w3), seed


def test_seed_drawn_from_torch_generator_as_documented():
    g = torch.Generator().manual_seed(fresh_seed())
    state = g.get_state()
    want_seed = int(torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=torch.int64, generator=g)) % 2 ** 64
    g.set_state(state)
    t = ft.uniform_(torch.empty(1000), -1, 1, generator=g)
    np_twin = fastinit.uniform_(np.empty(1000, np.float32), -1, 1, seed=want_seed)
    assert np.array_equal(t.numpy(), np_twin)


def test_fastinit_generator_accepted():
    g = fastinit.Generator(fresh_seed())
    a = ft.normal_(torch.empty(500), generator=g)
    b = fastinit.normal_(np.empty(500, np.float32), seed=g.seed, stream=0)
    assert np.array_equal(a.numpy(), b) and g.get_state()["stream"] == 1
    with pytest.raises(TypeError):
        ft.normal_(torch.empty(5), generator=np.random.default_rng())


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_copy_and_returns_the_tensor(dtype):
    t = torch.empty(64, 33, dtype=dtype)
    ptr = t.data_ptr()
    out = ft.xavier_normal_(t)
    assert out is t and t.data_ptr() == ptr and torch.isfinite(t.float()).all() and t.float().std() > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_tensor_gets_values_of_contiguous_twin(dtype):
    g = torch.Generator().manual_seed(fresh_seed())
    state = g.get_state()
    base = torch.zeros(40, 70, dtype=dtype)
    view = base[:, ::2]
    ft.uniform_(view, -0.5, 0.5, generator=g)
    g.set_state(state)
    twin = ft.uniform_(torch.empty(40, 35, dtype=dtype), -0.5, 0.5, generator=g)
    assert torch.equal(view, twin)
    assert (base[:, 1::2] == 0).all()


def test_bfloat16_tensor_equals_the_numpy_bfloat16_fill():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    seed = fresh_seed()
    g = torch.Generator().manual_seed(seed)
    state = g.get_state()
    t = ft.trunc_normal_(torch.empty(3001, dtype=torch.bfloat16), std=0.02, generator=g)
    g.set_state(state)
    s = ft.seed_from(g)
    a = fastinit.trunc_normal_(np.empty(3001, ml_dtypes.bfloat16), std=0.02, seed=s)
    assert np.array_equal(t.view(torch.int16).numpy().view(np.uint16), a.view(np.uint16))


def test_other_devices_and_dtypes_fall_back_to_torch():
    m = torch.empty(8, 8, device="meta")
    assert ft.kaiming_uniform_(m).device.type == "meta"
    seed = fresh_seed()
    torch.manual_seed(seed)
    c = ft.normal_(torch.empty(4, 4, dtype=torch.complex64))      # torch's own normal_ handles complex
    torch.manual_seed(seed)
    assert torch.equal(c, torch.nn.init.normal_(torch.empty(4, 4, dtype=torch.complex64)))


def test_meta_tensors_are_checked_and_left_alone():
    # A meta tensor holds no values: initializing it is a no-op once the arguments check out.
    m = torch.empty(8, 6, device="meta")
    for name, kwargs in [("uniform_", {}), ("normal_", {}), ("trunc_normal_", {}), ("xavier_normal_", {}),
                         ("kaiming_uniform_", {"a": 2.0}), ("orthogonal_", {}), ("sparse_", {"sparsity": 0.5}),
                         ("ones_", {}), ("eye_", {})]:
        assert getattr(ft, name)(m, **kwargs) is m, name
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ft.xavier_uniform_(torch.empty(5, device="meta"))
    with pytest.raises(ValueError, match="Mode"):
        ft.kaiming_normal_(m, mode="sideways")
    with pytest.raises(RuntimeError):
        ft.uniform_(m, 1.0, 0.0)
    with torch.device("meta"), ft.patch():
        lin = torch.nn.Linear(4, 3)
    assert lin.weight.device.type == "meta" and ft.init_record(lin.weight) is None


def test_torch_argument_checks_and_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ft.xavier_uniform_(torch.empty(5))
    with pytest.raises(ValueError, match="Mode"):
        ft.kaiming_uniform_(torch.empty(4, 4), mode="fan_sideways")
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        ft.kaiming_normal_(torch.empty(4, 4), nonlinearity="swish")
    with pytest.raises(RuntimeError):
        ft.uniform_(torch.empty(4), 1.0, 0.0)
    with pytest.raises(RuntimeError):
        ft.normal_(torch.empty(4), 0.0, -1.0)
    t = ft.uniform_(torch.empty(4), 0.5, 0.5)
    assert (t == 0.5).all()                 # a == b fills a, as torch does


@pytest.mark.parametrize("shape", [(256, 128), (64, 16, 3), (32, 8, 3, 3), (16, 4, 3, 3, 3), (1000, 64)])
@pytest.mark.parametrize("name,kwargs", [
    ("uniform_", {"a": -0.3, "b": 0.7}), ("normal_", {"mean": 0.1, "std": 0.5}),
    ("trunc_normal_", {"std": 0.02}), ("xavier_uniform_", {"gain": 1.3}), ("xavier_normal_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}), ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
])
def test_two_sample_ks_against_torch(name, kwargs, shape):
    torch.manual_seed(fresh_seed())
    ours = getattr(ft, name)(torch.empty(shape), **kwargs).flatten().numpy().astype(np.float64)
    theirs = getattr(torch.nn.init, name)(torch.empty(shape), **kwargs).flatten().numpy().astype(np.float64)
    p = stats.ks_2samp(ours, theirs).pvalue
    assert p > 1e-6, (name, kwargs, shape, p)


def test_orthogonal_and_sparse_patterns():
    for shape in [(40, 60), (60, 40), (16, 8, 3)]:
        q = ft.orthogonal_(torch.empty(shape), gain=2.0).reshape(shape[0], -1)
        small = q @ q.T if shape[0] <= q.shape[1] else q.T @ q
        assert torch.allclose(small, 4.0 * torch.eye(small.shape[0]), atol=1e-4), shape
    s = ft.sparse_(torch.empty(50, 12), 0.3, std=0.02)
    assert ((s == 0).sum(0) >= math.ceil(0.3 * 50)).all()
    e = ft.eye_(torch.empty(5, 7))
    assert torch.equal(e, torch.eye(5, 7))
    d = ft.dirac_(torch.empty(4, 4, 3, 3))
    assert d.sum() == 4 and (d[:, :, 1, 1] == torch.eye(4)).all()


@pytest.mark.parametrize("shape", [(256, 128), (96, 200), (64, 16, 3, 3)])
def test_orthogonal_two_sample_ks_against_torch(shape):
    torch.manual_seed(fresh_seed())
    ours = ft.orthogonal_(torch.empty(shape), gain=1.7).flatten().numpy().astype(np.float64)
    theirs = torch.nn.init.orthogonal_(torch.empty(shape), gain=1.7).flatten().numpy().astype(np.float64)
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-6, shape


def test_sparse_two_sample_ks_against_torch_and_zero_counts():
    seed = fresh_seed()
    torch.manual_seed(seed)
    ours = ft.sparse_(torch.empty(300, 80), 0.25, std=0.05)
    theirs = torch.nn.init.sparse_(torch.empty(300, 80), 0.25, std=0.05)
    zeros = math.ceil(0.25 * 300)
    # exactly `zeros` rows zeroed per column; a normal draw can itself be exactly 0.0 (a Box-Muller
    # angle on a quarter turn: about 2^-22 per pair in fastinit, 2^-23 per value in torch; 11 and 9
    # in 2^26 draws), so ~0.3 % of runs hold one on each side: a column may count one zero more, and
    # the whole tensor at most two more
    for name, t in (("fastinit", ours), ("torch", theirs)):
        counts = (t == 0).sum(0)
        assert ((counts >= zeros) & (counts <= zeros + 1)).all() and int(counts.sum()) <= zeros * 80 + 2, \
            f"seed={seed} {name}: zeros per column {counts.tolist()}"
    p = stats.ks_2samp(ours[ours != 0].numpy().astype(np.float64), theirs[theirs != 0].numpy().astype(np.float64)).pvalue
    assert p > 1e-6
    # the zero rows differ between columns (not one pattern repeated)
    assert len({tuple(torch.nonzero(ours[:, c] == 0).flatten().tolist()) for c in range(80)}) > 70


@pytest.mark.parametrize("dtype", DTYPES)
def test_eye_and_dirac_equal_torch(dtype):
    for shape in [(5, 7), (7, 5), (4, 4)]:
        assert torch.equal(ft.eye_(torch.empty(shape, dtype=dtype)), torch.nn.init.eye_(torch.empty(shape, dtype=dtype)))
    for shape, groups in [((6, 3, 3), 1), ((8, 4, 3, 3), 2), ((4, 2, 3, 3, 3), 1)]:
        a = ft.dirac_(torch.empty(shape, dtype=dtype), groups)
        b = torch.nn.init.dirac_(torch.empty(shape, dtype=dtype), groups)
        assert torch.equal(a, b), shape
