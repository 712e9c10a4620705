"""Same weights whatever the sharding: DTensor, FSDP2, tensor parallelism, init_shard_.

World sizes 1 to 4 each run once, as gloo process groups on 127.0.0.1 spawned
by tests/_sharded_child.py; every flow there is compared here, bit for bit,
with the same calls in this one process on plain tensors. Skips where torch or
gloo is missing; the Hugging Face flows also need transformers.
"""
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)
try:
    import transformers
except ImportError:                     # the Hugging Face tests skip; the rest runs
    transformers = None

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from fastinit import _fill  # noqa: E402
from fastinit.torch import _memory  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _sharded_models as M  # noqa: E402

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sharded_child.py")
WORLDS = (1, 2, 3, 4)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """world -> (rank 0's gathered results, [what each rank observed])."""
    out = tmp_path_factory.mktemp("sharded")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = {}
    for world in WORLDS:
        proc = subprocess.run([sys.executable, CHILD, str(world), str(free_port()), str(out)], env=env,
                              capture_output=True, text=True, timeout=240)
        ranks = [torch.load(out / f"world{world}.rank{r}.pt", weights_only=False)
                 for r in range(world) if (out / f"world{world}.rank{r}.pt").exists()]
        errors = [r.get("error") for r in ranks if r.get("error")]
        assert proc.returncode == 0 and not errors, (errors or [proc.stderr[-4000:]])[0]
        done[world] = (torch.load(out / f"world{world}.pt", weights_only=False), ranks)
    return done


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.view(-1).view(torch.uint8) if a.numel()
                                                                     else a, b.view(-1).view(torch.uint8) if b.numel() else b)


def assert_same_state(got, want, what):
    assert set(got) == set(want), what
    for name, value in want.items():
        assert same_bits(got[name], value), f"{what}: {name} differs from the single-process build"


# ------------------------------------------------------------------ references (this process)

def eager_reset():
    torch.manual_seed(M.SEED)
    with ft.patch():
        model = M.Net()
    return state(model)


def eager_titan():
    model = M.Net()
    torch.manual_seed(M.SEED)
    with ft.patch():
        model.init_weights()
    return state(model)


def single_materialize(state_dict=None):
    with torch.device("meta"):
        model = M.Net()
    torch.manual_seed(M.SEED)
    ft.materialize_(model, state_dict=state_dict)
    return state(model)


def state(model):
    return {n: t.detach().clone() for n, t in list(model.named_parameters()) + list(model.named_buffers())}


@pytest.fixture(scope="module")
def references():
    return {"reset": eager_reset(), "titan": eager_titan(), "materialize": single_materialize(),
            "materialize_loaded": single_materialize(M.checkpoint())}


# ------------------------------------------------------------------ direct calls on DTensors

@pytest.mark.parametrize("world", WORLDS)
def test_every_init_function_on_every_placement_equals_the_single_process_fill(runs, world):
    calls = runs[world][0]["calls"]
    keys = {k[0] for k in calls if k[0] not in ("generator", "views")}
    assert {"S0", "S1", "R", "S-1"} <= keys and ("SS0" in keys) == (world > 1)
    assert ({"S0,S1", "SS0,S0", "R,S1", "S1,S1"} <= keys) == (world == 4)
    checked = 0
    for (key, i, dtype), got in ((k, v) for k, v in calls.items() if k[0] not in ("generator", "views")):
        case = M.CALLS[i]
        want = torch.zeros(case[3], dtype=getattr(torch, dtype.split(".")[1]))
        torch.manual_seed(M.SEED + i)
        M.call(ft, case, want)
        assert same_bits(got, want), f"{case[0]}{case[1:3]} on {case[3]} {dtype}, placements {key}"
        checked += 1
    assert checked == len(keys) * (len(M.CALLS) + sum(c[0] in M.BFLOAT16 for c in M.CALLS))
    for name, g in (("fastinit", fastinit.Generator(M.SEED)), ("torch", torch.Generator().manual_seed(M.SEED))):
        want = torch.empty(33, 10)
        ft.kaiming_uniform_(want, generator=g)
        ft.normal_(want, std=2.0, generator=g)
        assert same_bits(calls[("generator", name)], want), name


@pytest.mark.parametrize("world", WORLDS)
def test_init_calls_on_views_of_dtensors_write_the_shards(runs, world):
    """Indexing a sharded DTensor gives a gathered copy; under patch() the calls on such views
    write the base's shards, as on one process (Hugging Face's zeros_(weight[padding_idx]))."""
    want = M.views(ft, torch.zeros(33, 10))
    assert not want[3, 3:].any() and bool((want[:-1, 1:3] == 0.25).all()) and want[2:7, 3:].std() > 0.3
    for key in ("S0", "S1", "R"):
        assert same_bits(runs[world][0]["calls"][("views", key)], want), key


def test_random_shards_are_not_copies(runs):
    """Sanity of the comparison itself: the shards of a random fill differ from each other."""
    w = runs[4][0]["calls"][("S0", 0, "torch.float32")]
    assert not torch.equal(w[0], w[9]) and w.std() > 0.5


@pytest.mark.parametrize("world", WORLDS)
def test_the_record_describes_the_whole_tensor(runs, world):
    rec = runs[world][0]["records"]["kaiming"]
    assert rec["shape"] == [33, 10] and rec["fan_in"] == 10 and rec["fan_out"] == 33
    assert rec["fill"] == "normal" and rec["params"]["std"] == 2.0


@pytest.mark.parametrize("world", WORLDS)
def test_a_partial_dtensor_is_a_value_error_before_any_draw(runs, world):
    for rank in runs[world][1]:
        assert "Partial" in rank["partial"] and "redistribute" in rank["partial"]
        assert rank["partial_rng_untouched"]


# ------------------------------------------------------------------ FSDP2

@pytest.mark.parametrize("world", (2, 3, 4))
def test_torch_alone_fills_fsdp_shards_with_copies_and_fastinit_does_not(runs, world, references):
    w = runs[world][0]["torch_fsdp_linear"]
    start = fastinit.shard_index((M.HIDDEN, M.D), 0, 1, world)[0].start  # rank 1's first row
    assert torch.equal(w[start], w[0])                                    # rank 1's shard repeats rank 0's
    torch.manual_seed(M.SEED)
    single = torch.nn.Linear(M.D, M.HIDDEN).weight.detach()
    assert not torch.equal(w, single)
    ours = runs[world][0]["fsdp_reset"]["blocks.0.up.weight"]
    assert not torch.equal(ours[start], ours[0])
    assert same_bits(ours, references["reset"]["blocks.0.up.weight"])


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("flow", ["reset", "titan", "materialize"])
def test_fsdp2_flows_equal_the_single_process_build(runs, world, flow, references):
    got = runs[world][0][f"fsdp_{flow}"]
    assert_same_state(got, references[flow], f"FSDP2 {flow}, {world} ranks")
    assert all(p == "(Shard(dim=0),)" for p in runs[world][0][f"fsdp_{flow}_placements"].values())
    if flow != "titan":                                                   # nn.Embedding's own reset
        assert not got["embed.weight"][3].any() and got["embed.weight"][2].all()   # zeroes the padding row


@pytest.mark.parametrize("world", WORLDS)
def test_fsdp2_materialize_takes_each_shards_slice_of_a_checkpoint(runs, world, references):
    got = runs[world][0]["fsdp_materialize_loaded"]
    assert_same_state(got, references["materialize_loaded"], f"FSDP2 materialize_ with a state_dict, {world} ranks")
    assert torch.equal(got["head.weight"], M.checkpoint()["head.weight"].float())


def test_uneven_fsdp2_over_tensor_parallel_rows_are_refused_from_shapes_alone():
    """FSDP2 over TP stores chunk_dp(chunk_tp(rows)) under the label (_StridedShard(0, tp),
    Shard(0)); where uneven sizes make the label read otherwise, the check raises from the
    shapes alone (so on every rank alike), and passes where the two readings agree."""
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor.placement_types import _StridedShard
    label = (_StridedShard(0, split_factor=2), Shard(0))
    with pytest.raises(ValueError, match="_StridedShard does not say"):
        _memory._check_strided((7, 4), label, (3, 2))                    # dp 3 x tp 2
    with pytest.raises(ValueError, match="_StridedShard does not say"):
        _memory._check_strided((27, 4), (_StridedShard(0, split_factor=4), Shard(0)), (3, 4))
    for rows in range(1, 40):
        _memory._check_strided((rows, 4), label, (2, 2))                # 2 x 2: always consistent
        _memory._check_strided((rows, 4), (_StridedShard(0, split_factor=2),), (2,))   # alone: no TP split


@pytest.mark.parametrize("world", WORLDS)
def test_init_records_of_a_sharded_model_check_each_shard(runs, world):
    for rank in runs[world][1]:
        recorded, names = rank["fsdp_reset_records"]
        assert recorded == names                 # every parameter, verified on this rank's shard


def test_fsdp2_reset_covers_every_kind_of_tensor(references):
    """The model holds what the flows must get right: structured inits, a padding row, buffers."""
    ref = references["reset"]
    assert {"structured.q", "structured.s", "structured.e", "structured.d", "bn.running_var"} <= set(ref)
    q = ref["structured.q"]
    assert torch.allclose(q.T @ q, 2.25 * torch.eye(16), atol=1e-4)
    assert int((ref["structured.s"] == 0).sum(0).min()) == math.ceil(0.3 * 21)


# ------------------------------------------------------------------ tensor parallelism

@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("flow", ["reset", "materialize"])
def test_tensor_parallel_flows_equal_the_single_process_build(runs, world, flow, references):
    assert_same_state(runs[world][0][f"tp_{flow}"], references[flow], f"TP {flow}, {world} ranks")
    where = runs[world][0][f"tp_{flow}_placements"]
    assert where["blocks.0.up.weight"] == "(Shard(dim=0),)" and where["blocks.0.down.weight"] == "(Shard(dim=1),)"


@pytest.mark.parametrize("flow", ["reset", "materialize"])
def test_fsdp2_over_tensor_parallel_on_a_2x2_mesh(runs, flow, references):
    assert_same_state(runs[4][0][f"fsdp_tp_{flow}"], references[flow], f"FSDP2 x TP {flow}")
    where = runs[4][0][f"fsdp_tp_{flow}_placements"]
    assert "_StridedShard(dim=0, sf=2)" in where["blocks.0.up.weight"]   # FSDP2 over TP-sharded rows
    assert where["blocks.0.down.weight"] == "(Shard(dim=0), Shard(dim=1))"


# ------------------------------------------------------------------ Hugging Face

@pytest.fixture(scope="module")
def llama_references():
    if transformers is None:
        pytest.skip("needs transformers")
    """One process: init_weights() after to_empty, and materialize_. (The eager constructor
    interleaves its modules' own resets with nested post_init calls: another sequence of
    calls, so other seeds.)"""
    with torch.device("meta"):
        empty = transformers.LlamaForCausalLM(M.tiny_llama_config())
    empty.to_empty(device="cpu")
    torch.manual_seed(M.SEED)
    with ft.patch():
        empty.init_weights()
    with torch.device("meta"):
        meta = transformers.LlamaForCausalLM(M.tiny_llama_config())
    torch.manual_seed(M.SEED)
    ft.materialize_(meta)
    return {"init_weights": state(empty), "materialize": state(meta)}


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("flow", ["init_weights", "materialize"])
def test_a_hugging_face_llama_under_fsdp2_equals_the_single_process_build(runs, world, flow, llama_references):
    got = runs[world][0][f"hf_fsdp_{flow}"]
    assert_same_state(got, llama_references[flow], f"Llama under FSDP2, {flow}, {world} ranks")
    assert any("inv_freq" in name for name in got)                        # buffers too
    assert not got["model.embed_tokens.weight"][1].any()                  # the padding row, zeroed


# ------------------------------------------------------------------ seeds across ranks

@pytest.mark.parametrize("world", WORLDS)
def test_materialize_checks_that_every_rank_holds_the_same_seed(runs, world):
    ranks = runs[world][1]
    if world == 1:
        assert ranks[0]["mismatch"] is None
        return
    messages = {r["mismatch"] for r in ranks}
    assert len(messages) == 1, messages                                   # the same error on every rank
    (message,) = messages
    assert message.startswith("materialize_: the ranks hold different seeds") and "torch.manual_seed" in message
    assert all(r["mismatch_still_meta"] for r in ranks)                   # raised before allocating


@pytest.mark.parametrize("world", WORLDS)
def test_materialize_runs_one_collective(runs, world):
    """The seed check is the only collective: one per materialization, not one per tensor."""
    assert [r["materialize_collectives"] for r in runs[world][1]] == [1] * world


@pytest.mark.parametrize("world", (2, 4))
def test_materialize_allocates_only_the_local_shards(runs, world):
    for rank in runs[world][1]:
        shard = rank["global_mib"] / world
        assert rank["rss_growth_mib"] < 1.25 * shard + 8, rank
        assert rank["peak_growth_mib"] < 1.25 * shard + 8, rank


# ------------------------------------------------------------------ without DTensor

@pytest.mark.parametrize("world", WORLDS)
def test_init_shard_blocks_equal_the_single_process_fill(runs, world):
    lora, up, torch_stds = runs[world][0]["init_shard"]
    torch.manual_seed(M.SEED)
    want_lora = ft.xavier_normal_(torch.empty(32, 4096))
    want_up = ft.kaiming_uniform_(torch.empty(M.HIDDEN, M.D, dtype=torch.bfloat16), a=5 ** 0.5)
    assert same_bits(lora, want_lora) and same_bits(up, want_up)
    assert abs(float(lora.std()) - math.sqrt(2 / (4096 + 32))) < 0.0005          # 0.0220 at any TP
    for s in torch_stds:                                                         # torch: the shard's fans
        assert abs(s - math.sqrt(2 / (4096 / world + 32))) < 0.0015


def test_init_shard_checks_its_arguments():
    t = torch.empty(32, 1024)
    with pytest.raises(ValueError, match="rank 1's block of"):
        ft.init_shard_(t, "xavier_normal_", global_shape=(32, 4096), dim=1, rank=1, world_size=2)
    with pytest.raises(ValueError, match="init must be one of"):
        ft.init_shard_(t, "xavier", global_shape=(32, 4096), dim=1, rank=1, world_size=4)
    with pytest.raises(ValueError, match="rank must be in"):
        ft.init_shard_(t, "xavier_normal_", global_shape=(32, 4096), dim=1, rank=4, world_size=4)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        ft.init_shard_(t, "xavier_normal_", global_shape=(32, 4096), dim=2, rank=0, world_size=4)
    with pytest.raises(TypeError, match="world_size must be an int"):
        ft.init_shard_(t, "xavier_normal_", global_shape=(32, 4096), dim=1, rank=0, world_size=4.0)
    state = torch.get_rng_state()
    t.fill_(7.0)
    with pytest.raises(ValueError):
        ft.init_shard_(t, "normal_", global_shape=(32, 4096), dim=1, rank=0, world_size=3)
    assert torch.equal(torch.get_rng_state(), state) and bool((t == 7.0).all())


def test_shard_index_follows_torch_chunk():
    for n in (0, 1, 5, 33, 64):
        for world in (1, 2, 3, 4, 7):
            pieces = [fastinit.shard_index((n, 3), 0, r, world)[0] for r in range(world)]
            sizes = [s.stop - s.start for s in pieces]
            want = [c.shape[0] for c in torch.arange(n).chunk(world)] if n else []
            assert sizes[:len(want)] == want and not any(sizes[len(want):]), (n, world)
            assert [s.start for s in pieces[1:]] == [s.stop for s in pieces[:-1]]


# ------------------------------------------------------------------ other devices

CASES = [("uniform_", (-1.0, 3.0)), ("normal_", (0.5, 2.0)), ("trunc_normal_", (0.0, 1.0, -0.5, 2.0))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("stage", [1, 6, 37, 4096])
def test_the_staged_path_writes_the_cpu_bits(dtype, stage):
    """The path for tensors on other devices, run on the CPU: pieces of at most ``stage``
    bytes through the two staging buffers, into whole tensors, strided views and parts."""
    for name, params in CASES:
        draw = getattr(_fill, name.rstrip("_"))(*params)
        src = _fill.Source.fixed(1234, 7)
        whole = torch.empty(13, 11, 3, dtype=dtype)
        want = torch.empty(13, 11, 3, dtype=dtype)
        _fill.run(_fill.Fill(draw, src), *_memory.view(want))
        _memory.Target(whole, whole.shape, None, _memory.view(whole)[1]).run(_fill.Fill(draw, src), stage_bytes=stage)
        assert same_bits(whole, want), (name, stage)
        strided = torch.zeros(11, 13, 3, dtype=dtype).transpose(0, 1)
        _memory.Target(strided, strided.shape, None, _memory.view(want)[1]).run(_fill.Fill(draw, src),
                                                                                stage_bytes=stage)
        assert same_bits(strided.contiguous(), want), (name, stage)
        rows = np.array([0, 1, 2, 7, 8, 12])                            # a shard in three runs of rows
        part = torch.empty(len(rows), 11, 3, dtype=dtype)
        target = _memory.Target(part, want.shape, _memory.parts_of([rows, np.arange(11), np.arange(3)]),
                                _memory.view(want)[1])
        target.run(_fill.Fill(draw, src), stage_bytes=stage)
        assert same_bits(part, want[torch.from_numpy(rows)]), (name, stage)


def test_the_staged_path_writes_parameters_that_require_grad():
    """The staged copy runs outside autograd, as torch's own init functions do."""
    p = torch.nn.Parameter(torch.empty(5, 4))
    want = torch.empty(5, 4)
    fill = _fill.Fill(_fill.uniform(), _fill.Source.fixed(3, 1))
    _fill.run(fill, *_memory.view(want))
    _memory.Target(p, p.shape, None, _memory.view(want)[1]).run(fill, stage_bytes=8)
    assert same_bits(p.detach(), want) and p.requires_grad and p.grad_fn is None


def test_an_empty_part_still_takes_its_stream():
    g = fastinit.Generator(5)
    part = torch.empty(0, 4)
    target = _memory.Target(part, (6, 4), _memory.parts_of([np.arange(0), np.arange(4)]), _memory.view(part)[1])
    assert target.run(_fill.Fill(_fill.normal(), _fill.Source(generator=g))) == (5, 0)
    assert g.get_state()["stream"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_tensors_get_the_cpu_bits(dtype):
    for stage in (None, 4096):
        for name, params in CASES:
            gpu = torch.empty(1000, 333, dtype=dtype, device="cuda")
            cpu = torch.empty(1000, 333, dtype=dtype)
            torch.manual_seed(3)
            getattr(ft, name)(cpu, *params)
            torch.manual_seed(3)
            if stage is None:
                getattr(ft, name)(gpu, *params)
            else:
                draw = getattr(_fill, name.rstrip("_"))(*params)
                rec = ft.init_record(cpu)
                _memory.Target(gpu, gpu.shape, None, _memory.view(cpu)[1]).run(
                    _fill.Fill(draw, _fill.Source.fixed(rec["seed"], rec["stream"])), stage_bytes=stage)
            assert same_bits(gpu.cpu(), cpu), (name, stage)
            assert ft.init_record(gpu) is None or ft.init_record(gpu)["seed"] == ft.init_record(cpu)["seed"]
    for fn in ("orthogonal_", "sparse_", "eye_", "zeros_"):
        gpu = torch.empty(40, 30, dtype=dtype, device="cuda")
        cpu = torch.empty(40, 30, dtype=dtype)
        args = (0.5,) if fn == "sparse_" else ()
        torch.manual_seed(4)
        getattr(ft, fn)(cpu, *args)
        torch.manual_seed(4)
        getattr(ft, fn)(gpu, *args)
        assert same_bits(gpu.cpu(), cpu), fn


def test_meta_tensors_stay_checked_no_ops():
    state = torch.get_rng_state()
    with torch.device("meta"):
        t = torch.empty(5, 4)
    ft.kaiming_uniform_(t)
    ft.normal_(t)
    assert torch.equal(state, torch.get_rng_state())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        ft.eye_(torch.empty(3, device="meta"))
