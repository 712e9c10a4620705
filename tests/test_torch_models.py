"""fastinit.torch on whole models: patch(), materialize_(), init records, prune_ and
rewind_. Skips cleanly without PyTorch."""
import collections
import json
import math
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("fastinit.torch")
from torch import nn  # noqa: E402

import fastinit  # noqa: E402
from fastinit.torch import _functions  # noqa: E402

INIT_NAMES = _functions.INIT_NAMES


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


@pytest.fixture
def count_fills(monkeypatch):
    """Counts fastinit writes per (module type, scheme), through the record hook."""
    counts = collections.Counter()
    real = _functions._record

    def counting(tensor, fill, taken, scheme, args):
        counts[(tuple(tensor.shape), scheme)] += 1
        return real(tensor, fill, taken, scheme, args)

    monkeypatch.setattr(_functions, "_record", counting)
    return counts


def torch_bindings():
    """Every module-level name bound to one of torch's own init functions."""
    theirs = {id(fn): name for name, fn in _functions.TORCH_FUNCTIONS.items()}
    found = {}
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or mod_name.startswith("fastinit"):
            continue
        try:
            ns = vars(mod)
        except TypeError:
            continue
        for name in INIT_NAMES:
            if id(ns.get(name)) in theirs:
                found[(mod_name, name)] = ns[name]
    return found


# ---------------------------------------------------------------------------
# patch()

def test_patch_rebinds_names_imported_by_value_and_restores_exactly():
    import torch.nn.modules.activation as activation
    import torch.nn.modules.transformer as transformer
    before = torch_bindings()
    assert ("torch.nn.modules.activation", "xavier_uniform_") in before
    assert ("torch.nn.modules.transformer", "xavier_uniform_") in before
    with ft.patch() as p:
        assert ft.is_patched() and "enabled=True" in repr(p)
        assert torch.nn.init.kaiming_uniform_ is ft.kaiming_uniform_
        assert activation.xavier_uniform_ is ft.xavier_uniform_
        assert transformer.xavier_uniform_ is ft.xavier_uniform_
        assert not torch_bindings()             # nothing still bound to torch's functions
        with ft.patch(False):                   # nested: off for a block, then on again
            assert torch.nn.init.normal_ is _functions.TORCH_FUNCTIONS["normal_"]
        assert torch.nn.init.normal_ is ft.normal_
    assert not ft.is_patched()
    after = torch_bindings()
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)


def test_patch_for_the_whole_process_and_back():
    ft.patch()
    try:
        assert torch.nn.init.orthogonal_ is ft.orthogonal_
    finally:
        ft.patch(False)
    assert torch.nn.init.orthogonal_ is _functions.TORCH_FUNCTIONS["orthogonal_"]
    with pytest.raises(TypeError, match="enabled"):
        ft.patch("yes")


def test_unpatching_restores_library_copies_and_keeps_deliberate_user_imports():
    import types
    lib = types.ModuleType("torch._fastinit_test_late")        # a torch module imported while patched
    user = types.ModuleType("fastinit_test_user")               # a user's deliberate fastinit import
    user.kaiming_uniform_ = ft.kaiming_uniform_
    sys.modules["fastinit_test_user"] = user
    try:
        with ft.patch():
            lib.xavier_uniform_ = torch.nn.init.xavier_uniform_  # `from torch.nn.init import ...` now
            sys.modules[lib.__name__] = lib
            assert lib.xavier_uniform_ is ft.xavier_uniform_
        assert lib.xavier_uniform_ is _functions.TORCH_FUNCTIONS["xavier_uniform_"]
        assert user.kaiming_uniform_ is ft.kaiming_uniform_
    finally:
        sys.modules.pop(lib.__name__, None)
        sys.modules.pop("fastinit_test_user", None)


def test_patch_blocks_count_across_threads_and_nesting():
    import threading
    entered, release = threading.Event(), threading.Event()

    def first():
        with ft.patch():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    entered.wait(10)
    with ft.patch():
        release.set()
        t.join()
        assert ft.is_patched()          # the other thread's block closed; ours is still open
    assert not ft.is_patched() and torch.nn.init.normal_ is _functions.TORCH_FUNCTIONS["normal_"]
    with ft.patch():
        ft.patch()                       # a process-wide call inside a block outlives the block
    try:
        assert ft.is_patched()
        with ft.patch(False):
            assert not ft.is_patched()
        assert ft.is_patched()
    finally:
        ft.patch(False)
    assert not ft.is_patched()


@pytest.mark.parametrize("build,expected", [
    (lambda: nn.Linear(40, 24), {((24, 40), "kaiming_uniform_"): 1, ((24,), "uniform_"): 1}),
    (lambda: nn.Conv1d(6, 8, 3), {((8, 6, 3), "kaiming_uniform_"): 1, ((8,), "uniform_"): 1}),
    (lambda: nn.Conv2d(6, 8, 3), {((8, 6, 3, 3), "kaiming_uniform_"): 1, ((8,), "uniform_"): 1}),
    (lambda: nn.Conv3d(2, 4, 3), {((4, 2, 3, 3, 3), "kaiming_uniform_"): 1, ((4,), "uniform_"): 1}),
    (lambda: nn.Embedding(100, 16), {((100, 16), "normal_"): 1}),
    (lambda: nn.MultiheadAttention(32, 4), {((96, 32), "xavier_uniform_"): 1, ((96,), "constant_"): 1,
                                            ((32, 32), "kaiming_uniform_"): 1, ((32,), "uniform_"): 1,
                                            ((32,), "constant_"): 1}),
    (lambda: nn.TransformerEncoderLayer(32, 4, 64), {
        ((96, 32), "xavier_uniform_"): 1, ((96,), "constant_"): 1, ((32, 32), "kaiming_uniform_"): 1,
        ((32,), "uniform_"): 2, ((32,), "constant_"): 1, ((64, 32), "kaiming_uniform_"): 1,
        ((64,), "uniform_"): 1, ((32, 64), "kaiming_uniform_"): 1, ((32,), "ones_"): 2, ((32,), "zeros_"): 2}),
])
def test_modules_initialize_through_fastinit_under_patch(build, expected, count_fills):
    with ft.patch():
        module = build()
    assert dict(count_fills) == expected
    for name, p in module.named_parameters():      # every parameter's final values are fastinit's
        assert ft.init_record(p) is not None, name
    count_fills.clear()
    build()                                       # unpatched: torch's own functions, no fastinit call
    assert not count_fills


def test_no_torch_random_kernel_runs_under_patch(monkeypatch):
    calls = collections.Counter()
    for op in ("uniform_", "normal_", "bernoulli_", "random_"):
        real = getattr(torch.Tensor, op)
        monkeypatch.setattr(torch.Tensor, op, lambda self, *a, _op=op, _real=real, **k: (
            calls.update([_op]), _real(self, *a, **k))[1])
    with ft.patch():
        nn.Sequential(nn.Embedding(30, 16), nn.TransformerEncoderLayer(16, 2, 32), nn.Conv2d(3, 4, 3),
                      nn.Linear(16, 4))
    assert not calls
    nn.Linear(4, 4)
    assert calls["uniform_"] == 2                       # the counter does see torch's own init


def test_patched_module_values_are_fastinit_values():
    seed = fresh_seed()
    torch.manual_seed(seed)
    with ft.patch():
        lin = nn.Linear(50, 30)
    rec = ft.init_record(lin.weight)
    bound = 1.0 / math.sqrt(50)                   # kaiming_uniform_(a=sqrt(5)) on fan_in 50
    assert rec["scheme"] == "kaiming_uniform_" and math.isclose(rec["params"]["b"], bound, rel_tol=1e-12)
    want = fastinit.uniform_(np.empty((30, 50), np.float32), -bound, bound, seed=rec["seed"])
    assert np.array_equal(lin.weight.detach().numpy(), want)
    torch.manual_seed(seed)
    assert rec["seed"] == ft.seed_from()          # the seed is torch's next draw, as documented


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_manual_seed_reproduces_a_patched_model(dtype):
    seed = fresh_seed()

    def build(s):
        torch.manual_seed(s)
        with ft.patch():
            return nn.Sequential(nn.Embedding(64, 32), nn.TransformerEncoderLayer(32, 4, 64),
                                 nn.Linear(32, 64)).to(dtype)

    a, b, c = build(seed), build(seed), build(seed + 1)
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(x, y), name
        if x.dim() >= 2:
            assert not torch.equal(x, z), name


# ---------------------------------------------------------------------------
# materialize_()

def build_mixed():
    return nn.Sequential(collections.OrderedDict([
        ("embed", nn.Embedding(50, 32)),
        ("block", nn.TransformerEncoderLayer(32, 4, 64)),
        ("conv", nn.Conv1d(32, 16, 3)),
        ("bn", nn.BatchNorm1d(16)),
        ("head", nn.Linear(16, 10)),
    ]))


def test_materialize_initializes_each_tensor_once_with_eager_semantics():
    with torch.device("meta"):
        model = build_mixed()
    report = ft.materialize_(model, seed=fresh_seed())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(b.device.type == "cpu" for b in model.buffers())
    params = dict(model.named_parameters())
    assert set(report.initialized) == set(params)
    assert set(report.writes.values()) == {1}                      # no parameter written twice
    assert report.initialized["block.self_attn.out_proj.bias"] == "constant_"   # MHA's reset wins
    assert report.initialized["block.self_attn.out_proj.weight"] == "kaiming_uniform_"
    assert report.initialized["bn.weight"] == "ones_" and report.initialized["embed.weight"] == "normal_"
    assert sorted(report.by_module) == ["bn.num_batches_tracked", "bn.running_mean", "bn.running_var"]
    assert report.untouched == [] and report.loaded == []
    assert torch.equal(model.bn.running_var, torch.ones(16)) and torch.equal(model.bn.running_mean, torch.zeros(16))
    assert int(model.bn.num_batches_tracked) == 0
    assert torch.equal(model.block.self_attn.out_proj.bias, torch.zeros(32))


def test_materialize_values_come_from_seed_and_name():
    seed = fresh_seed()
    with torch.device("meta"):
        model = build_mixed()
    ft.materialize_(model, seed=seed)
    w = model.head.weight
    rec = ft.init_record(w)
    assert rec["seed"] == seed and rec["stream"] == ft.name_stream("head.weight")
    bound = 1.0 / math.sqrt(16)
    want = fastinit.uniform_(np.empty((10, 16), np.float32), -bound, bound, seed=seed,
                             stream=ft.name_stream("head.weight"))
    assert np.array_equal(w.detach().numpy(), want)
    # The same seed gives the same model; adding a module leaves the others' values alone.
    with torch.device("meta"):
        again = build_mixed()
        again.add_module("extra", nn.Linear(10, 3))
    ft.materialize_(again, seed=seed)
    for name, t in model.state_dict().items():
        assert torch.equal(t, again.state_dict()[name]), name


def test_materialize_seed_drawn_from_torch_default_generator():
    s = fresh_seed()
    out = []
    for _ in range(2):
        torch.manual_seed(s)
        with torch.device("meta"):
            m = build_mixed()
        out.append(m)
        r = ft.materialize_(m)
        torch.manual_seed(s)
        assert r.seed == ft.seed_from()
    assert all(torch.equal(a, b) for a, b in zip(out[0].state_dict().values(), out[1].state_dict().values()))


def test_materialize_with_state_dict_loads_body_and_initializes_new_head():
    pretrained = build_mixed()
    sd = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("head.")}
    sd["not.in.model"] = torch.zeros(3)
    with torch.device("meta"):
        model = build_mixed()
        model.head = nn.Linear(16, 4)                 # a new head
    calls = collections.Counter()
    real = _functions._record

    def counting(tensor, *args, **kwargs):
        calls[tensor.shape] += 1
        return real(tensor, *args, **kwargs)

    _functions._record = counting
    try:
        report = ft.materialize_(model, state_dict=sd, seed=fresh_seed())
    finally:
        _functions._record = real
    assert sorted(report.initialized) == ["head.bias", "head.weight"]
    assert set(report.loaded) == set(sd) - {"not.in.model"}
    assert report.unexpected == ["not.in.model"]
    assert dict(calls) == {torch.Size([4, 16]): 1, torch.Size([4]): 1}   # nothing loaded was filled
    for k in report.loaded:
        assert torch.equal(model.state_dict()[k], sd[k]), k


def test_materialize_state_dict_shape_mismatch_raises_before_allocating():
    with torch.device("meta"):
        model = build_mixed()
    with pytest.raises(ValueError, match="head.weight"):
        ft.materialize_(model, state_dict={"head.weight": torch.zeros(3, 3)})
    assert all(p.device.type == "meta" for p in model.parameters())
    with pytest.raises(ValueError, match="recipe"):
        ft.materialize_(model, recipe="bert")
    with pytest.raises(TypeError, match="module"):
        ft.materialize_(torch.zeros(3))


def test_materialize_keeps_tensors_that_are_already_real():
    with torch.device("meta"):
        model = build_mixed()
    model.head = nn.Linear(16, 10)                    # built on the CPU already
    before = model.head.weight.detach().clone()
    ft.materialize_(model, seed=fresh_seed())
    assert torch.equal(model.head.weight, before)


def test_materialize_gpt2_recipe():
    n_layers = 3
    with torch.device("meta"):
        model = nn.ModuleDict({
            "wte": nn.Embedding(100, 48),
            "h": nn.ModuleList([nn.ModuleDict({"ln": nn.LayerNorm(48), "c_attn": nn.Linear(48, 144),
                                               "c_proj": nn.Linear(48, 48)}) for _ in range(n_layers)]),
            "lm_head": nn.Linear(48, 100, bias=False),
        })
    report = ft.materialize_(model, recipe="gpt2", seed=fresh_seed())
    assert set(report.writes.values()) == {1} and not report.untouched
    for name, p in model.named_parameters():
        rec = ft.init_record(p)
        if name.endswith("c_proj.weight"):
            assert rec["params"]["std"] == pytest.approx(0.02 / math.sqrt(2 * n_layers))
        elif p.dim() == 2:
            assert rec["params"] == {"mean": 0.0, "std": 0.02}, name
        elif name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name
        else:
            assert torch.equal(p, torch.ones_like(p)), name
    calls = []
    with torch.device("meta"):
        m = nn.Linear(512, 512)

    def recipe(name, tensor, module):
        calls.append(name)
        ft.trunc_normal_(tensor, std=0.01, a=-0.02, b=0.02)

    ft.materialize_(m, recipe=recipe, seed=fresh_seed())
    assert sorted(calls) == ["bias", "weight"] and float(m.weight.detach().abs().max()) <= 0.02


def test_materialize_warns_about_tensors_nothing_initializes():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(8))

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), Scale())
    with pytest.warns(RuntimeWarning, match=r"1\.scale"):
        report = ft.materialize_(model, seed=1)
    assert report.untouched == ["1.scale"]
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), Scale())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ft.materialize_(model, state_dict={"1.scale": torch.full((8,), 2.0)})
    assert torch.equal(model[1].scale, torch.full((8,), 2.0))


# ---------------------------------------------------------------------------
# Records, prune_, rewind_: the lottery ticket

def test_init_records_are_json_and_name_the_fill(tmp_path):
    with ft.patch():
        torch.manual_seed(fresh_seed())
        model = nn.Sequential(nn.Linear(12, 8), nn.Linear(8, 2))
    records = ft.init_records(model)
    assert sorted(records) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    rec = records["0.weight"]
    assert rec["scheme"] == "kaiming_uniform_" and rec["fill"] == "uniform"
    assert (rec["fan_in"], rec["fan_out"], rec["shape"], rec["dtype"]) == (12, 8, [8, 12], "float32")
    assert rec["stream"] == 0 and rec["offset"] == 0 and rec["stream_version"] == fastinit.STREAM_VERSION
    path = tmp_path / "init.json"
    ft.save_init_records(model, path)
    assert ft.load_init_records(path) == json.loads(json.dumps(records))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a fastinit"):
        ft.load_init_records(tmp_path / "bad.json")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("reload_records", [False, True])
def test_lottery_ticket_on_an_mlp(scope, reload_records, tmp_path):
    seed = fresh_seed()
    torch.manual_seed(seed)
    with ft.patch():
        model = MLP()
    at_init = {k: v.clone() for k, v in model.state_dict().items()}
    ft.save_init_records(model, tmp_path / "records.json")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(128, 20), torch.randint(0, 3, (128,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    masks = ft.prune_(model, 0.8, scope=scope)
    assert sorted(masks) == ["fc1.weight", "fc2.weight", "fc3.weight"]
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    if scope == "global":
        assert total - kept == round(0.8 * total)
    else:
        assert all(m.numel() - int(m.sum()) == round(0.8 * m.numel()) for m in masks.values())
    for name, m in masks.items():
        w = dict(model.named_parameters())[name]
        assert torch.equal(w, torch.where(m, trained[name], torch.zeros(()))), name
    if scope == "global":       # the global threshold: every kept |w| >= every pruned |w|
        kept_min = min(float(trained[n][m].abs().min()) for n, m in masks.items())
        pruned_max = max(float(trained[n][~m].abs().max()) for n, m in masks.items())
        assert kept_min >= pruned_max
    records = ft.load_init_records(tmp_path / "records.json") if reload_records else None
    ft.rewind_(model, masks, records=records)
    for name, p in model.named_parameters():
        if name in masks:
            want = torch.where(masks[name], at_init[name], torch.zeros(()))
            assert torch.equal(p, want), name           # bitwise: regenerated, not stored
        else:
            assert torch.equal(p, trained[name]), name  # biases are not pruned or rewound
    ft.apply_masks_(model, masks)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_prune_and_rewind_every_dtype(dtype):
    seed = fresh_seed()
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(33, 47), nn.Conv2d(3, 5, 3), nn.Embedding(40, 7)).to(dtype)
    ft.materialize_(model, seed=seed)
    at_init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape).to(dtype) * 0.05)
    masks = ft.prune_(model, 0.7)
    ft.rewind_(model, masks)
    for name, m in masks.items():
        assert torch.equal(dict(model.named_parameters())[name], torch.where(m, at_init[name], torch.zeros((), dtype=dtype)))


def test_rewind_deterministic_and_structured_fills():
    with ft.patch():
        torch.manual_seed(fresh_seed())
        model = nn.ModuleDict({"q": nn.Linear(16, 24), "s": nn.Linear(30, 20), "e": nn.Linear(6, 6)})
        ft.orthogonal_(model["q"].weight, gain=1.5)
        ft.sparse_(model["s"].weight, 0.4, std=0.1)
        ft.eye_(model["e"].weight)
    at_init = {k: v.clone() for k, v in model.state_dict().items()}
    assert ((model["s"].weight == 0).sum(0) >= math.ceil(0.4 * 20)).all()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.1).add_(0.01)
    masks = ft.prune_(model, 0.5, scope="layer")
    ft.rewind_(model, masks)
    for name, m in masks.items():
        assert torch.equal(dict(model.named_parameters())[name], torch.where(m, at_init[name], torch.zeros(()))), name


def test_prune_and_rewind_errors_change_nothing():
    with ft.patch():
        model = MLP()
    plain = nn.Linear(4, 4)                            # not initialized through fastinit
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="scope"):
        ft.prune_(model, 0.5, scope="row")
    with pytest.raises(ValueError, match="should"):
        ft.prune_(model, 1.5)
    with pytest.raises(ValueError, match="no parameters named"):
        ft.prune_(model, 0.5, names=["fc9.weight"])
    good = {n: torch.ones(p.shape, dtype=torch.bool) for n, p in model.named_parameters() if p.dim() == 2}
    bad = dict(good, **{"fc3.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(ValueError, match="fc3.weight"):
        ft.rewind_(model, bad)
    with pytest.raises(TypeError, match="bool"):
        ft.rewind_(model, dict(good, **{"fc1.weight": torch.ones(64, 20)}))
    with pytest.raises(ValueError, match="no fastinit init record"):
        ft.rewind_(plain, {"weight": torch.ones(4, 4, dtype=torch.bool)})
    records = ft.init_records(model)
    records["fc2.weight"] = dict(records["fc2.weight"], shape=[1, 2])
    with pytest.raises(ValueError, match="shape"):
        ft.rewind_(model, good, records=records)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# ---------------------------------------------------------------------------
# What the review of this layer found (each was a reproducer first)

def test_fills_bump_autograd_version_like_torch():
    w = torch.ones(3, requires_grad=True)
    y = (w * w).sum()
    with torch.no_grad():
        ft.normal_(w)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_inference_tensors_and_subclasses_go_to_torch():
    with torch.inference_mode():
        t = torch.empty(4)
    with pytest.raises(RuntimeError, match="[Ii]nference"):
        torch.nn.init.normal_(t)
    with pytest.raises(RuntimeError, match="[Ii]nference"):
        ft.normal_(t)
    seen = []

    class Logged(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", str(func)))
            return super().__torch_function__(func, types, args, kwargs or {})

    x = torch.empty(4, 4).as_subclass(Logged)
    ft.kaiming_uniform_(x)
    assert "kaiming_uniform_" in seen       # torch's own function ran, and dispatched to the subclass


@pytest.mark.parametrize("call", [
    lambda m: m.normal_(torch.empty(3), 0.0, float("nan")),
    lambda m: m.uniform_(torch.empty(3), -float("inf"), float("inf")),
    lambda m: m.uniform_(torch.empty(3, dtype=torch.float16), -1e5, 1e5),
    lambda m: m.trunc_normal_(torch.empty(3), 0.0, 1.0, 2.0, -2.0),
    lambda m: m.sparse_(torch.empty(4, 4), 0.5, float("nan")),
    lambda m: m.xavier_uniform_(torch.empty(0, 0)),
    lambda m: m.uniform_(torch.empty(1, 5).expand(4, 5)),
    lambda m: m.eye_(torch.empty(2, 3, 4, device="meta")),
    lambda m: m.dirac_(torch.empty(3, 2, 3, device="meta"), 2),
])
def test_error_classes_match_torch(call):
    def raised(module):
        try:
            with torch.no_grad():
                call(module)
        except Exception as exc:  # noqa: BLE001 - the class is what is compared
            return type(exc)
        return None

    theirs = raised(torch.nn.init)
    assert theirs is not None and raised(ft) is theirs


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
def test_a_failed_call_does_not_advance_the_generator():
    g = torch.Generator().manual_seed(fresh_seed())
    state = g.get_state()
    for bad in (lambda: ft.normal_(torch.empty(3), 0.0, -1.0, generator=g),
                lambda: ft.uniform_(torch.empty(3), 0.0, float("inf"), generator=g),
                lambda: ft.trunc_normal_(torch.empty(3), 0.0, 1.0, 50.0, 60.0, generator=g)):
        with pytest.raises(RuntimeError):
            bad()
        assert torch.equal(state, g.get_state())


def test_records_of_numpy_arguments_are_json_and_saves_are_atomic(tmp_path):
    with ft.patch():
        model = nn.Linear(8, 4)
    ft.normal_(model.weight, 0, np.float32(0.02))
    ft.uniform_(model.bias, torch.tensor(-0.1), np.float64(0.1))
    path = tmp_path / "init.json"
    ft.save_init_records(model, path)
    good = path.read_text()
    records = ft.load_init_records(path)
    assert records["weight"]["args"]["std"] == pytest.approx(0.02)
    with pytest.raises(TypeError):
        ft.save_init_records({"x": {"bad": object()}}, path)
    assert path.read_text() == good


def test_init_records_leave_out_parameters_rewritten_since():
    with ft.patch():
        torch.manual_seed(fresh_seed())
        model = MLP()
    with torch.no_grad():
        model.fc2.weight.normal_(0, 0.02)            # not through fastinit: the record is stale
        model.fc3.weight.data.uniform_(-1, 1)
    with pytest.warns(RuntimeWarning, match="fc2.weight"):
        records = ft.init_records(model)
    assert "fc1.weight" in records and "fc2.weight" not in records and "fc3.weight" not in records
    masks = ft.prune_(model, 0.5, names=["fc2.weight"])
    with pytest.raises(ValueError, match="fc2.weight"):
        ft.rewind_(model, masks, records=records)


def test_rewind_checks_every_record_before_writing():
    with ft.patch():
        torch.manual_seed(fresh_seed())
        model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 6))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = {n: torch.ones(p.shape, dtype=torch.bool) for n, p in model.named_parameters() if p.dim() == 2}
    records = ft.init_records(model)
    for bad in (dict(records["1.weight"], fill="gamma"), dict(records["1.weight"], params={"a": -1.0}),
                dict(records["1.weight"], stream_version=-1)):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        after_add = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(ValueError, match="1.weight"):
            ft.rewind_(model, masks, records=dict(records, **{"1.weight": bad}))
        assert all(torch.equal(v, after_add[k]) for k, v in model.state_dict().items())
    ft.rewind_(model, masks, records=records)
    assert torch.equal(model[0].weight, before["0.weight"])


class TwoWrites(nn.Module):
    """A reset that writes one tensor twice (a base init, then a rescale): its last write counts."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self._reset_parameters()

    def _reset_parameters(self):
        ft.normal_(self.proj.weight, 0.0, 0.02)
        ft.normal_(self.proj.weight, 0.0, 0.004)


def test_materialize_two_writes_in_one_reset_and_real_tensors_in_reset_modules():
    with torch.device("meta"):
        model = nn.ModuleDict({"t": TwoWrites(), "bn": nn.BatchNorm1d(3)})
    model["bn"].running_mean = torch.full((3,), 5.0)      # real, in a module whose reset runs
    report = ft.materialize_(model, seed=fresh_seed())
    assert ft.init_record(model["t"].proj.weight)["params"]["std"] == 0.004
    assert report.writes["t.proj.weight"] == 2
    assert torch.equal(model["bn"].running_mean, torch.full((3,), 5.0))
    assert float(model["bn"].running_var.sum()) == 3.0


def test_materialize_state_dict_aliases_and_real_targets():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight

    sd = {"head.weight": torch.full((10, 4), 3.0)}        # the tied tensor, under its second name
    with torch.device("meta"):
        model = Tied()
    report = ft.materialize_(model, state_dict=sd)
    assert report.loaded == ["emb.weight"] and report.unexpected == []
    assert torch.equal(model.emb.weight, sd["head.weight"]) and model.head.weight is model.emb.weight
    with pytest.raises(ValueError, match="head.weight"):
        with torch.device("meta"):
            again = Tied()
        ft.materialize_(again, state_dict={"head.weight": torch.zeros(4, 10)})
    with torch.device("meta"):
        part = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    part[1] = nn.Linear(3, 3)                              # already real
    ft.materialize_(part, state_dict={"1.weight": torch.full((3, 3), 7.0)})
    assert torch.equal(part[1].weight, torch.full((3, 3), 7.0))


def test_materialize_reports_what_a_parent_reset_left_unwritten():
    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.scale = nn.Module()
            self.scale.s = nn.Parameter(torch.ones(4))

        def reset_parameters(self):
            ft.zeros_(self.fc.bias)

    with torch.device("meta"):
        model = Parent()
    with pytest.warns(RuntimeWarning, match="scale.s"):
        report = ft.materialize_(model, seed=1)
    assert report.untouched == ["scale.s"] and "fc.bias" in report.initialized
