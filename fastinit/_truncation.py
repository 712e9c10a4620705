"""Per-call constants of the truncated normal (docs/STREAM.md section 6).

The kernel maps u in (0, 1) to Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha)))
without rejection.  Probabilities are handled on whichever side of the
distribution keeps them small (so they keep relative precision), and
one-sided intervals far in a tail are rescaled by a power of two.
"""
import math
import sys

import numpy as np

_SQRT2 = math.sqrt(2.0)
_TINY = 2.0 ** -64


def _Phi(x):
    return 0.5 * math.erfc(-x / _SQRT2)


def _Q(x):
    return 0.5 * math.erfc(x / _SQRT2)


def trunc_params(mean, std, a, b, f64):
    """(mean, std, lo, hi, cA, cB, W, thr, pc, lnS) rounded to the working precision.

    mean, std, a, b are finite floats with std > 0 and a < b.
    """
    alpha = (a - mean) / std
    beta = (b - mean) / std
    cA = _Phi(alpha)
    cB = _Q(beta)
    if alpha < 0.0 < beta:
        thr, W, P = 0.5, (1.0 - cA) - cB, None
    elif beta <= 0.0:
        # lower tail only: the kernel never reads cB
        thr, W, P, cB = math.inf, _Phi(beta) - cA, _Phi(beta), 0.0
    else:
        # upper tail only: the kernel never reads cA
        thr, W, P, cA = -math.inf, _Q(alpha) - cB, _Q(alpha), 0.0
    if P is not None and P < sys.float_info.min:
        # a subnormal tail mass has lost its precision (near bound ~37.5 std out)
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] lies too far in the tail of normal({mean}, {std}) "
            f"(from {alpha:.6g} to {beta:.6g} std) to sample"
        )
    k = 0
    if P is not None and P < _TINY:
        k = -math.frexp(P)[1]
    # exact power-of-two rescaling; every scaled value is at most P 2^k < 1
    cA, cB, W = math.ldexp(cA, k), math.ldexp(cB, k), math.ldexp(W, k)
    if not (W > 0.0 and math.isfinite(W)):
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] lies too far in the tail of normal({mean}, {std}) "
            f"(from {alpha:.6g} to {beta:.6g} std) to sample"
        )
    pc = 0.075 if k == 0 else math.inf
    lnS = k * math.log(2.0)
    values = (mean, std, a, b, cA, cB, W, thr, pc, lnS)
    if f64:
        return values
    with np.errstate(over="ignore"):
        values = tuple(float(np.float32(v)) for v in values)
    if values[6] == 0.0:
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] holds too little probability of normal({mean}, {std}) "
            "to sample in float32 precision; use a float64 buffer"
        )
    return values
