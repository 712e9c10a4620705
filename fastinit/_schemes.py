"""Initialization schemes: LeCun, Xavier/Glorot, He/Kaiming and Keras's VarianceScaling.

Each scheme turns (gain, fans) into a bound or a standard deviation with the
formulas of ``torch.nn.init`` and Keras, then runs one plain fill.
"""
import math

from . import _buffers
from ._checks import check_choice, check_real
from ._fans import calculate_gain, check_mode, fans_of, needed_fans, select_fan
from ._generator import check_source
from ._plain import _fill_normal, _fill_trunc, _fill_uniform

__all__ = [
    "lecun_uniform_", "lecun_normal_",
    "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_",
    "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_",
    "variance_scaling_",
]

#: std of N(0, 1) truncated to [-2, 2]; Keras divides by it so that the
#: truncated normal has the requested variance.
KERAS_TRUNC_STD = 0.87962566103423978

_NORMAL_DISTRIBUTIONS = ("normal", "truncated_normal")
_VS_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out, need=("fan_in", "fan_out"),
           global_shape=None, index=None):
    arr, code = _buffers.check_float(buf)
    check_source(seed, generator, stream)
    place = _buffers.check_placement(arr, offset, global_shape, index)
    # a shard's fans are the whole tensor's
    shape = arr.shape if global_shape is None else _buffers.check_global_shape(global_shape)
    size = 1
    for d in shape:
        size *= d
    if size == 0 and fan_in is None and fan_out is None:
        # nothing to write; torch also returns empty tensors untouched
        check_choice(layout, "layout", ("torch", "keras"))
        fin = fout = 1
    else:
        fin, fout = fans_of(shape, layout, fan_in, fan_out, need)
    return arr, code, place, fin, fout



def _uniform_bound(arr, code, off, bound, seed, generator, stream):
    _fill_uniform(arr, code, -bound, bound, seed, generator, stream, off)


def _normal_std(arr, code, off, std, distribution, seed, generator, stream):
    """A plain normal with this std, or Keras's: std / 0.8796..., truncated at +-2 of that."""
    check_choice(distribution, "distribution", _NORMAL_DISTRIBUTIONS)
    if distribution == "normal":
        _fill_normal(arr, code, 0.0, std, seed, generator, stream, off)
    else:
        s = std / KERAS_TRUNC_STD
        _fill_trunc(arr, code, 0.0, s, -2.0 * s, 2.0 * s, seed, generator, stream, off)


def _check_gain(gain):
    gain = check_real(gain, "gain")
    if gain < 0:
        raise ValueError(f"gain must be >= 0, got {gain}")
    return gain


def lecun_uniform_(buf, *, seed=None, generator=None, stream=None, offset=0,
                   layout="torch", fan_in=None, fan_out=None,
                   global_shape=None, index=None):
    """LeCun uniform: ``U(-bound, bound)`` with ``bound = sqrt(3 / fan_in)`` (variance ``1/fan_in``).

    The same as Keras ``LecunUniform`` (given Keras fans, ``layout='keras'``).

    Parameters
    ----------
    buf : ndarray or writable buffer
        float32, float64, float16 or bfloat16; filled in place and returned.
    seed, generator, stream, offset, global_shape, index
        As in :func:`fastinit.uniform_`; with ``global_shape`` the fans are the
        whole tensor's.
    layout : {'torch', 'keras'}
        How to read fans from the shape (see :func:`fastinit.compute_fans`).
    fan_in, fan_out : int, optional
        Explicit fans; override the shape (for shards and flattened buffers).

    Examples
    --------
    >>> w = fastinit.lecun_uniform_(np.empty((128, 64), np.float32), seed=0)
    """
    arr, code, off, fin, _ = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out, ("fan_in",),
                                    global_shape, index)
    _uniform_bound(arr, code, off, math.sqrt(3.0 / fin), seed, generator, stream)
    return buf


def lecun_normal_(buf, *, distribution="normal", seed=None, generator=None, stream=None, offset=0,
                  layout="torch", fan_in=None, fan_out=None,
                  global_shape=None, index=None):
    """LeCun normal: ``N(0, 1/fan_in)``.

    ``distribution='truncated_normal'`` gives Keras's ``LecunNormal`` exactly: std
    ``sqrt(1/fan_in) / 0.8796...`` truncated at two of those stds. Other parameters
    as in :func:`lecun_uniform_`.

    Examples
    --------
    >>> w = fastinit.lecun_normal_(np.empty((128, 64), np.float32), seed=0)
    """
    arr, code, off, fin, _ = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out, ("fan_in",),
                                    global_shape, index)
    _normal_std(arr, code, off, 1.0 / math.sqrt(fin), distribution, seed, generator, stream)
    return buf


def xavier_uniform_(buf, gain=1.0, *, seed=None, generator=None, stream=None, offset=0,
                    layout="torch", fan_in=None, fan_out=None,
                    global_shape=None, index=None):
    """Xavier/Glorot uniform: ``U(-bound, bound)``, ``bound = gain * sqrt(6 / (fan_in + fan_out))``.

    As ``torch.nn.init.xavier_uniform_``; with ``gain=1`` and Keras fans, Keras's
    ``GlorotUniform``. Other parameters as in :func:`lecun_uniform_`.

    Examples
    --------
    >>> w = fastinit.xavier_uniform_(np.empty((256, 128), np.float32), gain=fastinit.calculate_gain("tanh"))
    """
    gain = _check_gain(gain)
    arr, code, off, fin, fout = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out,
                                       global_shape=global_shape, index=index)
    _uniform_bound(arr, code, off, gain * math.sqrt(6.0 / (fin + fout)), seed, generator, stream)
    return buf


def xavier_normal_(buf, gain=1.0, *, distribution="normal", seed=None, generator=None, stream=None,
                   offset=0, layout="torch", fan_in=None, fan_out=None,
                   global_shape=None, index=None):
    """Xavier/Glorot normal: ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    As ``torch.nn.init.xavier_normal_``. ``distribution='truncated_normal'`` gives
    Keras's ``GlorotNormal`` (std divided by 0.8796..., truncated at two of those stds).

    Examples
    --------
    >>> w = fastinit.xavier_normal_(np.empty((256, 128), np.float32), seed=0)
    """
    gain = _check_gain(gain)
    arr, code, off, fin, fout = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out,
                                       global_shape=global_shape, index=index)
    _normal_std(arr, code, off, gain * math.sqrt(2.0 / (fin + fout)), distribution, seed, generator, stream)
    return buf


def _kaiming_gain(a, mode, nonlinearity):
    """Validate kaiming's arguments (before any fan is read); returns (gain, mode)."""
    a = check_real(a, "a")
    mode = check_mode(mode)
    return calculate_gain(nonlinearity, a), mode


def kaiming_uniform_(buf, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None, generator=None,
                     stream=None, offset=0, layout="torch", fan_in=None, fan_out=None,
                     global_shape=None, index=None):
    """He/Kaiming uniform: ``U(-bound, bound)``, ``bound = gain * sqrt(3 / fan_mode)``.

    As ``torch.nn.init.kaiming_uniform_``: ``gain = calculate_gain(nonlinearity, a)``,
    so ``nn.Linear``'s ``a=math.sqrt(5)`` gives ``bound = 1 / sqrt(fan_in)``.

    Parameters
    ----------
    a : float
        Negative slope of the rectifier after this layer (``leaky_relu`` only).
    mode : {'fan_in', 'fan_out'}
        ``fan_in`` keeps the forward pass's variance, ``fan_out`` the backward's.
    nonlinearity : str
        A name of :func:`fastinit.calculate_gain`; torch recommends ``relu`` or ``leaky_relu``.
    Others as in :func:`lecun_uniform_`.

    Examples
    --------
    >>> w = fastinit.kaiming_uniform_(np.empty((512, 256), np.float32), a=math.sqrt(5))
    """
    gain, mode = _kaiming_gain(a, mode, nonlinearity)
    arr, code, off, fin, fout = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out,
                                       needed_fans(mode), global_shape, index)
    std = gain / math.sqrt(select_fan(fin, fout, mode))
    _uniform_bound(arr, code, off, math.sqrt(3.0) * std, seed, generator, stream)
    return buf


def kaiming_normal_(buf, a=0, mode="fan_in", nonlinearity="leaky_relu", *, distribution="normal",
                    seed=None, generator=None, stream=None, offset=0, layout="torch",
                    fan_in=None, fan_out=None,
                    global_shape=None, index=None):
    """He/Kaiming normal: ``N(0, std**2)``, ``std = gain / sqrt(fan_mode)``.

    As ``torch.nn.init.kaiming_normal_``. ``distribution='truncated_normal'`` gives
    the Keras variant (std divided by 0.8796..., truncated at two of those stds).
    Other parameters as in :func:`kaiming_uniform_`.

    Examples
    --------
    >>> w = fastinit.kaiming_normal_(np.empty((64, 3, 7, 7), np.float32), mode="fan_out", nonlinearity="relu")
    """
    gain, mode = _kaiming_gain(a, mode, nonlinearity)
    arr, code, off, fin, fout = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out,
                                       needed_fans(mode), global_shape, index)
    std = gain / math.sqrt(select_fan(fin, fout, mode))
    _normal_std(arr, code, off, std, distribution, seed, generator, stream)
    return buf


def he_uniform_(buf, mode="fan_in", *, seed=None, generator=None, stream=None, offset=0,
                layout="torch", fan_in=None, fan_out=None,
                global_shape=None, index=None):
    """He uniform for ReLU: ``kaiming_uniform_(buf, mode=mode, nonlinearity='relu')``,
    ``bound = sqrt(6 / fan_mode)`` (Keras ``HeUniform`` with ``layout='keras'``).

    Examples
    --------
    >>> w = fastinit.he_uniform_(np.empty((512, 256), np.float32), seed=0)
    """
    return kaiming_uniform_(buf, 0, mode, "relu", seed=seed, generator=generator, stream=stream,
                            offset=offset, layout=layout, fan_in=fan_in, fan_out=fan_out,
                            global_shape=global_shape, index=index)


def he_normal_(buf, mode="fan_in", *, distribution="normal", seed=None, generator=None, stream=None,
               offset=0, layout="torch", fan_in=None, fan_out=None,
               global_shape=None, index=None):
    """He normal for ReLU: ``N(0, 2 / fan_mode)``.

    ``distribution='truncated_normal'`` (with ``layout='keras'``) is Keras's ``HeNormal``.

    Examples
    --------
    >>> w = fastinit.he_normal_(np.empty((512, 256), np.float32), seed=0)
    """
    return kaiming_normal_(buf, 0, mode, "relu", distribution=distribution, seed=seed,
                           generator=generator, stream=stream, offset=offset, layout=layout,
                           fan_in=fan_in, fan_out=fan_out, global_shape=global_shape, index=index)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_


def variance_scaling_(buf, scale=1.0, mode="fan_in", distribution="truncated_normal", *, seed=None,
                      generator=None, stream=None, offset=0, layout="torch", fan_in=None, fan_out=None,
                      global_shape=None, index=None):
    """Keras ``VarianceScaling``: samples with variance ``scale / max(1, fan)``.

    ``fan`` is ``fan_in``, ``fan_out`` or ``(fan_in + fan_out) / 2`` (``mode='fan_avg'``).

    ===================== =====================================================
    distribution          samples
    ===================== =====================================================
    truncated_normal      ``N(0, s**2)`` truncated to ``[-2s, 2s]``,
                          ``s = sqrt(scale / fan) / 0.87962566103423978``
    untruncated_normal    ``N(0, scale / fan)``
    uniform               ``U(-limit, limit)``, ``limit = sqrt(3 * scale / fan)``
    ===================== =====================================================

    Fans follow ``layout`` (default ``'torch'``; pass ``layout='keras'`` for a
    Keras-shaped kernel). Glorot, He and LeCun in Keras are ``scale`` 1, 2, 1 with
    ``mode`` fan_avg, fan_in, fan_in.

    Examples
    --------
    >>> w = fastinit.variance_scaling_(np.empty((3, 3, 64, 128), np.float32), 2.0, layout="keras")
    """
    scale = check_real(scale, "scale")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    mode = check_mode(mode, ("fan_in", "fan_out", "fan_avg"))
    # Keras lower-cases the distribution name
    distribution = check_choice(distribution.lower() if isinstance(distribution, str) else distribution,
                                "distribution", _VS_DISTRIBUTIONS)
    arr, code, off, fin, fout = _start(buf, seed, generator, stream, offset, layout, fan_in, fan_out,
                                       needed_fans(mode), global_shape, index)
    fan = select_fan(fin, fout, mode)
    var = scale / max(1.0, fan)
    if distribution == "uniform":
        _uniform_bound(arr, code, off, math.sqrt(3.0 * var), seed, generator, stream)
    elif distribution == "untruncated_normal":
        _fill_normal(arr, code, 0.0, math.sqrt(var), seed, generator, stream, off)
    else:
        s = math.sqrt(var) / KERAS_TRUNC_STD
        _fill_trunc(arr, code, 0.0, s, -2.0 * s, 2.0 * s, seed, generator, stream, off)
    return buf
