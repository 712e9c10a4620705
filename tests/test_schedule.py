"""fastinit.torch's pruning during training: TF-MOT's schedules (PolynomialDecay,
ConstantSparsity) and GradualPruner. The sparsity is exact at every pruning step,
the masks are nested, pruned entries stay exactly zero through SGD with momentum
and AdamW, a resumed run equals an uninterrupted one bit for bit, and bad
arguments change nothing. Skips cleanly without PyTorch."""
import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
import _mlp  # noqa: E402
from _mlp import MLP, WEIGHTS, mlp  # noqa: E402
from _stats import fresh_seed  # noqa: E402

one_torch_thread = _mlp.one_torch_thread      # the autouse fixture, for this module too


def _model(seed):
    return mlp(seed, (16, 32, 24, 4))


def _batch(seed, t):
    g = torch.Generator().manual_seed(seed * 1000 + t)
    return torch.randn(32, 16, generator=g), torch.randint(0, 4, (32,), generator=g)


def _train_step(model, opt, seed, t):
    x, y = _batch(seed, t)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _hooks(model):
    return sum(len(p._backward_hooks or {}) for p in model.parameters())


# ---------------------------------------------------------------- the schedules
def test_polynomial_decay_is_tfmot_formula():
    # TF-MOT's own test (pruning_schedule_test.py): PolynomialDecay(0.2, 0.8, 100, 110, 3, 2)
    s = ft.PolynomialDecay(0.2, 0.8, 100, 110, 3, 2)
    for step, want in ((100, 0.2), (102, 0.4928), (105, 0.725), (110, 0.8)):
        assert s.sparsity(step) == pytest.approx(want, abs=1e-12)
    assert s.sparsity(0) == pytest.approx(0.2) and s.sparsity(99) == pytest.approx(0.2)   # p clamped at 0
    assert s.sparsity(111) == 0.8 and s.sparsity(10 ** 9) == 0.8                           # and at 1
    # computed here, independently: final + (initial - final) * (1 - p) ** power
    rng = np.random.default_rng(fresh_seed())
    for _ in range(20):
        initial = float(rng.uniform(0, 0.5))
        final = float(rng.uniform(initial, 0.99))
        begin = int(rng.integers(0, 50))
        end = begin + int(rng.integers(1, 500))
        power = float(rng.choice([1, 2, 3, 0.5]))
        s = ft.PolynomialDecay(initial, final, begin, end, power=power, frequency=7)
        for step in rng.integers(begin, end + 1, 5):
            p = (int(step) - begin) / (end - begin)
            assert s.sparsity(int(step)) == pytest.approx(final + (initial - final) * (1 - p) ** power, rel=1e-12)
    assert ft.PolynomialDecay(0.4, 0.4, 0, 10, power=0).sparsity(5) == 0.4    # power 0: only a flat schedule


def test_which_steps_prune_follows_tfmot():
    s = ft.PolynomialDecay(0.2, 0.8, 100, 200, frequency=10)
    assert [t for t in range(0, 300) if s.should_prune(t)] == list(range(100, 201, 10))
    s = ft.PolynomialDecay(0.0, 0.5, 0, 25, frequency=10)       # end_step off the grid: not a pruning step
    assert [t for t in range(60) if s.should_prune(t)] == [0, 10, 20]
    assert s(20) == (True, s.sparsity(20)) and s(21)[0] is False
    c = ft.ConstantSparsity(0.5, 3, frequency=4)                # end_step=-1: forever
    assert c.should_prune(3) and c.should_prune(3 + 4 * 10 ** 6) and not c.should_prune(2) and not c.should_prune(5)
    assert c.sparsity(0) == 0.5 and c.sparsity(10 ** 7) == 0.5
    once = ft.ConstantSparsity(0.3, 7, 7, 1)
    assert [t for t in range(50) if once.should_prune(t)] == [7]


@pytest.mark.parametrize("make,error,match", [
    (lambda: ft.PolynomialDecay(0.0, 0.5, 10, 10), ValueError, "end_step"),
    (lambda: ft.PolynomialDecay(0.0, 0.5, 10, 5), ValueError, "end_step"),
    (lambda: ft.PolynomialDecay(-0.1, 0.5, 0, 10), ValueError, "initial_sparsity"),
    (lambda: ft.PolynomialDecay(0.0, 1.0, 0, 10), ValueError, "final_sparsity"),
    (lambda: ft.PolynomialDecay(0.6, 0.5, 0, 10), ValueError, "final_sparsity"),
    (lambda: ft.PolynomialDecay(0.0, float("nan"), 0, 10), ValueError, "final_sparsity"),
    (lambda: ft.PolynomialDecay(0.0, 0.5, -1, 10), ValueError, "begin_step"),
    (lambda: ft.PolynomialDecay(0.0, 0.5, 0, 10, frequency=0), ValueError, "frequency"),
    (lambda: ft.PolynomialDecay(0.0, 0.5, 0, 10, power=-1), ValueError, "power"),
    (lambda: ft.PolynomialDecay(0.0, 0.5, 0, 10.0), TypeError, "end_step"),
    (lambda: ft.PolynomialDecay(0.0, "0.5", 0, 10), TypeError, "final_sparsity"),
    (lambda: ft.ConstantSparsity(1.0, 0), ValueError, "target_sparsity"),
    (lambda: ft.ConstantSparsity(0.5, 10, 5), ValueError, "end_step"),
    (lambda: ft.ConstantSparsity(0.5, 0, -2), ValueError, "end_step"),
    (lambda: ft.ConstantSparsity(0.5, True), TypeError, "begin_step"),
])
def test_bad_schedules_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_schedule_config_round_trips():
    for s in (ft.PolynomialDecay(0.1, 0.7, 5, 55, power=2, frequency=5), ft.ConstantSparsity(0.4, 2, 30, 3)):
        cfg = s.get_config()
        assert type(s).from_config(cfg) == s and cfg["class_name"] == type(s).__name__
    with pytest.raises(ValueError, match="unknown schedule"):
        ft.PolynomialDecay.from_config({"class_name": "Exponential", "config": {}})


# ---------------------------------------------------------------- the pruner: exact, nested, zero
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_sparsity_exact_at_every_scheduled_step_and_masks_nested(scope):
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pruner = ft.GradualPruner(model, 0.9, initial_sparsity=0.1, begin_step=3, end_step=43, frequency=4,
                              scope=scope)
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in WEIGHTS}
    previous, pruning_steps = pruner.masks, []
    for t in range(50):
        _train_step(model, opt, seed, t)
        did = pruner.step()
        assert did == (3 <= t <= 43 and (t - 3) % 4 == 0), t
        masks = pruner.masks
        zeros = {n: int((~m).sum()) for n, m in masks.items()}
        if did:
            pruning_steps.append(t)
            s = 0.9 + (0.1 - 0.9) * (1 - (t - 3) / 40) ** 3
            if scope == "global":
                assert sum(zeros.values()) == round(s * sum(sizes.values())), (seed, t)
            else:
                assert zeros == {n: round(s * k) for n, k in sizes.items()}, (seed, t)
        else:
            assert all(torch.equal(masks[n], previous[n]) for n in WEIGHTS), (seed, t)
        for n in WEIGHTS:
            assert not bool((masks[n] & ~previous[n]).any()), f"{n} revived an entry at step {t} ({seed})"
            assert bool((params[n][~masks[n]] == 0).all()), (seed, t, n)
        previous = masks
    assert pruning_steps == list(range(3, 44, 4))
    assert pruner.pruned_fraction() == pytest.approx(0.9, abs=1e-3)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("pass_optimizer", [True, False])
def test_pruned_entries_stay_exactly_zero(kind, pass_optimizer):
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    pruner = ft.GradualPruner(model, 0.8, end_step=20, frequency=5, optimizer=opt if pass_optimizer else None)
    params = dict(model.named_parameters())
    for t in range(40):
        x, y = _batch(seed, t)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        masks = pruner.masks
        for n in WEIGHTS:       # gradients of pruned entries are masked
            assert bool((params[n].grad[~masks[n]] == 0).all()), (seed, t, n)
        opt.step()
        if pass_optimizer and t > 0:    # zeroed optimizer state: the optimizer itself leaves them at 0.0
            for n in WEIGHTS:
                assert bool((params[n][~masks[n]] == 0).all()), (seed, t, n)
                for v in opt.state[params[n]].values():
                    if v.shape == params[n].shape:
                        assert bool((v[~masks[n]] == 0).all()), (seed, t, n)
        pruner.step()
        for n, m in pruner.masks.items():
            w = params[n].detach()
            assert bool((w[~m] == 0).all()), (seed, t, n)
            assert not bool((w[~m].view(torch.int32) != 0).any()), "pruned entries are +0.0"
    assert pruner.pruned_fraction() == pytest.approx(0.8, abs=1e-3)
    assert all(bool((params[n][pruner.masks[n]] != 0).any()) for n in WEIGHTS)     # the rest trained


def test_a_surviving_weight_at_exactly_zero_is_not_taken_for_a_pruned_one():
    model = _model(fresh_seed() % 2 ** 31)
    w = model.fc2.weight
    pruner = ft.GradualPruner(model, 0.5, initial_sparsity=0.2, end_step=2, frequency=1, names=["fc2.weight"])
    # step 0 prunes 20 % (154 of 768); then 40 surviving entries, late in flat order, become exactly 0.0 or -0.0
    pruner.step()
    first = pruner.masks["fc2.weight"]
    alive = torch.nonzero(first.reshape(-1)).reshape(-1)
    chosen = alive[-40:]
    with torch.no_grad():
        w.view(-1)[chosen[:20]] = 0.0
        w.view(-1)[chosen[20:]] = -0.0
    # step 1: 0.5 + (0.2 - 0.5) * (1 - 1/2) ** 3 = 0.4625 -> round(355.2) = 355: 201 more, more than the 40 zeros
    pruner.step()
    second = pruner.masks["fc2.weight"]
    assert int((~second).sum()) == 355 and not bool((second & ~first).any())
    assert not bool(second.reshape(-1)[chosen].any()), "the surviving zeros are the smallest survivors"
    # fewer to add than surviving zeros: the kernel would pick zeros by index among pruned and alive alike
    model = _model(fresh_seed() % 2 ** 31)
    masks = ft.prune_(model, 0.3, names=["fc2.weight"])
    w = model.fc2.weight
    alive = torch.nonzero(masks["fc2.weight"].reshape(-1)).reshape(-1)
    with torch.no_grad():
        w.view(-1)[alive[-100:]] = 0.0                          # 100 surviving zeros, after many pruned ones
    new = ft.prune_(model, 10, masks=masks)["fc2.weight"]
    assert int((~new).sum()) == round(0.3 * 768) + 10
    assert not bool((new & ~masks["fc2.weight"]).any()), "nested"
    assert torch.equal(torch.nonzero(~new.reshape(-1) & masks["fc2.weight"].reshape(-1)).reshape(-1), alive[-100:][:10])


def test_resume_equals_uninterrupted():
    seed = fresh_seed() % 2 ** 31
    steps, cut = 30, 13

    def fresh():
        model = _model(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
        return model, opt, ft.GradualPruner(model, 0.75, initial_sparsity=0.1, begin_step=2, end_step=22,
                                            frequency=3, scope="layer", optimizer=opt)

    model, opt, pruner = fresh()
    for t in range(steps):
        _train_step(model, opt, seed, t)
        pruner.step()
    whole, whole_masks = _state(model), pruner.masks

    model, opt, pruner = fresh()
    for t in range(cut):
        _train_step(model, opt, seed, t)
        pruner.step()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "pruner": pruner.state_dict()}, buf)
    del model, opt, pruner
    buf.seek(0)
    ckpt = torch.load(buf)
    model = MLP((16, 32, 24, 4))                        # another init: everything comes from the checkpoint
    model.load_state_dict(ckpt["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
    opt.load_state_dict(ckpt["opt"])
    pruner = ft.GradualPruner(model, 0.75, initial_sparsity=0.1, begin_step=2, end_step=22, frequency=3,
                              scope="layer", optimizer=opt)
    pruner.load_state_dict(ckpt["pruner"])
    assert pruner.steps_done == cut
    for t in range(cut, steps):
        _train_step(model, opt, seed, t)
        pruner.step()
    for k, v in _state(model).items():
        assert torch.equal(v, whole[k]), (seed, k)
    assert all(torch.equal(pruner.masks[n], whole_masks[n]) for n in WEIGHTS)


def test_schedule_object_equals_keywords_and_constant_sparsity():
    seed = fresh_seed() % 2 ** 31
    runs = []
    for how in ("keywords", "schedule"):
        model = _model(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        if how == "keywords":
            pruner = ft.GradualPruner(model, 0.6, begin_step=1, end_step=9, frequency=2, power=2)
        else:
            pruner = ft.GradualPruner(model, schedule=ft.PolynomialDecay(0.0, 0.6, 1, 9, power=2, frequency=2))
        for t in range(12):
            _train_step(model, opt, seed, t)
            pruner.step()
        runs.append(_state(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    model = _model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    pruner = ft.GradualPruner(model, schedule=ft.ConstantSparsity(0.5, 2, frequency=3), scope="layer")
    total = {n: p.numel() for n, p in model.named_parameters() if n in WEIGHTS}
    for t in range(10):
        _train_step(model, opt, seed, t)
        pruner.step()
        zeros = {n: int((~m).sum()) for n, m in pruner.masks.items()}
        assert zeros == ({n: round(0.5 * k) for n, k in total.items()} if t >= 2 else dict.fromkeys(total, 0))


def test_n_m_applies_the_pattern_at_begin_step_and_holds_it():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pruner = ft.GradualPruner(model, n_m=(2, 4), begin_step=3, optimizer=opt)
    assert pruner.sparsity(3) == 0.5
    params = dict(model.named_parameters())
    for t in range(10):
        _train_step(model, opt, seed, t)
        if t == 3:
            before = {n: params[n].detach().clone() for n in WEIGHTS}
        pruner.step()
        masks = pruner.masks
        if t < 3:
            assert all(bool(m.all()) for m in masks.values())
            continue
        if t == 3:
            pattern = masks
            for n in WEIGHTS:    # the 2 largest |w| of every 4 along the rows, as fastinit.prune_n_m_ keeps
                assert bool((masks[n].reshape(masks[n].shape[0], -1, 4).sum(-1) == 2).all()), n
                want = fastinit.prune_n_m_(before[n].numpy().copy(), 2, 4, return_mask=True)
                assert np.array_equal(masks[n].numpy(), want), (seed, n)
        for n in WEIGHTS:
            assert torch.equal(masks[n], pattern[n]) and bool((params[n][~masks[n]] == 0).all()), (seed, t, n)
    with pytest.raises(TypeError, match="n_m"):
        ft.GradualPruner(model, 0.5, end_step=10, n_m=(2, 4))
    with pytest.raises(ValueError, match="2:4"):
        ft.GradualPruner(model, 0.6, n_m=(2, 4))
    with pytest.raises(ValueError, match="multiple of m=3"):
        ft.GradualPruner(model, n_m=(1, 3))


def test_strip_leaves_plain_parameters():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    pruner = ft.GradualPruner(model, 0.5, end_step=4, frequency=2)
    assert _hooks(model) == 3
    for t in range(6):
        _train_step(model, opt, seed, t)
        pruner.step()
    masks = pruner.masks
    assert pruner.strip() is model
    assert _hooks(model) == 0
    assert all(type(p) is nn.Parameter for p in model.parameters())
    params = dict(model.named_parameters())
    assert all(bool((params[n][~masks[n]] == 0).all()) for n in WEIGHTS)
    x, y = _batch(seed, 99)
    nn.functional.cross_entropy(model(x), y).backward()
    assert any(bool((params[n].grad[~masks[n]] != 0).any()) for n in WEIGHTS), "gradients no longer masked"
    with pytest.raises(RuntimeError, match="stripped"):
        pruner.step()
    assert pruner.state_dict()["steps_done"] == 6 and all(torch.equal(pruner.masks[n], masks[n]) for n in WEIGHTS)


# ---------------------------------------------------------------- errors change nothing
@pytest.mark.parametrize("kwargs,error,match", [
    (dict(final_sparsity=0.5, end_step=0), ValueError, "end_step"),
    (dict(final_sparsity=0.5, begin_step=10, end_step=10), ValueError, "end_step"),
    (dict(final_sparsity=1.0, end_step=10), ValueError, "final_sparsity"),
    (dict(final_sparsity=0.3, initial_sparsity=0.4, end_step=10), ValueError, "final_sparsity"),
    (dict(final_sparsity=0.5, initial_sparsity=-0.1, end_step=10), ValueError, "initial_sparsity"),
    (dict(final_sparsity=0.5, end_step=10, frequency=0), ValueError, "frequency"),
    (dict(final_sparsity=0.5), TypeError, "end_step"),
    (dict(final_sparsity=0.5, end_step=10, scope="row"), ValueError, "scope"),
    (dict(final_sparsity=0.5, end_step=10, names=["fc9.weight"]), ValueError, "fc9.weight"),
    (dict(final_sparsity=0.5, end_step=10, names=[]), ValueError, "no parameters"),
    (dict(final_sparsity=0.5, end_step=10, optimizer="adam"), TypeError, "optimizer"),
    (dict(schedule=ft.ConstantSparsity(0.5, 0), frequency=10), TypeError, "schedule"),
    (dict(schedule=ft.ConstantSparsity(0.5, 0), final_sparsity=0.5), TypeError, "schedule"),
    (dict(schedule=(0.5, 0)), TypeError, "schedule"),
    (dict(n_m=(2, 4), power=2), TypeError, "n_m"),
    (dict(n_m=(5, 4)), ValueError, "n_m"),
    (dict(n_m=2), TypeError, "n_m"),
])
def test_bad_arguments_change_nothing(kwargs, error, match):
    model = _model(fresh_seed() % 2 ** 31)
    before = _state(model)
    with pytest.raises(error, match=match):
        ft.GradualPruner(model, **kwargs)
    assert _hooks(model) == 0, "a hook was registered before the error"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_bad_state_dict_changes_nothing():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    pruner = ft.GradualPruner(model, 0.5, end_step=4, frequency=2)
    for t in range(3):
        _train_step(model, opt, seed, t)
        pruner.step()
    good = pruner.state_dict()
    other = ft.GradualPruner(_model(seed), 0.5, end_step=4, frequency=2)
    before, masks = _state(model), pruner.masks
    bads = [
        (dict(good, names=WEIGHTS[:2]), ValueError, "names"),
        (dict(good, scope="layer"), ValueError, "scope"),
        (dict(good, schedule={"class_name": "PolynomialDecay", "config": dict(good["schedule"]["config"], end_step=0)}),
         ValueError, "end_step"),
        (dict(good, steps_done=-1), ValueError, "steps_done"),
        (dict(good, masks={**good["masks"], "fc2.weight": torch.ones(3, 3, dtype=torch.bool)}), ValueError, "fc2"),
        (dict(good, masks={**good["masks"], "fc3.weight": torch.ones(4, 24)}), TypeError, "fc3"),
        ({"masks": {}}, ValueError, "state_dict"),
    ]
    for bad, error, match in bads:
        with pytest.raises(error, match=match):
            pruner.load_state_dict(bad)
        assert pruner.steps_done == 3 and all(torch.equal(pruner.masks[n], masks[n]) for n in WEIGHTS)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    other.load_state_dict(good)         # the good one loads into a fresh pruner
    assert other.steps_done == 3 and all(torch.equal(other.masks[n], masks[n]) for n in WEIGHTS)


def test_nan_among_survivors_is_refused_before_anything_changes():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    pruner = ft.GradualPruner(model, 0.5, end_step=4, frequency=2)
    pruner.step()                       # step 0: sparsity 0, nothing pruned yet
    with torch.no_grad():
        model.fc3.weight[1, 2] = math.nan
    before = _state(model)
    pruner.step()                       # step 1: not a pruning step; NaN does not matter
    with pytest.raises(ValueError, match="fc3.weight"):
        pruner.step()
    assert pruner.steps_done == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v.nan_to_num(), before[k].nan_to_num()), k


# ---------------------------------------------------------------- the model changing under the pruner

def _changed_model(change):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    pr = ft.GradualPruner(m, 0.5, end_step=4, frequency=1)
    for _ in range(3):
        pr.step()
    change(m)
    for _ in range(3):
        pr.step()
    return m, pr


@pytest.mark.parametrize("change", [
    lambda m: m.double(), lambda m: m.half(), lambda m: m.share_memory(),
    lambda m: m.load_state_dict({k: v.clone() for k, v in m.state_dict().items()}, assign=True),
], ids=["double", "half", "share_memory", "assign"])
def test_the_pruner_follows_parameters_whose_memory_moves(change):
    """The masks are applied to the parameters' memory of now, not of construction time."""
    m, pr = _changed_model(change)
    assert pr.pruned_fraction() == 0.5
    for name, mask in pr.masks.items():
        w = dict(m.named_parameters())[name].detach()
        assert bool((w[~mask] == 0).all()), name
        assert int((w == 0).sum()) >= int((~mask).sum())
    # a replaced parameter is hooked again: its gradient is masked
    m(torch.randn(5, 16, dtype=m[0].weight.dtype)).sum().backward()
    assert bool((m[0].weight.grad[~pr.masks["0.weight"]] == 0).all())
    assert bool(m[0].weight.grad[pr.masks["0.weight"]].ne(0).any())


def test_a_dropped_pruner_takes_its_hooks_with_it():
    import gc
    m = nn.Sequential(nn.Linear(8, 8))
    a = ft.GradualPruner(m, 0.8, end_step=1, frequency=1)
    a.step()
    a.step()
    del a
    gc.collect()
    m[0].weight.grad = None
    m(torch.randn(4, 8)).sum().backward()
    assert not m[0].weight._backward_hooks
    assert bool((m[0].weight.grad != 0).all())              # dense training is not masked any more


def test_sparse_gradients_are_masked():
    e = nn.Sequential(nn.Embedding(20, 8, sparse=True))
    pr = ft.GradualPruner(e, 0.5, end_step=1, frequency=1)
    pr.step()
    e(torch.arange(20)).sum().backward()
    g = e[0].weight.grad
    assert g.is_sparse
    dense = g.to_dense()
    assert bool((dense[~pr.masks["0.weight"]] == 0).all()) and bool((dense[pr.masks["0.weight"]] != 0).all())


def test_a_parameter_unfrozen_later_gets_its_hook():
    m = nn.Sequential(nn.Linear(8, 8))
    m[0].weight.requires_grad_(False)
    pr = ft.GradualPruner(m, 0.5, end_step=1, frequency=1)
    pr.step()
    m[0].weight.requires_grad_(True)
    pr.step()
    m(torch.randn(4, 8)).sum().backward()
    assert bool((m[0].weight.grad[~pr.masks["0.weight"]] == 0).all())


def test_power_zero_must_not_leave_the_target_unreached():
    with pytest.raises(ValueError, match="ConstantSparsity"):
        ft.PolynomialDecay(0.0, 0.9, 0, 10, power=0)
    assert ft.PolynomialDecay(0.5, 0.5, 0, 10, power=0).sparsity(7) == 0.5
    with pytest.raises(ValueError, match="power=0"):
        ft.GradualPruner(nn.Linear(4, 4), 0.9, end_step=10, power=0)


def test_argument_messages():
    m = nn.Sequential(nn.Linear(8, 8))
    with pytest.raises(ValueError, match="n must be between 1 and m=4"):
        ft.GradualPruner(m, n_m=(0, 4))
    with pytest.raises(TypeError, match="names must be a list of parameter names"):
        ft.GradualPruner(m, 0.5, end_step=3, names="0.weight")
    masks = ft.prune_(m, 0.5)
    with pytest.raises(ValueError, match="of the 32 surviving entries"):
        ft.prune_(m, 40, masks=masks)
