"""Initialization schemes: LeCun, Xavier/Glorot, He/Kaiming and Keras's VarianceScaling.

Each scheme is a draw rule, as in ``torch.nn.init``: fans -> std -> bound -> one
distribution (``fastinit._fill``). The fans come from the buffer's shape (the
whole tensor's with ``global_shape=``), as ``layout`` says, unless ``fan_in=`` /
``fan_out=`` are given.
"""
import math

from . import _fill
from ._checks import check_choice, check_real
from ._fans import calculate_gain, check_mode
from ._fill import FAN_OPTIONS, PLACEMENT_OPTIONS, SOURCE_OPTIONS

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

scheme = _fill.rule(SOURCE_OPTIONS, PLACEMENT_OPTIONS, FAN_OPTIONS)


def _bound(bound):
    if bound == 0.0:                 # gain 0 (or a spread that underflows): zeros, stream taken
        return _fill.normal(0.0, 0.0)
    return _fill.uniform(-bound, bound)


def _normal_std(std, distribution):
    """A plain normal with this std, or Keras's: std / 0.8796..., truncated at +-2 of that."""
    check_choice(distribution, "distribution", _NORMAL_DISTRIBUTIONS)
    if distribution == "normal":
        return _fill.normal(0.0, std)
    return _keras_trunc(std)


def _keras_trunc(std):
    s = std / KERAS_TRUNC_STD
    if s == 0.0:                     # no interval to truncate to: zeros, as the plain normal writes
        return _fill.normal(0.0, 0.0)
    return _fill.trunc_normal(0.0, s, -2.0 * s, 2.0 * s)


def _check_gain(gain):
    gain = check_real(gain, "gain")
    if gain < 0:
        raise ValueError(f"gain must be >= 0, got {gain}")
    return gain


def _kaiming_std(fans, a, mode, nonlinearity):
    """gain / sqrt(fan_mode), the arguments checked before any fan is read."""
    a = check_real(a, "a")
    mode = check_mode(mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fans.select(mode))


@scheme
def lecun_uniform_(fans):
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
    return _bound(math.sqrt(3.0 / fans.fan_in))


@scheme
def lecun_normal_(fans, *, distribution="normal"):
    """LeCun normal: ``N(0, 1/fan_in)``.

    ``distribution='truncated_normal'`` gives Keras's ``LecunNormal`` exactly: std
    ``sqrt(1/fan_in) / 0.8796...`` truncated at two of those stds. Other parameters
    as in :func:`lecun_uniform_`.

    Examples
    --------
    >>> w = fastinit.lecun_normal_(np.empty((128, 64), np.float32), seed=0)
    """
    return _normal_std(1.0 / math.sqrt(fans.fan_in), distribution)


@scheme
def xavier_uniform_(fans, gain=1.0):
    """Xavier/Glorot uniform: ``U(-bound, bound)``, ``bound = gain * sqrt(6 / (fan_in + fan_out))``.

    As ``torch.nn.init.xavier_uniform_``; with ``gain=1`` and Keras fans, Keras's
    ``GlorotUniform``. Other parameters as in :func:`lecun_uniform_`.

    Examples
    --------
    >>> w = fastinit.xavier_uniform_(np.empty((256, 128), np.float32), gain=fastinit.calculate_gain("tanh"))
    """
    gain = _check_gain(gain)
    return _bound(gain * math.sqrt(6.0 / fans.total()))


@scheme
def xavier_normal_(fans, gain=1.0, *, distribution="normal"):
    """Xavier/Glorot normal: ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    As ``torch.nn.init.xavier_normal_``. ``distribution='truncated_normal'`` gives
    Keras's ``GlorotNormal`` (std divided by 0.8796..., truncated at two of those stds).

    Examples
    --------
    >>> w = fastinit.xavier_normal_(np.empty((256, 128), np.float32), seed=0)
    """
    gain = _check_gain(gain)
    return _normal_std(gain * math.sqrt(2.0 / fans.total()), distribution)


@scheme
def kaiming_uniform_(fans, a=0, mode="fan_in", nonlinearity="leaky_relu"):
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
    return _bound(math.sqrt(3.0) * _kaiming_std(fans, a, mode, nonlinearity))


@scheme
def kaiming_normal_(fans, a=0, mode="fan_in", nonlinearity="leaky_relu", *, distribution="normal"):
    """He/Kaiming normal: ``N(0, std**2)``, ``std = gain / sqrt(fan_mode)``.

    As ``torch.nn.init.kaiming_normal_``. ``distribution='truncated_normal'`` gives
    the Keras variant (std divided by 0.8796..., truncated at two of those stds).
    Other parameters as in :func:`kaiming_uniform_`.

    Examples
    --------
    >>> w = fastinit.kaiming_normal_(np.empty((64, 3, 7, 7), np.float32), mode="fan_out", nonlinearity="relu")
    """
    return _normal_std(_kaiming_std(fans, a, mode, nonlinearity), distribution)


@scheme
def he_uniform_(fans, mode="fan_in"):
    """He uniform for ReLU: ``kaiming_uniform_(buf, mode=mode, nonlinearity='relu')``,
    ``bound = sqrt(6 / fan_mode)`` (Keras ``HeUniform`` with ``layout='keras'``).

    Examples
    --------
    >>> w = fastinit.he_uniform_(np.empty((512, 256), np.float32), seed=0)
    """
    return _bound(math.sqrt(3.0) * _kaiming_std(fans, 0, mode, "relu"))


@scheme
def he_normal_(fans, mode="fan_in", *, distribution="normal"):
    """He normal for ReLU: ``N(0, 2 / fan_mode)``.

    ``distribution='truncated_normal'`` (with ``layout='keras'``) is Keras's ``HeNormal``.

    Examples
    --------
    >>> w = fastinit.he_normal_(np.empty((512, 256), np.float32), seed=0)
    """
    return _normal_std(_kaiming_std(fans, 0, mode, "relu"), distribution)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
_fill.alias("glorot_uniform", glorot_uniform_)
_fill.alias("glorot_normal", glorot_normal_)


@scheme
def variance_scaling_(fans, scale=1.0, mode="fan_in", distribution="truncated_normal"):
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
    var = scale / max(1.0, fans.select(mode))
    if distribution == "uniform":
        return _bound(math.sqrt(3.0 * var))
    if distribution == "untruncated_normal":
        return _fill.normal(0.0, math.sqrt(var))
    return _keras_trunc(math.sqrt(var))
