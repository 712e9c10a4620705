"""Iterative magnitude pruning with fastinit.torch: prune_(..., masks=previous) prunes a
fraction of the survivors (masks nested), rewind_ back to the init records equals a
regenerated init bit for bit, rewind_(..., snapshot=) does late rewinding from one
stored copy, reinit_ is the random re-init control (same masks, fresh draw of the
recorded init), all checked before anything changes; and the digits example runs.
Skips cleanly without PyTorch."""
import copy
import importlib.util
import math
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
import _mlp  # noqa: E402
from _mlp import WEIGHTS, mlp  # noqa: E402
from _stats import fresh_seed  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

one_torch_thread = _mlp.one_torch_thread      # the autouse fixture, for this module too


def _model(seed):
    return mlp(seed, (20, 40, 30, 3))


def _train(model, masks, seed, steps=8):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        x, y = torch.randn(64, 20, generator=g), torch.randint(0, 3, (64,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if masks:
            ft.apply_masks_(model, masks)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(model, state):
    return all(torch.equal(v.nan_to_num(), state[k].nan_to_num()) for k, v in model.state_dict().items())


# ---------------------------------------------------------------- prune_ with masks=
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_with_masks_prunes_a_fraction_of_the_survivors(scope):
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    _train(model, None, seed)
    masks = ft.prune_(model, 0.3, scope=scope)
    for r in range(3):
        _train(model, masks, seed + r + 1)
        trained = _state(model)
        old = {n: m.clone() for n, m in masks.items()}
        new = ft.prune_(model, 0.25, scope=scope, masks=masks)
        assert list(new) == WEIGHTS
        assert all(torch.equal(masks[n], old[n]) for n in WEIGHTS), "the previous masks are not modified"
        alive = {n: int(old[n].sum()) for n in WEIGHTS}
        kept = {n: int(new[n].sum()) for n in WEIGHTS}
        if scope == "global":
            total = sum(alive.values())
            assert sum(kept.values()) == total - round(0.25 * total), (seed, r)
        else:
            assert kept == {n: a - round(0.25 * a) for n, a in alive.items()}, (seed, r)
        params = dict(model.named_parameters())
        for n in WEIGHTS:
            assert not bool((new[n] & ~old[n]).any()), "nested"
            assert torch.equal(params[n].detach(), torch.where(new[n], trained[n], torch.zeros(()))), (seed, r, n)
        # the newly pruned are the smallest survivors: globally, or in each tensor
        added = {n: trained[n][old[n] & ~new[n]].abs() for n in WEIGHTS}
        survivors = {n: trained[n][new[n]].abs() for n in WEIGHTS}
        if scope == "global":
            assert float(torch.cat(list(added.values())).max()) <= float(torch.cat(list(survivors.values())).min())
        else:
            assert all(float(added[n].max()) <= float(survivors[n].min()) for n in WEIGHTS)
        masks = new


def test_prune_with_masks_takes_counts_names_and_weights_not_yet_masked():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    masks = ft.prune_(model, 0.5, names=["fc2.weight", "fc1.weight"])
    with torch.no_grad():                       # trained without re-masking: pruned entries moved
        for p in model.parameters():
            p.add_(torch.randn(p.shape) * 0.01)
    new = ft.prune_(model, 7, masks=masks)
    assert list(new) == ["fc2.weight", "fc1.weight"]           # the order of masks: the ranking order
    assert sum(int((~m).sum()) for m in new.values()) == round(0.5 * 2000) + 7
    for n, m in new.items():
        assert bool((dict(model.named_parameters())[n][~m] == 0).all()) and not bool((m & ~masks[n]).any())
    same = ft.prune_(model, 0.0, names=["fc1.weight", "fc2.weight"], masks=new)
    assert list(same) == ["fc1.weight", "fc2.weight"] and all(torch.equal(same[n], new[n]) for n in new)


def test_prune_with_masks_checks_everything_before_changing_anything():
    model = _model(fresh_seed() % 2 ** 31)
    masks = ft.prune_(model, 0.5)
    with torch.no_grad():
        model.fc2.weight.add_(0.5)              # pruned entries nonzero again: a bad call must not re-zero them
        model.fc1.weight[~masks["fc1.weight"]] = math.nan        # NaN where pruned: harmless
    before = _state(model)
    bads = [
        (dict(masks, **{"fc3.weight": torch.ones(2, 2, dtype=torch.bool)}), {}, ValueError, "fc3.weight"),
        (dict(masks, **{"fc2.weight": torch.ones(30, 40)}), {}, TypeError, "bool"),
        (dict(masks, **{"fc9.weight": torch.ones(2, 2, dtype=torch.bool)}), {}, ValueError, "fc9.weight"),
        (masks, dict(names=["fc1.weight"]), ValueError, "same parameters"),
        (masks, dict(amount=1.5), ValueError, "should"),
        (masks, dict(amount=10 ** 6), ValueError, "smaller than the number"),
        (masks, dict(scope="row"), ValueError, "scope"),
        ([masks["fc1.weight"]], {}, TypeError, "dict"),
    ]
    for bad, kw, error, match in bads:
        kw = dict(dict(amount=0.2), **kw)
        with pytest.raises(error, match=match):
            ft.prune_(model, kw.pop("amount"), masks=bad, **kw)
        assert _same(model, before), match
    with torch.no_grad():
        model.fc3.weight[tuple(masks["fc3.weight"].nonzero()[0].tolist())] = math.nan      # a survivor
    before = _state(model)
    with pytest.raises(ValueError, match="fc3.weight"):
        ft.prune_(model, 0.2, masks=masks)
    assert _same(model, before)


# ---------------------------------------------------------------- rewinding
def test_rounds_rewound_to_init_equal_a_regenerated_init():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    records = ft.init_records(model)
    everything = {n: torch.ones(p.shape, dtype=torch.bool) for n, p in model.named_parameters()}
    masks = None
    for r in range(3):
        _train(model, masks, seed + r)
        masks = ft.prune_(model, 0.2, masks=masks, names=WEIGHTS)
        ft.rewind_(model, everything | masks, records=records)
        for name, p in model.named_parameters():
            # regenerated here, independently of the model: a fresh tensor from the record
            again = ft.regenerate(torch.empty(p.shape), records[name], name)
            want = torch.where(masks[name], again, torch.zeros(())) if name in masks else again
            assert torch.equal(p.detach(), want), (seed, r, name)
    alive = 800 + 1200 + 90
    for _ in range(3):
        alive -= round(0.2 * alive)
    assert sum(int(m.sum()) for m in masks.values()) == alive
    # and the same values a plain NumPy call of the recorded scheme writes
    rec = records["fc2.weight"]
    w = fastinit.kaiming_uniform_(np.empty((30, 40), np.float32), a=math.sqrt(5), seed=rec["seed"])
    assert np.array_equal(model.fc2.weight.detach().numpy(), np.where(masks["fc2.weight"].numpy(), w, 0))


def test_late_rewinding_to_a_snapshot():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    _train(model, None, seed, steps=3)
    snap = ft.snapshot(model)                       # one stored copy, at "iteration 3"
    assert sorted(snap) == sorted(n for n, _ in model.named_parameters())
    early = {k: v.clone() for k, v in snap.items()}
    _train(model, None, seed + 1)
    assert all(torch.equal(snap[k], early[k]) for k in snap), "a copy, not a view of the training weights"
    masks = ft.prune_(model, 0.6, scope="layer")
    bias = {"fc1.bias": torch.ones(40, dtype=torch.bool)}
    ft.rewind_(model, masks | bias, snapshot=snap)
    params = dict(model.named_parameters())
    for n in WEIGHTS:
        assert torch.equal(params[n].detach(), torch.where(masks[n], early[n], torch.zeros(()))), n
    assert torch.equal(params["fc1.bias"].detach(), early["fc1.bias"])
    assert not torch.equal(params["fc2.bias"].detach(), early["fc2.bias"]), "not in masks: not rewound"
    before = _state(model)
    for kw, error, match in [
        (dict(snapshot=snap, records=ft.init_records(_model(1))), TypeError, "not both"),
        (dict(snapshot={k: v for k, v in snap.items() if k != "fc3.weight"}), ValueError, "fc3.weight"),
        (dict(snapshot=dict(snap, **{"fc2.weight": snap["fc2.weight"].double()})), TypeError, "fc2.weight"),
        (dict(snapshot=dict(snap, **{"fc2.weight": snap["fc2.weight"][:3]})), ValueError, "fc2.weight"),
        (dict(snapshot=[snap]), TypeError, "snapshot"),
    ]:
        with pytest.raises(error, match=match):
            ft.rewind_(model, masks, **kw)
        assert _same(model, before), match
    with pytest.raises(ValueError, match="fc7"):
        ft.snapshot(model, names=["fc7.weight"])


# ---------------------------------------------------------------- the random re-init control
def test_reinit_is_the_same_masks_over_a_fresh_draw_of_the_recorded_init():
    seed = fresh_seed() % 2 ** 31
    model = _model(seed)
    records = ft.init_records(model)
    _train(model, None, seed)
    masks = ft.prune_(model, 0.7)
    control = copy.deepcopy(model)
    fresh = fresh_seed()
    keep = masks | {"fc3.bias": torch.ones(3, dtype=torch.bool)}
    ft.reinit_(control, keep, seed=fresh, records=records)
    params = dict(control.named_parameters())
    for name, mask in keep.items():
        rec = records[name]
        want = fastinit.uniform_(np.empty(rec["shape"], np.float32), rec["params"]["a"], rec["params"]["b"],
                                 seed=fresh, stream=fastinit.name_stream(name))
        assert np.array_equal(params[name].detach().numpy(), np.where(mask.numpy(), want, 0)), name
        initial = ft.regenerate(torch.empty(rec["shape"]), rec, name)
        assert not torch.equal(params[name].detach()[mask], initial[mask]), "not the ticket's initial values"
        assert params[name].detach()[mask].abs().max() <= rec["params"]["b"], "the recorded distribution"
    assert torch.equal(params["fc1.bias"].detach(), model.fc1.bias.detach()), "not in masks: untouched"
    # without a seed: drawn from torch's default generator, so torch.manual_seed repeats it
    twins = [copy.deepcopy(model) for _ in range(2)]
    for twin in twins:
        torch.manual_seed(seed)
        ft.reinit_(twin, masks, records=records)
    assert all(torch.equal(a, b) for a, b in zip(twins[0].state_dict().values(), twins[1].state_dict().values()))
    # records left on the parameters in this process are the default
    ft.reinit_(model, masks, seed=fresh)
    assert all(torch.equal(model.state_dict()[k], control.state_dict()[k]) for k in WEIGHTS)


def test_reinit_checks_everything_before_the_seed_or_a_weight():
    model = _model(fresh_seed() % 2 ** 31)
    records = ft.init_records(model)
    masks = ft.prune_(model, 0.5)
    before, state = _state(model), torch.get_rng_state()
    for args, kw, error, match in [
        ((masks,), dict(seed=-1), ValueError, "seed"),
        ((masks,), dict(seed=1.5), TypeError, "seed"),
        ((masks,), dict(seed=2 ** 64), ValueError, "seed"),
        ((dict(masks, **{"fc2.weight": torch.ones(1, dtype=torch.bool)}),), {}, ValueError, "fc2.weight"),
        ((masks,), dict(records={k: v for k, v in records.items() if k != "fc3.weight"}), ValueError, "fc3.weight"),
        ((masks,), dict(records=dict(records, **{"fc3.weight": dict(records["fc3.weight"], stream=None)})),
         ValueError, "stream"),
        ((list(masks),), {}, TypeError, "masks"),
    ]:
        with pytest.raises(error, match=match):
            ft.reinit_(model, *args, **kw)
        assert _same(model, before), match
        assert torch.equal(torch.get_rng_state(), state), "torch's generator advanced on a failed call"
    with pytest.raises(ValueError, match="no fastinit init record"):
        ft.reinit_(nn.Linear(3, 3), {"weight": torch.ones(3, 3, dtype=torch.bool)}, seed=1)


# ---------------------------------------------------------------- the demonstration
def test_the_digits_example_runs(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("lottery_digits", ROOT / "examples" / "lottery_digits.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "fig.png"
    res = example.main(rounds=2, epochs=2, seeds=(0,), out=out, quiet=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["remaining"] == pytest.approx([1.0, 0.8, 0.64], abs=1e-3)
    assert res["ticket"].shape == res["control"].shape == (1, 3) and res["dense"].shape == (1,)
    assert res["ticket"][0, 0] == res["control"][0, 0] == res["dense"][0]
    assert ((res["ticket"] > 0.5) & (res["ticket"] <= 1)).all(), "two epochs learn the digits past chance"
    again = example.main(rounds=1, epochs=2, seeds=(0,), out=None, quiet=True)
    assert np.array_equal(again["ticket"], res["ticket"][:, :2]), "deterministic"
