"""Plain fills: uniform_, normal_, trunc_normal_, constants, and the raw stream.

Every function validates all of its arguments before it touches the buffer,
then reserves its stream, then runs one C kernel over the buffer.
"""
import contextlib
import threading

import numpy as np

from . import _buffers, _kernels
from ._checks import check_real
from ._generator import check_source, resolve
from ._truncation import trunc_params

__all__ = ["uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "random_bits_"]

_F64 = _kernels.F64

# rewind_: while set (per thread), random fills write their values only where
# this flat uint8 keep-mask is set and zero elsewhere, in the same pass
_mask_state = threading.local()


@contextlib.contextmanager
def masked(flat_mask):
    _mask_state.mask = flat_mask
    try:
        yield
    finally:
        _mask_state.mask = None


def _active_mask():
    return getattr(_mask_state, "mask", None)


def _prepare(buf, seed, generator, stream, offset, global_shape=None, index=None):
    arr, code = _buffers.check_float(buf)
    check_source(seed, generator, stream)
    place = _buffers.check_placement(arr, offset, global_shape, index)
    return arr, code, place


def _mask_for(mask, raw, itemsize, local):
    """The part of a flat keep-mask that covers ``raw`` (which starts at local element ``local``)."""
    if mask is None:
        return None
    return mask[local: local + raw.shape[0] // itemsize]


_F32_MAX = float(np.finfo(np.float32).max)


def _check_working_range(code, dtype, **params):
    """Parameters of a float32/16/bfloat16 fill must be float32 numbers (the working precision)."""
    if code == _F64:
        return
    for name, value in params.items():
        if abs(value) > _F32_MAX:
            raise ValueError(f"{name}={value} is outside the float32 range used to fill {dtype} buffers")


def _fill_uniform(arr, code, lo, hi, seed, generator, stream, off):
    width = hi - lo
    if not np.isfinite(width):
        raise ValueError(f"the interval [{lo}, {hi}] is too wide to sample (b - a overflows)")
    _check_working_range(code, arr.dtype, a=lo, b=hi, **{"b - a": width})
    s, t = resolve(seed, generator, stream)
    mask = _active_mask()
    size = arr.itemsize
    _buffers.run(arr, off, lambda raw, first, local: _kernels.fill_uniform(
        raw, code, s, t, first, lo, width, _mask_for(mask, raw, size, local)), batch=mask is None)


def _fill_normal(arr, code, mean, std, seed, generator, stream, off):
    _check_working_range(code, arr.dtype, mean=mean, std=std, **{"mean + 9 * std": abs(mean) + 9 * std})
    s, t = resolve(seed, generator, stream)
    mask = _active_mask()
    size = arr.itemsize
    _buffers.run(arr, off, lambda raw, first, local: _kernels.fill_normal(
        raw, code, s, t, first, mean, std, _mask_for(mask, raw, size, local)), batch=mask is None)


def _fill_trunc(arr, code, mean, std, a, b, seed, generator, stream, off):
    _check_working_range(code, arr.dtype, mean=mean, std=std, a=a, b=b)
    params = wide = None
    if std != 0.0:
        params, wide = trunc_params(mean, std, a, b, code == _F64)
    s, t = resolve(seed, generator, stream)
    mask = _active_mask()
    if params is None:
        # A zero-width normal is the mean, clipped into [a, b].
        _fill_constant(arr, min(max(mean, a), b))
        if mask is not None:
            _kernels.apply_mask(arr.reshape(-1).view(np.uint8), arr.itemsize, mask)
        return
    size = arr.itemsize
    _buffers.run(arr, off, lambda raw, first, local: _kernels.fill_trunc(
        raw, code, s, t, first, params, wide, _mask_for(mask, raw, size, local)), batch=mask is None)


def _bf16_bits(value):
    """bfloat16 bits of a number: to float32 (nearest), then to bfloat16 (nearest, ties to even),
    as torch's and ml_dtypes' conversions do."""
    with np.errstate(over="ignore"):
        u = int(np.float32(value).view(np.uint32))
    if (u & 0x7F800000) == 0x7F800000:              # inf or nan stay what they are
        return (u >> 16) | (0x40 if u & 0x007FFFFF else 0)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def _constant_of(arr, value):
    """The one-element array of arr's dtype holding value (bfloat16 bit views included)."""
    if isinstance(arr, _buffers.BFloat16Bits):
        return np.array([_bf16_bits(value)], np.uint16)
    with np.errstate(over="ignore"):
        return np.asarray(value, dtype=arr.dtype).reshape(1)


def _fill_constant(arr, value):
    pattern = _constant_of(arr, value).view(np.uint8)
    _buffers.run(arr, 0, lambda raw, first, local: _kernels.fill_pattern(raw, pattern))


def uniform_(buf, a=0.0, b=1.0, *, seed=None, generator=None, stream=None, offset=0, global_shape=None,
             index=None):
    """Fill ``buf`` in place with values from the uniform distribution on ``[a, b)``.

    As ``torch.nn.init.uniform_``. Each value is ``a + (b - a) * u`` with ``u``
    from the Philox stream (docs/STREAM.md section 3); after rounding to the
    output dtype a value can equal ``b``.

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16; filled in place and returned.
    a, b : float
        Bounds, finite, ``a < b``.
    seed : int, optional
        Use stream 0 (or ``stream``) of this seed, in ``[0, 2**64)``.
    generator : fastinit.Generator, optional
        Take the next stream of this generator (default: the module's).
    stream : int, optional
        Stream id to use instead of the generator's next one (to regenerate a fill).
    offset : int
        Stream element index of ``buf``'s first element (for shards); with
        ``global_shape``, of the whole tensor's first element.
    global_shape, index : tuple, optional
        ``buf`` holds ``global[index]`` of a tensor of shape ``global_shape``
        (``index``: one slice or start int per axis) and receives exactly
        those elements of the whole-tensor fill.

    Examples
    --------
    >>> w = fastinit.uniform_(np.empty((3, 5), np.float32), -0.1, 0.1, seed=0)
    """
    arr, code, off = _prepare(buf, seed, generator, stream, offset, global_shape, index)
    a = check_real(a, "a")
    b = check_real(b, "b")
    if not a < b:
        raise ValueError(f"uniform_ needs a < b, got a={a}, b={b}")
    _fill_uniform(arr, code, a, b, seed, generator, stream, off)
    return buf


def normal_(buf, mean=0.0, std=1.0, *, seed=None, generator=None, stream=None, offset=0, global_shape=None,
            index=None):
    """Fill ``buf`` in place with values from ``N(mean, std**2)``.

    As ``torch.nn.init.normal_``. Box-Muller over the Philox stream
    (docs/STREAM.md section 4): ``mean + std * z``.

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16; filled in place and returned.
    mean : float
    std : float
        Standard deviation, ``>= 0``.
    seed, generator, stream, offset, global_shape, index
        As in :func:`uniform_`.

    Examples
    --------
    >>> w = fastinit.normal_(np.empty((768, 768), np.float32), std=0.02, seed=1)
    """
    arr, code, off = _prepare(buf, seed, generator, stream, offset, global_shape, index)
    mean = check_real(mean, "mean")
    std = check_real(std, "std")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    _fill_normal(arr, code, mean, std, seed, generator, stream, off)
    return buf


def trunc_normal_(buf, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, generator=None, stream=None, offset=0,
                  global_shape=None, index=None):
    """Fill ``buf`` in place from ``N(mean, std**2)`` truncated to ``[a, b]``.

    As ``torch.nn.init.trunc_normal_``: ``a`` and ``b`` are absolute bounds, not
    multiples of ``std``. Sampled by an inverse CDF that keeps the tails
    accurate (docs/STREAM.md section 6): bounds 100 std away (torch's defaults
    with ``std=0.02``) give a plain normal shape with no pile-up at the bounds,
    and intervals far in one tail (e.g. 5 to 6 std) are sampled correctly.

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16; filled in place and returned.
    mean : float
    std : float
        ``>= 0``; with ``std=0`` every value is ``mean`` clipped to ``[a, b]``.
    a, b : float
        Absolute bounds, ``a < b``.
    seed, generator, stream, offset, global_shape, index
        As in :func:`uniform_`.

    Examples
    --------
    >>> w = fastinit.trunc_normal_(np.empty((768, 3072), np.float32), std=0.02, seed=3)
    """
    arr, code, off = _prepare(buf, seed, generator, stream, offset, global_shape, index)
    mean = check_real(mean, "mean")
    std = check_real(std, "std")
    a = check_real(a, "a")
    b = check_real(b, "b")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    _fill_trunc(arr, code, mean, std, a, b, seed, generator, stream, off)
    return buf


def constant_(buf, val):
    """Fill ``buf`` in place with ``val`` (rounded once to the buffer's dtype).

    As ``torch.nn.init.constant_``; ``val`` must be finite.

    Examples
    --------
    >>> b = fastinit.constant_(np.empty(64, np.float32), 0.1)
    """
    arr, _ = _buffers.check_float(buf)
    val = check_real(val, "val")
    rounded = _constant_of(arr, val)
    if isinstance(arr, _buffers.BFloat16Bits):
        finite = (int(rounded[0]) & 0x7F80) != 0x7F80
    else:
        finite = bool(np.isfinite(rounded.astype(np.float64))[0])
    if not finite:
        raise ValueError(f"val={val} is outside the range of {'bfloat16' if isinstance(arr, _buffers.BFloat16Bits) else arr.dtype}")
    _fill_constant(arr, val)
    return buf


def zeros_(buf):
    """Fill ``buf`` in place with zeros, as ``torch.nn.init.zeros_``."""
    arr, _ = _buffers.check_float(buf)
    _fill_constant(arr, 0.0)
    return buf


def ones_(buf):
    """Fill ``buf`` in place with ones, as ``torch.nn.init.ones_``."""
    arr, _ = _buffers.check_float(buf)
    _fill_constant(arr, 1.0)
    return buf


def random_bits_(buf, *, seed=None, generator=None, stream=None, offset=0, global_shape=None, index=None):
    """Fill a uint32 buffer with the raw Philox4x32-10 words, in stream order.

    Element ``i`` (flat C-order index plus ``offset``) receives word ``i % 4`` of
    block ``i // 4`` (docs/STREAM.md section 2), so this shows the stream every
    other fill is built on.

    Examples
    --------
    >>> words = fastinit.random_bits_(np.empty(8, np.uint32), seed=0)
    """
    arr = _buffers.check_uint32(buf)
    check_source(seed, generator, stream)
    place = _buffers.check_placement(arr, offset, global_shape, index)
    s, t = resolve(seed, generator, stream)
    _buffers.run(arr, place, lambda raw, first, local: _kernels.fill_bits(raw, s, t, first), batch=True)
    return buf
