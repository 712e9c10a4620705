"""Gains and fans: the one table and the one fan rule every scheme uses."""
import math

from ._checks import check_choice, check_positive_int

__all__ = ["calculate_gain", "compute_fans"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
NONLINEARITIES = _LINEAR + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")
LAYOUTS = ("torch", "keras")


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    ================= ====================================
    nonlinearity      gain
    ================= ====================================
    linear / conv*    1
    sigmoid           1
    tanh              5/3
    relu              sqrt(2)
    leaky_relu        sqrt(2 / (1 + negative_slope**2))
    selu              3/4
    ================= ====================================

    Parameters
    ----------
    nonlinearity : str
        One of the names above.
    param : float, optional
        Negative slope of ``leaky_relu`` (default 0.01).

    Examples
    --------
    >>> fastinit.calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)) and math.isfinite(param):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; valid names: {', '.join(NONLINEARITIES)}")


def compute_fans(shape, layout="torch"):
    """(fan_in, fan_out) of a weight of this shape.

    ``layout='torch'``: shape is ``(out, in, *kernel)`` as in ``torch.nn``;
    ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``; fewer than
    two dimensions is a ValueError, as in torch.

    ``layout='keras'``: shape is ``(*kernel, in, out)`` as in Keras;
    ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``; a 1-d shape
    has ``fan_in = fan_out = shape[0]`` and a 0-d shape ``fan_in = fan_out = 1``.

    Examples
    --------
    >>> fastinit.compute_fans((64, 3, 7, 7))
    (147, 3136)
    >>> fastinit.compute_fans((7, 7, 3, 64), layout="keras")
    (147, 3136)
    """
    check_choice(layout, "layout", LAYOUTS)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must not have negative dimensions, got {shape}")
    if layout == "torch":
        if len(shape) < 2:
            raise ValueError(
                "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                f"(shape {shape}); pass fan_in=/fan_out= or layout='keras'"
            )
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def fans_of(shape, layout, fan_in, fan_out, need=("fan_in", "fan_out")):
    """Fans for a scheme: explicit values override what the shape implies.

    The shape is read only when a fan in ``need`` was not given, so a 1-d
    buffer with an explicit ``fan_in`` works for a scheme that uses only it.
    """
    check_choice(layout, "layout", LAYOUTS)
    fin = None if fan_in is None else check_positive_int(fan_in, "fan_in")
    fout = None if fan_out is None else check_positive_int(fan_out, "fan_out")
    if ("fan_in" in need and fin is None) or ("fan_out" in need and fout is None):
        sin, sout = compute_fans(shape, layout)
        fin = sin if fin is None else fin
        fout = sout if fout is None else fout
    for name, value in (("fan_in", fin), ("fan_out", fout)):
        if name in need and value <= 0:
            raise ValueError(f"{name} must be positive, got {value} for shape {tuple(shape)}")
    return fin, fout


def needed_fans(mode):
    """Which fans a mode reads."""
    return ("fan_in", "fan_out") if mode == "fan_avg" else (mode,)


def check_mode(mode, valid=("fan_in", "fan_out")):
    """Mode names are case-insensitive, as in torch."""
    return check_choice(mode.lower() if isinstance(mode, str) else mode, "mode", valid)


def select_fan(fin, fout, mode):
    if mode == "fan_in":
        return fin
    if mode == "fan_out":
        return fout
    return (fin + fout) / 2.0
