"""Statistical helpers shared by test_schemes.py and test_truncated.py.

Thresholds: every check is sized so that a correct kernel fails it less than
once in 10**6 runs. KS tests need p > P_MIN = 1e-6; moment checks allow
NSIG = 6 standard errors of the estimator (two-sided normal tail 2e-9).

Half-precision samples are compared with the *discretized* distribution: the
law of round_to_dtype(X) where X has the continuous CDF. The KS statistic of a
sample from a discrete law, measured against that discrete law, is
stochastically smaller than in the continuous case, so the continuous
Kolmogorov p-value is conservative (never more false failures than 1e-6).
"""
import math

import numpy as np
from scipy import stats

P_MIN = 1e-6
NSIG = 6.0

def fresh_seed():
    """A new 64-bit seed every run (printed in assertion messages)."""
    return int(np.random.SeedSequence().entropy % (1 << 64))


def get_dtype(name):
    """NumPy dtype for a name; bfloat16 needs ml_dtypes (skip the test without it)."""
    if name == "bfloat16":
        import pytest

        ml_dtypes = pytest.importorskip("ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def is_half(dtype):
    return np.dtype(dtype).itemsize == 2


def eps_of(dtype):
    """Relative spacing (machine epsilon) of the dtype."""
    dt = np.dtype(dtype)
    if dt.name == "bfloat16":
        return 2.0 ** -7
    return float(np.finfo(dt).eps)


def round_bound(value, dtype):
    """A bound as the dtype can hold it: float64 exact; others via the float32 working precision."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return float(value)
    return float(np.asarray(np.float32(value)).astype(dt).astype(np.float64))


def _step(vals64, dtype, direction):
    """Next representable dtype value above (direction=+1) or below (-1) each value (16-bit dtypes)."""
    v = np.asarray(vals64, dtype=np.float64).astype(dtype)
    bits = v.view(np.uint16).astype(np.int64)
    mag = bits & 0x7FFF
    key = np.where(bits & 0x8000, -mag, mag) + direction
    nb = np.where(key < 0, 0x8000 | (-key), key).astype(np.uint16)
    return nb.view(dtype).astype(np.float64)


def ks_pvalue(x, cdf, dtype=None):
    """(D, p) of a one-sample KS test; discretization-aware for 16-bit dtypes."""
    x = np.asarray(x)
    if dtype is None or not is_half(dtype):
        res = stats.kstest(np.asarray(x, dtype=np.float64).ravel(), cdf)
        return float(res.statistic), float(res.pvalue)
    dt = np.dtype(dtype)
    vals, counts = np.unique(np.asarray(x, dtype=dt).astype(np.float64).ravel(), return_counts=True)
    n = int(counts.sum())
    right = np.cumsum(counts) / n
    left = right - counts / n
    up = (vals + _step(vals, dt, +1)) / 2.0
    down = (vals + _step(vals, dt, -1)) / 2.0
    d = max(np.max(np.abs(right - cdf(up))), np.max(np.abs(left - cdf(down))))
    return float(d), float(stats.kstwo.sf(d, n))


def check_ks(x, cdf, what, dtype=None):
    d, p = ks_pvalue(x, cdf, dtype)
    assert p > P_MIN, f"{what}: KS statistic {d:.3g} (n={np.size(x)}), p-value {p:.3g} <= {P_MIN}"


def check_moments(x, mean, var, mu4, what):
    """Sample mean and variance within NSIG standard errors of their estimators.

    mu4 is the fourth central moment of the law (Var of the sample variance is
    (mu4 - var**2)/n + 2 var**2/(n(n-1))). For 16-bit dtypes pass the moments
    of the discretized law (see discretize()), not of the continuous one.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    m = float(x.mean())
    v = float(x.var(ddof=1))
    se_m = math.sqrt(var / n)
    se_v = math.sqrt(max(mu4 - var * var, 0.0) / n + 2 * var * var / (n * (n - 1)))
    tol_m = NSIG * se_m
    tol_v = NSIG * se_v
    assert abs(m - mean) <= tol_m, (
        f"{what}: sample mean {m:.9g} vs expected {mean:.9g} (n={n}, allowed +-{tol_m:.3g})"
    )
    assert abs(v - var) <= tol_v, (
        f"{what}: sample variance {v:.9g} vs expected {var:.9g} (n={n}, allowed +-{tol_v:.3g}, "
        f"ratio {v / var:.6f})"
    )


_ALL16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def discretize(law, dtype):
    """The law of X rounded to nearest in a 16-bit dtype: exact mean, var and mu4.

    Every finite value of the dtype gets the probability mass of its rounding
    cell (midpoint to midpoint), computed from the continuous CDF.
    """
    dt = np.dtype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        vals = _ALL16.view(dt).astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])
    up = (vals + _step(vals, dt, +1)) / 2.0
    down = (vals + _step(vals, dt, -1)) / 2.0
    up[-1], down[0] = np.inf, -np.inf
    cdf = law["cdf"]
    p = cdf(up) - cdf(down)
    p = np.clip(p, 0.0, None)
    p /= p.sum()
    mean = float(np.sum(p * vals))
    d = vals - mean
    var = float(np.sum(p * d * d))
    mu4 = float(np.sum(p * d ** 4))
    return dict(cdf=cdf, mean=mean, var=var, mu4=mu4)


# ---------------------------------------------------------------- distributions
def uniform_law(lo, hi):
    w = hi - lo
    return dict(cdf=stats.uniform(loc=lo, scale=w).cdf, mean=(lo + hi) / 2, var=w * w / 12, mu4=w ** 4 / 80)


def normal_law(mean, std):
    return dict(cdf=stats.norm(loc=mean, scale=std).cdf, mean=mean, var=std * std, mu4=3 * std ** 4)


def truncnorm_law(mean, std, a, b):
    """N(mean, std**2) truncated to the absolute interval [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    dist = stats.truncnorm(alpha, beta, loc=mean, scale=std)
    m, v, _, k = (float(t) for t in dist.stats(moments="mvsk"))
    return dict(cdf=dist.cdf, mean=m, var=v, mu4=(k + 3.0) * v * v)


def check_law(x, law, what, dtype=None):
    """Moments and KS of a sample against a continuous law (discretized for 16-bit dtypes)."""
    if dtype is not None and is_half(dtype):
        law = discretize(law, dtype)
    check_moments(x, law["mean"], law["var"], law["mu4"], what)
    check_ks(x, law["cdf"], what, dtype)
