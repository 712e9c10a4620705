"""fastinit.torch.diagnose: the figures of fastinit.diagnose per leaf module of a
torch model, checked against the same quantities computed by hand with autograd
and against the NumPy version on the same MLP; the model (parameters, grads,
flags, buffers, modes, hooks) and torch's RNG state are left as they were, also
when the forward pass, the loss or the backward pass raises. Skips cleanly
without PyTorch (and the Hugging Face model without transformers)."""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from _stats import fresh_seed  # noqa: E402


# ---------------------------------------------------------------------------- helpers

def mlp(scheme, seed, widths=(12, 24, 24, 6), bias=0.0):
    """Linear/ReLU stack (a ReLU after every Linear but the last), weights by scheme."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(widths, widths[1:]):
        lin = nn.Linear(fan_in, fan_out)
        if scheme == "zeros":
            ft.zeros_(lin.weight)
        elif scheme == "constant":
            ft.constant_(lin.weight, 0.1)
        else:
            ft.kaiming_normal_(lin.weight, nonlinearity="relu", generator=g)
        ft.constant_(lin.bias, bias)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def noise(shape, seed):
    """The default loss's R: the NumPy version's output-gradient stream."""
    return torch.from_numpy(fastinit.normal(tuple(shape), dtype=np.float64, seed=seed,
                                            stream=fastinit.name_stream("diagnose/output-gradient")))


def std(t):
    return float(t.detach().double().std(correction=0))


def tol(dtype):
    """Identical units: within 1e-7 relative, or 16 ulps of the model's dtype (float32: 1.9e-6)."""
    return max(1e-7, 16 * torch.finfo(dtype).eps)


def by_hand(model, x, seed=0, loss=None):
    """Each child's figures of a Sequential on 2-D tensors, computed directly with autograd."""
    ins, outs, a = [], [], x.detach().clone().requires_grad_(True)
    for m in model:
        ins.append(a)
        a = m(a)
        outs.append(a)
    value = (noise(a.shape, seed).to(a.dtype) * a).sum() if loss is None else loss(a)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(value, outs + weights)
    w_grads = iter(grads[len(outs):])
    figures = {}
    for i, m in enumerate(model):
        h, y = ins[i].detach().double(), outs[i].detach().double()
        dead = 0.0
        if isinstance(m, nn.ReLU):
            dead = float((h <= 0).all(dim=0).double().mean())
        elif isinstance(m, nn.Tanh):
            dead = float((((1 - torch.tanh(h) ** 2).abs() < 0.01) & (h.abs() >= 2)).double().mean())
        u = h if isinstance(m, (nn.ReLU, nn.Tanh)) else y     # an activation: are its inputs identical?
        spread = (u.max(dim=1).values - u.min(dim=1).values).max()
        figures[str(i)] = {"pre_std": std(h), "act_std": std(y), "grad_a_std": std(grads[i]),
                           "grad_w_std": std(next(w_grads)) if isinstance(m, nn.Linear) else math.nan,
                           "dead_fraction": dead,
                           "symmetric": u.shape[1] > 1 and bool(spread <= tol(outs[i].dtype) * u.abs().max())}
    return figures


def assert_figures(result, expected, msg, rel=1e-6):
    assert result.modules == tuple(expected), msg
    for name, want in expected.items():
        for field, v in want.items():
            got = result[name][field]
            if field == "symmetric":
                assert got is v, (msg, name, field)
            elif math.isnan(v):
                assert math.isnan(got), (msg, name, field, got)
            else:
                assert got == pytest.approx(v, rel=rel, abs=1e-12), (msg, name, field)


HOOKS = [k for k in vars(nn.Module()) if "hook" in k]


def snapshot(model):
    """Everything diagnose must leave as it was."""
    return {
        "params": [(p, p.detach().clone(), p.grad, None if p.grad is None else p.grad.clone(), p.requires_grad)
                   for p in model.parameters()],
        "buffers": [(b, b.clone()) for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "hooks": [{k: dict(v) if isinstance(v, dict) else v for k, v in vars(m).items() if k in HOOKS}
                  for m in model.modules()],
    }


def bits(t):
    return t.detach().contiguous().view(-1).view(torch.uint8)


def assert_unchanged(model, snap):
    for (p, value, grad, grad_value, flag), p2 in zip(snap["params"], model.parameters()):
        assert p is p2 and torch.equal(bits(p), bits(value)) and p.requires_grad is flag
        assert p.grad is grad                      # the same tensor, None stays None
        if grad is not None:
            assert torch.equal(bits(p.grad), bits(grad_value))
    for (b, value), b2 in zip(snap["buffers"], model.buffers()):
        assert b is b2 and torch.equal(b, value)
    assert [m.training for m in model.modules()] == snap["modes"]
    assert snapshot(model)["hooks"] == snap["hooks"]


# ---------------------------------------------------------------------------- figures

@pytest.mark.parametrize("scheme, bias", [("zeros", 0.1), ("constant", 0.0), ("he", 0.0), ("he", 0.3)])
def test_mlp_figures_match_autograd_by_hand(scheme, bias):
    seed = fresh_seed()
    model = mlp(scheme, seed, bias=bias)
    torch.manual_seed(seed)
    x = torch.randn(64, 12)
    result = ft.diagnose(model, x, seed=seed)
    assert_figures(result, by_hand(model, x, seed), f"seed {seed}")
    assert [result[n].type for n in result] == ["Linear", "ReLU"] * 2 + ["Linear"]
    assert all(result[n].calls == 1 for n in result)
    first = result["0"]
    assert first.act_std == first["act_std"] and first.type == first["type"] == "Linear"
    if scheme in ("zeros", "constant"):            # every unit the same: the symmetry training cannot break
        assert all(result[n].symmetric for n in result)
    else:
        assert not any(result[n].symmetric for n in result)
        assert 0.0 < result["1"].act_std < result["1"].pre_std


def test_dead_relu_after_large_negative_bias():
    seed = fresh_seed()
    model = mlp("he", seed)
    with torch.no_grad():
        model[2].bias.fill_(-100.0)
    torch.manual_seed(seed)
    x = torch.randn(64, 12)
    result = ft.diagnose(model, x, seed=seed)
    assert result["3"].dead_fraction == 1.0 and result["1"].dead_fraction < 1.0
    # dead is not symmetric: the ReLU's inputs (the pre-activations) still differ between units
    assert result["3"].act_std == 0.0 and not result["3"].symmetric
    # nothing flows back through a dead layer
    assert result["2"].grad_a_std == 0.0 and result["0"].grad_w_std == 0.0 and result["2"].grad_w_std == 0.0
    assert result["4"].grad_w_std == 0.0 and result["4"].grad_a_std > 0
    assert_figures(result, by_hand(model, x, seed), f"seed {seed}")


@pytest.mark.parametrize("activation, module, fill, kwargs", [
    ("relu", nn.ReLU, "he_normal_", {}),
    ("leaky_relu", nn.LeakyReLU, "he_normal_", {}),
    ("tanh", nn.Tanh, "normal_", {"std": 1.0}),
    ("sigmoid", nn.Sigmoid, "xavier_normal_", {}),
    ("selu", nn.SELU, "lecun_normal_", {}),
    ("gelu", nn.GELU, "normal_", {"std": 1.0}),
])
def test_matches_numpy_diagnose(activation, module, fill, kwargs):
    """The NumPy version's MLP, built in torch (float64, its weights, input and noise):
    layer l's figures are those of Linear 2l and of the activation 2l + 1."""
    seed, depth, width, batch = fresh_seed(), 4, 24, 64
    want = fastinit.diagnose(depth, width, activation, [(fill, kwargs)], batch=batch, seed=seed)
    want = want[want.schemes[0]]
    layers = []
    for layer in range(depth):
        w = np.empty((width, width), np.float32)
        getattr(fastinit, fill)(w, **kwargs, seed=seed, stream=fastinit.name_stream(f"diagnose/layer{layer + 1}"))
        lin = nn.Linear(width, width).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.zero_()
        layers += [lin, module()]
    x = fastinit.normal((batch, width), dtype=np.float64, seed=seed, stream=fastinit.name_stream("diagnose/input"))
    got = ft.diagnose(nn.Sequential(*layers), torch.from_numpy(x), seed=seed)
    for layer in range(depth):
        lin, act = got[str(2 * layer)], got[str(2 * layer + 1)]
        msg = (activation, seed, layer)
        assert lin.act_std == pytest.approx(want.pre_std[layer], rel=1e-6), msg
        assert act.pre_std == pytest.approx(want.pre_std[layer], rel=1e-6), msg
        assert act.act_std == pytest.approx(want.act_std[layer], rel=1e-6), msg
        assert lin.grad_w_std == pytest.approx(want.grad_w_std[layer], rel=1e-6), msg
        assert act.grad_a_std == pytest.approx(want.grad_a_std[layer], rel=1e-6), msg
        # one entry's worth of slack: the NumPy GELU's erf is good to 1.2e-7
        assert act.dead_fraction == pytest.approx(want.dead_fraction[layer], abs=1.5 / (batch * width)), msg
        assert act.symmetric == want.symmetric[layer] and lin.dead_fraction == 0.0, msg


def test_saturated_tanh_by_hand():
    seed = fresh_seed()
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
    for m in model[::2]:
        ft.normal_(m.weight, 0.0, 1.0, generator=g)
    x = torch.randn(128, 16, generator=g)
    result = ft.diagnose(model, x, seed=seed)
    expected = by_hand(model, x, seed)
    assert_figures(result, expected, f"seed {seed}")
    assert result["3"].dead_fraction > 0.3                 # std-1 weights saturate tanh


def test_custom_loss_is_used():
    seed = fresh_seed()
    model = mlp("he", seed)
    torch.manual_seed(seed)
    x = torch.randn(32, 12)
    half_square = lambda out: 0.5 * out.pow(2).sum()      # its gradient is the output itself
    result = ft.diagnose(model, x, loss=half_square)
    assert_figures(result, by_hand(model, x, loss=half_square), f"seed {seed}")
    assert result["4"].grad_a_std == pytest.approx(result["4"].act_std, rel=1e-6)
    assert result.config["loss"] == "<lambda>"
    calls = []
    ft.diagnose(model, (x,), loss=lambda out: calls.append(out.shape) or out.sum())
    assert calls == [(32, 6)]


def test_seed_changes_only_the_backward_figures():
    seed = fresh_seed()
    model = mlp("he", seed)
    x = torch.randn(32, 12, generator=torch.Generator().manual_seed(seed))
    a, b, c = (ft.diagnose(model, x, seed=s) for s in (seed, seed, seed ^ 1))
    assert a.to_dict() == b.to_dict()
    for n in a:
        assert a[n].act_std == c[n].act_std and a[n].grad_a_std != c[n].grad_a_std


class Heads(nn.Module):
    """A body and two heads; the output packs them as `kind` says, `head` the one the loss takes."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.body, self.head, self.aux = nn.Linear(6, 8), nn.Linear(8, 3), nn.Linear(8, 2)

    def forward(self, x):
        h = self.body(x)
        head, aux = self.head(h), self.aux(h)
        return {"tuple": lambda: (head, aux), "list": lambda: [[head], aux],
                "logits": lambda: {"aux": aux, "logits": head},
                "hidden": lambda: {"aux": aux, "last_hidden_state": head},
                "first": lambda: {"first": head, "aux": aux}}[self.kind]()


@pytest.mark.parametrize("kind", ["tuple", "list", "logits", "hidden", "first"])
def test_output_selection(kind):
    seed = fresh_seed()
    torch.manual_seed(seed)
    model, x = Heads(kind), torch.randn(20, 6)
    result = ft.diagnose(model, x, seed=seed)
    assert result.modules == ("body", "head", "aux")
    assert result["head"].grad_a_std == pytest.approx(std(noise((20, 3), seed).float()), rel=1e-6)
    assert math.isnan(result["aux"].grad_a_std) and math.isnan(result["aux"].grad_w_std)
    assert math.isfinite(result["aux"].act_std)
    d = result.to_dict()["modules"]["aux"]
    assert d["grad_a_std"] is None and d["grad_w_std"] is None


def test_module_called_twice_records_the_first_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            return self.lin(torch.relu(self.lin(x)))

    seed = fresh_seed()
    torch.manual_seed(seed)
    model, x = Twice(), torch.randn(16, 8)
    result = ft.diagnose(model, x, seed=seed)
    xx = x.clone().requires_grad_(True)
    first = model.lin(xx)
    out = model.lin(torch.relu(first))
    g_first, g_w = torch.autograd.grad((noise(out.shape, seed).float() * out).sum(), [first, model.lin.weight])
    r = result["lin"]
    assert result.modules == ("lin",) and r.calls == 2
    assert r.pre_std == pytest.approx(std(x), rel=1e-9)
    assert r.act_std == pytest.approx(std(first), rel=1e-9)
    assert r.grad_a_std == pytest.approx(std(g_first), rel=1e-6)
    assert r.grad_w_std == pytest.approx(std(g_w), rel=1e-6)        # both calls' gradient


def test_in_place_relu_figures_as_out_of_place():
    seed = fresh_seed()
    plain = mlp("he", seed)
    inplace = mlp("he", seed)
    for i in (1, 3):
        inplace[i] = nn.ReLU(inplace=True)
    x = torch.randn(32, 12, generator=torch.Generator().manual_seed(seed))
    a, b = ft.diagnose(plain, x, seed=seed), ft.diagnose(inplace, x, seed=seed)
    for n in a:
        for f in ("pre_std", "act_std", "grad_a_std", "dead_fraction"):
            assert b[n][f] == pytest.approx(a[n][f], rel=1e-6, abs=0), (n, f, seed)


# ---------------------------------------------------------------------------- units of conv outputs

@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Conv2d(3, 6, 3), (10, 3, 8, 8)),       # NCHW: channels
    (lambda: nn.Conv1d(3, 6, 3), (10, 3, 12)),         # NCL after a convolution: channels
    (lambda: nn.Linear(5, 6), (10, 7, 5)),             # (sample, sequence, feature): features
])
def test_units_are_channels_of_conv_outputs(make, shape):
    seed = fresh_seed()
    torch.manual_seed(seed)
    layer = make()
    with torch.no_grad():
        layer.bias[:2] = -1e3                              # two units dead everywhere
    model, x = nn.Sequential(layer, nn.ReLU()), torch.randn(shape)
    result = ft.diagnose(model, x, seed=seed)
    h = layer(x).detach()
    axis = -1 if isinstance(layer, nn.Linear) else 1
    units = h.movedim(axis, -1).reshape(-1, 6)
    assert result["1"].dead_fraction == float((units <= 0).all(dim=0).double().mean()) == 2 / 6, seed
    assert not result["0"].symmetric
    with torch.no_grad():
        layer.weight.fill_(0.1)
        layer.bias.fill_(0.2)
    sym = ft.diagnose(model, x, seed=seed)
    assert sym["0"].symmetric and sym["1"].symmetric


def test_conv_net_with_batchnorm():
    seed = fresh_seed()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    snap = snapshot(model)
    result = ft.diagnose(model, torch.randn(16, 3, 8, 8), seed=seed)
    assert result.modules == tuple(str(i) for i in range(6))
    assert [result[n].type for n in result] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    for n in result:
        p = result[n]
        assert all(math.isfinite(p[f]) for f in ("pre_std", "act_std", "grad_a_std")), n
        assert math.isfinite(p.grad_w_std) == (n in ("0", "1", "5")), n
    assert result["1"].act_std == pytest.approx(1.0, rel=1e-3)      # batch statistics: unit variance
    assert result["2"].dead_fraction == 0.0                          # normalized channels are never all <= 0
    assert_unchanged(model, snap)                                    # running statistics included


# ---------------------------------------------------------------------------- the model left as it was

class _RaiseInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("boom in backward")


class Boom(nn.Module):
    def __init__(self, where):
        super().__init__()
        self.where = where

    def forward(self, x):
        if self.where == "forward":
            raise RuntimeError("boom in forward")
        return _RaiseInBackward.apply(x) if self.where == "backward" else x


def _raising_loss(out):
    raise RuntimeError("boom in loss")


@pytest.mark.parametrize("where", [None, "forward", "loss", "backward"])
def test_model_left_unchanged(where):
    seed = fresh_seed()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(inplace=True), nn.Dropout(0.3),
                          Boom(where), nn.Linear(16, 4), nn.Tanh())
    model[0].weight.grad = torch.randn_like(model[0].weight)         # a grad from earlier: kept as it is
    model[5].weight.requires_grad_(False)                            # a frozen weight: stays frozen
    model[6].eval()                                                  # mixed modes
    model[0].register_forward_hook(lambda *args: None)               # the caller's own hooks stay
    model[5].register_full_backward_hook(lambda *args: None)
    x = torch.randn(32, 8)
    x_copy, snap, rng = x.clone(), snapshot(model), torch.get_rng_state()
    loss = _raising_loss if where == "loss" else None
    if where is None:
        result = ft.diagnose(model, x, loss=loss, seed=seed)
        assert math.isfinite(result["5"].grad_w_std)                 # measured although frozen
    else:
        with pytest.raises(RuntimeError, match=f"boom in {where}"):
            ft.diagnose(model, x, loss=loss, seed=seed)
    assert_unchanged(model, snap)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(x, x_copy) and x.grad is None and not x.requires_grad
    assert model[0].weight.grad is snap["params"][0][2]


def test_rng_state_unchanged_and_dropout_repeatable():
    seed = fresh_seed()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Dropout(0.5), nn.Linear(20, 3), nn.RReLU())
    x = torch.randn(16, 10)
    rng = torch.get_rng_state()
    a = ft.diagnose(model, x, seed=seed)
    assert torch.equal(torch.get_rng_state(), rng)
    b = ft.diagnose(model, x, seed=seed)
    assert a.to_dict() == b.to_dict()                 # the same dropout draws: from a fork of the same state
    assert a["2"].act_std != a["2"].pre_std            # dropout did drop in training mode
    model.eval()
    c = ft.diagnose(model, x, seed=seed)
    assert c["2"].act_std == c["2"].pre_std and not model.training


# ---------------------------------------------------------------------------- results

def test_to_dict_json_clean_with_overflow():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    with torch.no_grad():
        for m in model[::2]:
            m.weight.fill_(1e30)
    result = ft.diagnose(model, torch.rand(4, 8) + 1)
    assert not math.isfinite(result["2"].act_std) and not result["2"].symmetric
    d = result.to_dict()
    assert d["modules"]["2"]["act_std"] is None and d["modules"]["1"]["grad_w_std"] is None
    assert json.loads(json.dumps(d, allow_nan=False)) == json.loads(result.to_json())
    assert d["config"]["model"] == "Sequential" and d["config"]["loss"] == "sum(R * output), R standard normal"
    assert list(d["modules"]) == ["0", "1", "2"] and d["modules"]["0"]["type"] == "Linear"


def test_table_and_access():
    seed = fresh_seed()
    model = mlp("he", seed)
    result = ft.diagnose(model, torch.randn(8, 12), seed=seed)
    lines = result.table().splitlines()
    assert "Sequential" in lines[0] and f"seed {seed}" in lines[0]
    assert lines[2].split() == ["module", "type", "pre", "std", "act", "std", "grad", "W", "std", "grad", "a",
                                "std", "dead/sat", "%", "sym"]
    rows = [line.split() for line in lines[4:]]
    assert [r[:2] for r in rows] == [["0", "Linear"], ["1", "ReLU"], ["2", "Linear"], ["3", "ReLU"], ["4", "Linear"]]
    assert rows[1][4] == "nan" and rows[0][3] == f"{result['0'].act_std:.3g}"
    assert str(result) == result.table() and "5 leaf modules" in repr(result)
    assert len(result) == 5 and list(result) == list(result.modules) and "3" in result and "9" not in result
    with pytest.raises(KeyError, match="leaf module"):
        result["9"]
    with pytest.raises(KeyError, match="the keys are"):
        result["0"]["std"]
    leaf = ft.diagnose(nn.Linear(3, 2), torch.randn(4, 3))          # the model itself is the leaf
    assert leaf.modules == ("",) and "(model)" in leaf.table()


class IntOut(nn.Module):
    """A model whose output is indices: nothing to differentiate."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x).argmax(dim=1)


@pytest.mark.parametrize("call, error, match", [
    (lambda m, x: ft.diagnose("a model", x), TypeError, "torch.nn.Module"),
    (lambda m, x: ft.diagnose(m, x, loss=3), TypeError, "callable"),
    (lambda m, x: ft.diagnose(m, [x]), TypeError, "example_input"),
    (lambda m, x: ft.diagnose(m, x, seed=-1), ValueError, "seed"),
    (lambda m, x: ft.diagnose(m, x, seed=1.5), TypeError, "seed"),
    (lambda m, x: ft.diagnose(m, x, loss=lambda out: 1.0), TypeError, "scalar tensor"),
    (lambda m, x: ft.diagnose(m, x, loss=lambda out: out), ValueError, "scalar tensor"),
    (lambda m, x: ft.diagnose(m, x, loss=lambda out: torch.tensor(1.0)), ValueError, "does not depend"),
    (lambda m, x: ft.diagnose(IntOut(), x), ValueError, "no floating tensor"),
])
def test_bad_arguments(call, error, match):
    model = mlp("he", fresh_seed(), widths=(4, 6, 3))
    snap = snapshot(model)
    with pytest.raises(error, match=match):
        call(model, torch.randn(5, 4))
    assert_unchanged(model, snap)


# ---------------------------------------------------------------------------- Hugging Face

def test_tiny_bert():
    transformers = pytest.importorskip("transformers")
    seed = fresh_seed()
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=32, num_labels=3)
    model = transformers.BertForSequenceClassification(cfg)
    model.train()
    ids = torch.randint(0, cfg.vocab_size, (4, 12))
    snap, rng = snapshot(model), torch.get_rng_state()
    result = ft.diagnose(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, seed=seed)
    assert_unchanged(model, snap)
    assert torch.equal(torch.get_rng_state(), rng)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 * 6 + 2 and set(linears) <= set(result.modules)
    for n in linears:
        p = result[n]
        assert p.type == "Linear" and p.calls == 1
        assert all(math.isfinite(p[f]) and p[f] > 0 for f in ("pre_std", "act_std", "grad_w_std", "grad_a_std")), n
    # the loss took the logits: the classifier's output gradient is R
    assert result["classifier"].grad_a_std == pytest.approx(std(noise((4, 3), seed).float()), rel=1e-6)
    assert math.isnan(result["bert.embeddings.word_embeddings"].pre_std)      # token ids have no std
    act = result["bert.encoder.layer.0.intermediate.intermediate_act_fn"]
    assert 0.0 <= act.dead_fraction <= 1.0 and math.isfinite(act.act_std)
    json.dumps(result.to_dict(), allow_nan=False)
