"""Random-init checkpoints bigger than RAM: fills that go to a file a window at a time.

The file is written through short-lived mappings of one window (64 MiB by
default): map the window, fill it (the window's elements are a flat range of
one tensor, so the fill takes ``offset=`` of its first element and the whole
tensor's fans), flush it, drop it from the page cache, unmap it. The process
never holds more than one window of the file, so its peak resident memory stays
at about the interpreter's plus one window, whatever the file's size.

Faults: a store through a mapping into a page the file system cannot back (a
full disk, a sparse file) is SIGBUS, which kills the interpreter. So the file's
blocks are reserved first (``posix_fallocate``: a full disk is an ``OSError``
before anything is written), and where they cannot be reserved (no
``posix_fallocate``, or a file system that refuses it) each window is filled in
a scratch buffer and written with ``pwrite``, whose failures are ``OSError``
too. A size limit (``RLIMIT_FSIZE``) is checked before the file grows, since
growing past it sends SIGXFSZ, whose default action also kills. A new file is
written under a unique temporary name and renamed whole (``_report.write_atomic``).
"""
import errno
import inspect
import json
import math
import mmap
import os
import sys
import time
import traceback
from collections.abc import Mapping

import numpy as np

from . import _buffers, _checks, _fill, _kernels
from . import _plain, _schemes  # noqa: F401  (their fills register in the table)
from ._fans import Fans
from ._generator import default_generator, name_stream
from ._report import write_atomic

__all__ = ["save_random", "fill_memmap_"]

_FILLS = _fill.select(lambda r: r.buffer == "float" and not r.structured)   # written by windows

# safetensors' dtype names (the file format's own table)
_ST_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16"}

DEFAULT_WINDOW = 64 << 20
_MAX_HEADER = 100_000_000      # safetensors readers refuse a longer header (their own limit)


def _rule_of(init, where):
    try:
        return _fill.lookup(init, _FILLS, "init")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _itemsize(dtype_name):
    return _kernels.ITEMSIZE[_buffers.FLOAT_CODES[dtype_name]]


def _dtype_name(dtype, where):
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{where}: dtype must be float32, float64, float16 or bfloat16, got {dtype!r}") from None
    if name not in _ST_DTYPES:
        raise TypeError(f"{where}: dtype must be float32, float64, float16 or bfloat16, got {dtype!r}")
    return name


def _window_array(buf, offset_in_buf, count, dtype_name):
    """A writable 1-D array of ``count`` elements of the dtype at ``offset_in_buf`` of a mapping."""
    if dtype_name == "bfloat16":
        raw = np.frombuffer(buf, np.uint16, count, offset_in_buf)
        return raw.view(_buffers.BFloat16Bits)
    return np.frombuffer(buf, np.dtype(dtype_name), count, offset_in_buf)


class _Progress:
    """A one-line progress bar on stderr (by default only on a terminal), redrawn at most 10 times a second."""

    def __init__(self, total, label, enabled):
        self.total, self.label, self.done = max(total, 1), label, 0
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.t0 = self.last = time.perf_counter()
        self.unit, self.scale = ("GiB", 2 ** 30) if total >= 2 ** 30 else ("MiB", 2 ** 20)

    def add(self, n):
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.last >= 0.1 or self.done >= self.total):
            self.last = now
            frac = min(1.0, self.done / self.total)
            rate = self.done / max(now - self.t0, 1e-9) / 2 ** 20
            sys.stderr.write(f"\r{self.label} [{'#' * int(30 * frac):<30}] {100 * frac:5.1f}% "
                             f"{self.done / self.scale:.1f}/{self.total / self.scale:.1f} {self.unit} "
                             f"{rate:.0f} MiB/s")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# errnos of a file system (or kernel) that cannot reserve blocks: write without mappings there
_NO_RESERVE = {getattr(errno, n) for n in ("EOPNOTSUPP", "ENOTSUP", "EINVAL", "ENOSYS") if hasattr(errno, n)}


def _check_size_limit(end, path):
    """OSError(EFBIG) if a file reaching byte ``end`` would pass this process's RLIMIT_FSIZE.

    Growing a file past the limit sends SIGXFSZ, whose default action kills the
    process (as it would any program); checking first turns that into an
    exception without touching the process's signal handlers."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY and end > soft:
        raise OSError(errno.EFBIG, f"the file would be {end:,} bytes, over this process's size limit "
                                   f"(RLIMIT_FSIZE, ulimit -f) of {soft:,} bytes", path)


def _reserve(fd, start, length):
    """Reserve the file's blocks for bytes [start, start + length) (growing the file to
    cover them); True when reserved, False where this OS or file system cannot (then the
    windows are written with pwrite). A full disk or a size limit is an OSError here."""
    fallocate = getattr(os, "posix_fallocate", None)
    if length <= 0:
        return True
    if fallocate is None:
        return False
    try:
        fallocate(fd, start, length)
    except OSError as exc:
        if exc.errno in _NO_RESERVE:
            return False
        raise
    return True


def _pwrite_all(fd, data, pos):
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view, pos)
        view, pos = view[n:], pos + n


def _fill_region(fd, start, shape, dtype_name, fill, window, progress, mapped=True, scratch=None):
    """Write ``fill`` (its source resolved) into the C-order tensor stored at byte ``start``
    of file ``fd``, one window at a time: each window is the flat element range
    [e0, e1) of the tensor, so it is the same draw placed at offset ``fill.offset + e0``.

    ``mapped``: through a mapping of the window (only where the blocks are reserved: a
    store into a page the disk cannot back is SIGBUS); otherwise filled in ``scratch``
    (a writable buffer of at least ``window`` bytes) and written with pwrite."""
    code = _buffers.FLOAT_CODES[dtype_name]
    itemsize = _itemsize(dtype_name)
    count = math.prod(shape)
    per_window = max(1, window // itemsize)
    gran = mmap.ALLOCATIONGRANULARITY
    for e0 in range(0, count, per_window):
        e1 = min(count, e0 + per_window)
        lo = start + e0 * itemsize
        hi = start + e1 * itemsize
        if mapped:
            base = lo - lo % gran
            mm = mmap.mmap(fd, hi - base, offset=base, access=mmap.ACCESS_WRITE)
            try:
                arr = _window_array(mm, lo - base, e1 - e0, dtype_name)
                _fill.run(fill.replace(offset=fill.offset + e0), arr, code)
                del arr
                mm.flush()
            except BaseException as exc:
                # The fill's frames, kept by the traceback (Ctrl-C lands inside it), hold views
                # of the window: drop them so the window can be unmapped and the error seen.
                arr = None
                traceback.clear_frames(exc.__traceback__)
                raise
            finally:
                mm.close()
        else:
            base = lo
            arr = _window_array(scratch, 0, e1 - e0, dtype_name)
            _fill.run(fill.replace(offset=fill.offset + e0), arr, code)
            _pwrite_all(fd, arr, lo)
            del arr
            (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)    # written back, so the cache can drop it
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, base, hi - base, os.POSIX_FADV_DONTNEED)   # written: let the cache go
        progress.add(hi - lo)


def _write_regions(fd, regions, end, window, progress):
    """Fill every (start, shape, dtype name, fill) of ``regions`` in file ``fd``, whose
    data ends at byte ``end``: reserved and mapped, or (where blocks cannot be reserved)
    through one scratch window and pwrite."""
    lo = min((r[0] for r in regions), default=end)
    mapped = _reserve(fd, lo, end - lo)
    scratch = None if mapped else np.empty(max(window, 8), np.uint8)
    for start, shape, dtype_name, fill in regions:
        _fill_region(fd, start, shape, dtype_name, fill, window, progress, mapped, scratch)


def _describe(rule, shape, dtype_name, args, kwargs, where, source_kwargs=None):
    """The Fill of one tensor, every argument checked (the error names ``where``); returns
    (fill, fan_in, fan_out). ``kwargs`` are the fill's own arguments and its fan options."""
    kwargs = {k: _checks.plain_number(v) for k, v in kwargs.items()}
    taken = set(inspect.signature(rule.public).parameters) - {"buf"} - set(_fill.SOURCE_OPTIONS) \
        - set(_fill.PLACEMENT_OPTIONS)        # the writer places and seeds every tensor itself
    unknown = [k for k in kwargs if k not in taken]
    if unknown:
        raise TypeError(f"{where}: {rule.public.__name__} does not take {unknown}")
    try:
        fill = rule.describe(shape, args, dict(kwargs, **(source_kwargs or {})))
        _fill.check(fill, shape, _buffers.FLOAT_CODES[dtype_name])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    fans = Fans(shape, kwargs.get("layout", "torch"), kwargs.get("fan_in"),
                      kwargs.get("fan_out")).known() if rule.schemes else (None, None)
    return fill, kwargs, fans


def _entry(name, entry, seed):
    """(shape, dtype name, rule, fill, kwargs, fans) from a spec entry:
    (shape, dtype, init, kwargs) or {'shape': ..., 'dtype': ..., 'init': ..., **kwargs}."""
    where = f"spec[{name!r}]"
    if isinstance(entry, Mapping):
        entry = dict(entry)
        try:
            shape, init = entry.pop("shape"), entry.pop("init")
        except KeyError as exc:
            raise ValueError(f"{where} needs {exc.args[0]!r}") from None
        dtype = entry.pop("dtype", "float32")
        kwargs = entry
    elif isinstance(entry, (tuple, list)) and len(entry) in (3, 4):
        shape, dtype, init = entry[:3]
        kwargs = dict(entry[3]) if len(entry) == 4 and entry[3] is not None else {}
    else:
        raise TypeError(f"{where} must be (shape, dtype, init, kwargs) or a dict with shape, dtype, init")
    shape = _buffers.check_shape(shape, "shape")
    dtype_name = _dtype_name(dtype, where)
    rule = _rule_of(init, where)
    source = {"seed": seed, "stream": name_stream(name)} if rule.random else None
    fill, kwargs, fans = _describe(rule, shape, dtype_name, (), kwargs, where, source)
    if rule.random:
        fill = fill.replace(source=fill.source.resolved())
    return shape, dtype_name, rule, fill, kwargs, fans


def save_random(spec, path, *, seed=None, window_bytes=DEFAULT_WINDOW, progress=None, metadata=None):
    """Write a ``.safetensors`` file of freshly initialized tensors without holding them in memory.

    Parameters
    ----------
    spec : mapping
        ``{name: (shape, dtype, init, kwargs)}`` or ``{name: {'shape': ..., 'dtype': ...,
        'init': ..., **kwargs}}``. ``init`` is a fill's name (``'normal'``,
        ``'kaiming_uniform'``, ``'trunc_normal'``, ``'zeros'``, ``'ones'``,
        ``'constant'``, ...) or a fastinit fill function; ``kwargs`` are its
        arguments (``std=``, ``a=``, ``mode=``, ``layout=``, ``val=``...). Fans
        come from each tensor's shape (``layout`` as given, default torch's).
        dtype: float32, float64, float16 or bfloat16 (no ml_dtypes needed).
    path : str or os.PathLike
    seed : int, optional
        One seed for the file (default: the default generator's seed); tensor
        ``name`` uses stream ``fastinit.name_stream(name)``, so each tensor's
        values depend only on (seed, name, its spec), and equal
        ``init(np.empty(shape, dtype), seed=seed, stream=name_stream(name), **kwargs)``.
    window_bytes : int
        Bytes mapped at a time (default 64 MiB): the writer's memory bound.
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).
    metadata : mapping of str to str, optional
        Added to the file's ``__metadata__``, beside ``fastinit`` (a JSON record
        of the seed and of every tensor's init, stream and fans).

    Returns
    -------
    dict
        {name: record} (the same records as in the file's metadata).

    Every entry is checked before the file is created. Tensors are laid out
    widest dtype first, then in spec order, so each is aligned to its item size.

    The file is written atomically: under a temporary name in ``path``'s
    directory (``.{name}.{12 random hex digits}.tmp``, unique per call), fsynced,
    renamed over ``path`` and the directory fsynced, so ``path`` is either its
    old self or the complete new file. Its space is reserved before the first
    tensor is written (``posix_fallocate``), so a full disk is an ``OSError``
    (ENOSPC) and a size limit (``RLIMIT_FSIZE``) an ``OSError`` (EFBIG) before
    any data is written; where the file system cannot reserve space, each
    window is written with ``pwrite`` from a scratch buffer instead of a
    mapping (the same bytes, and its errors are ``OSError`` too). Any exception,
    ``KeyboardInterrupt`` included, removes the temporary file. A process killed
    outright (SIGKILL) leaves its temporary behind, with a zero header length
    that no safetensors reader accepts; remove such ``.*.tmp`` files yourself.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise TypeError("spec must be a non-empty mapping of tensor names to (shape, dtype, init, kwargs)")
    window = _checks.check_positive_int(window_bytes, "window_bytes")
    if window < mmap.ALLOCATIONGRANULARITY:
        raise ValueError(f"window_bytes must be at least {mmap.ALLOCATIONGRANULARITY}, got {window}")
    seed = default_generator.seed if seed is None else _checks.check_uint64(seed, "seed")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, got {type(metadata).__name__}")
    user_meta = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("metadata must map str to str (the safetensors format)")
        if k == "fastinit":
            raise ValueError("metadata key 'fastinit' is reserved")
        user_meta[k] = v
    plans = []
    for name, entry in spec.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"tensor names must be non-empty strings other than '__metadata__', got {name!r}")
        plans.append((name,) + _entry(name, entry, seed))
    order = sorted(range(len(plans)), key=lambda i: (-_itemsize(plans[i][2]), i))
    header, records, offset = {}, {}, 0
    for i in order:
        name, shape, dtype_name, rule, fill, kwargs, (fan_in, fan_out) = plans[i]
        nbytes = math.prod(shape) * _itemsize(dtype_name)
        header[name] = {"dtype": _ST_DTYPES[dtype_name], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        taken = (fill.source.seed, fill.source.stream) if rule.random else (None, None)
        records[name] = _fill.to_record(fill, *taken, shape, dtype_name, scheme=rule.public.__name__, args=kwargs,
                                        fan_in=fan_in, fan_out=fan_out)
        offset += nbytes
    header["__metadata__"] = dict(user_meta, fastinit=json.dumps({"seed": seed, "records": records},
                                                                 sort_keys=True, separators=(",", ":")))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    if len(text) > _MAX_HEADER:
        raise ValueError(f"the safetensors header would be {len(text):,} bytes; readers refuse headers over "
                         f"{_MAX_HEADER:,} bytes (fewer tensors, or shorter names)")
    data_start = 8 + len(text)
    end = data_start + offset
    path = os.fspath(path)
    _check_size_limit(end, path)
    regions = [(data_start + header[plans[i][0]]["data_offsets"][0],) + tuple(plans[i][1:3]) + (plans[i][4],)
               for i in order]
    bar = _Progress(offset, os.path.basename(path), progress)

    def write(f):
        # The header's length goes in last, so an unfinished file (a temporary left by a
        # killed process) has a zero length and no safetensors reader takes it for a checkpoint.
        f.write(bytes(8))
        f.write(text)
        f.flush()
        fd = f.fileno()
        _write_regions(fd, regions, end, window, bar)
        os.ftruncate(fd, end)              # the size, where nothing reserved or wrote the last bytes
        _pwrite_all(fd, len(text).to_bytes(8, "little"), 0)

    try:
        # A unique temporary name in the target's directory, fsynced and renamed whole: an
        # interrupted or failed write (Ctrl-C, a full disk) leaves neither a half-written
        # checkpoint nor a damaged old one.
        write_atomic(path, write)
    finally:
        bar.close()
    return records


def fill_memmap_(mm, init, *args, seed=None, generator=None, stream=None, window_bytes=DEFAULT_WINDOW,
                 progress=None, **kwargs):
    """Fill a ``np.memmap`` in place a window at a time, holding at most one window in memory.

    ``init`` is a fill name or function, with its ``*args``/``**kwargs``; the
    values equal ``init(np.asarray(mm), ...)`` of an in-memory array of the same
    shape (fans from ``mm.shape``). The file is written through its own
    short-lived window mappings, so ``mm``'s mapping is never touched and the
    process's resident memory stays about one window. ``mm`` must be writable
    (mode ``'r+'`` or ``'w+'``) and C-contiguous. Returns ``mm``.

    Everything is checked, the file opened and its blocks under ``mm`` reserved
    (``posix_fallocate`` over the array's bytes: ``np.memmap(mode='w+')`` makes a
    sparse file) before a stream is taken from the generator, so a call that
    raises (bad arguments, a full disk: ``OSError`` ENOSPC, a size limit: EFBIG)
    leaves the generator and the file's values as they were. Where the file
    system cannot reserve blocks, the windows are written with ``pwrite``
    instead of through mappings. The file is written in place, not atomically:
    a fill interrupted by Ctrl-C leaves it partly written.
    """
    if not isinstance(mm, np.memmap) or getattr(mm, "filename", None) is None:
        raise TypeError(f"mm must be a np.memmap of a file, got {type(mm).__name__}")
    if mm.mode not in ("r+", "w+"):
        raise ValueError(f"mm was opened with mode {mm.mode!r}; fill_memmap_ needs 'r+' or 'w+'")
    if not mm.flags.c_contiguous or mm.base is not None and not isinstance(mm.base, mmap.mmap):
        raise ValueError("mm must be a whole, C-contiguous np.memmap (not a view of one)")
    window = _checks.check_positive_int(window_bytes, "window_bytes")
    if window < mmap.ALLOCATIONGRANULARITY:
        raise ValueError(f"window_bytes must be at least {mmap.ALLOCATIONGRANULARITY}, got {window}")
    if not mm.dtype.isnative:
        raise TypeError(f"mm has dtype {mm.dtype} in non-native byte order; fastinit writes native-order "
                        "values (fill a native-order memmap and convert it afterwards)")
    dtype_name = _dtype_name(mm.dtype, "mm")
    rule = _rule_of(init, "init")
    shape = tuple(mm.shape)
    if rule.random:
        source = {"seed": seed, "generator": generator, "stream": stream}
    elif seed is not None or generator is not None or stream is not None:
        raise ValueError(f"{rule.name} takes no seed, generator or stream")
    else:
        source = None
    fill, _, _ = _describe(rule, shape, dtype_name, args, kwargs, "fill_memmap_", source)
    start, end = mm.offset, mm.offset + mm.nbytes
    _check_size_limit(end, mm.filename)
    # Everything that can fail is done before the stream is taken: open the file, check it
    # still holds the array, reserve its blocks (a sparse file on a full disk would be SIGBUS
    # at the first store through a mapping; here it is an OSError, the generator untouched).
    with open(mm.filename, "r+b") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if size < end:
            raise ValueError(f"{mm.filename} is {size:,} bytes, shorter than the memmap's end at byte {end:,} "
                             "(truncated since it was mapped?)")
        mapped = _reserve(fd, start, end - start)
        scratch = None if mapped else np.empty(max(window, 8), np.uint8)
        if rule.random:
            fill = fill.replace(source=fill.source.resolved())   # one stream for the whole file region
        bar = _Progress(mm.nbytes, os.path.basename(mm.filename), progress)
        try:
            _fill_region(fd, start, shape, dtype_name, fill, window, bar, mapped, scratch)
        finally:
            bar.close()
    return mm


# What a spec may ask for before anything is planned (a spec may come from anyone: each
# bound keeps a hostile or mistaken one from taking the memory or the disk). Each is a
# keyword of read_spec and a flag of init-checkpoint; None lifts it.
SPEC_LIMITS = {
    "max_layers": 10_000,          # the 'layers' count ({layer} expansion)
    "max_tensors": 100_000,        # tensors after expansion (DeepSeek-V3 has about 91,000)
    "max_bytes": 4 << 40,          # the tensors' bytes in all: 4 TiB
    "max_name_length": 1_024,      # characters of a tensor's name, after expansion
    "max_dims": 16,                # dimensions of one shape
}


class SpecLimitError(ValueError):
    """A spec asks for more than a limit of ``SPEC_LIMITS`` allows (``init-checkpoint`` exits with 2)."""


def _over(path, what, value, key, limit):
    flag = "--" + key.replace("_", "-")
    return SpecLimitError(f"{path}: {what} {value:,}, over the limit {key} = {limit:,}; raise it with "
                          f"{flag} N (read_spec(..., {key}=N), None lifts it)")


def _check_limits(path, doc, limits):
    """SpecLimitError where ``doc`` (a parsed spec) asks for more than ``limits`` allow,
    counted from the document alone (names, shapes, dtypes, layers): nothing is expanded,
    planned or allocated first. Malformed entries are left to the checks that follow."""
    def limit(key):
        return limits[key] if limits[key] is not None else math.inf

    layers = doc.get("layers") or 0               # (read_spec checked it: None or an int >= 0)
    if layers > limit("max_layers"):
        raise _over(path, "layers is", layers, "max_layers", limits["max_layers"])
    tensors = doc["tensors"]
    count = sum(layers if isinstance(name, str) and "{layer}" in name else 1 for name in tensors)
    if count > limit("max_tensors"):
        raise _over(path, "the number of tensors is", count, "max_tensors", limits["max_tensors"])
    default_dtype = doc.get("dtype", "float32")
    total = 0
    for name, entry in tensors.items():
        if not isinstance(name, str):
            continue
        copies = layers if "{layer}" in name else 1
        length = len(name) + name.count("{layer}") * (len(str(max(layers - 1, 0))) - len("{layer}"))
        if length > limit("max_name_length"):
            raise _over(path, f"tensor name {name[:32]!r}... is, in characters,", length,
                        "max_name_length", limits["max_name_length"])
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, (list, tuple)):
            continue
        if len(shape) > limit("max_dims"):
            raise _over(path, f"the number of dimensions of tensors[{name[:32]!r}] is", len(shape), "max_dims", limits["max_dims"])
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            continue
        dtype = entry.get("dtype", default_dtype)
        itemsize = _itemsize(dtype) if isinstance(dtype, str) and dtype in _ST_DTYPES else 8
        total += math.prod(shape) * itemsize * copies
        if total > limit("max_bytes"):
            raise _over(path, "the tensors' size in bytes is at least", total, "max_bytes", limits["max_bytes"])


def read_spec(path, *, max_layers=SPEC_LIMITS["max_layers"], max_tensors=SPEC_LIMITS["max_tensors"],
              max_bytes=SPEC_LIMITS["max_bytes"], max_name_length=SPEC_LIMITS["max_name_length"],
              max_dims=SPEC_LIMITS["max_dims"]):
    """Read a checkpoint spec (JSON, or YAML with PyYAML installed) for ``fastinit init-checkpoint``.

    The document has ``tensors`` (name -> {shape, init, dtype?, **kwargs}) and
    optionally ``seed``, ``dtype`` (the default for tensors), ``layers`` (N: a
    name containing ``{layer}`` stands for N tensors, layer = 0 .. N-1) and
    ``metadata`` (str -> str). Returns (spec, seed, metadata).

    A spec may come from anyone, so what it asks for is bounded before
    anything is expanded or planned: ``max_layers`` (default 10,000),
    ``max_tensors`` (100,000, after expansion), ``max_bytes`` (4 TiB of
    tensor data), ``max_name_length`` (1,024 characters) and ``max_dims``
    (16 per shape), as in ``SPEC_LIMITS``; ``None`` lifts a limit. A spec
    over one is a ``SpecLimitError`` (a ``ValueError``) naming the limit and
    how to raise it."""
    limits = {"max_layers": max_layers, "max_tensors": max_tensors, "max_bytes": max_bytes,
              "max_name_length": max_name_length, "max_dims": max_dims}
    for key, value in limits.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{key} must be a non-negative int or None, got {value!r}")
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ImportError(f"{path} is YAML: pip install pyyaml (or write the spec as JSON)") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tensors"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'tensors' mapping")
    unknown = set(doc) - {"tensors", "seed", "dtype", "layers", "metadata"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}")
    default_dtype = doc.get("dtype", "float32")
    layers = doc.get("layers")
    if layers is not None and (not isinstance(layers, int) or isinstance(layers, bool) or layers < 0):
        raise ValueError(f"{path}: layers must be a non-negative int, got {layers!r}")
    _check_limits(path, doc, limits)
    spec = {}
    for name, entry in doc["tensors"].items():
        if not isinstance(name, str):
            raise ValueError(f"{path}: tensor names must be strings, got {name!r}")
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: tensors[{name!r}] must be a mapping with shape and init")
        entry = dict(entry)
        entry.setdefault("dtype", default_dtype)
        if "{layer}" in name:
            if layers is None:
                raise ValueError(f"{path}: {name!r} uses {{layer}} but the spec has no 'layers'")
            expanded = [name.replace("{layer}", str(i)) for i in range(layers)]
        else:
            expanded = [name]
        for full in expanded:
            if full in spec:
                raise ValueError(f"{path}: tensor {full!r} is named twice")
            spec[full] = entry
    meta = doc.get("metadata")
    return spec, doc.get("seed"), meta


def _count(text):
    """A limit on the command line: a non-negative integer, or 'none'."""
    import argparse
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer or 'none', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer or 'none', got {text!r}")
    return value


def _size(text):
    """A byte count on the command line: 1000000, 64G, 1.5T (K, M, G, T, P: powers of 1024), or 'none'."""
    import argparse
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    if t == "NONE":
        return None
    scale = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    try:
        value = int(number) * scale if number.isdigit() else float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a byte count such as 500G or 2T, or 'none', got {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a non-negative byte count, got {text!r}")
    return int(value)


def init_checkpoint_main(argv=None):
    """``fastinit init-checkpoint CONFIG OUT``: write a random-init .safetensors checkpoint."""
    import argparse
    parser = argparse.ArgumentParser(prog="fastinit init-checkpoint",
                                     description="Write a .safetensors checkpoint of freshly initialized tensors "
                                                 "described by a JSON or YAML spec, a mapped window at a time.")
    parser.add_argument("config", help="the spec: JSON, or YAML (needs pyyaml); see docs/checkpoint-spec.yaml")
    parser.add_argument("out", help="the .safetensors file to write")
    parser.add_argument("--seed", type=int, help="overrides the spec's seed")
    parser.add_argument("--window-mib", type=int, default=DEFAULT_WINDOW >> 20,
                        help="MiB of the file mapped at a time, the writer's memory bound (default 64)")
    parser.add_argument("--dry-run", action="store_true", help="check the spec and print the plan; write nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    bounds = parser.add_argument_group("limits on what the spec may ask for (exit code 2 when over one)")
    helps = {"max_layers": "layers ('layers' in the spec)", "max_tensors": "tensors, after {layer} expansion",
             "max_bytes": "bytes of tensor data; suffixes K, M, G, T, P are powers of 1024",
             "max_name_length": "characters of a tensor name", "max_dims": "dimensions of a shape"}
    for key, default in SPEC_LIMITS.items():
        shown = "4T" if key == "max_bytes" and default == 4 << 40 else f"{default:,}"
        bounds.add_argument("--" + key.replace("_", "-"), dest=key, metavar="SIZE" if key == "max_bytes" else "N",
                            default=default, type=_size if key == "max_bytes" else _count,
                            help=f"at most this many {helps[key]} (default {shown}; 'none' lifts it)")
    ns = parser.parse_args(argv)
    try:
        spec, seed, meta = read_spec(ns.config, **{key: getattr(ns, key) for key in SPEC_LIMITS})
        seed = ns.seed if ns.seed is not None else seed
        seed = default_generator.seed if seed is None else _checks.check_uint64(seed, "seed")
        if meta is not None and (not isinstance(meta, Mapping) or
                                 not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
            raise TypeError("metadata must map str to str (the safetensors format)")
        if ns.dry_run:
            plans = {name: _entry(name, entry, seed) for name, entry in spec.items()}
            total = sum(math.prod(p[0]) * _itemsize(p[1]) for p in plans.values())
            params = sum(math.prod(p[0]) for p in plans.values())
            print(f"{len(plans)} tensors, {params:,} parameters, {total / 2 ** 30:.2f} GiB, seed {seed}")
            return 0
        t0 = time.perf_counter()
        records = save_random(spec, ns.out, seed=seed, window_bytes=ns.window_mib << 20,
                              progress=False if ns.quiet else None, metadata=meta)
    except SpecLimitError as exc:
        print(f"fastinit init-checkpoint: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError, ImportError) as exc:
        print(f"fastinit init-checkpoint: error: {exc}", file=sys.stderr)
        return 1
    if not ns.quiet:
        size = os.path.getsize(ns.out)
        params = sum(math.prod(r["shape"]) for r in records.values())
        print(f"wrote {ns.out}: {len(records)} tensors, {params:,} parameters, {size / 2 ** 30:.2f} GiB "
              f"in {time.perf_counter() - t0:.1f} s (seed {seed})")
    return 0
