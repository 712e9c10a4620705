"""fastinit as a drop-in backend for ``torch.nn.init`` (optional extra ``fastinit[torch]``).

The functions here take the names, signatures, defaults and argument checks
of ``torch.nn.init`` and fill CPU tensors of float32, float64, float16 and
bfloat16 in place through fastinit's kernels, zero-copy (a NumPy view of the
tensor's memory; non-contiguous tensors get the values their contiguous twin
would). Other devices and dtypes fall back to torch's own function.

Seeding keeps torch's meaning. With ``generator=None`` each call draws a
fastinit seed from torch's default generator, so ``torch.manual_seed(s)``
followed by the same sequence of initializations gives the same weights;
with a ``torch.Generator`` the seed is drawn from it; with a
``fastinit.Generator`` its next stream is used. The draw is exactly
``int(torch.randint(-2**63, 2**63 - 1, (), dtype=torch.int64, generator=g)) % 2**64``
(one int64 from the generator, as two's complement), and the fill uses stream
0 of that seed.
"""
import math

import numpy as np

try:
    import torch as _torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("fastinit.torch needs PyTorch: pip install torch (CPU build: torch==2.13.0 here)") from exc

from . import _buffers, _plain
from ._fans import calculate_gain as _calculate_gain
from ._generator import Generator as _FGenerator

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "calculate_gain", "seed_from",
]

# torch's own functions, captured before anything can patch torch.nn.init
_TORCH = {name: getattr(_torch.nn.init, name) for name in (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "calculate_gain")}

_NUMPY_DTYPES = {_torch.float32: np.float32, _torch.float64: np.float64, _torch.float16: np.float16}


def calculate_gain(nonlinearity, param=None):
    """``torch.nn.init.calculate_gain`` (fastinit's table is the same)."""
    return _calculate_gain(nonlinearity, param)


def seed_from(generator=None):
    """The fastinit seed a call draws from a torch generator (default: torch's default generator)."""
    g = _torch.default_generator if generator is None else generator
    return int(_torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=_torch.int64, generator=g)) % 2 ** 64


def _source(generator):
    """keyword arguments (seed= or generator=) for a fastinit fill."""
    if isinstance(generator, _FGenerator):
        return {"generator": generator}
    if generator is None or isinstance(generator, _torch.Generator):
        return {"seed": seed_from(generator)}
    raise TypeError(f"generator must be a torch.Generator or a fastinit.Generator, got {type(generator).__name__}")


def _view(tensor):
    """A zero-copy NumPy view of a CPU tensor we can fill, or None (then torch fills it)."""
    if not isinstance(tensor, _torch.Tensor) or tensor.device.type != "cpu" or tensor.is_sparse:
        return None
    t = tensor.detach()
    if t.dtype in _NUMPY_DTYPES:
        return t.numpy()
    if t.dtype == _torch.bfloat16:
        return t.view(_torch.int16).numpy().view(np.uint16).view(_buffers.BFloat16Bits)
    return None


def _fans(tensor):
    """torch's fan rule; its error for fewer than 2 dimensions."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.size(1) * receptive, tensor.size(0) * receptive


def _empty(tensor):
    return tensor.numel() == 0


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """``torch.nn.init.uniform_``: U(a, b), through fastinit for CPU float tensors."""
    arr = _view(tensor)
    if arr is None:
        return _TORCH["uniform_"](tensor, a, b, generator=generator)
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    if _empty(tensor):
        return tensor
    if a == b:
        with _torch.no_grad():
            return tensor.fill_(a)
    _plain.uniform_(arr, a, b, **_source(generator))
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """``torch.nn.init.normal_``: N(mean, std**2), through fastinit for CPU float tensors."""
    arr = _view(tensor)
    if arr is None:
        return _TORCH["normal_"](tensor, mean, std, generator=generator)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if _empty(tensor):
        return tensor
    _plain.normal_(arr, mean, std, **_source(generator))
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """``torch.nn.init.trunc_normal_``: N(mean, std**2) truncated to [a, b] (absolute bounds).

    fastinit samples it by an exact inverse CDF, with no pile-up at far bounds."""
    arr = _view(tensor)
    if arr is None:
        return _TORCH["trunc_normal_"](tensor, mean, std, a, b, generator=generator)
    if _empty(tensor):
        return tensor
    _plain.trunc_normal_(arr, mean, std, a, b, **_source(generator))
    return tensor


def constant_(tensor, val):
    """``torch.nn.init.constant_`` (torch's own: deterministic)."""
    return _TORCH["constant_"](tensor, val)


def ones_(tensor):
    """``torch.nn.init.ones_`` (torch's own: deterministic)."""
    return _TORCH["ones_"](tensor)


def zeros_(tensor):
    """``torch.nn.init.zeros_`` (torch's own: deterministic)."""
    return _TORCH["zeros_"](tensor)


def eye_(tensor):
    """``torch.nn.init.eye_`` (torch's own: deterministic)."""
    return _TORCH["eye_"](tensor)


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_`` (torch's own: deterministic)."""
    return _TORCH["dirac_"](tensor, groups)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """``torch.nn.init.xavier_uniform_``: bound = gain * sqrt(6 / (fan_in + fan_out))."""
    arr = _view(tensor)
    if arr is None:
        return _TORCH["xavier_uniform_"](tensor, gain, generator=generator)
    fin, fout = _fans(tensor)
    if _empty(tensor):
        return tensor
    bound = gain * math.sqrt(6.0 / float(fin + fout))
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """``torch.nn.init.xavier_normal_``: std = gain * sqrt(2 / (fan_in + fan_out))."""
    arr = _view(tensor)
    if arr is None:
        return _TORCH["xavier_normal_"](tensor, gain, generator=generator)
    fin, fout = _fans(tensor)
    if _empty(tensor):
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fin + fout)), generator=generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fin, fout = _fans(tensor)
    fan = fin if mode == "fan_in" else fout
    return _calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``torch.nn.init.kaiming_uniform_``: bound = gain * sqrt(3 / fan_mode)."""
    arr = _view(tensor)
    if arr is None or _empty(tensor):
        return _TORCH["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator=generator)
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``torch.nn.init.kaiming_normal_``: std = gain / sqrt(fan_mode)."""
    arr = _view(tensor)
    if arr is None or _empty(tensor):
        return _TORCH["kaiming_normal_"](tensor, a, mode, nonlinearity, generator=generator)
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator=generator)


def orthogonal_(tensor, gain=1, generator=None):
    """``torch.nn.init.orthogonal_``: the Q of a QR decomposition of a fastinit normal matrix."""
    if _view(tensor) is None:
        return _TORCH["orthogonal_"](tensor, gain, generator=generator)
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    flattened = _torch.empty((rows, cols), dtype=_torch.float32 if tensor.dtype != _torch.float64 else _torch.float64)
    normal_(flattened, 0.0, 1.0, generator=generator)
    if rows < cols:
        flattened.t_()
    q, r = _torch.linalg.qr(flattened)
    q *= _torch.diag(r, 0).sign()
    if rows < cols:
        q.t_()
    with _torch.no_grad():
        tensor.view_as(q).copy_(q)
        tensor.mul_(gain)
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """``torch.nn.init.sparse_``: a fastinit normal(0, std) with ceil(sparsity * rows) zeros per column
    (the zero positions drawn with torch.randperm, as torch does)."""
    if _view(tensor) is None:
        return _TORCH["sparse_"](tensor, sparsity, std, generator=generator)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    normal_(tensor, 0.0, std, generator=generator)
    torch_gen = generator if isinstance(generator, _torch.Generator) else None
    with _torch.no_grad():
        for col_idx in range(cols):
            zero_indices = _torch.randperm(rows, generator=torch_gen)[:num_zeros]
            tensor[zero_indices, col_idx] = 0
    return tensor
