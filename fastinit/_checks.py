"""Argument checks shared by every public function (one place, one wording)."""
import math
import numbers
import operator

import numpy as np

_U64 = 1 << 64


def check_uint64(value, name):
    """A Python or NumPy integer in [0, 2**64); bools, floats and strings are rejected."""
    if type(value) is int and 0 <= value < _U64:       # the common case, without the ABC checks
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(value).__name__} {value!r}")
    v = operator.index(value)
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return v


def check_real(value, name):
    """A finite real number (Python or NumPy), returned as a Python float."""
    if type(value) is float and math.isfinite(value):  # the common cases, without the ABC checks
        return value
    if type(value) is int and -_U64 < value < _U64:
        return float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        v = float(value)
    except OverflowError:                  # beyond the float range (10**400, a huge Fraction)
        what = (f"an integer of {value.bit_length()} bits" if isinstance(value, numbers.Integral)
                else f"a {type(value).__name__} beyond the float range")
        raise ValueError(f"{name} must be finite, got {what}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def check_choice(value, name, valid):
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(repr(v) for v in valid)}; got {value!r}")
    return value


def check_positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    v = operator.index(value)
    if v <= 0:
        raise ValueError(f"{name} must be a positive integer, got {v}")
    return v


def plain_number(value):
    """NumPy numbers and bools as Python ones, anything else as it is (records are JSON)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value
