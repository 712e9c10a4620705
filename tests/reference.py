"""Slow, plain-NumPy reference implementation of the fastinit stream.

This module re-implements docs/STREAM.md (stream version 2) from the text of
that document alone.  It deliberately imports nothing from ``fastinit`` and
shares no code with csrc/: the C kernels are checked against this file, and
this file is checked against the document (tests/test_reference.py).

Conventions used throughout:

* Integer work (Philox, word selection, shifts) is done in NumPy ``uint64`` /
  ``int64`` arrays, so no intermediate can overflow silently.
* Every floating-point operation is a single NumPy ufunc call on arrays of the
  working precision (``float32`` or ``float64``) with operands of that same
  precision (constants are ``np.float32`` / ``np.float64`` scalars), so each
  operation is one IEEE round-to-nearest-even operation in the right format,
  in the order written in STREAM.md.  NumPy has no fused multiply-add (and
  Python 3.11 no ``math.fma``), so the rule's float32 fused multiply-adds are
  emulated exactly by ``fmaf`` below.
* Integer -> float conversions go through an exact ``float64`` intermediate
  (every integer converted is below 2**53), so an integer -> float32
  conversion is one correctly rounded step.

Public functions return a new 1-D array holding the elements with element
indices ``first, first + 1, ..., first + n - 1``.
"""

import math
import sys

import numpy as np

__all__ = [
    "philox4x32_10",
    "block_words",
    "ref_bits",
    "ref_uniform",
    "ref_normal",
    "ref_trunc_normal",
    "trunc_normal_setup",
    "box_muller_f32",
    "box_muller_f64",
    "box_muller_f64_of_f32_inputs",
    "ndtri_low",
    "round_to_half",
    "fmaf",
]

# ---------------------------------------------------------------------------
# Constants (docs/STREAM.md sections 1, 4 and 5, and AS 241 for section 6)
# ---------------------------------------------------------------------------

_MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)


def _f32c(hexstr):
    """A float32 constant from a hex literal that must be exactly float32."""
    v = float.fromhex(hexstr)
    c = np.float32(v)
    assert float(c) == v, f"{hexstr} is not exactly representable in float32"
    return c


def _f64c(hexstr):
    return np.float64(float.fromhex(hexstr))


# Section 5 table, transcribed.  Kept as hex strings too so that a test can
# compare them with the table in docs/STREAM.md.
CONST_HEX = {
    "FI_LOG1PF_Q0": "-0x1.fffff8p-2",
    "FI_LOG1PF_Q1": "0x1.555550p-2",
    "FI_LOG1PF_Q2": "-0x1.000426p-2",
    "FI_LOG1PF_Q3": "0x1.99a3f4p-3",
    "FI_LOG1PF_Q4": "-0x1.542766p-3",
    "FI_LOG1PF_Q5": "0x1.227182p-3",
    "FI_LOG1PF_Q6": "-0x1.0f378cp-3",
    "FI_LOG1PF_Q7": "0x1.084928p-3",
    "FI_LOG1PF_Q8": "-0x1.383146p-4",
    "FI_LOG_C1": "0x1.5555555555555p-2",
    "FI_LOG_C2": "0x1.999999999999ap-3",
    "FI_LOG_C3": "0x1.2492492492492p-3",
    "FI_LOG_C4": "0x1.c71c71c71c71cp-4",
    "FI_LOG_C5": "0x1.745d1745d1746p-4",
    "FI_LOG_C6": "0x1.3b13b13b13b14p-4",
    "FI_LOG_C7": "0x1.1111111111111p-4",
    "FI_LOG_C8": "0x1.e1e1e1e1e1e1ep-5",
    "FI_LOG_C9": "0x1.af286bca1af28p-5",
    "FI_LOG_C10": "0x1.8618618618618p-5",
    "FI_SINF_S1": "0x1.921fb6p+0",
    "FI_SINF_S1LO": "-0x1.777a5cp-25",
    "FI_SINF_S3": "-0x1.4abbbep-1",
    "FI_SINF_S5": "0x1.466004p-4",
    "FI_SINF_S7": "-0x1.2dc84cp-8",
    "FI_SIN_S1": "0x1.921fb54442d18p+0",
    "FI_SIN_S3": "-0x1.4abbce625be53p-1",
    "FI_SIN_S5": "0x1.466bc6775aae2p-4",
    "FI_SIN_S7": "-0x1.32d2cce62bd86p-8",
    "FI_SIN_S9": "0x1.50783487ee782p-13",
    "FI_SIN_S11": "-0x1.e3074fde8871fp-19",
    "FI_SIN_S13": "0x1.e8f434d018d63p-25",
    "FI_SIN_S15": "-0x1.6fadb9f155744p-31",
    "FI_SIN_S17": "0x1.aaec32af93359p-38",
    "FI_COSF_C2": "-0x1.3bd3ccp+0",
    "FI_COSF_C4": "0x1.03c1dep-2",
    "FI_COSF_C6": "-0x1.55c5e2p-6",
    "FI_COSF_C8": "0x1.d9c326p-11",
    "FI_NDTRIF_P0": "0x1.40d932p+0",
    "FI_NDTRIF_P1": "0x1.4ffddap-2",
    "FI_NDTRIF_P2": "0x1.0b9db8p-6",
    "FI_NDTRIF_P3": "-0x1.b13650p-9",
    "FI_NDTRIF_P4": "-0x1.70941cp-13",
    "FI_NDTRIF_P5": "0x1.f83e00p-15",
    "FI_NDTRIF_P6": "0x1.c39e5ap-18",
    "FI_NDTRIF_P7": "-0x1.974ca0p-19",
    "FI_NDTRIF_P8": "0x1.6dcab4p-22",
    "FI_NDTRIF_P9": "-0x1.da1f86p-27",
    "FI_NDTRIF_PC": "0x1.000000p-8",
    "FI_COS_C2": "-0x1.3bd3cc9be45dep+0",
    "FI_COS_C4": "0x1.03c1f081b5ac4p-2",
    "FI_COS_C6": "-0x1.55d3c7e3cbffap-6",
    "FI_COS_C8": "0x1.e1f506891babbp-11",
    "FI_COS_C10": "-0x1.a6d1f2a204a8cp-16",
    "FI_COS_C12": "0x1.f9d38a3763cc3p-22",
    "FI_COS_C14": "-0x1.b6e24f44b128fp-28",
    "FI_COS_C16": "0x1.20c62c2f2d7f5p-34",
    "FI_COS_C18": "-0x1.2a0c591af8314p-41",
}

# float32 (version 2): ln(1 + f) = f + f^2 Q(f), Q0..Q8
_LOG1PF_Q = [_f32c(CONST_HEX[f"FI_LOG1PF_Q{k}"]) for k in range(9)]
_LOG_C = [_f64c(CONST_HEX[f"FI_LOG_C{k}"]) for k in range(1, 11)]
# sin(pi t / 2) = t * (S1 + t2*(S3 + ...)); cos(pi t / 2) = 1 + t2*(C2 + ...)
_SINF_S1 = _f32c(CONST_HEX["FI_SINF_S1"])
_SINF_S1LO = _f32c(CONST_HEX["FI_SINF_S1LO"])
_SINF_S = [_f32c(CONST_HEX[f"FI_SINF_S{k}"]) for k in (3, 5, 7)]
_COSF_C = [_f32c(CONST_HEX[f"FI_COSF_C{k}"]) for k in (2, 4, 6, 8)]
_NDTRIF_P = [_f32c(CONST_HEX[f"FI_NDTRIF_P{k}"]) for k in range(10)]
_NDTRIF_PC = _f32c(CONST_HEX["FI_NDTRIF_PC"])
_SIN_S = [_f64c(CONST_HEX[f"FI_SIN_S{k}"]) for k in range(1, 18, 2)]
_COS_C = [_f64c(CONST_HEX[f"FI_COS_C{k}"]) for k in range(2, 19, 2)]

# ln 2 split (section 4.1 / 4.3)
LN2F_HI_HEX = "0x1.62e400p-1"
LN2F_LO_HEX = "0x1.7f7d1cp-20"
LN2_HI_HEX = "0x1.62e42feep-1"
LN2_LO_HEX = "0x1.a39ef35793c76p-33"
_LN2F_HI = _f32c(LN2F_HI_HEX)
_LN2F_LO = _f32c(LN2F_LO_HEX)
_LN2_HI = _f64c(LN2_HI_HEX)
_LN2_LO = _f64c(LN2_LO_HEX)

# Thresholds of section 4.1 / 4.3
_X_LOW32 = 0x7FFFFFFF
_X_SQRT2_32 = 0xB504F333
_M_HALVE_BITS32 = 0x3FB504F3
_T64 = 0x16A09E667F3BCC
_M_HALVE_BITS64 = 0x3FF6A09E667F3BCD

# Wichura, Algorithm AS 241 (Applied Statistics 37(3), 1988), published
# coefficients.  PPND7's tail (float32 kernels; each rounded once to float32) and
# PPND16 (float64 kernels).  Lists are lowest degree first: a0, a1, ...;
# the denominators' constant term 1 is implicit (b1, b2, ...).
_PPND7 = {    # its tail rationals: the float32 rule's tail (its central region is FI_NDTRIF_P)
    "c": [1.4234372777e+00, 2.7568153900e+00, 1.3067284816e+00, 1.7023821103e-01],
    "d": [7.3700164250e-01, 1.2021132975e-01],
    "e": [6.6579051150e+00, 3.0812263860e+00, 4.2868294337e-01, 1.7337203997e-02],
    "f": [2.4197894225e-01, 1.2258202635e-02],
}
_PPND16 = {
    "a": [3.3871328727963666080e0, 1.3314166789178437745e+2,
          1.9715909503065514427e+3, 1.3731693765509461125e+4,
          4.5921953931549871457e+4, 6.7265770927008700853e+4,
          3.3430575583588128105e+4, 2.5090809287301226727e+3],
    "b": [4.2313330701600911252e+1, 6.8718700749205790830e+2,
          5.3941960214247511077e+3, 2.1213794301586595867e+4,
          3.9307895800092710610e+4, 2.8729085735721942674e+4,
          5.2264952788528545610e+3],
    "c": [1.42343711074968357734e0, 4.63033784615654529590e0,
          5.76949722146069140550e0, 3.64784832476320460504e0,
          1.27045825245236838258e0, 2.41780725177450611770e-1,
          2.27238449892691845833e-2, 7.74545014278341407640e-4],
    "d": [2.05319162663775882187e0, 1.67638483018380384940e0,
          6.89767334985100004550e-1, 1.48103976427480074590e-1,
          1.51986665636164571966e-2, 5.47593808499534494600e-4,
          1.05075007164441684324e-9],
    "e": [6.65790464350110377720e0, 5.46378491116411436990e0,
          1.78482653991729133580e0, 2.96560571828504891230e-1,
          2.65321895265761230930e-2, 1.24266094738807843860e-3,
          2.71155556874348757815e-5, 2.01033439929228813265e-7],
    "f": [5.99832206555887937690e-1, 1.36929880922735805310e-1,
          1.48753612908506148525e-2, 7.86869131145613259100e-4,
          1.84631831751005468180e-5, 1.42151175831644588870e-7,
          2.04426310338993978564e-15],
}
# AS 241 fixed constants: CONST1 = 0.425**2, CONST2 = 1.6, SPLIT2 = 5
_AS241_CONST1 = 0.180625
_AS241_CONST2 = 1.6
_AS241_SPLIT2 = 5.0


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def _int_to_f32(x):
    """Correctly rounded int -> float32 (|x| < 2**53, exact via float64)."""
    x = np.asarray(x)
    assert x.size == 0 or int(np.max(np.abs(x.astype(np.float64)))) < 2 ** 53
    return x.astype(np.float64).astype(np.float32)


def _int_to_f64(x):
    """int -> float64; exact for |x| < 2**53 (all uses here)."""
    x = np.asarray(x)
    assert x.size == 0 or int(np.max(np.abs(x.astype(np.float64)))) <= 2 ** 53
    return x.astype(np.float64)


def _horner(x, coeffs_high_to_low):
    """((c_n * x + c_{n-1}) * x + ...) + c_0, each op rounded; coeffs are
    working-precision scalars listed from the highest degree down."""
    acc = x * coeffs_high_to_low[0] + coeffs_high_to_low[1]
    for c in coeffs_high_to_low[2:]:
        acc = acc * x + c
    return acc


def _nested(s2, coeffs):
    """s2*(c1 + s2*(c2 + ... + s2*cN)) evaluated innermost first (section 4)."""
    acc = s2 * coeffs[-1]
    for c in reversed(coeffs[:-1]):
        acc = s2 * (c + acc)
    return acc


def fmaf(a, b, c):
    """float32 a*b + c rounded once (IEEE fusedMultiplyAdd), exactly.

    a*b of two float32 is exact in float64 (48 significant bits).  The sum
    s = a*b + c in float64 is rounded, so it is corrected to round-to-odd with
    its exact error (Knuth's TwoSum): a float64 rounded to odd and then to
    float32 is the correctly rounded float32 of the exact value, because 53 >=
    24 + 2 (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums:
    proved algorithms using rounding to odd", IEEE TC 2008).  A plain float64
    a*b + c rounded to float32 would round twice."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float32) for v in (a, b, c)))
    shape = a.shape
    a, b, c = (np.atleast_1d(v) for v in (a, b, c))
    p = a.astype(np.float64) * b.astype(np.float64)
    c64 = c.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c64
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)
    bits = s.view(np.uint64).copy()
    even = (bits & np.uint64(1)) == 0
    fix = (err != 0) & even & np.isfinite(s)
    # the odd neighbour of s towards the exact value: one step away from zero
    # when err has the sign of s, towards zero otherwise
    away = fix & ((err > 0) == (s > 0))
    bits[away] += np.uint64(1)
    bits[fix & ~away] -= np.uint64(1)
    return bits.view(np.float64).astype(np.float32).reshape(shape)


def _estrin(x, c):
    """c0 + c1 x + ... + c8 x^8 or ... + c9 x^9 as STREAM.md writes it: Estrin's
    scheme with float32 fmas, the highest pair (or c8 alone) fused with x^8 last."""
    x2 = x * x
    x4 = x2 * x2
    x8 = x4 * x4
    a = [fmaf(c[2 * k + 1], x, c[2 * k]) for k in range(len(c) // 2)]
    q = fmaf(fmaf(a[3], x2, a[2]), x4, fmaf(a[1], x2, a[0]))
    return fmaf(c[8] if len(c) == 9 else a[4], x8, q)


def _log1pf(f):
    """Section 4.1: ln(1 + f) = fma(f^2, Q(f), f), float32."""
    return fmaf(f * f, _estrin(f, _LOG1PF_Q), f)


def _add_eln2f(e, lm):
    """e ln 2 + lm = fma(e, LN2F_HI, fma(e, LN2F_LO, lm)), float32."""
    return fmaf(e, _LN2F_HI, fmaf(e, _LN2F_LO, lm))


def _dtype_kind(dtype):
    """'f32', 'f64', 'f16' or 'bf16'."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return "bf16"
    dt = np.dtype(dtype)
    if dt.name == "bfloat16":
        return "bf16"
    if dt == np.float32:
        return "f32"
    if dt == np.float64:
        return "f64"
    if dt == np.float16:
        return "f16"
    raise TypeError(f"unsupported dtype {dtype!r}")


def _bfloat16_type():
    import ml_dtypes  # optional dependency, imported lazily

    return ml_dtypes.bfloat16


def round_to_half(v32, kind):
    """Section 7: round a float32 array to float16 ('f16') or bfloat16 ('bf16')."""
    v32 = np.asarray(v32, dtype=np.float32)
    if kind == "f16":
        # NumPy's float32 -> float16 cast is IEEE round-to-nearest-even with
        # subnormals and overflow to inf.
        with np.errstate(over="ignore"):  # overflow to inf is the rule
            return v32.astype(np.float16)
    if kind == "bf16":
        bits = v32.view(np.uint32).astype(np.uint64)
        rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) & _MASK32
        hi16 = (rounded >> np.uint64(16)).astype(np.uint16)
        return hi16.view(_bfloat16_type())
    raise ValueError(kind)


def _finish(v, kind):
    if kind in ("f32", "f64"):
        return v
    return round_to_half(v, kind)


def _check_u64(name, v):
    v = int(v)
    if not 0 <= v < 2 ** 64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return v


# ---------------------------------------------------------------------------
# Section 1: Philox4x32-10
# ---------------------------------------------------------------------------

def philox4x32_10(ctr, key):
    """Philox4x32-10 on N counters.  ctr: (N, 4) uint32; key: (N, 2) or (2,)
    uint32.  Returns (N, 4) uint32."""
    ctr = np.asarray(ctr, dtype=np.uint32)
    if ctr.ndim == 1:
        ctr = ctr.reshape(1, 4)
    n = ctr.shape[0]
    key = np.broadcast_to(np.asarray(key, dtype=np.uint32), (n, 2))
    c0, c1, c2, c3 = (ctr[:, i].astype(np.uint64) for i in range(4))
    k0 = key[:, 0].astype(np.uint64)
    k1 = key[:, 1].astype(np.uint64)
    for rnd in range(10):
        if rnd > 0:
            k0 = (k0 + _PHILOX_W0) & _MASK32
            k1 = (k1 + _PHILOX_W1) & _MASK32
        p0 = _PHILOX_M0 * c0  # < 2**64, exact in uint64
        p1 = _PHILOX_M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


# ---------------------------------------------------------------------------
# Section 2: seeds, streams, blocks, words
# ---------------------------------------------------------------------------

def block_words(seed, stream, b_first, count):
    """Blocks b_first .. b_first+count-1 of (seed, stream): (count, 4) uint32."""
    seed = _check_u64("seed", seed)
    stream = _check_u64("stream", stream)
    b_first = int(b_first)
    count = int(count)
    if b_first < 0 or b_first + count > 2 ** 64:
        raise ValueError("block index out of [0, 2**64)")
    b = np.uint64(b_first) + np.arange(count, dtype=np.uint64)
    ctr = np.empty((count, 4), dtype=np.uint32)
    ctr[:, 0] = (b & _MASK32).astype(np.uint32)
    ctr[:, 1] = (b >> np.uint64(32)).astype(np.uint32)
    ctr[:, 2] = stream & 0xFFFFFFFF
    ctr[:, 3] = stream >> 32
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)
    return philox4x32_10(ctr, key)


def _words_from(seed, stream, first, n, elems_per_block):
    """Flat uint64 words of the blocks holding elements first..first+n-1 (with
    elems_per_block elements per block), plus the element indices relative to
    the first of those blocks."""
    first = int(first)
    n = int(n)
    if first < 0 or n < 0:
        raise ValueError("first and n must be >= 0")
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    b0 = first // elems_per_block
    b1 = (first + n - 1) // elems_per_block
    w = block_words(seed, stream, b0, b1 - b0 + 1).reshape(-1).astype(np.uint64)
    rel = np.arange(n, dtype=np.int64) + (first - b0 * elems_per_block)
    return w, rel


def ref_bits(seed, stream, first, n):
    """random_bits_: element i is word i % 4 of block i // 4."""
    w, rel = _words_from(seed, stream, first, n, 4)
    return w[rel].astype(np.uint32)


def _words32_single(seed, stream, first, n):
    """float32-family uniform / trunc normal: x = w[i % 4] of block i // 4."""
    w, rel = _words_from(seed, stream, first, n, 4)
    return w[rel]  # uint64 holding 32-bit words


def _words32_pairs(seed, stream, first, n):
    """float32-family normal: pair j = (i % 4) // 2 of block i // 4.
    Returns (x1, x2, is_cos) with is_cos for even i % 4."""
    w, rel = _words_from(seed, stream, first, n, 4)
    # flat word index of w[2j] in block i//4 is 4*(i//4) + 2*((i%4)//2) = i & ~1
    x1 = w[rel & ~1]
    x2 = w[rel | 1]
    is_cos = (rel % 2) == 0  # rel has the parity of i % 4 (block-aligned)
    return x1, x2, is_cos


def _words64_single(seed, stream, first, n):
    """float64 uniform / trunc normal: block i // 2, X = w[2h] + 2**32 w[2h+1],
    h = i % 2."""
    w, rel = _words_from(seed, stream, first, n, 2)
    # flat index of w[2h] in block i//2 is 4*(i//2) + 2*(i%2) = 2*i
    lo = w[2 * rel]
    hi = w[2 * rel + 1]
    return lo | (hi << np.uint64(32))


def _words64_pairs(seed, stream, first, n):
    """float64 normal: block i // 2, X1 = w0 + 2**32 w1, X2 = w2 + 2**32 w3;
    z_cos for even i % 2."""
    w, rel = _words_from(seed, stream, first, n, 2)
    base = 4 * (rel // 2)
    X1 = w[base] | (w[base + 1] << np.uint64(32))
    X2 = w[base + 2] | (w[base + 3] << np.uint64(32))
    is_cos = (rel % 2) == 0
    return X1, X2, is_cos


# ---------------------------------------------------------------------------
# Section 3: uniform
# ---------------------------------------------------------------------------

def _u01_f32(x):
    return _int_to_f32(x >> np.uint64(8)) * np.float32(2.0 ** -24)


def _u01_f64(X):
    return _int_to_f64(X >> np.uint64(11)) * np.float64(2.0 ** -53)


def ref_uniform(seed, stream, first, n, a, b, dtype):
    kind = _dtype_kind(dtype)
    a = float(a)
    b = float(b)
    width = b - a  # computed in f64 (Python float)
    if kind == "f64":
        u = _u01_f64(_words64_single(seed, stream, first, n))
        v = np.float64(a) + np.float64(width) * u
    else:
        u = _u01_f32(_words32_single(seed, stream, first, n))
        v = np.float32(a) + np.float32(width) * u
    return _finish(v, kind)


# ---------------------------------------------------------------------------
# Section 4: Box-Muller
# ---------------------------------------------------------------------------

def _log_core(num, den, coeffs):
    """s = num/den, s2 = s*s, t = s2*(C1 + s2*(...)), h = s + s, lm = h + h*t."""
    s = num / den
    s2 = s * s
    t = _nested(s2, coeffs)
    h = s + s
    return h + h * t


def _split_f32(f):
    """f (positive normal float32) -> (m, E) with m in [0x3F3504F3, 0x3FB504F3)
    as bits, per section 4.1 case A."""
    bits = np.asarray(f, dtype=np.float32).view(np.uint32).astype(np.int64)
    E = ((bits >> 23) & 0xFF) - 127
    mbits = (bits & 0x007FFFFF) | 0x3F800000
    m = mbits.astype(np.uint32).view(np.float32)
    halve = mbits >= _M_HALVE_BITS32
    m = np.where(halve, m * np.float32(0.5), m)
    E = np.where(halve, E + 1, E)
    return m, E


def _split_f64(f):
    bits = np.asarray(f, dtype=np.float64).view(np.uint64)
    E = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    mbits = (bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)
    m = mbits.view(np.float64)
    halve = mbits >= np.uint64(_M_HALVE_BITS64)
    m = np.where(halve, m * np.float64(0.5), m)
    E = np.where(halve, E + 1, E)
    return m, E


def _radius_f32(x1):
    """r = sqrt(-2 ln u1), u1 = (x1 + 1) 2**-32 = 2**(E-32) (1 + f), section 4.1."""
    x1 = np.asarray(x1, dtype=np.uint64)
    # E: from x1 + 1 rounded once to float32 below 0x7FFFFFFF, else 31 or 32
    F = _int_to_f32(x1 + np.uint64(1))
    fb = F.view(np.uint32).astype(np.int64)
    E = (fb >> 23) - 127
    E = np.where(((fb & 0x7FFFFF) | 0x3F800000) >= _M_HALVE_BITS32, E + 1, E)
    E = np.where(x1 < np.uint64(_X_LOW32), E, np.where(x1 < np.uint64(_X_SQRT2_32), 31, 32))
    # M = x1 + 1 - 2**E, an exact integer, |M| < 2**31
    M = x1.astype(np.int64) + 1 - (np.int64(1) << E.astype(np.int64))
    assert np.all(np.abs(M) < 2 ** 31)
    f = _int_to_f32(M) * np.ldexp(np.float32(1), -E).astype(np.float32)   # exact scaling
    L = -_add_eln2f(_int_to_f32(E - 32), _log1pf(f))
    return np.sqrt(L + L)


def _radius_f64(X1):
    """Section 4.3 radius."""
    X1 = np.asarray(X1, dtype=np.uint64)
    one = np.float64(1.0)
    x = X1 >> np.uint64(11)
    caseA = x < np.uint64(_T64)
    f = _int_to_f64(x) + one  # exact
    m, E = _split_f64(f)
    eA = E - 53
    numA = m - one
    denA = m + one
    D = np.uint64(2 ** 53 - 1) - x  # x < 2**53: never wraps
    d = _int_to_f64(D) * np.float64(2.0 ** -53)
    numB = -d
    denB = np.float64(2.0) - d
    num = np.where(caseA, numA, numB)
    den = np.where(caseA, denA, denB)
    e = np.where(caseA, eA, 0)
    lm = _log_core(num, den, _LOG_C)
    ef = _int_to_f64(e)
    L = -(ef * _LN2_HI + (lm + ef * _LN2_LO))
    return np.sqrt(L + L)


def _rotate(q, cp, sp):
    """(cos, sin) of (pi/2)(q + t) from cp = cos(pi t/2), sp = sin(pi t/2)."""
    cos_t = np.where(q == 0, cp, np.where(q == 1, -sp, np.where(q == 2, -cp, sp)))
    sin_t = np.where(q == 0, sp, np.where(q == 1, cp, np.where(q == 2, -sp, -cp)))
    assert cos_t.dtype == cp.dtype and sin_t.dtype == cp.dtype
    return cos_t, sin_t


def _angle_f32(x2):
    """Section 4.2: (cos theta, sin theta), theta = 2 pi (x2 >> 8) / 2**24."""
    x2 = np.asarray(x2, dtype=np.uint64)
    n = (x2 >> np.uint64(8)).astype(np.int64)
    kk = (n + 0x200000) >> 22
    j = n - kk * (1 << 22)
    assert np.all((j >= -(1 << 21)) & (j < (1 << 21)))
    q = kk & 3
    t = _int_to_f32(j) * np.float32(2.0 ** -22)
    t2 = t * t
    rest = fmaf(t2, fmaf(fmaf(_SINF_S[2], t2, _SINF_S[1]), t2, _SINF_S[0]), _SINF_S1LO)
    sp = fmaf(t, _SINF_S1, t * rest)
    cp = fmaf(t2, fmaf(fmaf(fmaf(_COSF_C[3], t2, _COSF_C[2]), t2, _COSF_C[1]), t2, _COSF_C[0]), np.float32(1))
    return _rotate(q, cp, sp)


def _angle_f64(X2):
    X2 = np.asarray(X2, dtype=np.uint64)
    n = (X2 >> np.uint64(11)).astype(np.int64)
    kk = (n + (1 << 50)) >> 51
    j = n - kk * (1 << 51)
    assert np.all((j >= -(1 << 50)) & (j < (1 << 50)))
    q = kk & 3
    t = _int_to_f64(j) * np.float64(2.0 ** -51)
    t2 = t * t
    sp = t * _horner(t2, _SIN_S[::-1])
    cp = np.float64(1.0) + t2 * _horner(t2, _COS_C[::-1])
    return _rotate(q, cp, sp)


def box_muller_f32(x1, x2):
    """float32 Box-Muller of 32-bit words: returns (z_cos, z_sin), float32."""
    r = _radius_f32(x1)
    c, s = _angle_f32(x2)
    return r * c, r * s


def box_muller_f64(X1, X2):
    """float64 Box-Muller of 64-bit words: returns (z_cos, z_sin), float64."""
    r = _radius_f64(X1)
    c, s = _angle_f64(X2)
    return r * c, r * s


def box_muller_f64_of_f32_inputs(x1, x2):
    """The float32-path formula evaluated in float64 with library math:
    u1 = (x1 + 1) / 2**32 (exact in f64), theta = 2 pi (x2 >> 8) / 2**24.
    Returns (z_cos, z_sin), float64."""
    x1 = np.asarray(x1, dtype=np.uint64)
    x2 = np.asarray(x2, dtype=np.uint64)
    u1 = (x1.astype(np.float64) + 1.0) * 2.0 ** -32  # exact: < 2**33, 33 bits
    r = np.sqrt(-2.0 * np.log(u1))
    theta = (2.0 * np.pi) * ((x2 >> np.uint64(8)).astype(np.float64) * 2.0 ** -24)
    return r * np.cos(theta), r * np.sin(theta)


def ref_normal(seed, stream, first, n, mean, std, dtype):
    kind = _dtype_kind(dtype)
    if kind == "f64":
        X1, X2, is_cos = _words64_pairs(seed, stream, first, n)
        zc, zs = box_muller_f64(X1, X2)
        z = np.where(is_cos, zc, zs)
        v = np.float64(mean) + np.float64(std) * z
    else:
        x1, x2, is_cos = _words32_pairs(seed, stream, first, n)
        zc, zs = box_muller_f32(x1, x2)
        z = np.where(is_cos, zc, zs)
        v = fmaf(np.float32(std), z, np.float32(mean))
    return _finish(v, kind)


# ---------------------------------------------------------------------------
# Section 6: truncated normal
# ---------------------------------------------------------------------------

def _exp_le0(y):
    """Section 6's X(y) = e**y for y <= 0."""
    k = math.floor(y * 1.4426950408889634 + 0.5)
    r = (y - k * float(_LN2_HI)) - k * float(_LN2_LO)
    s = 1.0
    for n in range(14, 0, -1):
        s = 1.0 + s * r / n
    return math.ldexp(s, k)


def _erfc_ge0(z):
    """Section 6's E(z) = erfc(z), z >= 0."""
    c = 0.5641895835477563
    if z < 2.0:
        t = z
        s = z
        q = 2.0 * z * z
        for n in range(1, 60):
            t = t * q / (2 * n + 1)
            s = s + t
        return 1.0 - 2.0 * c * _exp_le0(-z * z) * s
    f = z
    for n in range(60, 0, -1):
        f = z + (n / 2.0) / f
    return c * _exp_le0(-z * z) / f


def _Q(x):
    z = x / 1.4142135623730951
    return 0.5 * _erfc_ge0(z) if z >= 0 else 1.0 - 0.5 * _erfc_ge0(-z)


def _Phi(x):
    return _Q(-x)


def _times_pow2(x, k):
    """x * 2**k, exact (inf on overflow)."""
    try:
        return math.ldexp(x, k)
    except OverflowError:
        return math.copysign(math.inf, x)


def trunc_normal_setup(mean, std, a, b, dtype):
    """Per-call constants of section 6, in f64 and rounded to the working
    precision of dtype.  Returns a dict (working-precision scalars plus the
    f64 values under '*_f64' and 'mode', 'k')."""
    kind = _dtype_kind(dtype)
    ft = np.float64 if kind == "f64" else np.float32
    mean = float(mean)
    std = float(std)
    a = float(a)
    b = float(b)
    # clamped to [-40, 40] (section 6)
    alpha = min(max((a - mean) / std, -40.0), 40.0)
    beta = min(max((b - mean) / std, -40.0), 40.0)
    if alpha < 0 < beta:
        mode = "both"
        cA = _Phi(alpha)
        cB = _Q(beta)
        W = (1 - cA) - cB
        P = None
    elif beta <= 0:
        mode = "low"
        cA = _Phi(alpha)
        cB = _Q(beta)
        W = _Phi(beta) - cA
        P = _Phi(beta)
    elif alpha >= 0:
        mode = "high"
        cA = _Phi(alpha)
        cB = _Q(beta)
        W = _Q(alpha) - cB
        P = _Q(alpha)
    else:  # NaN alpha/beta
        raise ValueError(f"invalid truncation interval [{a}, {b}] for mean={mean}, std={std}")
    if P is not None and P < sys.float_info.min:
        raise ValueError(f"truncation interval [{a}, {b}]: tail mass {P!r} is subnormal")
    if P is not None and P < 2.0 ** -64:
        k = -math.frexp(P)[1]
    else:
        k = 0
    if k:
        cA = _times_pow2(cA, k)
        cB = _times_pow2(cB, k)
        W = _times_pow2(W, k)
    lnS = k * 0.6931471805599453
    if mode == "low":
        cB = 0.0
    if mode == "high":
        cA = 0.0
    if not (math.isfinite(W) and W > 2.0 ** -40 * max(cA, cB)):
        raise ValueError(f"truncation interval [{a}, {b}] is too narrow "
                         f"(mean={mean}, std={std}, scaled W={W})")
    wide = kind != "f64" and W < 2.0 ** -4 * max(cA, cB)
    if wide:
        ft = np.float64
    thr = {"both": 0.5, "low": math.inf, "high": -math.inf}[mode]
    # central region: p >= 2**-8 in the float32 rule, p >= 0.075 (AS 241) in f64
    pc = (0.075 if ft is np.float64 else float(_NDTRIF_PC)) if k == 0 else math.inf
    with np.errstate(over="ignore"):  # e.g. a scaled cA that is unused
        rounded = {name: ft(val) for name, val in
                   (("cA", cA), ("cB", cB), ("W", W), ("lnS", lnS))}
    if not (np.isfinite(rounded["W"]) and rounded["W"] > 0):
        raise ValueError(f"truncation interval [{a}, {b}]: W={W!r} is not a positive "
                         f"finite number in {np.dtype(ft).name}")
    return {
        "mode": mode, "k": k, "alpha": alpha, "beta": beta,
        "cA_f64": cA, "cB_f64": cB, "W_f64": W, "lnS_f64": lnS,
        "cA": rounded["cA"], "cB": rounded["cB"], "W": rounded["W"], "lnS": rounded["lnS"],
        "thr": ft(thr), "pc": ft(pc),
        "mean": ft(mean), "std": ft(std), "lo": ft(a), "hi": ft(b),
        "ft": ft, "wide": wide,
    }


def _ln_pos(p):
    """ln p for positive normal p (float32 or float64 array), section 6."""
    if p.dtype == np.float32:
        m, E = _split_f32(p)
        return _add_eln2f(_int_to_f32(E), _log1pf(m - np.float32(1.0)))
    m, E = _split_f64(p)
    one = np.float64(1.0)
    lm = _log_core(m - one, m + one, _LOG_C)
    fE = _int_to_f64(E)
    return fE * _LN2_HI + (lm + fE * _LN2_LO)


def _ndtri_low_f32(p, lnS, pc):
    """Section 6, float32 rule: central z = (2p - 1) P(w), w = -ln(4p(1 - p));
    tail: PPND7's tail rationals in r = sqrt(lnS - ln p), with fmas."""
    f32 = np.float32
    cf = {k: [f32(c) for c in v] for k, v in _PPND7.items()}
    one = f32(1.0)

    def h(r, cs):  # cs low..high, fma Horner from the highest coefficient down
        acc = fmaf(cs[-1], r, cs[-2])
        for c in reversed(cs[:-2]):
            acc = fmaf(acc, r, c)
        return acc

    with np.errstate(all="ignore"):
        p4 = f32(4.0) * p
        w = -_ln_pos(np.where(p > 0, fmaf(-p4, p, p4), one).astype(f32))
        z_c = fmaf(f32(2.0), p, f32(-1.0)) * _estrin(w, _NDTRIF_P)
        pt = np.where(p >= pc, f32(0.25), p).astype(f32)   # the log needs a normal p
        r = np.sqrt(f32(lnS) - _ln_pos(pt))
        r1 = r - f32(_AS241_CONST2)
        z_t1 = -(h(r1, cf["c"]) / h(r1, [one] + cf["d"]))
        r2 = r - f32(_AS241_SPLIT2)
        z_t2 = -(h(r2, cf["e"]) / h(r2, [one] + cf["f"]))
        z_t = np.where(r <= f32(_AS241_SPLIT2), z_t1, z_t2)
    return np.where(p >= pc, z_c, z_t).astype(f32)


def ndtri_low(p, lnS, pc):
    """The inverse normal CDF of section 6 at a lower-tail (possibly
    2**k-scaled) probability p: the float32 rule for float32 arrays, AS 241
    PPND16 for float64 arrays.  Evaluated on all lanes (every branch), the
    branch picked per lane."""
    p = np.asarray(p)
    ft = np.float32 if p.dtype == np.float32 else np.float64
    pc = ft(pc)
    central = p >= pc
    tail = ~central
    if np.any(tail):
        pt = p[tail]
        # The spec's log is defined for positive normal p only.
        tiny = np.finfo(ft).tiny
        assert np.all(pt >= tiny) and np.all(np.isfinite(pt)), \
            f"tail branch reached with a non-normal p: {pt[(pt < tiny) | ~np.isfinite(pt)][:5]}"
    if ft is np.float32:
        return _ndtri_low_f32(p, lnS, pc)
    cf = {k: [ft(c) for c in v] for k, v in _PPND16.items()}
    one = ft(1.0)
    lnS = ft(lnS)

    def num(r, cs):  # cs low..high
        return _horner(r, cs[::-1])

    def den(r, cs):  # cs = [c1..cn], poly cn r^n + ... + c1 r + 1
        return _horner(r, cs[::-1] + [one])

    with np.errstate(all="ignore"):
        # central
        q = p - ft(0.5)
        r = ft(_AS241_CONST1) - q * q
        z_c = (q * num(r, cf["a"])) / den(r, cf["b"])
        # tail
        r = np.sqrt(lnS - _ln_pos(p))
        r1 = r - ft(_AS241_CONST2)
        z_t1 = -(num(r1, cf["c"]) / den(r1, cf["d"]))
        r2 = r - ft(_AS241_SPLIT2)
        z_t2 = -(num(r2, cf["e"]) / den(r2, cf["f"]))
        z_t = np.where(r <= ft(_AS241_SPLIT2), z_t1, z_t2)
    return np.where(central, z_c, z_t).astype(ft)


def ref_trunc_normal(seed, stream, first, n, mean, std, a, b, dtype):
    kind = _dtype_kind(dtype)
    c = trunc_normal_setup(mean, std, a, b, dtype)
    ft = c["ft"]
    if kind == "f64":
        X = _words64_single(seed, stream, first, n)
        u = _int_to_f64(np.uint64(2) * (X >> np.uint64(12)) + np.uint64(1)) * np.float64(2.0 ** -53)
    elif c["wide"]:
        # narrow interval, 32-bit output: the f32 word's u, the f64 rule
        x = _words32_single(seed, stream, first, n)
        u = _int_to_f64(np.uint64(2) * (x >> np.uint64(9)) + np.uint64(1)) * np.float64(2.0 ** -24)
    else:
        x = _words32_single(seed, stream, first, n)
        u = _int_to_f32(np.uint64(2) * (x >> np.uint64(9)) + np.uint64(1)) * np.float32(2.0 ** -24)
    with np.errstate(over="ignore", invalid="ignore"):
        v = ft(1.0) - u
        if ft is np.float32:      # the float32 rule fuses these (section 6)
            plo = fmaf(u, c["W"], c["cA"])
            phi = fmaf(v, c["W"], c["cB"])
        else:
            plo = c["cA"] + u * c["W"]
            phi = c["cB"] + v * c["W"]
        low_side = plo <= c["thr"]
        p = np.where(low_side, plo, phi)
    zl = ndtri_low(p, c["lnS"], c["pc"])
    z = np.where(low_side, zl, -zl)
    y = fmaf(c["std"], z, c["mean"]) if ft is np.float32 else c["mean"] + c["std"] * z
    y = np.where(y > c["lo"], y, c["lo"])           # (y > lo) ? y : lo, then
    out = np.where(y < c["hi"], y, c["hi"]).astype(ft)   # (y < hi) ? y : hi
    assert out.dtype == ft
    assert not np.any(np.isnan(out)), "NaN in truncated normal reference"
    if c["wide"]:
        out = out.astype(np.float32)
    return _finish(out, kind)
