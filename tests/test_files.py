"""Random-init checkpoints bigger than RAM:
save_random writes .safetensors files a mapped window at a time, fill_memmap_
fills np.memmap files the same way, and `fastinit init-checkpoint` does it
from a JSON or YAML spec. Files are read back by the safetensors package."""
import json
import os
import textwrap

import numpy as np
import pytest

from _child import run_python_fresh

import fastinit

safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def fresh_seed():
    return int(np.random.SeedSequence().entropy % 2 ** 62)


SPEC = {
    "embed.weight": ((1000, 64), "float32", "normal", {"std": 0.02}),
    "layers.0.w": {"shape": [64, 48], "dtype": "float16", "init": "kaiming_uniform", "a": 5 ** 0.5},
    "layers.0.b": ((48,), "float64", "zeros"),
    "norm.weight": ((64,), "float32", "ones", None),
    "conv.weight": ((16, 8, 3, 3), "float64", fastinit.xavier_normal_, {"gain": 2.0}),
    "head.weight": ((333, 64), np.float32, "trunc_normal", {"std": 0.02, "a": -0.04, "b": 0.04}),
    "keras.kernel": ((3, 3, 8, 16), "float32", "variance_scaling", {"scale": 2.0, "layout": "keras"}),
    "scale": ((), "float32", "constant", {"val": 0.5}),
}


def expected(name, seed):
    shape, dtype, init, kwargs = (SPEC[name]["shape"], SPEC[name]["dtype"], SPEC[name]["init"],
                                  {k: v for k, v in SPEC[name].items() if k not in ("shape", "dtype", "init")}) \
        if isinstance(SPEC[name], dict) else (SPEC[name] + (None,))[:4]
    fill = getattr(fastinit, init + "_") if isinstance(init, str) else init
    buf = np.empty(tuple(shape), dtype)
    if fill in (fastinit.zeros_, fastinit.ones_, fastinit.constant_):
        return fill(buf, **(kwargs or {}))
    return fill(buf, seed=seed, stream=fastinit.name_stream(name), **(kwargs or {}))


@pytest.mark.parametrize("window", [4096, 1 << 16, 64 << 20])
def test_save_random_round_trip_through_safetensors(tmp_path, window):
    seed = fresh_seed()
    path = tmp_path / "init.safetensors"
    records = fastinit.save_random(SPEC, path, seed=seed, window_bytes=window, metadata={"model": "tiny"})
    loaded = safetensors_numpy.load_file(str(path))
    assert sorted(loaded) == sorted(SPEC)
    for name in SPEC:
        want = expected(name, seed)
        assert loaded[name].dtype == want.dtype and loaded[name].shape == want.shape, name
        assert np.array_equal(loaded[name], want), name
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["model"] == "tiny"
    doc = json.loads(meta["fastinit"])
    assert doc["seed"] == seed and doc["records"] == json.loads(json.dumps(records))
    assert records["embed.weight"]["stream"] == fastinit.name_stream("embed.weight")
    rec = records["layers.0.w"]           # the same JSON form as fastinit.torch's init records
    assert (rec["fan_in"], rec["fan_out"], rec["scheme"], rec["fill"]) == (48, 64, "kaiming_uniform_", "uniform")
    assert rec["args"] == {"a": 5 ** 0.5} and rec["stream_version"] == fastinit.STREAM_VERSION
    for name in SPEC:                     # each record regenerates its tensor
        again = np.zeros_like(loaded[name])
        fastinit.rewind_(again, np.ones(again.shape, bool), records[name])
        assert np.array_equal(again, loaded[name]), name
    # widest dtype first, so every tensor starts at a multiple of its item size
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    assert (8 + n) % 8 == 0
    for name, info in header.items():
        if name != "__metadata__":
            assert info["data_offsets"][0] % np.dtype(loaded[name].dtype).itemsize == 0, name


def test_save_random_bfloat16_read_back_by_safetensors_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    seed = fresh_seed()
    path = tmp_path / "bf16.safetensors"
    fastinit.save_random({"w": ((257, 129), "bfloat16", "he_normal", {}),
                          "b": ((129,), "float32", "uniform", {"a": -1, "b": 1})}, path, seed=seed, window_bytes=4096)
    t = st_torch.load_file(str(path))
    assert t["w"].dtype == torch.bfloat16
    want = fastinit.he_normal_(np.empty((257, 129), ml_dtypes.bfloat16), seed=seed, stream=fastinit.name_stream("w"))
    assert np.array_equal(t["w"].view(torch.int16).numpy().view(np.uint16), want.view(np.uint16))


@pytest.mark.parametrize("spec,exc,match", [
    ({"w": ((4, 4), "float32", "he_sideways")}, ValueError, "unknown init"),
    ({"w": ((4, 4), "int8", "normal")}, TypeError, "dtype"),
    ({"w": ((4, 4), "float32", "normal", {"sdt": 1.0})}, TypeError, "does not take"),
    ({"w": ((10,), "float32", "kaiming_uniform")}, ValueError, "fewer than 2"),
    ({"w": ((4, 4), "float32", "normal", {"std": -1.0})}, ValueError, "std"),
    ({"w": ((4, 4), "float32", "constant", {"val": float("inf")})}, ValueError, "val"),
    ({"w": {"dtype": "float32", "init": "normal"}}, ValueError, "shape"),
    ({"w": "normal"}, TypeError, "spec"),
    ({}, TypeError, "non-empty"),
])
def test_bad_specs_raise_before_the_file_exists(tmp_path, spec, exc, match):
    path = tmp_path / "never.safetensors"
    with pytest.raises(exc, match=match):
        fastinit.save_random(spec, path, seed=1)
    assert not path.exists()


def test_fill_memmap_with_a_header_offset(tmp_path):
    seed = fresh_seed()
    path = tmp_path / "raw.bin"
    path.write_bytes(b"H" * 100)
    with open(path, "ab") as f:
        f.truncate(100 + 700 * 300 * 4)
    mm = np.memmap(path, dtype=np.float32, mode="r+", offset=100, shape=(700, 300))
    out = fastinit.fill_memmap_(mm, "kaiming_normal", 0, "fan_out", seed=seed, window_bytes=4096)
    assert out is mm
    want = fastinit.kaiming_normal_(np.empty((700, 300), np.float32), 0, "fan_out", seed=seed)
    assert np.array_equal(np.asarray(mm), want)
    assert path.read_bytes()[:100] == b"H" * 100
    # a generator's stream is taken once for the whole file
    g = fastinit.Generator(seed)
    fastinit.fill_memmap_(mm, fastinit.uniform_, -1.0, 1.0, generator=g, window_bytes=8192)
    assert g.get_state()["stream"] == 1
    assert np.array_equal(np.asarray(mm), fastinit.uniform_(np.empty((700, 300), np.float32), -1.0, 1.0,
                                                             seed=seed, stream=0))
    with pytest.raises(ValueError, match="mode"):
        fastinit.fill_memmap_(np.memmap(path, dtype=np.float32, mode="r", offset=100, shape=(10,)), "normal", seed=1)
    with pytest.raises(ValueError, match="view"):
        fastinit.fill_memmap_(mm[::2], "normal", seed=1)
    with pytest.raises(TypeError, match="memmap"):
        fastinit.fill_memmap_(np.empty(4, np.float32), "normal", seed=1)


_RSS_CHILD = textwrap.dedent("""
    import resource, sys, numpy as np, fastinit
    what, path, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = mib * (1 << 20) // (4 * 4096)
    if what == "safetensors":
        spec = {f"layer{i}.weight": ((rows // 4, 4096), "float32", "kaiming_uniform", {"a": 5 ** 0.5})
                for i in range(4)}
        fastinit.save_random(spec, path, seed=3, window_bytes=32 << 20)
    else:
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, 4096))
        fastinit.fill_memmap_(mm, "normal", 0.0, 0.02, seed=3, window_bytes=32 << 20)
        # spot-check a window far from the start
        part = fastinit.normal_(np.empty((4, 4096), np.float32), 0.0, 0.02, seed=3, offset=(rows - 4) * 4096)
        assert np.array_equal(mm[-4:], part)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


@pytest.mark.parametrize("what", ["safetensors", "memmap"])
def test_writer_peak_rss_stays_bounded(tmp_path, what):
    size_mib, bound_mib = 768, 256                     # a file three times the bound
    path = tmp_path / f"big.{what}"
    # ru_maxrss survives exec: the child starts through a launcher (tests/_child.py)
    out = run_python_fresh(_RSS_CHILD, what, path, size_mib, timeout=600)
    peak = int(out.split()[-1])
    assert path.stat().st_size >= size_mib << 20
    assert peak < bound_mib, f"peak RSS {peak} MiB while writing {size_mib} MiB"
    if what == "safetensors":
        rows = size_mib * (1 << 20) // (4 * 4096) // 4
        with safe_open(str(path), framework="numpy") as f:
            tail = f.get_slice("layer3.weight")[rows - 2:rows]
        want = fastinit.kaiming_uniform_(np.empty((2, 4096), np.float32), a=5 ** 0.5, seed=3,
                                         stream=fastinit.name_stream("layer3.weight"), offset=(rows - 2) * 4096,
                                         fan_in=4096, fan_out=rows)
        assert np.array_equal(tail, want)


def test_cli_init_checkpoint_from_json(tmp_path, capsys):
    from fastinit.__main__ import main
    seed = fresh_seed()
    spec = {"seed": seed, "dtype": "float16", "layers": 3, "metadata": {"arch": "toy"},
            "tensors": {"embed": {"shape": [50, 8], "init": "normal", "std": 0.02},
                        "blocks.{layer}.w": {"shape": [8, 8], "init": "kaiming_uniform", "a": 2.2360679775},
                        "blocks.{layer}.b": {"shape": [8], "init": "zeros", "dtype": "float32"}}}
    config = tmp_path / "spec.json"
    config.write_text(json.dumps(spec))
    out = tmp_path / "toy.safetensors"
    assert main(["init-checkpoint", str(config), str(out), "--window-mib", "1"]) == 0
    assert "7 tensors" in capsys.readouterr().out
    loaded = safetensors_numpy.load_file(str(out))
    assert sorted(loaded) == ["blocks.0.b", "blocks.0.w", "blocks.1.b", "blocks.1.w", "blocks.2.b", "blocks.2.w",
                              "embed"]
    want = fastinit.kaiming_uniform_(np.empty((8, 8), np.float16), a=2.2360679775, seed=seed,
                                     stream=fastinit.name_stream("blocks.2.w"))
    assert np.array_equal(loaded["blocks.2.w"], want) and loaded["blocks.1.b"].dtype == np.float32
    with safe_open(str(out), framework="numpy") as f:
        assert f.metadata()["arch"] == "toy"
    # --seed overrides the spec's
    assert main(["init-checkpoint", str(config), str(out), "--seed", "5", "--quiet"]) == 0
    again = safetensors_numpy.load_file(str(out))
    assert np.array_equal(again["embed"], fastinit.normal_(np.empty((50, 8), np.float16), std=0.02, seed=5,
                                                           stream=fastinit.name_stream("embed")))


def test_cli_errors_and_dry_run(tmp_path, capsys):
    from fastinit.__main__ import main
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tensors": {"l.{layer}.w": {"shape": [2, 2], "init": "normal"}}}))
    assert main(["init-checkpoint", str(bad), str(tmp_path / "x.safetensors")]) == 1
    assert "layers" in capsys.readouterr().err
    bad.write_text(json.dumps({"tensors": {"w": {"shape": [2, 2], "init": "gaussian"}}}))
    assert main(["init-checkpoint", str(bad), str(tmp_path / "x.safetensors")]) == 1
    assert "unknown init" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()


def test_the_sample_spec_in_docs_describes_tinyllama():
    pytest.importorskip("yaml")
    sample = os.path.join(TESTS_DIR, os.pardir, "docs", "checkpoint-spec.yaml")
    if not os.path.exists(sample):
        pytest.skip("docs/ not present (installed package)")
    spec, seed, meta = fastinit._files.read_spec(sample)
    assert len(spec) == 201 and seed == 0 and meta["format"] == "pt"
    assert sum(int(np.prod(e["shape"])) for e in spec.values()) == 1_100_048_384


def test_cli_dry_run(tmp_path, capsys):
    from fastinit.__main__ import main
    config = tmp_path / "spec.json"
    config.write_text(json.dumps({"tensors": {"w": {"shape": [1000, 1000], "init": "normal"}}}))
    assert main(["init-checkpoint", str(config), str(tmp_path / "x.safetensors"), "--dry-run"]) == 0
    assert "1,000,000 parameters" in capsys.readouterr().out
    assert not (tmp_path / "x.safetensors").exists()


def test_name_stream_is_the_documented_blake2b_prefix():
    import hashlib
    assert fastinit.name_stream("weight") == 9574703655310946886          # docs/STREAM.md section 2
    for name in ["", "model.layers.0.mlp.up_proj.weight", "ünïcode"]:
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
        assert fastinit.name_stream(name) == int.from_bytes(digest, "little")
    with pytest.raises(TypeError):
        fastinit.name_stream(b"weight")


def test_progress_bar_on_request(tmp_path, capsys):
    fastinit.save_random({"w": ((512, 512), "float32", "normal", {})}, tmp_path / "p.safetensors", seed=1,
                         window_bytes=1 << 16, progress=True)
    err = capsys.readouterr().err
    assert "p.safetensors [" in err and "100.0%" in err and err.endswith("\n")
    fastinit.save_random({"w": ((512, 512), "float32", "normal", {})}, tmp_path / "q.safetensors", seed=1,
                         progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# What the review of this code found (each was a reproducer first)

def _raw_tensor(path, name):
    """A tensor's raw bytes and header entry, read without the safetensors package (bf16 in NumPy)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        start, end = header[name]["data_offsets"]
        f.seek(8 + n + start)
        return f.read(end - start), header[name]


def test_bfloat16_constants_are_written_as_bfloat16(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = tmp_path / "c.safetensors"
    vals = {"one": ("ones", {}), "zero": ("zeros", {}), "tenth": ("constant", {"val": 0.1}),
            "neg": ("constant", {"val": -1.0})}
    fastinit.save_random({k: ((5, 3), "bfloat16", init, kw) for k, (init, kw) in vals.items()}, path, seed=1)
    for name, want in [("one", 1.0), ("zero", 0.0), ("tenth", 0.1), ("neg", -1.0)]:
        raw, info = _raw_tensor(path, name)
        assert info["dtype"] == "BF16"
        got = np.frombuffer(raw, np.uint16)
        assert (got == np.array(want, ml_dtypes.bfloat16).view(np.uint16)).all(), (name, got[:2])
    mm = np.memmap(tmp_path / "m.bin", dtype=ml_dtypes.bfloat16, mode="w+", shape=(7, 3))
    fastinit.fill_memmap_(mm, "constant", val=-0.5)
    assert (np.asarray(mm).astype(np.float32) == -0.5).all()


def test_the_sample_spec_writes_its_norms_as_ones(tmp_path):
    pytest.importorskip("yaml")
    sample = os.path.join(TESTS_DIR, os.pardir, "docs", "checkpoint-spec.yaml")
    if not os.path.exists(sample):
        pytest.skip("docs/ not present (installed package)")
    spec, seed, _ = fastinit._files.read_spec(sample)
    small = {k: v for k, v in spec.items() if v["init"] == "ones"}       # the 45 norm weights, bf16
    assert len(small) == 45
    path = tmp_path / "norms.safetensors"
    fastinit.save_random(small, path, seed=seed)
    raw, info = _raw_tensor(path, "model.norm.weight")
    assert info["dtype"] == "BF16" and set(np.frombuffer(raw, np.uint16)) == {0x3F80}


def test_memmaps_in_foreign_byte_order_are_refused(tmp_path):
    mm = np.memmap(tmp_path / "be.bin", dtype=">f4", mode="w+", shape=(10,))
    with pytest.raises(TypeError, match="byte order"):
        fastinit.fill_memmap_(mm, "normal", seed=1)
    assert (np.asarray(mm) == 0).all()


def test_an_interrupted_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    fastinit.save_random({"a": ((4, 4), "float32", "normal", {})}, path, seed=1)
    old = path.read_bytes()
    real = fastinit._files._fill_region
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fastinit._files, "_fill_region", failing)
    with pytest.raises(KeyboardInterrupt):
        fastinit.save_random({"a": ((64, 64), "float32", "normal", {}), "b": ((64, 64), "float32", "normal", {})},
                             path, seed=2)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_empty_tensors_and_numpy_scalars_in_specs(tmp_path):
    path = tmp_path / "e.safetensors"
    fastinit.save_random({"empty": ((0, 16), "float32", "kaiming_uniform", {}),
                          "w": ((8, 4), "float32", "normal", {"std": np.float32(0.5)}),
                          "k": ((8, 4), "float32", "lecun_uniform", {"fan_in": np.int64(3)})}, path, seed=4)
    loaded = safetensors_numpy.load_file(str(path))
    assert loaded["empty"].shape == (0, 16)
    assert np.array_equal(loaded["w"], fastinit.normal_(np.empty((8, 4), np.float32), std=np.float32(0.5), seed=4,
                                                        stream=fastinit.name_stream("w")))
    assert np.abs(loaded["k"]).max() <= np.sqrt(3.0 / 3)


def test_fill_memmap_source_checks(tmp_path):
    mm = np.memmap(tmp_path / "s.bin", dtype=np.float32, mode="w+", shape=(10,))
    g = fastinit.Generator(5)
    with pytest.raises(ValueError, match="not both"):
        fastinit.fill_memmap_(mm, "normal", seed=1, generator=g)
    with pytest.raises(TypeError, match="generator"):
        fastinit.fill_memmap_(mm, "normal", generator=np.random.default_rng())
    assert g.get_state()["stream"] == 0 and (np.asarray(mm) == 0).all()


@pytest.mark.parametrize("doc,match", [
    ("tensors: {w: {shape: [2, 2], init: normal}\n", "YAML"),
    ("tensors: {w: {shape: [2, 2], init: normal}}\nmetadata: [a, b]\n", "metadata"),
    ("seed: abc\ntensors: {w: {shape: [2, 2], init: normal}}\n", "seed"),
    ("layers: 2\ntensors:\n  b.{layer}.w: {shape: [2], init: zeros}\n  b.1.w: {shape: [2], init: ones}\n",
     "named twice"),
])
def test_cli_reports_bad_specs(tmp_path, capsys, doc, match):
    pytest.importorskip("yaml")
    from fastinit.__main__ import main
    config = tmp_path / "spec.yaml"
    config.write_text(doc)
    for extra in ([], ["--dry-run"]):
        assert main(["init-checkpoint", str(config), str(tmp_path / "x.safetensors")] + extra) == 1
        assert match in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
