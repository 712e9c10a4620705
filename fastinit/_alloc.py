"""Allocating constructors: ``he_uniform((4096, 4096))`` next to ``he_uniform_(buf)``.

The memory comes from fastinit (64-byte aligned; large buffers 2 MiB aligned
and marked for transparent huge pages) and is left untouched until the fill,
so the filling threads take the page faults in parallel instead of the caller
paying them serially, as ``np.empty`` followed by a fill does. The returned
array views that memory without a copy and frees it with its last view. A
constructor checks its fill's arguments before it allocates.
"""
import inspect
import math
import sys

import numpy as np

from . import _buffers, _fill, _kernels
from . import _plain, _schemes, _structured  # noqa: F401  (their fills register in the table)

__all__ = ["empty"]


def empty(shape, dtype=np.float32):
    """A new, uninitialized array in fastinit-allocated (aligned, lazily mapped) memory.

    Parameters
    ----------
    shape : int or tuple of ints
    dtype : float32, float64, float16, or bfloat16 (``'bfloat16'`` or ``ml_dtypes.bfloat16``)
    """
    dims = _buffers.check_shape(shape)
    dt, _ = _buffers.numpy_dtype(dtype)
    return _allocate(dims, dt)[0]


def _allocate(dims, dt):
    count = math.prod(dims)
    if count * dt.itemsize > sys.maxsize:        # as NumPy: more bytes than an address space holds
        raise ValueError(f"shape {dims} of {dt} needs {count * dt.itemsize} bytes, more than "
                         f"the largest possible array ({sys.maxsize} bytes)")
    raw = _kernels.AlignedBuffer(count * dt.itemsize)
    return np.frombuffer(raw, dtype=dt, count=count).reshape(dims), raw.mapped


def _constructor(rule):
    public = rule.public

    def make(shape, *args, dtype=np.float32, **kwargs):
        dims = _buffers.check_shape(shape)
        dt, code = _buffers.numpy_dtype(dtype)
        fill = rule.describe(dims, args, kwargs)
        _fill.check(fill, dims, code)               # before any memory is taken
        arr, mapped = _allocate(dims, dt)
        val = fill.draw.params.get("val") if fill.draw.kind == "constant" else None
        if not (mapped and val == 0.0 and math.copysign(1.0, val) > 0):
            _fill.run(fill, arr, code)              # (fresh mapped pages already read as zeros)
        return arr

    sig = inspect.signature(public)
    params = list(sig.parameters.values())
    shape = inspect.Parameter("shape", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    dtype = inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=np.float32)
    rest = params[1:]
    split = next((i for i, p in enumerate(rest) if p.kind == inspect.Parameter.KEYWORD_ONLY), len(rest))
    make.__signature__ = sig.replace(parameters=[shape] + rest[:split] + [dtype] + rest[split:])
    make.__name__ = make.__qualname__ = rule.name
    make.__module__ = "fastinit"
    make.__doc__ = (
        f"A new array of ``shape`` and ``dtype`` (default float32) filled by :func:`{public.__name__}`.\n\n"
        f"``{rule.name}(shape, *args, dtype=..., **kwargs)`` is ``{public.__name__}(fastinit.empty(shape, dtype), "
        "*args, **kwargs)``, with every argument checked before the memory is allocated; the memory is "
        "aligned and first touched by the filling threads (``zeros`` of a large shape writes nothing: "
        "fresh pages are zero).\n\n"
        f"Documentation of {public.__name__}:\n\n{public.__doc__}"
    )
    return make


#: {name: constructor} for every float fill (random_bits_ has none: it fills uint32 buffers)
_FLOAT_FILLS = _fill.select(lambda r: r.buffer == "float")
_MADE = {r: _constructor(r) for r in set(_FLOAT_FILLS.values())}
CONSTRUCTORS = {name: _MADE[r] for name, r in _FLOAT_FILLS.items()}   # the Glorot aliases: the same function
globals().update(CONSTRUCTORS)
__all__ += sorted(CONSTRUCTORS)
