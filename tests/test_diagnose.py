"""fastinit.diagnose and fastinit.recommend: the depth profiles of a NumPy MLP
(checked against torch autograd), and the rules the recommendations state."""
import json
import math

import numpy as np
import pytest

import fastinit
from fastinit._diagnose import ACTIVATIONS, FIELDS, SCHEMES

from _stats import fresh_seed


# ---------------------------------------------------------------------------
# the figures, against an independent computation with torch autograd

_TORCH_ACT = {
    "relu": lambda t, s: t.relu(),
    "leaky_relu": lambda t, s: __import__("torch").nn.functional.leaky_relu(t, s),
    "tanh": lambda t, s: t.tanh(),
    "sigmoid": lambda t, s: t.sigmoid(),
    "selu": lambda t, s: __import__("torch").nn.functional.selu(t),
    "gelu": lambda t, s: __import__("torch").nn.functional.gelu(t),
    "linear": lambda t, s: t,
}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_figures_match_torch_autograd(activation):
    torch = pytest.importorskip("torch")
    seed = fresh_seed()
    depth, width, batch, fan0, slope = 4, 6, 9, 5, 0.2
    schemes = ["he_normal", ("normal_0.01", {"bias": 0.3})]
    r = fastinit.diagnose(depth, width, activation, schemes, batch=batch, seed=seed, in_features=fan0,
                          negative_slope=slope)
    for sch, label, b in ((schemes[0], "he_normal", 0.0), (schemes[1], "normal_0.01(bias=0.3)", 0.3)):
        p = r[label]
        # the same draws, by the documented streams
        x = torch.from_numpy(fastinit.normal((batch, fan0), dtype=np.float64, seed=seed,
                                             stream=fastinit.name_stream("diagnose/input")))
        noise = torch.from_numpy(fastinit.normal((batch, width), dtype=np.float64, seed=seed,
                                                 stream=fastinit.name_stream("diagnose/output-gradient")))
        ws, hs, acts = [], [], []
        a = x
        for layer in range(depth):
            w = np.empty((width, a.shape[1]), np.float32)
            s = fastinit.name_stream(f"diagnose/layer{layer + 1}")
            if label == "he_normal":
                fastinit.he_normal_(w, seed=seed, stream=s)
            else:
                fastinit.normal_(w, std=0.01, seed=seed, stream=s)
            wt = torch.from_numpy(w.astype(np.float64)).requires_grad_()
            h = a @ wt.T + b
            h.retain_grad()
            a = _TORCH_ACT[activation](h, slope)
            a.retain_grad()
            ws.append(wt), hs.append(h), acts.append(a)
        (noise * a).sum().backward()
        ctx = f"seed={seed} {activation} {label}"
        std = lambda t: float(t.detach().double().std(unbiased=False))
        np.testing.assert_allclose(p.pre_std, [std(h) for h in hs], rtol=1e-6, err_msg=ctx)
        np.testing.assert_allclose(p.act_std, [std(a) for a in acts], rtol=1e-6, err_msg=ctx)
        np.testing.assert_allclose(p.grad_w_std, [std(w.grad) for w in ws], rtol=1e-5, err_msg=ctx)
        np.testing.assert_allclose(p.grad_a_std, [std(a.grad) for a in acts], rtol=1e-5, err_msg=ctx)
        assert p.symmetric.dtype == bool and not p.symmetric.any(), ctx


def test_dead_and_saturated_units():
    seed = fresh_seed()
    # a bias of -10 under small weights: every ReLU unit is off for every sample
    r = fastinit.diagnose(3, 64, "relu", [("normal_0.01", {"bias": -10.0}), "he_normal"], batch=128, seed=seed)
    assert np.all(r["normal_0.01(bias=-10)"].dead_fraction == 1.0), seed
    assert r["normal_0.01(bias=-10)"].verdict == "dies", seed           # dead, not "symmetric"
    # the first layer's units differ before the ReLU; the layers after it get all-zero inputs, so their
    # units are identical (bias only)
    assert r["normal_0.01(bias=-10)"].symmetric.tolist() == [False, True, True], seed
    assert np.all(r["he_normal"].dead_fraction < 0.05), (seed, r["he_normal"].dead_fraction)
    # the same count by hand on the first layer: units <= 0 for every sample
    r = fastinit.diagnose(1, 256, "relu", [("normal_1", {"bias": -20.0})], batch=16, seed=seed)
    x = fastinit.normal((16, 256), dtype=np.float64, seed=seed, stream=fastinit.name_stream("diagnose/input"))
    w = fastinit.normal((256, 256), seed=seed, stream=fastinit.name_stream("diagnose/layer1"))
    h = x @ w.astype(np.float64).T - 20.0
    want = np.mean(np.all(h <= 0, axis=0))
    assert 0 < want < 1, (seed, want)
    assert r["normal_1(bias=-20)"].dead_fraction[0] == pytest.approx(want), seed
    # tanh with N(0, 1) weights: pre-activations of std ~16, most outputs where tanh' < 0.01
    r = fastinit.diagnose(10, 256, "tanh", ["normal_1", "xavier_normal"], batch=256, seed=seed)
    assert np.all(r["normal_1"].dead_fraction[1:] > 0.6), (seed, r["normal_1"].dead_fraction)
    assert np.all(r["xavier_normal"].dead_fraction < 0.01), seed
    assert r["normal_1"].verdict == "saturates"
    # linear units never die
    assert np.all(fastinit.diagnose(2, 8, "linear", ["normal_1"], seed=seed)["normal_1"].dead_fraction == 0)


def test_symmetry_is_reported_for_zeros_and_constants_only():
    seed = fresh_seed()
    for act in ACTIVATIONS:
        r = fastinit.diagnose(6, 32, act, ["zeros", "constant", ("constant", {"value": -0.02}), "lecun_normal"],
                              batch=64, seed=seed)
        for sch in ("zeros", "constant", "constant(value=-0.02)"):
            assert r[sch].symmetric.all(), (seed, act, sch)
            assert r[sch].verdict == "symmetric", (seed, act, sch)
        assert not r["lecun_normal"].symmetric.any(), (seed, act)
        # with zeros, no gradient reaches the weights below the last layer
        assert np.all(r["zeros"].grad_a_std[:-1] == 0), (seed, act)


# ---------------------------------------------------------------------------
# the rules the recommendations state, over 50 layers, for every activation

def _within(p, layers, factor=2.0):
    ratio = p.act_std[:layers] / p.act_std[0]
    return float(ratio.min()), float(ratio.max())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_recommended_scheme_keeps_the_scale_and_the_others_fail(activation):
    """The recommendation's rule, on a fresh seed: its scheme keeps the
    activation std within 2x of the first layer's over 50 layers (GELU: over
    20, as its reason says, where He has lost more than 2x), while N(0, 1)
    explodes or saturates, N(0, 0.01) vanishes and zeros never break symmetry."""
    seed = fresh_seed()
    rec = fastinit.recommend(activation)
    depth = 20 if activation == "gelu" else 50
    # wide enough that the finite-width drift of the scale (a random walk of
    # about sqrt(5 depth / width) / 2 in log std for ReLU) stays well inside 2x
    r = fastinit.diagnose(depth, 1024, activation, [rec.spec] + (["he_normal"] if activation == "gelu" else []),
                          batch=64, seed=seed)
    p = r[r.schemes[0]]
    lo, hi = _within(p, depth)
    assert 0.5 <= lo and hi <= 2.0, f"seed={seed} {activation} {rec.call}: std ratio in [{lo:.3g}, {hi:.3g}]"
    if activation == "gelu":
        he_lo, _ = _within(r["he_normal"], depth)
        assert he_lo < 0.5, f"seed={seed}: He keeps GELU's scale too ({he_lo:.3g}); the reason says otherwise"
        assert "20 layers" in rec.reason
    r = fastinit.diagnose(50, 256, activation, ["normal_1", "normal_0.01", "zeros"], batch=128, seed=seed)
    assert r["normal_1"].verdict in ("explodes", "saturates"), (seed, activation, r["normal_1"].summary)
    assert r["normal_0.01"].verdict == "vanishes", (seed, activation, r["normal_0.01"].summary)
    assert r["zeros"].verdict == "symmetric", (seed, activation, r["zeros"].summary)


def test_recommendations():
    want = {
        "relu": ("kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"}, math.sqrt(2)),
        "leaky_relu": ("kaiming_normal", {"a": 0.01, "mode": "fan_in", "nonlinearity": "leaky_relu"},
                       fastinit.calculate_gain("leaky_relu")),
        "tanh": ("xavier_uniform", {"gain": 5 / 3}, 5 / 3),
        "sigmoid": ("xavier_uniform", {"gain": 1}, 1.0),
        "selu": ("lecun_normal", {}, 1.0),
        "linear": ("lecun_normal", {}, 1.0),
    }
    for act, (scheme, kw, gain) in want.items():
        rec = fastinit.recommend(act)
        assert (rec.scheme, rec.kwargs) == (scheme, kw), act
        assert rec.gain == pytest.approx(gain), act
        assert rec.reason.endswith(".") and len(rec.reason) > 40, act
        getattr(fastinit, rec.scheme + "_")(np.empty((4, 4), np.float32), **rec.kwargs, seed=0)   # a real call
        json.dumps(rec.to_dict(), allow_nan=False)
    rec = fastinit.recommend("leaky_relu", negative_slope=0.2)
    assert rec.kwargs["a"] == 0.2 and rec.gain == pytest.approx(fastinit.calculate_gain("leaky_relu", 0.2))
    assert "0.2" in rec.call
    # GELU: the gain with E[gelu(g z)^2] = 1, checked by SciPy's quadrature
    integrate = pytest.importorskip("scipy.integrate")
    special = pytest.importorskip("scipy.special")
    rec = fastinit.recommend("gelu")
    g = rec.gain
    m2 = integrate.quad(lambda z: (g * z * 0.5 * (1 + special.erf(g * z / math.sqrt(2)))) ** 2
                        * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -40, 40)[0]
    assert m2 == pytest.approx(1.0, abs=1e-6)
    assert rec.scheme == "variance_scaling" and rec.kwargs["scale"] == pytest.approx(g * g, rel=1e-6)
    for norm, word in (("batch", "BatchNorm"), ("layer", "LayerNorm")):
        r = fastinit.recommend("relu", normalization=norm)
        assert word in r.reason and "matters less" in r.reason
        assert r.scheme == "kaiming_normal"


# ---------------------------------------------------------------------------
# the result object

def test_result_access_table_and_json():
    seed = fresh_seed()
    r = fastinit.diagnose(12, 16, "leaky_relu", ["he_normal", ("kaiming_normal_", {"a": 0.3}),
                                                 ("trunc_normal_", {"std": 0.02})], batch=32, seed=seed,
                          negative_slope=0.3)
    assert r.schemes == ("he_normal", "kaiming_normal_(a=0.3)", "trunc_normal_(std=0.02)")
    assert list(r) == list(r.schemes) and len(r) == 3
    p = r["he_normal"]
    for f in FIELDS:
        assert isinstance(p[f], np.ndarray) and p[f].shape == (12,)
        assert p[f] is getattr(p, f)
    with pytest.raises(KeyError, match="he_normal"):
        r["xavier"]
    with pytest.raises(KeyError, match="act_std"):
        p["std"]
    t = r.table()
    assert "12 layers of 16 units, leaky_relu (slope 0.3)" in t
    for name in r.schemes:
        assert name in t
    assert "grad W std" in t and "dead %" in t
    assert len(r.table(layers="all").splitlines()) > len(t.splitlines())
    assert "\n" + "he_normal" in r.table(layers=[1, 12])
    with pytest.raises(ValueError, match="1..12"):
        r.table(layers=[13])
    d = r.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["config"]["depth"] == 12 and d["config"]["seed"] == seed
    assert d["schemes"]["he_normal"]["act_std"] == pytest.approx(p.act_std.tolist())
    # same seed: the same figures, bit for bit; another seed: others
    assert fastinit.diagnose(12, 16, "leaky_relu", ["he_normal"], batch=32, seed=seed,
                             negative_slope=0.3)["he_normal"].act_std.tobytes() == p.act_std.tobytes()
    other = fastinit.diagnose(12, 16, "leaky_relu", ["he_normal"], batch=32, seed=seed ^ 1, negative_slope=0.3)
    assert other["he_normal"].act_std.tobytes() != p.act_std.tobytes()


def test_overflow_is_null_in_json():
    # 400 linear layers of N(0, 1) weights at width 64: 8^400 overflows float64
    r = fastinit.diagnose(400, 64, "linear", ["normal_1"], batch=8, seed=fresh_seed())
    p = r["normal_1"]
    assert not np.isfinite(p.act_std[-1])
    assert p.verdict == "explodes"
    d = r.to_dict()
    assert d["schemes"]["normal_1"]["act_std"][-1] is None
    json.dumps(d, allow_nan=False)
    assert "inf" in r.table(layers=[400]) or "nan" in r.table(layers=[400])


def test_every_named_scheme_runs():
    seed = fresh_seed()
    r = fastinit.diagnose(3, 8, "tanh", list(SCHEMES), batch=4, seed=seed)
    assert r.schemes == SCHEMES
    for name, p in r.items():
        assert np.all(np.isfinite(p.act_std)), name


def test_bad_arguments():
    with pytest.raises(ValueError, match="'relu'.*'linear'"):
        fastinit.diagnose(3, 8, "swish")
    with pytest.raises(ValueError, match="activation"):
        fastinit.recommend("softplus")
    with pytest.raises(ValueError, match="normalization"):
        fastinit.recommend("relu", normalization="group")
    with pytest.raises(ValueError, match="unknown scheme 'glorot'.*he_normal.*kaiming_normal_"):
        fastinit.diagnose(3, 8, "relu", ["glorot"])
    with pytest.raises(ValueError, match="depth"):
        fastinit.diagnose(0, 8, "relu")
    with pytest.raises(TypeError, match="width"):
        fastinit.diagnose(3, 8.0, "relu")
    with pytest.raises(ValueError, match="batch"):
        fastinit.diagnose(3, 8, "relu", batch=-1)
    with pytest.raises(ValueError, match="in_features"):
        fastinit.diagnose(3, 8, "relu", in_features=0)
    with pytest.raises(ValueError, match="mode"):
        fastinit.diagnose(3, 8, "relu", [("he_normal", {"mode": "fan_x"})])
    with pytest.raises(TypeError, match="he_normal.*unexpected"):
        fastinit.diagnose(3, 8, "relu", [("he_normal", {"gain": 2})])
    with pytest.raises(ValueError, match="only a 'bias'"):
        fastinit.diagnose(3, 8, "relu", [("normal_1", {"std": 2})])
    with pytest.raises(ValueError, match="repeats he_normal"):
        fastinit.diagnose(3, 8, "relu", ["he_normal", "he_normal"])
    with pytest.raises(ValueError, match="at least one"):
        fastinit.diagnose(3, 8, "relu", [])
    with pytest.raises(TypeError, match="a name or a"):
        fastinit.diagnose(3, 8, "relu", [42])
    with pytest.raises(TypeError, match="bias"):
        fastinit.diagnose(3, 8, "relu", bias="1")
