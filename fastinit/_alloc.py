"""Allocating constructors: ``he_uniform((4096, 4096))`` next to ``he_uniform_(buf)``.

The memory comes from fastinit (64-byte aligned; large buffers 2 MiB aligned
and marked for transparent huge pages) and is left untouched until the fill,
so the filling threads take the page faults in parallel instead of the caller
paying them serially, as ``np.empty`` followed by a fill does. The returned
array views that memory without a copy and frees it with its last view.
"""
import inspect

import numpy as np

from . import _buffers, _kernels, _plain, _registry

__all__ = ["empty"]


def _as_dtype(dtype):
    if isinstance(dtype, str) and dtype == "bfloat16":
        import ml_dtypes  # optional dependency, only for this dtype
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def empty(shape, dtype=np.float32):
    """A new, uninitialized array in fastinit-allocated (aligned, lazily mapped) memory.

    Parameters
    ----------
    shape : int or tuple of ints
    dtype : float32, float64, float16, or bfloat16 (``'bfloat16'`` or ``ml_dtypes.bfloat16``)
    """
    arr, _ = _empty(shape, dtype)
    return arr


def _empty(shape, dtype):
    dims = _buffers.check_shape(shape)
    dt = _as_dtype(dtype)
    try:
        _buffers.float_code(np.empty(0, dt))
    except TypeError:
        raise TypeError(f"dtype must be float32, float64, float16 or bfloat16, got {dt}") from None
    count = 1
    for d in dims:
        count *= d
    raw = _kernels.AlignedBuffer(count * dt.itemsize)
    return np.frombuffer(raw, dtype=dt, count=count).reshape(dims), raw.mapped


def _constructor(fill):
    name = fill.__name__.rstrip("_")

    def make(shape, *args, dtype=np.float32, **kwargs):
        return fill(empty(shape, dtype), *args, **kwargs)

    sig = inspect.signature(fill)
    params = list(sig.parameters.values())
    shape = inspect.Parameter("shape", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    dtype = inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=np.float32)
    rest = params[1:]
    split = next((i for i, p in enumerate(rest) if p.kind == inspect.Parameter.KEYWORD_ONLY), len(rest))
    make.__signature__ = sig.replace(parameters=[shape] + rest[:split] + [dtype] + rest[split:])
    make.__name__ = make.__qualname__ = name
    make.__module__ = "fastinit"
    make.__doc__ = (
        f"A new array of ``shape`` and ``dtype`` (default float32) filled by :func:`{fill.__name__}`.\n\n"
        f"``{name}(shape, *args, dtype=..., **kwargs)`` is ``{fill.__name__}(fastinit.empty(shape, dtype), "
        "*args, **kwargs)``: the memory is aligned and first touched by the filling threads.\n\n"
        f"Documentation of {fill.__name__}:\n\n{fill.__doc__}"
    )
    return make


CONSTRUCTORS = {name: _constructor(f) for name, f in _registry.table(_registry.RANDOM + _registry.CONSTANT).items()
                if name not in _registry.ALIASES}


def zeros(shape, *, dtype=np.float32):
    """A new array of zeros in fastinit-allocated memory.

    Large buffers are freshly mapped pages, which the operating system
    already zeroes lazily, so nothing is written (as ``np.zeros`` does).
    """
    arr, mapped = _empty(shape, dtype)
    if not mapped:
        _plain.zeros_(arr)
    return arr


zeros.__module__ = "fastinit"
CONSTRUCTORS["zeros"] = zeros
CONSTRUCTORS["glorot_uniform"] = CONSTRUCTORS["xavier_uniform"]
CONSTRUCTORS["glorot_normal"] = CONSTRUCTORS["xavier_normal"]
globals().update(CONSTRUCTORS)
__all__ += sorted(CONSTRUCTORS)
