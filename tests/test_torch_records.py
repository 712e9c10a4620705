"""fastinit.torch's init records are serialized fill descriptions (the JSON form of
fastinit.save_random's records): rewind_, regenerate, init_records and
load_init_records check every record whole before any tensor changes, and the
deterministic steps of a reset (nn.Embedding's padding row) belong to the record.
Skips cleanly without PyTorch (and the Hugging Face models without transformers)."""
import json
import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from _stats import fresh_seed  # noqa: E402


def _model():
    torch.manual_seed(fresh_seed())
    with ft.patch():
        return nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 4))


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _unchanged(model, snap):
    return all(torch.equal(p, snap[n]) for n, p in model.named_parameters())


BAD = [
    ("params", lambda r: r["params"].update(std=-1.0) if "std" in r["params"] else r["params"].update(a=1.0, b=0.0)),
    ("params", lambda r: r["params"].clear()),
    ("fill", lambda r: r.update(fill="laplace")),
    ("seed", lambda r: r.update(seed=None)),
    ("seed", lambda r: r.update(seed=-5)),
    ("seed", lambda r: r.update(seed=2 ** 64)),
    ("seed", lambda r: r.update(seed=1.5)),
    ("seed", lambda r: r.pop("seed")),
    ("stream", lambda r: r.update(stream=None)),
    ("stream", lambda r: r.update(stream="0")),
    ("stream", lambda r: r.pop("stream")),
    ("offset", lambda r: r.update(offset=-1)),
    ("offset", lambda r: r.update(offset=0.0)),
    ("shape", lambda r: r.update(shape="4x8")),
    ("dtype", lambda r: r.update(dtype="complex64")),
    ("stream_version", lambda r: r.update(stream_version=99)),
    ("steps", lambda r: r.update(steps=[{"val": 0.0, "start": 31, "shape": [2], "strides": [1]}])),
    # valid in general, not for this record's dtype or shape: still caught before any write
    ("params", lambda r: r.update(fill="normal", params={"mean": 0.0, "std": 1e38})),
    ("steps", lambda r: r.update(steps=[{"val": 1e39, "start": 0, "shape": [2], "strides": [1]}])),
    ("shape", lambda r: r.update(fill="dirac", params={"groups": 1}, seed=None, stream=None)),
    ("fill", lambda r: r.update(fill="bits", params={})),
]
# well formed, but not the parameter's: only a call that sees the model can tell
BAD_FOR_MODEL = BAD + [("shape", lambda r: r.update(shape=[4, 9]))]


def _records_with_bad_second(model, corrupt):
    records = json.loads(json.dumps(ft.init_records(model)))
    names = list(records)
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    corrupt(records[names[2]])                  # a later record than the first to be written
    return records, names[2]


@pytest.mark.parametrize("field,corrupt", BAD_FOR_MODEL)
def test_rewind_checks_every_record_before_writing(field, corrupt):
    model = _model()
    records, bad = _records_with_bad_second(model, corrupt)
    masks = ft.prune_(model, 0.5, names=[n for n, _ in model.named_parameters()])
    snap = _snapshot(model)
    with pytest.raises(ValueError) as ei:
        ft.rewind_(model, masks, records=records)
    assert re.search(rf"'{re.escape(bad)}': {field}(\[\d+\])?: ", str(ei.value)), str(ei.value)
    assert _unchanged(model, snap), "a parameter changed before the bad record was found"


@pytest.mark.parametrize("field,corrupt", BAD)
def test_load_init_records_checks_every_record(tmp_path, field, corrupt):
    model = _model()
    records, bad = _records_with_bad_second(model, corrupt)
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"fastinit_init_records": 1, "records": records}))
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        ft.load_init_records(path)


@pytest.mark.parametrize("field,corrupt", BAD[:8])
def test_regenerate_checks_the_record_before_writing(field, corrupt):
    model = _model()
    rec = json.loads(json.dumps(ft.init_record(model[2].weight)))
    corrupt(rec)
    target = torch.full((4, 8), 3.0)
    with pytest.raises(ValueError, match=rf"'w': {field}"):
        ft.regenerate(target, rec, "w")
    assert bool((target == 3.0).all())


def test_init_records_reject_a_corrupt_record(monkeypatch):
    from fastinit.torch import _functions
    model = _model()
    real = _functions.init_record

    def corrupt(t):
        rec = real(t)
        if t is model[2].weight:
            rec["stream"] = None
        return rec

    monkeypatch.setattr(_functions, "init_record", corrupt)
    with pytest.raises(ValueError, match=r"'2.weight': stream: "):
        ft.init_records(model)


def test_records_and_checkpoint_records_share_one_form(tmp_path):
    model = _model()
    rec = ft.init_record(model[0].weight)
    ckpt = fastinit.save_random({"w": ((8, 12), "float32", "kaiming_uniform", {"a": 5 ** 0.5})},
                                tmp_path / "w.safetensors", seed=rec["seed"])["w"]
    assert sorted(rec) == sorted(ckpt)
    assert (rec["fill"], ckpt["fill"], rec["scheme"], ckpt["scheme"]) == ("uniform", "uniform",
                                                                          "kaiming_uniform_", "kaiming_uniform_")
    assert rec["params"] == ckpt["params"] and (rec["fan_in"], rec["fan_out"]) == (ckpt["fan_in"], ckpt["fan_out"])
    # a checkpoint record regenerates a torch tensor, and a torch record a NumPy buffer
    t = ft.regenerate(torch.empty(8, 12), ckpt, "w")
    want = fastinit.kaiming_uniform_(np.empty((8, 12), np.float32), a=5 ** 0.5, seed=rec["seed"],
                                     stream=fastinit.name_stream("w"))
    assert np.array_equal(t.numpy(), want)
    back = fastinit.rewind_(np.empty((8, 12), np.float32), np.ones((8, 12), bool), rec)
    assert np.array_equal(back, model[0].weight.detach().numpy())


# ---------------------------------------------------------------- steps: the padding row
def _train_prune_rewind(emb, records, steps=3):
    opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        emb(torch.randint(0, emb.num_embeddings, (4, 7))).pow(2).mean().backward()
        opt.step()
    masks = ft.prune_(emb, 0.6, names=["weight"])
    ft.rewind_(emb, masks, records=records)
    return masks


def test_embedding_padding_row_is_a_step_of_its_record():
    torch.manual_seed(fresh_seed())
    with ft.patch():
        emb = nn.Embedding(50, 8, padding_idx=3)
    assert not bool(emb.weight[3].any())
    rec = ft.init_record(emb.weight)
    assert rec["fill"] == "normal" and rec["steps"] == [{"val": 0.0, "start": 24, "shape": [8], "strides": [1]}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = ft.init_records(emb)           # kept: not stale
    assert list(records) == ["weight"]
    init_copy = emb.weight.detach().clone()
    records = json.loads(json.dumps(records))
    masks = _train_prune_rewind(emb, records)
    assert torch.equal(emb.weight.detach(), torch.where(masks["weight"], init_copy, torch.zeros(())))
    # regenerate writes the row too, and the record without its step would not match
    assert torch.equal(ft.regenerate(torch.empty(50, 8), records["weight"], "weight"), init_copy)
    assert not nn.Embedding._fill_padding_idx_with_zero.__module__.startswith("fastinit")   # unpatched


def _hf_models():
    tf = pytest.importorskip("transformers")
    small = dict(vocab_size=97, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=37, max_position_embeddings=64)
    yield "bert", lambda: tf.BertModel(tf.BertConfig(pad_token_id=0, **small))
    yield "roberta", lambda: tf.RobertaModel(tf.RobertaConfig(pad_token_id=1, **small))
    yield "gemma2", lambda: tf.Gemma2Model(tf.Gemma2Config(
        vocab_size=97, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
        head_dim=16, intermediate_size=37, pad_token_id=0))
    yield "whisper", lambda: tf.WhisperModel(tf.WhisperConfig(
        vocab_size=97, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=8,
        max_source_positions=16, max_target_positions=16, pad_token_id=0))


@pytest.mark.parametrize("kind", ["bert", "roberta", "gemma2", "whisper"])
def test_hugging_face_models_with_padding_keep_valid_records(kind):
    make = dict(_hf_models())[kind]
    torch.manual_seed(fresh_seed())
    with ft.patch():
        model = make()
    padded = [n for n, m in model.named_modules() if isinstance(m, nn.Embedding) and m.padding_idx is not None]
    assert padded, "the model has a padded embedding"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = ft.init_records(model)
    stale = " ".join(str(w.message) for w in caught)
    for mod in padded:                          # (Whisper's sinusoidal positions, copied in, are stale)
        assert f"'{mod}.weight'" not in stale, stale
        assert records[f"{mod}.weight"]["steps"], mod
    snap = _snapshot(model)
    masks = {f"{mod}.weight": torch.rand(snap[f"{mod}.weight"].shape) < 0.5 for mod in padded}
    with torch.no_grad():
        for name in masks:
            dict(model.named_parameters())[name].normal_()        # "trained"
    ft.rewind_(model, masks, records=json.loads(json.dumps(records)))
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert torch.equal(params[name].detach(), torch.where(mask, snap[name], torch.zeros(()))), name


# ---------------------------------------------------------------- torch's own semantics kept
def test_an_empty_tensor_takes_its_seed_as_torch_does():
    torch.manual_seed(7)
    ft.seed_from()
    second = ft.seed_from()
    torch.manual_seed(7)
    ft.normal_(torch.empty(0, 5))
    w = ft.normal_(torch.empty(6))
    assert ft.init_record(w)["seed"] == second
    g = fastinit.Generator(3)
    ft.uniform_(torch.empty(0), generator=g)
    assert g.get_state()["stream"] == 1
    with pytest.raises(RuntimeError):                       # the dtype's range is still checked first
        ft.normal_(torch.empty(0, dtype=torch.float16), 0.0, 1e38)


def test_a_half_precision_constant_rewinds_to_what_torch_wrote():
    with ft.patch():
        lin = nn.Linear(2, 3, dtype=torch.float16)
    ft.constant_(lin.weight, 1 + 2 ** -11 + 2 ** -40)      # torch rounds through float32: 1.0
    init = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.normal_()
    ft.rewind_(lin, {"weight": torch.ones(3, 2, dtype=torch.bool)})
    assert torch.equal(lin.weight.detach(), init)


def test_structured_inits_accept_what_torch_accepts():
    w = torch.empty(8, 6)
    ft.orthogonal_(w, torch.tensor(2.0))
    assert ft.init_record(w)["params"] == {"gain": 2.0}
    ft.orthogonal_(w, float("nan"))                          # written as torch would; no record can hold it
    ft.sparse_(w, 1.5)
    assert bool((w == 0).all())
    ft.constant_(w, torch.tensor(0.5))
    assert ft.init_record(w)["params"] == {"val": 0.5}


def test_regenerate_into_a_transposed_tensor_keeps_the_steps():
    w = torch.empty(8, 6)
    ft.orthogonal_(w)
    ft.zeros_(w[0])
    rec = ft.init_record(w)
    assert rec["steps"] == [{"val": 0.0, "start": 0, "shape": [6], "strides": [1]}]
    target = torch.empty(6, 8).t()
    ft.regenerate(target, rec, "w")
    assert torch.equal(target, w)
