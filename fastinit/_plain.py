"""Plain fills: uniform_, normal_, trunc_normal_, constants, and the raw stream.

Each is a draw rule (what is drawn, from its arguments) registered in the table
of fills (``fastinit._fill``); the public function checks every argument, then
takes its stream, then runs one kernel over the buffer.
"""
from . import _fill
from ._fill import PLACEMENT_OPTIONS, SOURCE_OPTIONS

__all__ = ["uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "random_bits_"]


@_fill.rule(SOURCE_OPTIONS, PLACEMENT_OPTIONS)
def uniform_(_, a=0.0, b=1.0):
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
    return _fill.uniform(a, b)


@_fill.rule(SOURCE_OPTIONS, PLACEMENT_OPTIONS)
def normal_(_, mean=0.0, std=1.0):
    """Fill ``buf`` in place with values from ``N(mean, std**2)``.

    As ``torch.nn.init.normal_``. Box-Muller over the Philox stream
    (docs/STREAM.md section 4): ``mean + std * z``.

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16; filled in place and returned.
    mean : float
    std : float
        Standard deviation, ``>= 0``; ``|mean| + 9 std`` must fit the working
        precision (float32 for 32- and 16-bit buffers, float64 for float64).
    seed, generator, stream, offset, global_shape, index
        As in :func:`uniform_`.

    Examples
    --------
    >>> w = fastinit.normal_(np.empty((768, 768), np.float32), std=0.02, seed=1)
    """
    return _fill.normal(mean, std)


@_fill.rule(SOURCE_OPTIONS, PLACEMENT_OPTIONS)
def trunc_normal_(_, mean=0.0, std=1.0, a=-2.0, b=2.0):
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
        A 32- or 16-bit buffer needs 0 or a std of at least float32's smallest
        normal number (about 1.2e-38).
    a, b : float
        Absolute bounds, ``a < b``.
    seed, generator, stream, offset, global_shape, index
        As in :func:`uniform_`.

    Examples
    --------
    >>> w = fastinit.trunc_normal_(np.empty((768, 3072), np.float32), std=0.02, seed=3)
    """
    return _fill.trunc_normal(mean, std, a, b)


@_fill.rule()
def constant_(_, val):
    """Fill ``buf`` in place with ``val`` (rounded once to the buffer's dtype).

    As ``torch.nn.init.constant_``; ``val`` must be finite, and finite once rounded.

    Examples
    --------
    >>> b = fastinit.constant_(np.empty(64, np.float32), 0.1)
    """
    return _fill.constant(val)


@_fill.rule()
def zeros_(_):
    """Fill ``buf`` in place with zeros, as ``torch.nn.init.zeros_``."""
    return _fill.constant(0.0)


@_fill.rule()
def ones_(_):
    """Fill ``buf`` in place with ones, as ``torch.nn.init.ones_``."""
    return _fill.constant(1.0)


@_fill.rule(SOURCE_OPTIONS, PLACEMENT_OPTIONS, buffer="uint32")
def random_bits_(_):
    """Fill a uint32 buffer with the raw Philox4x32-10 words, in stream order.

    Element ``i`` (flat C-order index plus ``offset``) receives word ``i % 4`` of
    block ``i // 4`` (docs/STREAM.md section 2), so this shows the stream every
    other fill is built on.

    Examples
    --------
    >>> words = fastinit.random_bits_(np.empty(8, np.uint32), seed=0)
    """
    return _fill.bits()
