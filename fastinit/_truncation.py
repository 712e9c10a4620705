"""Per-call constants of the truncated normal (docs/STREAM.md section 6).

The kernel maps u in (0, 1) to Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha)))
without rejection.  Probabilities are handled on whichever side of the
distribution keeps them small (so they keep relative precision), and
one-sided intervals far in a tail are rescaled by a power of two.

Phi is computed here with a fixed algorithm of basic IEEE double operations
(no libm), so the constants, and hence the output bits, are the same on every
platform.
"""
import math

import numpy as np

_TINY = 2.0 ** -64          # below this near-bound mass, rescale by 2^k
_NARROW = 2.0 ** -4         # W below this times the base probability: "narrow"
_TOO_NARROW = 2.0 ** -40    # ... below this: no resolution left, rejected
_SQRT2 = 1.4142135623730951
_INV_SQRT_PI = 0.5641895835477563
_INV_LN2 = 1.4426950408889634
_LN2_HI = float.fromhex("0x1.62e42feep-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")


def _exp_nonpos(y):
    """e**y for y <= 0: y = k ln2 + r, |r| <= ln2/2, Taylor series of e**r to r**14."""
    k = math.floor(y * _INV_LN2 + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    s = 1.0
    for n in range(14, 0, -1):
        s = 1.0 + s * r / n
    return math.ldexp(s, k)


def _erfc_nonneg(z):
    """erfc(z) for z >= 0 (relative error below 3e-13 wherever the result is a normal double)."""
    if z < 2.0:
        # erf z = 2/sqrt(pi) e^(-z^2) sum_n (2 z^2)^n z / (1 3 5 ... (2n+1)): positive terms
        t = s = z
        q = 2.0 * z * z
        for n in range(1, 60):
            t = t * q / (2 * n + 1)
            s = s + t
        return 1.0 - 2.0 * _INV_SQRT_PI * _exp_nonpos(-z * z) * s
    # Laplace's continued fraction, 60 levels evaluated from the bottom up
    f = z
    for n in range(60, 0, -1):
        f = z + (n / 2.0) / f
    return _INV_SQRT_PI * _exp_nonpos(-z * z) / f


def upper_tail(x):
    """Q(x) = P(Z > x) for a standard normal Z."""
    z = x / _SQRT2
    if z >= 0.0:
        return 0.5 * _erfc_nonneg(z)
    return 1.0 - 0.5 * _erfc_nonneg(-z)


def lower_tail(x):
    """Phi(x) = P(Z <= x)."""
    return upper_tail(-x)


# Beyond this many std a tail's mass is 0 in float64 (Q(38.5) is below the smallest
# subnormal), so standardized bounds further out are clamped here: the constants are
# the same, and (a - mean) / std may be as large as a float allows.
_FAR = 40.0


# Where the central region of the inverse CDF starts when the tail is not
# rescaled: AS 241's 0.075 in the f64 rule, 2^-8 in the f32 rule (docs/STREAM.md
# section 6; FI_NDTRIF_PC of csrc/fi_consts.h).
CENTRAL_F64 = 0.075
CENTRAL_F32 = 2.0 ** -8


def f32_values(values):
    """The constants of the f32 rule from trunc_params' values: its own central
    limit, and every value rounded to float32."""
    values = list(values)
    if values[8] == CENTRAL_F64:
        values[8] = CENTRAL_F32
    with np.errstate(over="ignore"):
        return tuple(float(np.float32(v)) for v in values)


def trunc_params(mean, std, a, b):
    """Constants of one truncated-normal fill, in float64.

    Returns ``(values, narrow)``: values are (mean, std, lo, hi, cA, cB, W, thr,
    pc, lnS), and ``narrow`` says that a 32-bit output must use the f64 rule
    because the interval is too narrow for float32 probabilities (otherwise a
    32-bit output uses the values rounded to float32).  mean, std, a, b are
    finite floats with std > 0 and a < b; an interval that cannot be sampled
    is a ValueError.
    """
    za, zb = (a - mean) / std, (b - mean) / std
    alpha, beta = min(max(za, -_FAR), _FAR), min(max(zb, -_FAR), _FAR)
    cA = lower_tail(alpha)
    cB = upper_tail(beta)
    if alpha < 0.0 < beta:
        thr, W, P = 0.5, (1.0 - cA) - cB, None
    elif beta <= 0.0:
        # lower tail only: the kernel never reads cB
        thr, W, P, cB = math.inf, lower_tail(beta) - cA, lower_tail(beta), 0.0
    else:
        # upper tail only: the kernel never reads cA
        thr, W, P, cA = -math.inf, upper_tail(alpha) - cB, upper_tail(alpha), 0.0
    where = (f"the interval [a, b] = [{a}, {b}] of normal({mean}, {std}) "
             f"(from {za:.6g} to {zb:.6g} std)")
    if P is not None and P < 2.2250738585072014e-308:
        # a subnormal tail mass has lost its precision (near bound ~37.5 std out)
        raise ValueError(f"{where} lies too far in the tail to sample")
    k = 0
    if P is not None and P < _TINY:
        k = -math.frexp(P)[1]
    # exact power-of-two rescaling; every scaled value is at most P 2^k < 1
    cA, cB, W = math.ldexp(cA, k), math.ldexp(cB, k), math.ldexp(W, k)
    base = max(cA, cB)
    if not W > _TOO_NARROW * base:
        raise ValueError(f"{where} is too narrow to sample: it holds a fraction {W:.3g} of the probability "
                         "around it; widen it, or fill uniform_(buf, a, b)")
    pc = CENTRAL_F64 if k == 0 else math.inf
    lnS = k * 0.6931471805599453
    return (mean, std, a, b, cA, cB, W, thr, pc, lnS), W < _NARROW * base
