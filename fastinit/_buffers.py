"""Turning a caller's buffer into something the kernels can write, in place.

Accepts NumPy arrays and any object exposing a writable buffer (memoryview,
array.array, mmap through numpy.frombuffer, ...). Never copies the caller's
data: a non-contiguous view is filled piece by piece through a bounded
scratch array so that every element gets the value of its logical C-order
index, exactly as a contiguous array of the same shape would.
"""
import math
import operator
import struct

import numpy as np

from . import _kernels

# Largest scratch array used for non-contiguous views, in elements.
SCRATCH_ELEMENTS = 1 << 18

#: The float dtypes fastinit fills, by name, with the kernels' output code of each
#: (the one dtype table of the Python layer; bfloat16 is ml_dtypes' NumPy dtype, or
#: BFloat16Bits views of uint16).
FLOAT_CODES = {"float32": _kernels.F32, "float64": _kernels.F64, "float16": _kernels.F16,
               "bfloat16": _kernels.BF16}
NAMES = {code: name for name, code in FLOAT_CODES.items()}
_FLOAT_NAMES = "float32, float64, float16 or bfloat16 (ml_dtypes.bfloat16)"


def numpy_dtype(dtype):
    """The NumPy dtype of a fillable dtype given by name or dtype ('bfloat16' needs ml_dtypes),
    and its kernel code; TypeError for anything else."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        try:
            import ml_dtypes  # optional dependency, only for this dtype
        except ImportError:
            raise ImportError("dtype='bfloat16' needs ml_dtypes for a NumPy bfloat16 dtype: "
                              "pip install ml_dtypes") from None
        dtype = ml_dtypes.bfloat16
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    code = None if dt is None or not dt.isnative else FLOAT_CODES.get(dt.name)
    if code is None:
        shown = repr(dtype) if dt is None else str(dt)
        raise TypeError(f"dtype must be float32, float64, float16 or bfloat16, got {shown}")
    return dt, code


# C's own conversions, rounding to nearest even (as NumPy's casts do), without NumPy's overhead
_PACK = {_kernels.F32: struct.Struct("=f"), _kernels.F64: struct.Struct("=d"), _kernels.F16: struct.Struct("=e")}
_U32 = struct.Struct("=I")
_U16 = struct.Struct("=H")


def _pack(code, value):
    """The bytes of value rounded to output code; a value beyond its range becomes inf."""
    try:
        return _PACK[code].pack(value)
    except OverflowError:
        return _PACK[code].pack(math.copysign(math.inf, value))


def _bf16_bits(value):
    """bfloat16 bits of a number: to float32 (nearest), then to bfloat16 (nearest, ties to even),
    as torch's and ml_dtypes' conversions do."""
    u = _U32.unpack(_pack(_kernels.F32, value))[0]
    if (u & 0x7F800000) == 0x7F800000:              # inf or nan stay what they are
        return (u >> 16) | (0x40 if u & 0x007FFFFF else 0)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


_NUMPY_OF_CODE = {code: np.dtype(name) for name, code in FLOAT_CODES.items() if name != "bfloat16"}
_CODE_OF_DTYPE = {dt: code for code, dt in _NUMPY_OF_CODE.items()}


def constant_bytes(code, value, check=False):
    """The bytes of ``value`` rounded once to output ``code`` (bfloat16: its bits); with
    ``check``, a ValueError when the rounded value is not finite."""
    if code == _kernels.BF16:
        bits = _bf16_bits(value)
        finite = (bits & 0x7F80) != 0x7F80
        out = _U16.pack(bits)
    else:
        out = _pack(code, value)
        finite = math.isfinite(_PACK[code].unpack(out)[0])
    if check and not finite:
        raise ValueError(f"val={value} is outside the range of {NAMES[code]}")
    return out


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
    code = _CODE_OF_DTYPE.get(dt)
    if code is None:
        code = FLOAT_CODES.get(dt.name)        # bfloat16: ml_dtypes' dtype, not constructed here
    if code is not None:
        return code
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
    """offset (already an int in [0, 2**64), as a Fill holds it): the whole fill must stay
    below stream index 2**64."""
    off = offset
    if off + size > (1 << 64):
        raise ValueError(f"offset + number of elements must not exceed 2**64, got {off} + {size}")
    return off


def direct(arr):
    """Whether the kernels may write ``arr``'s memory as it lies: C-contiguous and aligned
    to its items (a view at an odd byte offset is not, and goes through a scratch array)."""
    return arr.flags.c_contiguous and arr.flags.aligned


def flat_bytes(arr):
    """The bytes of a C-contiguous array, as a flat uint8 view."""
    return arr.reshape(-1).view(np.uint8)


def pieces(arr):
    """Yield (contiguous ndarray to write, logical C-order index of its first element, view to copy into or None).

    A C-contiguous, aligned array is one piece. Otherwise (a strided view, or
    memory not aligned to the item size, which the kernels may not write as
    items: a view at an odd byte offset) the array is cut into
    sub-arrays arr[idx..., s:e] whose logical elements are consecutive, each at
    most SCRATCH_ELEMENTS large (or one row of the last axis); a piece that is
    itself contiguous is written directly, the others through a scratch array.
    """
    if direct(arr):
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
            if direct(view):
                yield view, first, None
            else:
                if scratch is None:
                    scratch = np.empty(min(arr.size, rows * inner[j]), dtype=arr.dtype)
                tmp = scratch[: view.size].reshape(view.shape)
                yield tmp, first, view


class Placement:
    """Where a local buffer sits in a logical (global) tensor.

    offset: stream index of the global tensor's element 0; global_shape and
    starts (per axis) when the buffer is the tile ``global[start:start+n, ...]``
    of an N-dimensional tensor, else None (the buffer's own elements are
    consecutive from offset)."""

    __slots__ = ("offset", "global_shape", "starts")

    def __init__(self, offset, global_shape=None, starts=None):
        self.offset = offset
        self.global_shape = global_shape
        self.starts = starts


def check_shape(shape, name="shape"):
    """A shape as a tuple of ints (an int is a 1-d shape); TypeError / ValueError naming ``name``."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name} must not have negative dimensions, got {dims}")
    return dims


def chunk(n, parts, i):
    """(start, stop) of part ``i`` of ``range(n)`` cut into ``parts`` pieces by torch.chunk's
    rule, which DTensor's ``Shard`` follows: ceil(n / parts) elements each, the last
    pieces shorter or empty (33 rows over 4 ranks: 9, 9, 9, 6)."""
    size = -(-n // parts)
    start = min(i * size, n)
    return start, min(start + size, n)


def shard_index(global_shape, dim, rank, world_size):
    """The ``index=`` of rank ``rank``'s block of a tensor of ``global_shape`` split along
    ``dim`` over ``world_size`` ranks: a tuple of slices, by torch.chunk's rule (DTensor's
    ``Shard(dim)``, and Megatron's even split when ``world_size`` divides the dim)."""
    shape = check_shape(global_shape, "global_shape")
    for name, value in (("dim", dim), ("rank", rank), ("world_size", world_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not -len(shape) <= dim < len(shape):
        raise ValueError(f"dim={dim} is out of range for global_shape {shape} ({len(shape)} dimensions)")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    dim = int(dim) % len(shape)
    start, stop = chunk(shape[dim], int(world_size), int(rank))
    return tuple(slice(start, stop) if a == dim else slice(0, n) for a, n in enumerate(shape))


def check_placement(shape, offset, global_shape=None, index=None):
    """Validate offset / global_shape / index for a buffer of ``shape``; returns a Placement.

    ``index`` is a tuple with one entry per axis of ``global_shape``: a slice
    with step 1 (``slice(None)`` for a whole axis; negative bounds count from
    the end, as in NumPy) or an int, the start of the buffer along that axis.
    The buffer's shape must be the shape of ``global[index]``."""
    shape = tuple(shape)
    if global_shape is None:
        if index is not None:
            raise ValueError("index= needs global_shape=, the shape of the whole tensor")
        return Placement(check_offset(offset, math.prod(shape)))
    gshape = check_shape(global_shape, "global_shape")
    off = check_offset(offset, math.prod(gshape))
    if index is None:
        if shape != gshape:
            raise ValueError(f"buffer has shape {shape} but global_shape is {gshape}; "
                             "pass index= to say which part of the tensor the buffer holds")
        return Placement(off)
    if not isinstance(index, tuple):
        index = (index,)
    if len(index) != len(gshape):
        raise ValueError(f"index has {len(index)} entries; global_shape {gshape} has {len(gshape)} axes")
    if len(shape) != len(gshape):
        raise ValueError(f"buffer has {len(shape)} dimensions; global_shape {gshape} has {len(gshape)} "
                         "(the buffer must have the shape of global[index])")
    starts = []
    for axis, (entry, g, n) in enumerate(zip(index, gshape, shape)):
        if isinstance(entry, slice):
            start, stop, step = entry.indices(g)
            if step != 1:
                raise ValueError(f"index[{axis}] has step {entry.step}; only step 1 is supported")
            if stop - start != n and not (n == 0 and stop <= start):
                raise ValueError(f"index[{axis}] = {entry} spans {max(0, stop - start)} elements of axis "
                                 f"{axis} (length {g}), but the buffer has {n}")
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
            start = int(entry)
            if not 0 <= start <= g - n:
                raise ValueError(f"index[{axis}] = {start}: a buffer of {n} elements along axis {axis} "
                                 f"does not fit in length {g} from there")
        else:
            raise TypeError(f"index[{axis}] must be a slice or an int, got {type(entry).__name__}")
        starts.append(start)
    return Placement(off, gshape, tuple(starts))


class _Tile:
    """How a tile's elements fall into runs consecutive in the whole tensor's C order.

    k: the axes from k on span whole axes of the tensor (past the first of them), so
    each run covers them, run_len elements; the runs are indexed by the tile's axes
    before k (lead). first(idx) is the stream index of the run at lead index idx."""

    def __init__(self, shape, place):
        gshape, starts = place.global_shape, place.starts
        ndim = len(shape)
        self.gstride = [1] * ndim
        for j in range(ndim - 2, -1, -1):
            self.gstride[j] = self.gstride[j + 1] * gshape[j + 1]
        k = max(ndim - 1, 0)
        while k > 0 and shape[k] == gshape[k]:
            k -= 1
        self.k, self.lead = k, tuple(shape[:k])
        self.run_len = 1
        for d in shape[k:]:
            self.run_len *= d
        self.base = place.offset + sum(starts[j] * self.gstride[j] for j in range(ndim))

    def first(self, idx):
        return self.base + sum(i * self.gstride[j] for j, i in enumerate(idx))


def _runs(arr, place):
    """Yield (sub-array, global stream index of its first element, flat local index of it):
    sub-arrays whose elements are consecutive in the global tensor's C order."""
    if place.starts is None:
        yield arr, place.offset, 0
        return
    tile = _Tile(arr.shape, place)
    if tile.k == 0:                                  # one run (a 0-d tile included)
        yield arr, tile.base, 0
        return
    for n, idx in enumerate(np.ndindex(*tile.lead)):
        yield arr[idx], tile.first(idx), n * tile.run_len


RUNS_PER_CALL = 1 << 18        # bounds the run tables (16 bytes a run) of one batched call


def _tile_runs(arr, place):
    """Yield (local starts, stream indices, run length) for batches of a C-contiguous tile's runs,
    or nothing when the tile is one run: the tables the C side shares out over the threads
    (csrc/fi_wrap.h), at most RUNS_PER_CALL runs at a time."""
    tile = _Tile(arr.shape, place)
    if tile.k == 0:
        return
    nruns = 1
    for d in tile.lead:
        nruns *= d
    # axes the tile spans more than once (a stride there is < 2**64, since the tensor fits)
    moving = [j for j in range(tile.k) if tile.lead[j] > 1]
    for r0 in range(0, nruns, RUNS_PER_CALL):
        r = np.arange(r0, min(nruns, r0 + RUNS_PER_CALL), dtype=np.uint64)
        first = np.full(r.shape, tile.base, dtype=np.uint64)
        if moving:
            idx = np.unravel_index(r, tile.lead)
            for j in moving:
                first += idx[j].astype(np.uint64) * np.uint64(tile.gstride[j])
        yield r * np.uint64(tile.run_len), first, tile.run_len


def run(arr, place, kernel, batch=False):
    """Call kernel(flat_uint8_bytes, first_stream_index, first_local_index) over every piece of arr.

    ``place``: a Placement (from check_placement).
    ``batch``: the kernel also takes, instead of an int first index, the runs of a
    C-contiguous tile as one tuple (see _tile_runs), filled in one multithreaded call."""
    if arr.size == 0:
        return
    if place.starts is None and direct(arr):
        kernel(flat_bytes(arr), place.offset, 0)
        return
    if batch and place.starts is not None and direct(arr):
        raw = flat_bytes(arr)
        batches = _tile_runs(arr, place)
        runs = next(batches, None)
        if runs is not None:                      # more than one run
            kernel(raw, runs, 0)
            for runs in batches:
                kernel(raw, runs, 0)
            return
    for sub, base, local in _runs(arr, place):
        for target, first, dest in pieces(sub):
            kernel(flat_bytes(target), base + first, local + first)
            if dest is not None:
                dest[...] = target
