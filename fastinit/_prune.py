"""Magnitude pruning in place, keep-masks, N:M sparsity and lottery-ticket rewinding.

Selection is exact and deterministic: the requested number of smallest-|w|
entries is zeroed, ties broken toward the lower flat (C-order) index. The
threshold is the exact k-th smallest |w|: for 2**20 or more entries of 32-bit
and narrower dtypes it is bracketed by a window from a strided sample and
selected among the few entries inside it, otherwise (or when the window
misses) found by a radix histogram over the bits of |w|; the buffer itself is
never copied or sorted, and the scratch (the sample, at most 8 MiB of window
keys, or 2 MiB of histograms per thread plus 1 MiB shared) is freed before the
call returns. Pruned entries are written as +0.0. Every check happens before
the first byte changes.
"""
import numbers
import operator

import numpy as np

from collections.abc import Mapping

from . import _buffers, _fill, _kernels
from . import _plain, _schemes  # noqa: F401  (their fills register in the table)

__all__ = ["prune_magnitude_", "global_prune_magnitude_", "prune_n_m_", "apply_mask_", "rewind_"]


def _contiguous(buf, name):
    arr, code = _buffers.check_float(buf, name)
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (pruning ranks elements in flat C order "
                         "without copying); pass np.ascontiguousarray(...) and copy back")
    if not arr.flags.aligned:
        raise ValueError(f"{name} is not aligned to its {arr.itemsize}-byte items (a view at an odd byte "
                         "offset); pruning works on the memory in place: pass an aligned copy "
                         "(np.require(buf, requirements='A')) and copy back")
    return arr, code


def count(amount, total):
    """Entries to prune: an int is a count, a float in [0, 1] a fraction rounded as torch does."""
    if isinstance(amount, (bool, np.bool_)):
        raise TypeError(f"amount must be an int (a count) or a float in [0, 1] (a fraction), got {amount!r}")
    if isinstance(amount, (numbers.Integral, np.integer)):
        k = operator.index(amount)
        if k < 0:
            raise ValueError(f"amount={k} must be >= 0")
        if k > total:
            raise ValueError(f"amount={k} should be smaller than the number of parameters to prune={total}")
        return k
    if isinstance(amount, (numbers.Real, np.floating)):
        f = float(amount)
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")
        return round(f * total)
    raise TypeError(f"amount must be an int (a count) or a float in [0, 1] (a fraction), got {type(amount).__name__}")


def prune_magnitude_(buf, amount, *, return_mask=False):
    """Zero the ``amount`` entries of ``buf`` with the smallest magnitude, in place.

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16, C-contiguous.
    amount : int or float
        An int is the number of entries to prune; a float in ``[0, 1]`` the
        fraction, rounded to the nearest count (``round(amount * size)``, as
        ``torch.nn.utils.prune``). Exactly that many entries are zeroed: ties at
        the threshold go to the lowest flat indices first, and entries that are
        already zero count as the smallest.
    return_mask : bool
        Also return the keep-mask (a new bool array, True where kept).

    Returns
    -------
    ``buf``, or the keep-mask when ``return_mask=True``.

    Raises ``ValueError`` (buffer untouched) if ``buf`` holds a NaN.

    Examples
    --------
    >>> w = fastinit.kaiming_uniform_(np.empty((512, 512), np.float32), seed=0)
    >>> mask = fastinit.prune_magnitude_(w, 0.9, return_mask=True)   # keeps 26,214
    """
    arr, code = _contiguous(buf, "buf")
    k = count(amount, arr.size)
    mask = np.empty(arr.shape, np.bool_) if return_mask else None
    if arr.size:
        _kernels.prune_magnitude([(_buffers.flat_bytes(arr), code, arr.size, None if mask is None else _buffers.flat_bytes(mask))], k)
    return mask if return_mask else buf


def global_prune_magnitude_(buffers, amount, *, return_masks=False):
    """Zero the ``amount`` smallest-magnitude entries over several buffers at once.

    The buffers (dtypes and shapes may differ) are ranked as if concatenated
    in list order: ``amount`` counts (or is a fraction of) their total size,
    ties go to the lowest index in that concatenation, and magnitudes compare
    by value across dtypes. As ``torch.nn.utils.prune.global_unstructured``
    with ``L1Unstructured``.

    Returns the list of buffers, or of keep-masks when ``return_masks=True``.

    Examples
    --------
    >>> layers = [fastinit.he_uniform((256, 128), seed=1), fastinit.he_uniform((10, 256), seed=2)]
    >>> fastinit.global_prune_magnitude_(layers, 0.8)
    """
    if isinstance(buffers, np.ndarray) or not isinstance(buffers, (list, tuple)):
        raise TypeError("buffers must be a list or tuple of arrays")
    checked = [_contiguous(b, f"buffers[{i}]") for i, b in enumerate(buffers)]
    total = sum(a.size for a, _ in checked)
    k = count(amount, total)
    masks = [np.empty(a.shape, np.bool_) for a, _ in checked] if return_masks else [None] * len(checked)
    items = [(_buffers.flat_bytes(a), code, a.size, None if m is None else _buffers.flat_bytes(m))
             for (a, code), m in zip(checked, masks) if a.size]
    if items:
        _kernels.prune_magnitude(items, k)
    return masks if return_masks else list(buffers)


def prune_n_m_(buf, n=2, m=4, axis=-1, *, return_mask=False):
    """N:M structured sparsity: in every group of ``m`` consecutive entries along
    ``axis``, keep the ``n`` largest magnitudes (ties toward the lower index) and
    zero the rest; 2:4 is the pattern sparse tensor cores accept.

    ``buf.shape[axis]`` must be a multiple of ``m`` (``m <= 64``). Returns ``buf``,
    or the keep-mask when ``return_mask=True``. Raises ``ValueError`` on NaN.

    Examples
    --------
    >>> w = fastinit.xavier_uniform_(np.empty((64, 128), np.float32), seed=0)
    >>> fastinit.prune_n_m_(w, 2, 4)        # every 4 along the rows keep 2
    """
    arr, code = _contiguous(buf, "buf")
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    n, m = operator.index(n), operator.index(m)
    if not 1 <= m <= 64:
        raise ValueError(f"m must be between 1 and 64, got {m}")
    if not 0 <= n <= m:
        raise ValueError(f"n must be between 0 and m={m}, got {n}")
    if arr.ndim == 0:
        raise ValueError("prune_n_m_ needs at least one dimension")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral, np.integer)):
        raise TypeError(f"axis must be an int, got {axis!r}")
    ax = operator.index(axis)
    if not -arr.ndim <= ax < arr.ndim:
        raise ValueError(f"axis {ax} is out of bounds for an array of dimension {arr.ndim}")
    ax %= arr.ndim
    length = arr.shape[ax]
    if length % m:
        raise ValueError(f"the length of axis {ax} ({length}) is not a multiple of m={m}")
    if arr.size and _kernels.has_nan(_buffers.flat_bytes(arr), code, arr.size):
        raise ValueError("the buffer contains NaN; magnitude pruning needs every |w| to compare")
    outer = int(np.prod(arr.shape[:ax], dtype=np.int64))
    inner = int(np.prod(arr.shape[ax + 1:], dtype=np.int64))
    mask = np.empty(arr.shape, np.bool_) if return_mask else None
    if arr.size:
        _kernels.prune_n_m(_buffers.flat_bytes(arr), code, outer, length, inner, n, m, None if mask is None else _buffers.flat_bytes(mask))
    return mask if return_mask else buf


def _check_mask(arr, mask, name="mask"):
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a NumPy bool array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise TypeError(f"{name} must have dtype bool, got {mask.dtype}")
    if mask.shape != arr.shape:
        raise ValueError(f"{name} has shape {mask.shape}, the buffer {arr.shape}")
    return np.ascontiguousarray(mask)


def apply_mask_(buf, mask):
    """Zero ``buf`` where the bool ``mask`` (same shape) is False, in place; returns ``buf``."""
    arr, _ = _contiguous(buf, "buf")
    mask = _check_mask(arr, mask)
    if arr.size:
        _kernels.apply_mask(_buffers.flat_bytes(arr), arr.itemsize, _buffers.flat_bytes(mask))
    return buf


def rewind_(buf, mask, init, **init_kwargs):
    """Rewind kept weights to their initial values (the lottery-ticket step), in place.

    Writes, where ``mask`` is True, exactly the values ``init(buf, **init_kwargs)``
    wrote at initialization, regenerated from the counter-based stream (no stored
    copy), and zero elsewhere, in one pass over ``buf``. ``init`` is a fastinit
    fill function with the arguments of the initialization, which for
    a random fill must name the stream it used: ``seed=`` (and ``stream=`` if it
    was not stream 0) or ``generator=`` with ``stream=``, plus ``offset=`` for a
    shard. Or ``init`` is a record (a dict, as ``save_random`` returns and
    ``fastinit.torch`` keeps), checked whole before anything is written. Any other
    callable is run and then masked (two passes).

    Examples
    --------
    >>> w = fastinit.kaiming_uniform_(np.empty((256, 256), np.float32), seed=7)
    >>> mask = fastinit.prune_magnitude_(w, 0.8, return_mask=True)
    >>> fastinit.rewind_(w, mask, fastinit.kaiming_uniform_, seed=7)
    """
    arr, code = _contiguous(buf, "buf")
    mask = _check_mask(arr, mask)
    if isinstance(init, Mapping):
        if init_kwargs:
            raise TypeError("rewind_ from a record takes no other arguments; the record holds them")
        fill, shape, dtype = _fill.from_record(dict(init), "buf")
        if shape != arr.shape or dtype != _buffers.NAMES[code]:
            raise ValueError(f"the record is for a {dtype} tensor of shape {shape}, "
                             f"the buffer is {_buffers.NAMES[code]} of shape {arr.shape}")
    elif isinstance(getattr(init, "rule", None), _fill.Rule):
        rule = init.rule
        if rule.buffer != "float":
            raise TypeError(f"init must fill float buffers; {init.__name__} fills {rule.buffer} ones")
        if rule.random and init_kwargs.get("seed") is None and init_kwargs.get("stream") is None:
            raise ValueError("rewind_ needs the stream the initialization used: pass seed= (and stream= if "
                             "it was not 0), or generator= with stream=")
        fill = rule.describe(arr.shape, (), init_kwargs)
    elif callable(init):
        init(buf, **init_kwargs)       # not a fastinit fill: fill, then mask
        return apply_mask_(buf, mask)
    else:
        raise TypeError(f"init must be a fastinit fill function, a record, or a callable, got {type(init).__name__}")
    _fill.run(fill, arr, code, mask=_buffers.flat_bytes(mask))
    return buf
