"""Tests of tests/reference.py alone (no fastinit needed).

The reference is checked against docs/STREAM.md (constants, stated facts),
against the Random123 known-answer vectors, and statistically against the
distributions it is meant to sample.  Seeds are fresh on every run and are
printed in failure messages; to reproduce a failure, put the printed seed
into the failing call.
"""

import decimal
import math
import os
import re

import numpy as np
import pytest
from scipy import stats

import reference as R

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KAT_PATH = os.path.join(HERE, "data", "philox4x32_10_kat.txt")
STREAM_MD = os.path.join(ROOT, "docs", "STREAM.md")
CONSTS_H = os.path.join(ROOT, "csrc", "fi_consts.h")

KS_P_MIN = 1e-6


def fresh_seed():
    """A fresh random seed in [0, 2**64) (printed on failure by callers)."""
    return int(np.random.SeedSequence().entropy) % (2 ** 64)


def fresh_stream():
    return int(np.random.SeedSequence().entropy) % (2 ** 64)


def rng_for(seed):
    return np.random.default_rng(seed)


def _ml_dtypes():
    return pytest.importorskip("ml_dtypes")


# ---------------------------------------------------------------------------
# Philox
# ---------------------------------------------------------------------------

def load_kat():
    vecs = []
    with open(KAT_PATH) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = [int(t, 16) for t in line.replace("->", " ").split()]
            assert len(words) == 10, line
            vecs.append((words[0:4], words[4:6], words[6:10]))
    return vecs


def test_kat_file_nonempty():
    assert len(load_kat()) >= 3


@pytest.mark.parametrize("vec", load_kat(), ids=lambda v: "%08x" % v[0][0])
def test_philox_kat(vec):
    ctr, key, expect = vec
    out = R.philox4x32_10(np.array([ctr], dtype=np.uint32), np.array(key, dtype=np.uint32))
    assert out.dtype == np.uint32 and out.shape == (1, 4)
    assert [int(w) for w in out[0]] == expect, [hex(int(w)) for w in out[0]]


def test_philox_kat_batched_with_per_row_keys():
    vecs = load_kat()
    ctr = np.array([v[0] for v in vecs], dtype=np.uint32)
    key = np.array([v[1] for v in vecs], dtype=np.uint32)
    out = R.philox4x32_10(ctr, key)
    assert out.tolist() == [v[2] for v in vecs]


def test_block_counter_layout():
    seed, stream = fresh_seed(), fresh_stream()
    b0 = fresh_seed() % (2 ** 64 - 10)
    words = R.block_words(seed, stream, b0, 3)
    for i in range(3):
        b = b0 + i
        ctr = np.array([[b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF, stream >> 32]], np.uint32)
        key = np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint32)
        assert (R.philox4x32_10(ctr, key)[0] == words[i]).all(), (seed, stream, b0)


def test_bits_word_order():
    seed, stream = fresh_seed(), fresh_stream()
    first = 4 * 1000 + 3
    bits = R.ref_bits(seed, stream, first, 9)
    blocks = R.block_words(seed, stream, 1000, 3).reshape(-1)
    assert (bits == blocks[3:12]).all(), (seed, stream)


# ---------------------------------------------------------------------------
# Consistency of the reference with docs/STREAM.md
# ---------------------------------------------------------------------------

def test_constants_match_stream_md_table():
    text = open(STREAM_MD).read()
    table = dict(re.findall(r"\|\s*(FI_[A-Z0-9]+_[A-Z0-9]+)\s*\|\s*(-?0x[0-9a-fA-Fp.+\-]+)\s*", text))
    assert len(table) == len(R.CONST_HEX) == 57
    for name, hexstr in R.CONST_HEX.items():
        assert float.fromhex(table[name]) == float.fromhex(hexstr), name
    for name, hexstr in [("LN2F_HI", R.LN2F_HI_HEX), ("LN2F_LO", R.LN2F_LO_HEX),
                         ("LN2_HI", R.LN2_HI_HEX), ("LN2_LO", R.LN2_LO_HEX)]:
        m = re.search(r"`%s = (0x[0-9a-fp.+\-]+)`" % name, text)
        assert m, name
        assert float.fromhex(m.group(1)) == float.fromhex(hexstr), name


def test_constants_match_generator_definition():
    """Section 5: f64, Taylor coefficients rounded to nearest; f32, minimax fits that
    reach the accuracy the section claims, checked here in exact arithmetic (mpmath)
    on a dense grid, independently of the Remez code that found them."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    hp = mp.pi / 2
    expect = {}
    for k in range(1, 11):
        expect[f"FI_LOG_C{k}"] = float(mp.mpf(1) / (2 * k + 1))
    for k in range(9):
        expect[f"FI_SIN_S{2*k+1}"] = float((-1) ** k * hp ** (2 * k + 1) / mp.factorial(2 * k + 1))
        expect[f"FI_COS_C{2*k+2}"] = float((-1) ** (k + 1) * hp ** (2 * k + 2) / mp.factorial(2 * k + 2))
    for name, v in expect.items():
        assert float.fromhex(R.CONST_HEX[name]) == v, name
    c = {k: mp.mpf(float.fromhex(v)) for k, v in R.CONST_HEX.items()}
    assert float(c["FI_SINF_S1"]) == float(np.float32(float(hp)))
    assert float(c["FI_SINF_S1LO"]) == float(np.float32(float(hp - c["FI_SINF_S1"])))
    assert float(c["FI_NDTRIF_PC"]) == 2.0 ** -8

    def poly(prefix, idx, x):
        return sum(c[f"{prefix}{k}"] * x ** j for j, k in enumerate(idx))

    def worst(F, G, a, b, n=400):
        xs = [a + (b - a) * mp.mpf(i) / (n - 1) for i in range(n)]
        return max(abs(F(x) / G(x) - 1) for x in xs if G(x) != 0) / mp.mpf(2) ** -24

    # ln(1 + f) = f + f^2 Q(f): within 0.25 * 2^-24 relative (coefficients in f32)
    e = worst(lambda f: f + f * f * poly("FI_LOG1PF_Q", range(9), f), mp.log1p, mp.mpf("-0.2929"),
              mp.mpf("0.41421"))
    assert e < 0.25, e
    # sin, cos of pi t / 2 for |t| <= 1/2: within 0.25 * 2^-24 relative
    s1 = c["FI_SINF_S1"] + c["FI_SINF_S1LO"]
    e = worst(lambda t: t * (s1 + t * t * poly("FI_SINF_S", (3, 5, 7), t * t)),
              lambda t: mp.sin(hp * t), mp.mpf("1e-6"), mp.mpf("0.5"))
    assert e < 0.25, e
    e = worst(lambda t: 1 + t * t * poly("FI_COSF_C", (2, 4, 6, 8), t * t), lambda t: mp.cos(hp * t), 0,
              mp.mpf("0.5"))
    assert e < 0.25, e
    # central inverse CDF: (2p - 1) P(-ln(4p(1 - p))) = Phi^-1(p) within 0.25 * 2^-24 relative

    def central(p):
        return (2 * p - 1) * poly("FI_NDTRIF_P", range(10), -mp.log(4 * p * (1 - p)))

    e = worst(central, lambda p: -mp.sqrt(2) * mp.erfinv(1 - 2 * p), mp.mpf(2) ** -8, mp.mpf("0.4999"), 300)
    assert e < 0.25, e


@pytest.mark.skipif(not os.path.exists(CONSTS_H), reason="csrc/fi_consts.h not present")
def test_constants_match_c_header():
    defs = dict(re.findall(r"#define\s+(FI_\w+)\s+(-?0x[0-9a-fA-Fp.+\-]+)f?\b", open(CONSTS_H).read()))
    for name, hexstr in R.CONST_HEX.items():
        assert name in defs, name
        assert float.fromhex(defs[name].rstrip("f")) == float.fromhex(hexstr), name


def test_ln2_split_facts():
    hi32, lo32 = float.fromhex(R.LN2F_HI_HEX), float.fromhex(R.LN2F_LO_HEX)
    hi64, lo64 = float.fromhex(R.LN2_HI_HEX), float.fromhex(R.LN2_LO_HEX)
    # f32(e) * LN2F_HI exact for |e| < 256: HI has at most 24 - 8 = 16 significant bits
    m, _ = math.frexp(hi32)
    assert (m * 2 ** 16).is_integer()
    for e in range(-255, 256):
        assert float(np.float32(e) * np.float32(hi32)) == e * hi32
    # f64(e) * LN2_HI exact for the exponents used (|e| < 2**11)
    m, _ = math.frexp(hi64)
    assert (m * 2 ** 42).is_integer()
    ln2 = decimal.Decimal(2).ln(decimal.Context(prec=60))
    assert abs(decimal.Decimal(hi32) + decimal.Decimal(lo32) - ln2) < decimal.Decimal(2) ** -40
    assert abs(decimal.Decimal(hi64) + decimal.Decimal(lo64) - ln2) < decimal.Decimal(2) ** -85


def test_thresholds_facts():
    # f32 radius: E from a rounded x1 + 1 below 0x7FFFFFFF, E = 31 below
    # 0xB504F333, the first x1 with x1 + 1 >= 2**31.5; f64 splits at floor(2**53 / sqrt 2)
    assert R._X_LOW32 == 2 ** 31 - 1
    assert (R._X_SQRT2_32 + 1) ** 2 >= 2 ** 63 > R._X_SQRT2_32 ** 2
    assert R._T64 == math.isqrt(2 ** 105) == 0x16A09E667F3BCC
    # 0x3FF6A09E667F3BCD is sqrt(2) rounded up
    ctx = decimal.Context(prec=60)
    sqrt2 = decimal.Decimal(2).sqrt(ctx)
    up = np.array([0x3FF6A09E667F3BCD], np.uint64).view(np.float64)[0]
    below = np.array([0x3FF6A09E667F3BCC], np.uint64).view(np.float64)[0]
    assert decimal.Decimal(float(below)) < sqrt2 < decimal.Decimal(float(up))
    # float32 threshold 0x3FB504F3 is the float32 nearest sqrt(2) (it is below)
    f = np.array([0x3FB504F3], np.uint32).view(np.float32)[0]
    assert float(f) == float(np.float32(math.sqrt(2)))


def test_uniform_word_mapping_is_exact():
    # u = f32(x >> 8) * 2**-24, range [0, 1 - 2**-24]
    x = np.array([0, 0xFF, 0x100, 0xFFFFFFFF], np.uint64)
    u = R._u01_f32(x)
    assert u.tolist() == [0.0, 0.0, 2.0 ** -24, 1 - 2.0 ** -24]
    X = np.array([0, 0x7FF, 0x800, 2 ** 64 - 1], np.uint64)
    u = R._u01_f64(X)
    assert u.tolist() == [0.0, 0.0, 2.0 ** -53, 1 - 2.0 ** -53]


def test_radius_split_facts():
    """Section 4.1: u1 = 2^(E-32) (1 + f) with M = x1 + 1 - 2^E exact, |M| < 2^31,
    f = f32(M) 2^-E (one rounding: exact while M fits in 24 bits) in [-0.29290, 0.41422]."""
    seed = fresh_seed()
    rng = rng_for(seed)
    x1 = np.concatenate([np.arange(0, 4096), np.arange(2 ** 24 - 4096, 2 ** 24 + 4096),
                         rng.integers(0, 2 ** 32, 400000),
                         np.arange(R._X_LOW32 - 4096, R._X_LOW32 + 4096),
                         np.arange(R._X_SQRT2_32 - 4096, R._X_SQRT2_32 + 4096),
                         np.arange(2 ** 32 - 4096, 2 ** 32)]).astype(np.uint64)
    F = R._int_to_f32(x1 + np.uint64(1))
    fb = F.view(np.uint32).astype(np.int64)
    E = (fb >> 23) - 127
    E = np.where(((fb & 0x7FFFFF) | 0x3F800000) >= 0x3FB504F3, E + 1, E)
    E = np.where(x1 < np.uint64(R._X_LOW32), E, np.where(x1 < np.uint64(R._X_SQRT2_32), 31, 32))
    assert E.min() >= 0 and E.max() <= 32
    M = x1.astype(np.int64) + 1 - (np.int64(1) << E)
    assert (np.abs(M) < 2 ** 31).all(), seed
    f = R._int_to_f32(M).astype(np.float64) * 2.0 ** -E
    assert f.min() >= -0.29290 and f.max() <= 0.41422, seed
    small = np.abs(M) < 2 ** 24
    exact = (x1.astype(np.float64) + 1) * 2.0 ** -32
    assert ((1 + f[small]) * 2.0 ** (E[small] - 32) == exact[small]).all(), seed


def test_angle_reduction_facts():
    n = np.arange(0, 2 ** 24, dtype=np.uint64)
    x2 = n << np.uint64(8)
    nn = n.astype(np.int64)
    kk = (nn + 0x200000) >> 22
    j = nn - kk * 2 ** 22
    assert kk.min() == 0 and kk.max() == 4
    assert j.min() == -(2 ** 21) and j.max() == 2 ** 21 - 1
    c, s = R._angle_f32(x2)
    theta = 2 * np.pi * n.astype(np.float64) * 2.0 ** -24
    assert np.abs(c - np.cos(theta)).max() < 2.0 ** -23
    assert np.abs(s - np.sin(theta)).max() < 2.0 ** -23
    assert np.abs(c.astype(np.float64) ** 2 + s.astype(np.float64) ** 2 - 1).max() < 2.0 ** -22
    # The low 8 bits of x2 are not used.
    c2, s2 = R._angle_f32(x2 | np.uint64(0xFF))
    assert (c2 == c).all() and (s2 == s).all()


# ---------------------------------------------------------------------------
# Element independence (the reference's own index handling)
# ---------------------------------------------------------------------------

KERNELS = {
    "bits": lambda s, t, f, n, dt: R.ref_bits(s, t, f, n),
    "uniform": lambda s, t, f, n, dt: R.ref_uniform(s, t, f, n, -1.5, 2.5, dt),
    "normal": lambda s, t, f, n, dt: R.ref_normal(s, t, f, n, 0.25, 1.5, dt),
    "trunc_normal": lambda s, t, f, n, dt: R.ref_trunc_normal(s, t, f, n, 0.25, 1.5, -1.0, 3.0, dt),
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, "bfloat16"],
                         ids=["f32", "f64", "f16", "bf16"])
def test_reference_elements_independent_of_window(kernel, dtype):
    if dtype == "bfloat16":
        _ml_dtypes()
    seed, stream = fresh_seed(), fresh_stream()
    fn = KERNELS[kernel]
    first = 2 ** 33 + 3
    whole = fn(seed, stream, first, 103, dtype)
    assert whole.shape == (103,)
    cuts = [0, 1, 2, 5, 6, 13, 64, 101, 103]
    parts = [fn(seed, stream, first + a, b - a, dtype) for a, b in zip(cuts[:-1], cuts[1:])]
    joined = np.concatenate(parts)
    assert whole.view(np.uint8).tobytes() == joined.view(np.uint8).tobytes(), (seed, stream)
    for i in (0, 1, 2, 3, 50, 102):
        single = fn(seed, stream, first + i, 1, dtype)
        assert whole[i:i + 1].view(np.uint8).tobytes() == single.view(np.uint8).tobytes(), (seed, stream, i)


def test_f32_normal_pairs_and_f64_word_use():
    seed, stream = fresh_seed(), fresh_stream()
    w = R.block_words(seed, stream, 10, 1)[0].astype(np.uint64)
    zc, zs = R.box_muller_f32(w[[0, 2]], w[[1, 3]])
    z = R.ref_normal(seed, stream, 40, 4, 0.0, 1.0, np.float32)
    assert z.tolist() == [zc[0], zs[0], zc[1], zs[1]], (seed, stream)
    X1 = w[0] | (w[1] << np.uint64(32))
    X2 = w[2] | (w[3] << np.uint64(32))
    zc, zs = R.box_muller_f64(np.array([X1]), np.array([X2]))
    z = R.ref_normal(seed, stream, 20, 2, 0.0, 1.0, np.float64)
    assert z.tolist() == [zc[0], zs[0]], (seed, stream)
    u = R.ref_uniform(seed, stream, 20, 2, 0.0, 1.0, np.float64)
    assert u.tolist() == [float(X1 >> np.uint64(11)) * 2.0 ** -53, float(X2 >> np.uint64(11)) * 2.0 ** -53]


# ---------------------------------------------------------------------------
# Uniform
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, "bfloat16"],
                         ids=["f32", "f64", "f16", "bf16"])
@pytest.mark.parametrize("ab", [(0.0, 1.0), (-0.5, 2.0), (-3.0, -1.0)])
def test_uniform_range_and_moments(dtype, ab):
    if dtype == "bfloat16":
        _ml_dtypes()
    a, b = ab
    seed, stream = fresh_seed(), fresh_stream()
    n = 10 ** 6
    v = R.ref_uniform(seed, stream, 0, n, a, b, dtype)
    assert v.shape == (n,)
    x = v.astype(np.float64)
    assert x.min() >= a and x.max() <= b, (seed, stream)
    mean, var = x.mean(), x.var()
    w = b - a
    se_mean = w / math.sqrt(12 * n)
    half = dtype in (np.float16, "bfloat16")
    slack = (abs(a) + abs(b)) * 2.0 ** -8 if half else 0.0
    assert abs(mean - (a + b) / 2) < 6 * se_mean + slack, (seed, stream, mean)
    # var of the sample variance of a uniform: (w^4/80 - w^4/144)/n
    se_var = w ** 2 * math.sqrt((1 / 80 - 1 / 144) / n)
    assert abs(var - w * w / 12) < 6 * se_var + 2 * slack * w, (seed, stream, var)


def test_uniform_ks():
    seed, stream = fresh_seed(), fresh_stream()
    for dtype in (np.float32, np.float64):
        v = R.ref_uniform(seed, stream, 0, 200000, -2.0, 3.0, dtype)
        p = stats.kstest(v.astype(np.float64), stats.uniform(loc=-2.0, scale=5.0).cdf).pvalue
        assert p > KS_P_MIN, (seed, stream, dtype, p)


def test_uniform_endpoints():
    # word giving u = 0 -> a exactly; largest u -> lo + width*(1 - 2**-24)
    x = np.array([0, 0xFFFFFFFF], np.uint64)
    u = R._u01_f32(x)
    v = np.float32(-1.0) + np.float32(3.0) * u
    assert v[0] == -1.0 and v[1] < 2.0


# ---------------------------------------------------------------------------
# Normal
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_ks_and_moments(dtype):
    seed, stream = fresh_seed(), fresh_stream()
    n = 200000
    z = R.ref_normal(seed, stream, 0, n, 0.0, 1.0, dtype).astype(np.float64)
    p = stats.kstest(z, stats.norm.cdf).pvalue
    assert p > KS_P_MIN, (seed, stream, p)
    assert abs(z.mean()) < 6 / math.sqrt(n), (seed, stream)
    assert abs(z.var() - 1) < 6 * math.sqrt(2 / n), (seed, stream)
    # cos and sin halves are each normal too
    for half in (z[0::2], z[1::2]):
        assert stats.kstest(half, stats.norm.cdf).pvalue > KS_P_MIN, (seed, stream)


def test_normal_mean_std_scaling():
    seed, stream = fresh_seed(), fresh_stream()
    z = R.ref_normal(seed, stream, 7, 1001, 0.0, 1.0, np.float32)
    v = R.ref_normal(seed, stream, 7, 1001, 3.0, 0.5, np.float32)
    assert (v == np.float32(3.0) + np.float32(0.5) * z).all()
    z = R.ref_normal(seed, stream, 7, 1001, 0.0, 1.0, np.float64)
    v = R.ref_normal(seed, stream, 7, 1001, 0.1, 0.02, np.float64)
    assert (v == 0.1 + 0.02 * z).all()


EXTREME_X1 = [0, 1, 2, 3, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
              0xB504F331, 0xB504F332, 0xB504F333, 0xB504F334,
              0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF]
EXTREME_X2 = [0, 0xFF, 0x100, 0x1FFFFF00, 0x20000000, 0x3FFFFF00, 0x40000000,
              0x5FFFFF00, 0x60000000, 0x7FFFFF00, 0x80000000, 0x9FFFFF00,
              0xA0000000, 0xBFFFFF00, 0xC0000000, 0xDFFFFF00, 0xE0000000,
              0xFFFFFF00, 0xFFFFFFFF]


def test_normal_f32_accuracy():
    """|z32 - z64| <= 4 ulp(max(|z64|, 1)) (ulp of float32) on random and
    extreme word pairs, z64 the same formula in float64 library math."""
    seed = fresh_seed()
    rng = rng_for(seed)
    n = 10 ** 6
    x1 = rng.integers(0, 2 ** 32, n, dtype=np.uint64)
    x2 = rng.integers(0, 2 ** 32, n, dtype=np.uint64)
    g1, g2 = np.meshgrid(np.array(EXTREME_X1, np.uint64), np.array(EXTREME_X2, np.uint64))
    # also the neighbourhoods of the splits of the exponent, with random angles
    near = np.concatenate([np.arange(R._X_LOW32 - 2048, R._X_LOW32 + 2048, dtype=np.uint64),
                           np.arange(R._X_SQRT2_32 - 2048, R._X_SQRT2_32 + 2048, dtype=np.uint64)])
    x1 = np.concatenate([x1, g1.ravel(), near])
    x2 = np.concatenate([x2, g2.ravel(), rng.integers(0, 2 ** 32, near.size, dtype=np.uint64)])
    zc, zs = R.box_muller_f32(x1, x2)
    assert zc.dtype == np.float32 and zs.dtype == np.float32
    rc, rs = R.box_muller_f64_of_f32_inputs(x1, x2)
    for name, z, r in (("cos", zc, rc), ("sin", zs, rs)):
        ulp = np.spacing(np.maximum(np.abs(r), 1.0).astype(np.float32)).astype(np.float64)
        err = np.abs(z.astype(np.float64) - r) / ulp
        i = int(np.argmax(err))
        assert err[i] <= 4.0, (f"seed={seed} z_{name}: {err[i]:.3f} ulp at x1={int(x1[i]):#010x} "
                               f"x2={int(x2[i]):#010x}: z32={z[i]!r} z64={r[i]!r}")


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60, reason="needs x87 extended long double")
def test_normal_f64_accuracy():
    seed = fresh_seed()
    rng = rng_for(seed)
    n = 300000
    X1 = rng.integers(0, 2 ** 64, n, dtype=np.uint64)
    X2 = rng.integers(0, 2 ** 64, n, dtype=np.uint64)
    ext1 = np.array([0, 1 << 11, 2 << 11, (R._T64 - 1) << 11, R._T64 << 11,
                     (R._T64 + 1) << 11, 2 ** 64 - 1, 2 ** 64 - 2 ** 11 - 1], np.uint64)
    ext2 = np.array([0, 1 << 11, (2 ** 51 - 1) << 11, 2 ** 62, 2 ** 63, 3 * 2 ** 62, 2 ** 64 - 1], np.uint64)
    g1, g2 = np.meshgrid(ext1, ext2)
    X1 = np.concatenate([X1, g1.ravel()])
    X2 = np.concatenate([X2, g2.ravel()])
    zc, zs = R.box_muller_f64(X1, X2)
    LD = np.longdouble
    u1 = ((X1 >> np.uint64(11)).astype(LD) + LD(1)) * LD(2) ** -53
    r = np.sqrt(LD(-2) * np.log(u1))
    pi = np.arccos(LD(-1))
    theta = LD(2) * pi * ((X2 >> np.uint64(11)).astype(LD) * LD(2) ** -53)
    for name, z, ref in (("cos", zc, r * np.cos(theta)), ("sin", zs, r * np.sin(theta))):
        ulp = np.spacing(np.maximum(np.abs(ref), 1).astype(np.float64))
        err = (np.abs(z.astype(LD) - ref)).astype(np.float64) / ulp
        i = int(np.argmax(err))
        assert err[i] <= 4.0, (f"seed={seed} z_{name}: {err[i]:.3f} ulp at X1={int(X1[i]):#018x} "
                               f"X2={int(X2[i]):#018x}")


def test_normal_extreme_radius():
    zc, zs = R.box_muller_f32(np.array([0], np.uint64), np.array([0], np.uint64))
    assert zc[0] > 6.0 and zs[0] == 0.0
    assert abs(float(zc[0]) - math.sqrt(64 * math.log(2))) < 1e-5
    # x1 = 0xFFFFFFFF: u1 = 1, r = 0
    zc, zs = R.box_muller_f32(np.array([0xFFFFFFFF], np.uint64), np.array([12345678], np.uint64))
    assert zc[0] == 0.0 and zs[0] == 0.0
    zc, zs = R.box_muller_f64(np.array([0], np.uint64), np.array([0], np.uint64))
    assert abs(float(zc[0]) - math.sqrt(106 * math.log(2))) < 1e-12
    # the largest |z| over all word pairs is at x1 = 0 (r decreases with x1)
    x1 = np.arange(0, 1 << 16, dtype=np.uint64)
    r = R._radius_f32(x1)
    assert (np.diff(r) <= 0).all()
    assert float(r[0]) == float(R._radius_f32(np.array([0], np.uint64)).max())


# ---------------------------------------------------------------------------
# Truncated normal
# ---------------------------------------------------------------------------

INTERVALS = [(-2, 2), (-1, 3), (5, 6), (-6, -5), (-100, 100), (0.5, 40),
             # far one-sided tails: the 2**k rescaling (P < 2**-64) is used
             (10, 11), (-12.5, -12)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interval", INTERVALS, ids=lambda iv: "%g_%g" % iv)
@pytest.mark.parametrize("loc_scale", [(0.0, 1.0), (0.75, 0.3)], ids=["std", "shifted"])
def test_trunc_normal_ks(dtype, interval, loc_scale):
    mean, std = loc_scale
    al, be = interval
    a, b = mean + al * std, mean + be * std
    seed, stream = fresh_seed(), fresh_stream()
    n = 200000
    v = R.ref_trunc_normal(seed, stream, 0, n, mean, std, a, b, dtype)
    assert v.dtype == np.dtype(dtype)
    assert v.min() >= np.asarray(a, dtype) and v.max() <= np.asarray(b, dtype), (seed, stream)
    x = v.astype(np.float64)
    # scipy's truncnorm takes the bounds in std units; use the float bounds we passed
    dist = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    p = stats.kstest(x, dist.cdf).pvalue
    assert p > KS_P_MIN, (f"seed={seed} stream={stream} interval={interval} "
                          f"mean={mean} std={std} p={p}")


def test_trunc_normal_scaling_used_in_far_tails():
    c = R.trunc_normal_setup(0.0, 1.0, 10.0, 11.0, np.float64)
    assert c["mode"] == "high" and c["k"] > 64 and math.isinf(float(c["pc"]))
    c = R.trunc_normal_setup(0.0, 1.0, -12.5, -12.0, np.float32)
    assert c["mode"] == "low" and c["k"] > 64
    c = R.trunc_normal_setup(0.0, 1.0, 5.0, 6.0, np.float64)
    assert c["mode"] == "high" and c["k"] == 0 and float(c["pc"]) == 0.075
    c = R.trunc_normal_setup(0.0, 0.02, -2.0, 2.0, np.float32)
    assert c["mode"] == "both" and float(c["cA"]) == 0.0 and float(c["W"]) == 1.0


@pytest.mark.parametrize("ab", [(2.0, 1.0), (1.0, 1.0), (39.0, 40.0), (-41.0, -39.0)])
def test_trunc_normal_rejects_empty_intervals(ab):
    with pytest.raises(ValueError):
        R.trunc_normal_setup(0.0, 1.0, ab[0], ab[1], np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, "bfloat16"],
                         ids=["f32", "f64", "f16", "bf16"])
def test_trunc_normal_torch_default(dtype):
    """std=0.02, a=-2, b=2 (torch.nn.init.trunc_normal_'s defaults with the
    usual std): essentially N(0, 0.02**2), kurtosis 3, no huge outliers."""
    if dtype == "bfloat16":
        _ml_dtypes()
    seed, stream = fresh_seed(), fresh_stream()
    n = 10 ** 6
    v = R.ref_trunc_normal(seed, stream, 0, n, 0.0, 0.02, -2.0, 2.0, dtype).astype(np.float64)
    kurt = stats.kurtosis(v, fisher=False)
    assert abs(kurt - 3.0) < 0.05, (seed, stream, kurt)
    assert abs(v.std() - 0.02) < 0.02 * 0.01, (seed, stream, v.std())
    if dtype == np.float64:
        # f64: u >= 2**-53, so |z| <= ~8.2 is the hard bound; |z| > 6 has
        # probability 2e-9 per element, too likely over many runs to assert.
        assert np.abs(v).max() <= 8.3 * 0.02, (seed, stream)
    else:
        # float32 working precision: u >= 2**-24, so |z| <= ~5.3 always.
        assert np.abs(v).max() <= 6 * 0.02, (seed, stream, np.abs(v).max())


def test_trunc_normal_f32_hard_bound_at_extreme_u():
    # The extreme words x = 0 and x = 0xFFFFFFFF give the extreme u.
    c = R.trunc_normal_setup(0.0, 1.0, -100.0, 100.0, np.float32)
    u = np.array([2.0 ** -24, 1 - 2.0 ** -24], np.float32)
    plo = R.fmaf(u, c["W"], c["cA"])
    phi = R.fmaf(np.float32(1) - u, c["W"], c["cB"])
    z_lo = R.ndtri_low(plo[:1], c["lnS"], c["pc"])[0]
    z_hi = -R.ndtri_low(phi[1:], c["lnS"], c["pc"])[0]
    assert -6 < z_lo < -5 and 5 < z_hi < 6
    assert z_lo == -z_hi


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ndtri_low_accuracy(dtype):
    """The inverse CDF of section 6 (the f32 rule with its central limit 2^-8; AS 241
    PPND16 with 0.075 in f64) against scipy's ndtri on a grid of lower-tail p."""
    from scipy import special
    pc = 2.0 ** -8 if dtype == np.float32 else 0.075
    p = np.concatenate([np.geomspace(1e-30 if dtype == np.float32 else 1e-300, pc, 4000),
                        np.linspace(pc, 0.5, 4000)]).astype(dtype)
    z = R.ndtri_low(p, 0.0, pc).astype(np.float64)
    zt = special.ndtri(p.astype(np.float64))
    rel = np.abs(z - zt) / np.maximum(np.abs(zt), 1e-3)
    tol = 3e-6 if dtype == np.float32 else 1e-13
    assert rel.max() < tol, (rel.max(), p[np.argmax(rel)])


# ---------------------------------------------------------------------------
# Half precision rounding (section 7)
# ---------------------------------------------------------------------------

def test_bfloat16_rounding_matches_ml_dtypes():
    ml_dtypes = _ml_dtypes()
    seed = fresh_seed()
    rng = rng_for(seed)
    bits = rng.integers(0, 2 ** 32, 10 ** 6, dtype=np.uint64).astype(np.uint32)
    special = np.array([0x00000000, 0x80000000, 0x00007FFF, 0x00008000, 0x00018000,
                        0x3F808000, 0x3F818000, 0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000,
                        0xFF7FFFFF, 0x00000001, 0x807FFFFF], np.uint32)
    bits = np.concatenate([bits, special])
    v = bits.view(np.float32)
    v = v[np.isfinite(v)]
    mine = R.round_to_half(v, "bf16")
    theirs = v.astype(ml_dtypes.bfloat16)
    assert (mine.view(np.uint16) == theirs.view(np.uint16)).all(), seed


def test_float16_rounding_is_ieee():
    v = np.array([1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 65519.0, 65520.0, 2.0 ** -25,
                  2.0 ** -25 * 1.5, 2.0 ** -24], np.float32)
    h = R.round_to_half(v, "f16")
    assert h.dtype == np.float16
    assert h.astype(np.float64).tolist() == [1.0, 1 + 2.0 ** -9, 65504.0, math.inf, 0.0,
                                             2.0 ** -24, 2.0 ** -24]


@pytest.mark.parametrize("kernel", ["uniform", "normal", "trunc_normal"])
def test_half_outputs_are_rounded_f32(kernel):
    ml_dtypes = _ml_dtypes()
    seed, stream = fresh_seed(), fresh_stream()
    fn = KERNELS[kernel]
    v32 = fn(seed, stream, 5, 5001, np.float32)
    v16 = fn(seed, stream, 5, 5001, np.float16)
    vbf = fn(seed, stream, 5, 5001, "bfloat16")
    assert v16.dtype == np.float16 and vbf.dtype == np.dtype(ml_dtypes.bfloat16)
    assert (v16.view(np.uint16) == v32.astype(np.float16).view(np.uint16)).all()
    assert (vbf.view(np.uint16) == v32.astype(ml_dtypes.bfloat16).view(np.uint16)).all()
