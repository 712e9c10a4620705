"""docs/distributed.md's torch.distributed example: two
processes with the gloo backend on loopback each fill their own shards; the
gathered tensors equal a single-process fill. Skips without PyTorch."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch.distributed")

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples", "distributed_torch.py")


@pytest.mark.parametrize("world", [2, 3])
def test_gloo_ranks_fill_their_shards(world):
    if not os.path.exists(EXAMPLE):
        pytest.skip("examples/ not present")
    out = subprocess.run([sys.executable, EXAMPLE, str(world)], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{world} ranks: gathered shards equal the single-process fill" in out.stdout


SAME = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples", "same_weights.py")


def test_same_weights_example_runs_every_flow_on_two_ranks():
    """docs/distributed.md's 'Same weights for any world size' flows, as the example runs them."""
    if not os.path.exists(SAME):
        pytest.skip("examples/ not present")
    out = subprocess.run([sys.executable, SAME, "2"], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 ranks: every flow equals the single-process build" in out.stdout
    assert "hugging_face" in out.stdout or not _has("transformers"), out.stdout


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None
