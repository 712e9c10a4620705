"""fastinit as a drop-in backend for ``torch.nn.init`` (optional extra ``fastinit[torch]``).

- The functions of ``torch.nn.init``, same names, signatures, defaults and
  errors, filling CPU float32/float64/float16/bfloat16 tensors in place through
  fastinit's kernels (other devices and dtypes fall back to torch's own).
- ``patch()``: route ``torch.nn.init`` (and every copy of its functions,
  Hugging Face's included) through fastinit, for a block or the process.
- ``materialize_(module)``: allocate and initialize, once, a module built on
  the ``meta`` device; optionally with a recipe or a partial state_dict.
- The lottery ticket: ``init_records``, ``prune_``, ``rewind_``; ``regenerate``
  writes what a record describes.

Seeding keeps torch's meaning (see ``seed_from``). docs/torch.md is the guide.
"""
try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("fastinit.torch needs PyTorch: pip install 'fastinit[torch]' "
                      "(or a CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)") from exc

from ._functions import (
    calculate_gain,
    constant,
    constant_,
    dirac,
    eye,
    kaiming_normal,
    kaiming_uniform,
    normal,
    orthogonal,
    sparse,
    uniform,
    xavier_normal,
    xavier_uniform,
    dirac_,
    eye_,
    init_record,
    init_shard_,
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    ones_,
    orthogonal_,
    regenerate,
    seed_from,
    sparse_,
    trunc_normal_,
    uniform_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from ._diagnose import diagnose
from ._lsuv import LayerLSUV, LSUVReport, lsuv_
from ._schedule import ConstantSparsity, GradualPruner, PolynomialDecay
from ._lottery import (
    apply_masks_, init_records, load_init_records, prune_, reinit_, rewind_, save_init_records, snapshot,
)
from ._materialize import RECIPES, GPT2Recipe, Materialized, materialize_, name_stream
from ._patch import is_patched, patch

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "calculate_gain", "seed_from", "init_shard_",
    "patch", "is_patched",
    "materialize_", "Materialized", "GPT2Recipe", "RECIPES", "name_stream",
    "init_record", "init_records", "save_init_records", "load_init_records", "regenerate",
    "prune_", "apply_masks_", "rewind_", "snapshot", "reinit_",
    "diagnose",
    # torch.nn.init's deprecated names (each warns with a FutureWarning, as torch's)
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
    "lsuv_", "LSUVReport", "LayerLSUV",
    "GradualPruner", "PolynomialDecay", "ConstantSparsity",
]
