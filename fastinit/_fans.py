"""Gains and fans: the one table and the one fan rule every scheme uses."""
import math
import operator

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
        elif not isinstance(param, bool) and isinstance(param, (int, float)) and _finite(param):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; valid names: {', '.join(NONLINEARITIES)}")


def _finite(x):
    try:
        return math.isfinite(x)
    except OverflowError:         # an int beyond the float range
        return False


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
    try:                                 # ints only, as every shape: 2.5 or "3" is no dimension
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must not have negative dimensions, got {shape}")
    return shape_fans(shape, layout)


def shape_fans(shape, layout):
    """compute_fans of a checked shape (a tuple of non-negative ints) and layout."""
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


def check_fan(value, name):
    """An explicit fan: a positive int that a float can hold (fans enter float formulas)."""
    v = check_positive_int(value, name)
    _float_fan(v, name)
    return v


def _float_fan(v, name):
    try:
        float(v)
    except OverflowError:
        raise ValueError(f"{name} is too large to use in a float formula: an integer of {v.bit_length()} bits") \
            from None


class Fans:
    """The fans of one scheme call, read lazily: explicit values override what the shape
    implies, and the shape is read only for a fan that was not given (so a 1-d buffer with
    an explicit ``fan_in`` works for a scheme that uses only it). An empty tensor's shape
    has fans 1 (explicit fans still override them): nothing is written (torch returns
    empty tensors untouched)."""

    __slots__ = ("shape", "layout", "_given", "_shape_fans")

    def __init__(self, shape, layout="torch", fan_in=None, fan_out=None):
        self.layout = check_choice(layout, "layout", LAYOUTS)
        self.shape = tuple(shape)
        self._given = (None if fan_in is None else check_fan(fan_in, "fan_in"),
                       None if fan_out is None else check_fan(fan_out, "fan_out"))
        self._shape_fans = None
        if math.prod(self.shape) == 0:
            self._shape_fans = (1, 1)

    def _read(self, k, name):
        v = self._given[k]
        if v is None:
            if self._shape_fans is None:
                fin, fout = shape_fans(self.shape, self.layout)
                for n, f in (("fan_in", fin), ("fan_out", fout)):
                    _float_fan(f, f"{n} of shape {self.shape}")
                self._shape_fans = (fin, fout)
            v = self._shape_fans[k]
        if v <= 0:
            raise ValueError(f"{name} must be positive, got {v} for shape {self.shape}")
        return v

    @property
    def fan_in(self):
        return self._read(0, "fan_in")

    @property
    def fan_out(self):
        return self._read(1, "fan_out")

    def total(self):
        """fan_in + fan_out (an int a float can hold: it enters float formulas)."""
        total = self.fan_in + self.fan_out
        _float_fan(total, "fan_in + fan_out")
        return total

    def select(self, mode):
        """The fan a mode reads: fan_in, fan_out, or their mean for 'fan_avg'."""
        if mode == "fan_in":
            return self.fan_in
        if mode == "fan_out":
            return self.fan_out
        return self.total() / 2.0

    def known(self):
        """(fan_in, fan_out) as far as they can be read (None where the shape has no fan)."""
        out = []
        for k, name in ((0, "fan_in"), (1, "fan_out")):
            try:
                out.append(self._read(k, name))
            except ValueError:
                out.append(None)
        return tuple(out)


def check_mode(mode, valid=("fan_in", "fan_out")):
    """Mode names are case-insensitive, as in torch."""
    return check_choice(mode.lower() if isinstance(mode, str) else mode, "mode", valid)
