"""fastinit: fast, bitwise-reproducible in-place weight initialization.

Fills caller-owned buffers (NumPy arrays and anything with a writable buffer)
with the standard initializations of ``torch.nn.init`` and Keras, from a
counter-based Philox4x32-10 stream: every element depends only on
``(seed, stream, element index)``. See docs/STREAM.md for the exact rule and
docs/api.md for the API.
"""
from ._fans import calculate_gain, compute_fans
from ._generator import STREAM_VERSION, Generator, default_generator, manual_seed, name_stream, seed
from ._alloc import CONSTRUCTORS as _CONSTRUCTORS
from ._alloc import empty
from ._buffers import shard_index
from ._diagnose import diagnose, recommend
from ._files import fill_memmap_, save_random
from ._prune import apply_mask_, global_prune_magnitude_, prune_magnitude_, prune_n_m_, rewind_
from ._runtime import get_num_threads, set_num_threads, simd_level
from ._plain import constant_, normal_, ones_, random_bits_, trunc_normal_, uniform_, zeros_
from ._schemes import (
    glorot_normal_,
    glorot_uniform_,
    he_normal_,
    he_uniform_,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
)
from ._structured import delta_orthogonal_, dirac_, eye_, identity_, orthogonal_, sparse_

globals().update(_CONSTRUCTORS)  # he_uniform((m, n)), uniform(...), ...: allocate and fill

__version__ = "0.1.0"

__all__ = [
    "Generator", "default_generator", "manual_seed", "seed",
    "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "random_bits_",
    "lecun_uniform_", "lecun_normal_",
    "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_",
    "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_",
    "variance_scaling_",
    "orthogonal_", "sparse_", "eye_", "dirac_", "identity_", "delta_orthogonal_",
    "calculate_gain", "compute_fans", "STREAM_VERSION",
    "set_num_threads", "get_num_threads", "simd_level", "empty",
    "prune_magnitude_", "global_prune_magnitude_", "prune_n_m_", "apply_mask_", "rewind_",
    "name_stream", "save_random", "fill_memmap_", "shard_index", "diagnose", "recommend",
] + sorted(_CONSTRUCTORS)


def __getattr__(name):
    # fastinit.gpu (the Triton kernels) is imported on first use, so that `import fastinit`
    # needs neither torch nor triton
    if name == "gpu":
        import importlib
        return importlib.import_module(".gpu", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
