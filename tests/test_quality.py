"""Fast in-suite randomness checks of the raw stream and of the normal fills.

The slow, thorough check is tools/quality.sh (dieharder, not run in CI; see
docs/quality.md). These tests catch gross defects in a few seconds:

- bit frequencies: each of the 32 bit positions, in each of the 4 word lanes
  of a Philox block, is 1 half of the time (binomial test);
- neighbouring words of one stream (lags 1..8, inside and across blocks) are
  uncorrelated: Pearson r of the words as uniforms, and a chi-square of the
  joint table of the top 4 bits of word pairs;
- neighbouring streams of one seed, and neighbouring seeds (seeds 0 and 1 as
  issue 17 names them, plus fresh ones), are uncorrelated at the same element
  index: the same two statistics and the bit frequencies of their XOR;
- the deciles of normal_ and trunc_normal_ output (float32, float64; the
  truncated law from scipy.stats.truncnorm) hold a tenth of the values each
  (chi-square, 9 degrees of freedom).

Thresholds follow _stats.py: a correct generator fails a test less than once
in 10**6 runs. A test that computes m p-values requires each to exceed
P_MIN / m (Bonferroni), so the whole test keeps that bound. Seeds are fresh
each run (printed on failure), except the fixed seeds 0 and 1.
"""
import numpy as np
import pytest
from scipy import stats

import fastinit
from _stats import P_MIN, fresh_seed

N_BITS = 1 << 23      # words for the bit-frequency test (2**21 per lane)
N_PAIR = 1 << 22      # words per stream for correlation tests
N_DEC = 1 << 22       # values for the decile tests
LAGS = range(1, 9)


# ---------------------------------------------------------------- helpers
def words(seed, stream=0, n=N_PAIR, offset=0):
    return fastinit.random_bits_(np.empty(n, np.uint32), seed=seed, stream=stream, offset=offset)


def as_centered_uniform(w):
    """Words as uniforms on (0, 1), minus their mean 1/2 (float64)."""
    return (w.astype(np.float64) + 0.5) * 2.0 ** -32 - 0.5


def bit_counts(w, lanes=1):
    """counts[lane, bit]: how many words of each lane (index % lanes) have the bit set."""
    w = np.ascontiguousarray(np.asarray(w, np.uint32).reshape(-1, lanes).T)
    out = np.empty((lanes, 32), np.int64)
    for lane in range(lanes):
        for b in range(32):
            out[lane, b] = np.count_nonzero(w[lane] & np.uint32(1 << b))
    return out


def binom_two_sided(k, n):
    """Two-sided p-values of k successes out of n at probability 1/2 (array k)."""
    k = np.asarray(k)
    lo = stats.binom.cdf(k, n, 0.5)
    hi = stats.binom.sf(k - 1, n, 0.5)
    return np.minimum(1.0, 2.0 * np.minimum(lo, hi))


def pearson_p(x, y):
    """(r, p) for independent centered uniforms x, y: r = mean(xy)*12, z = r sqrt(n) ~ N(0, 1).

    Uses the known mean 1/2 and variance 1/12 of the uniform, so r has
    standard error 1/sqrt(n) under independence (the products x_i y_i are
    uncorrelated also for overlapping lagged pairs).
    """
    n = x.size
    r = float(np.dot(x, y)) / n * 12.0
    z = r * np.sqrt(n)
    return r, float(2.0 * stats.norm.sf(abs(z)))


def top_bits_chi2(a, b, bits=4):
    """(chi2, p) of the joint table of the top `bits` bits of a and b against uniform cells."""
    shift = np.uint32(32 - bits)
    cells = (a >> shift).astype(np.int64) << bits | (b >> shift).astype(np.int64)
    counts = np.bincount(cells, minlength=1 << (2 * bits))
    res = stats.chisquare(counts)
    return float(res.statistic), float(res.pvalue)


def check_bit_frequencies(w, what, lanes=4):
    counts = bit_counts(w, lanes)
    n = w.size // lanes
    p = binom_two_sided(counts, n)
    limit = P_MIN / p.size
    lane, bit = np.unravel_index(int(np.argmin(p)), p.shape)
    assert p.min() > limit, (
        f"{what}: bit {bit} of lane {lane} set in {counts[lane, bit]} of {n} words "
        f"(frequency {counts[lane, bit] / n:.6f}), p-value {p.min():.3g} <= {limit:.3g}"
    )


def check_serial(w, what, lags=LAGS):
    """Neighbouring words of one stream: Pearson r and top-bit pair chi-square at each lag."""
    u = as_centered_uniform(w)
    checks = []
    for lag in lags:
        r, p = pearson_p(u[:-lag], u[lag:])
        checks.append((p, f"lag {lag}: Pearson r = {r:.3g} (se {1 / np.sqrt(u.size - lag):.3g})"))
        # non-overlapping pairs (w[j], w[j + lag]) for j in blocks of 2*lag: independent cells
        m = (w.size // (2 * lag)) * 2 * lag
        blk = w[:m].reshape(-1, 2, lag)
        c, p = top_bits_chi2(blk[:, 0, :].ravel(), blk[:, 1, :].ravel())
        checks.append((p, f"lag {lag}: chi-square of top-4-bit pairs {c:.1f} (255 dof)"))
    _assert_all(checks, what)


def check_pair(a, b, what):
    """Two word sequences at the same indices: independent (correlation, top-bit pairs, XOR bits)."""
    checks = []
    r, p = pearson_p(as_centered_uniform(a), as_centered_uniform(b))
    checks.append((p, f"Pearson r = {r:.3g} (se {1 / np.sqrt(a.size):.3g})"))
    c, p = top_bits_chi2(a, b)
    checks.append((p, f"chi-square of top-4-bit pairs {c:.1f} (255 dof)"))
    x = a ^ b
    counts = bit_counts(x, 1)[0]
    for bit, (k, pb) in enumerate(zip(counts, binom_two_sided(counts, x.size))):
        checks.append((float(pb), f"bit {bit} of the XOR set in {k} of {x.size} (frequency {k / x.size:.6f})"))
    _assert_all(checks, what)


def _assert_all(checks, what):
    limit = P_MIN / len(checks)
    p, msg = min(checks, key=lambda t: t[0])
    assert p > limit, f"{what}: {msg}, p-value {p:.3g} <= {limit:.3g} ({len(checks)} p-values)"


def check_deciles(x, ppf, what):
    """Chi-square (9 dof) of the counts in the ten deciles of the law (ppf) against n/10 each."""
    x = np.asarray(x, np.float64).ravel()
    edges = ppf(np.arange(1, 10) / 10.0)
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=10)
    res = stats.chisquare(counts)
    assert res.pvalue > P_MIN, (
        f"{what}: decile counts {counts.tolist()} (n={x.size}, expected {x.size / 10:.0f} each), "
        f"chi-square {res.statistic:.2f} (9 dof), p-value {res.pvalue:.3g} <= {P_MIN}"
    )


# ---------------------------------------------------------------- raw words
def test_bit_frequencies():
    seed = fresh_seed()
    offset = int(np.random.default_rng().integers(0, 1 << 62)) * 4
    w = words(seed, n=N_BITS, offset=offset)
    check_bit_frequencies(w, f"random_bits_(seed={seed}, offset={offset})")


def test_bit_frequencies_fixed_seed0():
    check_bit_frequencies(words(0, n=N_BITS), "random_bits_(seed=0)")


def test_neighbouring_words():
    seed = fresh_seed()
    check_serial(words(seed), f"random_bits_(seed={seed})")


@pytest.mark.parametrize("fixed", [True, False], ids=["stream0-1", "fresh"])
def test_neighbouring_streams(fixed):
    seed, s = (0, 0) if fixed else (fresh_seed(), fresh_seed() % ((1 << 64) - 1))
    a, b = words(seed, s), words(seed, s + 1)
    check_pair(a, b, f"streams {s} and {s + 1} of seed {seed}, same index")


@pytest.mark.parametrize("fixed", [True, False], ids=["seed0-1", "fresh"])
def test_neighbouring_seeds(fixed):
    seed = 0 if fixed else fresh_seed() % ((1 << 64) - 1)
    stream = 0 if fixed else fresh_seed()
    a, b = words(seed, stream), words(seed + 1, stream)
    check_pair(a, b, f"seeds {seed} and {seed + 1}, stream {stream}, same index")


def test_high_word_of_seed():
    """Seeds that differ only in k1 (seed >> 32): 0 and 2**32."""
    check_pair(words(0), words(1 << 32), "seeds 0 and 2**32, stream 0, same index")


# ---------------------------------------------------------------- deciles
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (0.3, 0.02)])
def test_normal_deciles(dtype, mean, std):
    seed = fresh_seed()
    x = fastinit.normal_(np.empty(N_DEC, dtype), mean, std, seed=seed)
    check_deciles(x, stats.norm(loc=mean, scale=std).ppf, f"normal_(mean={mean}, std={std}), {dtype}, seed={seed}")


TRUNC_CASES = [
    (0.0, 1.0, -2.0, 2.0),     # torch's defaults
    (0.0, 0.02, -2.0, 2.0),    # bounds 100 std away: a plain normal
    (0.5, 1.5, -1.0, 4.0),     # asymmetric
    (0.0, 1.0, 1.0, 3.0),      # one-sided, in the upper tail
    (0.0, 1.0, -6.0, -5.0),    # far lower tail
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mean,std,a,b", TRUNC_CASES)
def test_trunc_normal_deciles(dtype, mean, std, a, b):
    seed = fresh_seed()
    x = fastinit.trunc_normal_(np.empty(N_DEC, dtype), mean, std, a, b, seed=seed)
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    check_deciles(x, law.ppf, f"trunc_normal_(mean={mean}, std={std}, a={a}, b={b}), {dtype}, seed={seed}")
