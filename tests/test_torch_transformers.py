"""fastinit.torch with Hugging Face transformers: under patch() a
Llama model builds through fastinit end to end. Skips cleanly when torch or
transformers is absent (optional test dependency: pip install transformers)."""
import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("fastinit.torch")
transformers = pytest.importorskip("transformers")
hf_init = pytest.importorskip("transformers.initialization")

import fastinit  # noqa: E402
from fastinit.torch import _functions  # noqa: E402


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


def tiny_llama_config():
    return transformers.LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, initializer_range=0.02)


@pytest.fixture
def torch_calls(monkeypatch):
    """Counts calls that reach torch's own random init functions (through the table fastinit
    falls back on); the deterministic ones (ones_, zeros_, ...) are torch's by design."""
    counts = collections.Counter()
    for name, fn in list(_functions.TORCH_FUNCTIONS.items()):
        if name in ("constant_", "ones_", "zeros_", "eye_", "dirac_", "calculate_gain"):
            continue
        def counting(*args, _fn=fn, _name=name, **kwargs):
            counts[_name] += 1
            return _fn(*args, **kwargs)
        monkeypatch.setitem(_functions.TORCH_FUNCTIONS, name, counting)
    return counts


def check_llama_inits(model, std):
    """Every parameter holds what the model's own _init_weights asks for, written by fastinit."""
    for name, p in model.named_parameters():
        rec = ft.init_record(p)
        assert rec is not None, name
        if p.dim() == 2:                   # Linear and Embedding weights: normal(0, initializer_range)
            assert rec["fill"] == "normal" and rec["params"] == {"mean": 0.0, "std": std}, name
            want = fastinit.normal_(np.empty(tuple(p.shape), np.float32), 0.0, std,
                                    seed=rec["seed"], stream=rec["stream"])
            assert np.array_equal(p.detach().numpy(), want), name
        else:                              # RMSNorm gains
            assert rec["scheme"] == "ones_" and torch.equal(p, torch.ones_like(p)), name


def test_llama_builds_through_fastinit_under_patch(torch_calls):
    cfg = tiny_llama_config()
    seed = fresh_seed()
    before = dict(hf_init.TORCH_INIT_FUNCTIONS)
    with ft.patch():
        assert all(hf_init.TORCH_INIT_FUNCTIONS[n] is getattr(ft, n) for n in hf_init.TORCH_INIT_FUNCTIONS)
        torch.manual_seed(seed)
        a = transformers.LlamaForCausalLM(cfg)
        torch.manual_seed(seed)
        b = transformers.LlamaForCausalLM(cfg)
        torch.manual_seed(seed + 1)
        c = transformers.LlamaForCausalLM(cfg)
    assert not torch_calls                 # nothing reached torch's own init functions
    assert all(hf_init.TORCH_INIT_FUNCTIONS[n] is before[n] is getattr(torch.nn.init, n) for n in before)
    check_llama_inits(a, cfg.initializer_range)
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(x, y), name
        if x.dim() == 2:
            assert not torch.equal(x, z), name
    out = a(torch.randint(0, cfg.vocab_size, (2, 9))).logits
    assert out.shape == (2, 9, cfg.vocab_size) and torch.isfinite(out).all()


def test_llama_on_meta_materializes_each_parameter_once(torch_calls):
    cfg = tiny_llama_config()
    torch.manual_seed(fresh_seed())
    eager = transformers.LlamaForCausalLM(cfg)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    report = ft.materialize_(model, seed=fresh_seed())
    assert not torch_calls
    assert set(report.initialized) == {n for n, _ in model.named_parameters()}
    assert set(report.writes.values()) == {1} and not report.untouched
    check_llama_inits(model, cfg.initializer_range)
    for name, buf in model.named_buffers():     # rotary frequencies recomputed by the model's code
        assert torch.equal(buf, dict(eager.named_buffers())[name]), name
    out = model(torch.randint(0, cfg.vocab_size, (1, 5))).logits
    assert torch.isfinite(out).all()
