"""Turning a caller's buffer into something the kernels can write, in place.

Accepts NumPy arrays and any object exposing a writable buffer (memoryview,
array.array, mmap through numpy.frombuffer, ...). Never copies the caller's
data: a non-contiguous view is filled piece by piece through a bounded
scratch array so that every element gets the value of its logical C-order
index, exactly as a contiguous array of the same shape would.
"""
import numpy as np

from . import _kernels
from ._checks import check_uint64

# Largest scratch array used for non-contiguous views, in elements.
SCRATCH_ELEMENTS = 1 << 18

_FLOAT_CODES = {
    np.dtype(np.float32): _kernels.F32,
    np.dtype(np.float64): _kernels.F64,
    np.dtype(np.float16): _kernels.F16,
}
_FLOAT_NAMES = "float32, float64, float16 or bfloat16 (ml_dtypes.bfloat16)"


def as_array(buf, name="buf"):
    """A writable ndarray viewing buf's memory (no copy)."""
    if isinstance(buf, np.ndarray):
        arr = buf
    else:
        try:
            arr = np.asarray(memoryview(buf))
        except TypeError:
            raise TypeError(
                f"{name} must be a NumPy array or an object exposing a writable buffer, "
                f"got {type(buf).__name__}"
            ) from None
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; fastinit fills buffers in place and needs a writable one")
    return arr


class BFloat16Bits(np.ndarray):
    """A uint16 view holding bfloat16 bit patterns (how fastinit.torch hands a
    torch bfloat16 tensor to the kernels without needing ml_dtypes)."""


def float_code(arr, name="buf"):
    """Kernel code of a floating dtype we fill, or TypeError naming the dtype."""
    dt = arr.dtype
    if isinstance(arr, BFloat16Bits) and dt == np.dtype(np.uint16):
        return _kernels.BF16
    if not dt.isnative:
        raise TypeError(f"{name} has dtype {dt} in non-native byte order; fill a native-order array "
                        "(e.g. arr.astype(arr.dtype.newbyteorder('='))) and convert it afterwards")
    code = _FLOAT_CODES.get(dt)
    if code is not None:
        return code
    if dt.name == "bfloat16" and dt.itemsize == 2:
        return _kernels.BF16
    raise TypeError(f"{name} has dtype {dt}; expected {_FLOAT_NAMES}")


def check_float(buf, name="buf"):
    arr = as_array(buf, name)
    return arr, float_code(arr, name)


def check_uint32(buf, name="buf"):
    arr = as_array(buf, name)
    if arr.dtype != np.dtype(np.uint32):
        raise TypeError(f"{name} has dtype {arr.dtype}; random_bits_ fills uint32 buffers")
    return arr


def check_offset(offset, size):
    """offset: stream index of the first element; the whole fill must stay below index 2**64."""
    off = check_uint64(offset, "offset")
    if off + size > (1 << 64):
        raise ValueError(f"offset + number of elements must not exceed 2**64, got {off} + {size}")
    return off


def _flat_bytes(arr):
    return arr.reshape(-1).view(np.uint8)


def pieces(arr):
    """Yield (contiguous ndarray to write, logical C-order index of its first element, view to copy into or None).

    A C-contiguous array is one piece. Otherwise the array is cut into
    sub-arrays arr[idx..., s:e] whose logical elements are consecutive, each at
    most SCRATCH_ELEMENTS large (or one row of the last axis); a piece that is
    itself contiguous is written directly, the others through a scratch array.
    """
    if arr.flags.c_contiguous:
        yield arr, 0, None
        return
    shape = arr.shape
    ndim = arr.ndim
    # inner[j] = number of logical elements spanned by one step along axis j
    inner = [1] * ndim
    for j in range(ndim - 2, -1, -1):
        inner[j] = inner[j + 1] * shape[j + 1]
    # split axis: the first axis whose trailing block fits in the scratch
    j = 0
    while j < ndim - 1 and inner[j] > SCRATCH_ELEMENTS:
        j += 1
    rows = max(1, SCRATCH_ELEMENTS // inner[j])
    scratch = None
    for idx in np.ndindex(*shape[:j]):
        base = sum(i * inner[k] for k, i in enumerate(idx))
        for s in range(0, shape[j], rows):
            e = min(shape[j], s + rows)
            view = arr[idx + (slice(s, e),)]
            first = base + s * inner[j]
            if view.flags.c_contiguous:
                yield view, first, None
            else:
                if scratch is None:
                    scratch = np.empty(min(arr.size, rows * inner[j]), dtype=arr.dtype)
                tmp = scratch[: view.size].reshape(view.shape)
                yield tmp, first, view


def run(arr, offset, kernel):
    """Call kernel(flat_uint8_bytes, first_element_index) over every piece of arr."""
    if arr.size == 0:
        return
    for target, first, dest in pieces(arr):
        kernel(_flat_bytes(target), offset + first)
        if dest is not None:
            dest[...] = target
