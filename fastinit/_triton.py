"""The fastinit random stream (docs/STREAM.md, stream version 2) as Triton kernels.

The same bits as the C kernels of csrc/, on any device Triton targets (and on CPU
torch tensors under Triton's interpreter, ``TRITON_INTERPRET=1``). This module
only launches: :mod:`fastinit.gpu` checks every argument through
``fastinit._fill`` (the one description of a fill) and hands over the kernel
kind, output code and parameter tuple of ``Draw.kernel``.

How the arithmetic is kept bit-exact:

* Every floating-point operation is one IEEE operation in the working precision,
  written in the order of STREAM.md; ``tl.fma`` exactly where the rule has
  ``fma`` (the f32 rules of sections 4 and 6), nowhere else. Kernels must be
  compiled with ``enable_fp_fusion=False`` (:data:`LAUNCH_OPTIONS`) so that the
  compiler contracts no ``a * b + c`` into an fma of its own (NVPTX would).
* float32 divisions are ``tl.math.div_rn`` and square roots ``tl.math.sqrt_rn`` (IEEE
  round-to-nearest): a plain ``/`` or ``tl.sqrt`` on float32 is an approximation
  on NVIDIA GPUs. Both take float32 only; float64 uses ``/`` and ``tl.sqrt``, which
  are IEEE in float64 (div.rn.f64, sqrt.rn.f64: see ``_div64`` / ``_sqrt64``).
* Constants are built from their bit patterns (``_f32c`` / ``_f64c``), never from
  Python float literals (which Triton may type as float32).
* Only Triton's builtins (``tl.full``, ``tl.where``, ...), none of its ``@jit``
  library functions (``tl.zeros``, ``tl.zeros_like``, ``tl.cdiv``): the interpreter
  cannot call those when triton was imported before ``TRITON_INTERPRET`` was set.
* Integer work (Philox, word selection, exponent tricks) is uint32 / uint64 /
  int64 arithmetic, so element indices run to 2**64 - 1.
* float16 / bfloat16 rounding is done on the float32 bits with integer operations
  (section 7, as csrc/fi_dist.h), so it does not depend on the hardware's
  conversion instructions.

Layout of a launch: the output is a flat, C-contiguous tensor viewed as integers of
its item size; it is described as ``rows`` runs of ``run_len`` consecutive
elements, run ``r`` starting at local element ``local[r]`` with stream (element)
index ``first[r]`` (a plain fill is one run; a tile of ``global_shape`` is one run
per row of its leading axes, as fastinit._buffers cuts it). Each kernel lane owns
one Philox block of one run and writes the 4 (2 for float64) elements of that
block that fall inside the run.
"""
import struct

import numpy as np
import torch
import triton
import triton.language as tl

from . import _kernels

__all__ = ["INTERPRET", "LAUNCH_OPTIONS", "launch", "prepare", "tile_runs"]

try:
    INTERPRET = bool(triton.knobs.runtime.interpret)   # how the kernels below are decorated
except AttributeError:                                 # (older Triton: no knobs module)
    import os
    INTERPRET = os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")

#: Launch options of every kernel here: no floating-point contraction (see the docstring).
LAUNCH_OPTIONS = {"enable_fp_fusion": False}

# Kernel kinds and output codes, as compile-time constants of the kernel.
_K_BITS = tl.constexpr(_kernels.BITS)
_K_UNIFORM = tl.constexpr(_kernels.UNIFORM)
_K_NORMAL = tl.constexpr(_kernels.NORMAL)
_K_TRUNC = tl.constexpr(_kernels.TRUNC)
_K_TRUNC_WIDE = tl.constexpr(_kernels.TRUNC_WIDE)
_K_PATTERN = tl.constexpr(_kernels.PATTERN)
_F32 = tl.constexpr(_kernels.F32)
_F64 = tl.constexpr(_kernels.F64)
_F16 = tl.constexpr(_kernels.F16)
_BF16 = tl.constexpr(_kernels.BF16)


# ---------------------------------------------------------------------------
# Constants (STREAM.md sections 1, 4, 5, 6; csrc/fi_consts.h), as bit patterns

def _b32(hexfloat):
    v = float.fromhex(hexfloat)
    bits = struct.unpack("<i", struct.pack("<f", v))[0]
    assert struct.unpack("<f", struct.pack("<i", bits))[0] == v, hexfloat   # exactly a float32
    return tl.constexpr(bits)


def _b64(value):
    v = float.fromhex(value) if isinstance(value, str) else float(value)
    return tl.constexpr(struct.unpack("<q", struct.pack("<d", v))[0])


# Philox4x32-10 (section 1)
_PH_M0 = tl.constexpr(0xD2511F53)
_PH_M1 = tl.constexpr(0xCD9E8D57)
_PH_W0 = tl.constexpr(0x9E3779B9)
_PH_W1 = tl.constexpr(0xBB67AE85)

# f32 (version 2): ln(1 + f) = f + f^2 Q(f), sin / cos of a quarter turn, ln 2 split
_LOG1PF_Q0 = _b32("-0x1.fffff8p-2")
_LOG1PF_Q1 = _b32("0x1.555550p-2")
_LOG1PF_Q2 = _b32("-0x1.000426p-2")
_LOG1PF_Q3 = _b32("0x1.99a3f4p-3")
_LOG1PF_Q4 = _b32("-0x1.542766p-3")
_LOG1PF_Q5 = _b32("0x1.227182p-3")
_LOG1PF_Q6 = _b32("-0x1.0f378cp-3")
_LOG1PF_Q7 = _b32("0x1.084928p-3")
_LOG1PF_Q8 = _b32("-0x1.383146p-4")
_LN2F_HI = _b32("0x1.62e400p-1")
_LN2F_LO = _b32("0x1.7f7d1cp-20")
_SINF_S1 = _b32("0x1.921fb6p+0")
_SINF_S1LO = _b32("-0x1.777a5cp-25")
_SINF_S3 = _b32("-0x1.4abbbep-1")
_SINF_S5 = _b32("0x1.466004p-4")
_SINF_S7 = _b32("-0x1.2dc84cp-8")
_COSF_C2 = _b32("-0x1.3bd3ccp+0")
_COSF_C4 = _b32("0x1.03c1dep-2")
_COSF_C6 = _b32("-0x1.55c5e2p-6")
_COSF_C8 = _b32("0x1.d9c326p-11")
_NDTRIF_P0 = _b32("0x1.40d932p+0")
_NDTRIF_P1 = _b32("0x1.4ffddap-2")
_NDTRIF_P2 = _b32("0x1.0b9db8p-6")
_NDTRIF_P3 = _b32("-0x1.b13650p-9")
_NDTRIF_P4 = _b32("-0x1.70941cp-13")
_NDTRIF_P5 = _b32("0x1.f83e00p-15")
_NDTRIF_P6 = _b32("0x1.c39e5ap-18")
_NDTRIF_P7 = _b32("-0x1.974ca0p-19")
_NDTRIF_P8 = _b32("0x1.6dcab4p-22")
_NDTRIF_P9 = _b32("-0x1.da1f86p-27")
# AS 241 PPND7's tail rationals, each coefficient rounded once to f32 (section 6)
_PPND7_CONST2 = _b32("0x1.99999ap+0")     # 1.6
_PPND7_SPLIT2 = _b32("0x1.4p+2")          # 5.0
_PPND7_C0 = _b32("0x1.6c6662p+0")
_PPND7_C1 = _b32("0x1.60df54p+1")
_PPND7_C2 = _b32("0x1.4e85c2p+0")
_PPND7_C3 = _b32("0x1.5ca5dap-3")
_PPND7_D1 = _b32("0x1.795848p-1")
_PPND7_D2 = _b32("0x1.ec62b8p-4")
_PPND7_E0 = _b32("0x1.aa1b1ep+2")
_PPND7_E1 = _b32("0x1.8a65a0p+1")
_PPND7_E2 = _b32("0x1.b6f8aap-2")
_PPND7_E3 = _b32("0x1.1c0d82p-6")
_PPND7_F1 = _b32("0x1.ef92a8p-3")
_PPND7_F2 = _b32("0x1.91ad42p-7")

# f64 (unchanged since version 1)
_LN2_HI = _b64("0x1.62e42feep-1")
_LN2_LO = _b64("0x1.a39ef35793c76p-33")
_LOG_C1 = _b64("0x1.5555555555555p-2")
_LOG_C2 = _b64("0x1.999999999999ap-3")
_LOG_C3 = _b64("0x1.2492492492492p-3")
_LOG_C4 = _b64("0x1.c71c71c71c71cp-4")
_LOG_C5 = _b64("0x1.745d1745d1746p-4")
_LOG_C6 = _b64("0x1.3b13b13b13b14p-4")
_LOG_C7 = _b64("0x1.1111111111111p-4")
_LOG_C8 = _b64("0x1.e1e1e1e1e1e1ep-5")
_LOG_C9 = _b64("0x1.af286bca1af28p-5")
_LOG_C10 = _b64("0x1.8618618618618p-5")
_SIN_S1 = _b64("0x1.921fb54442d18p+0")
_SIN_S3 = _b64("-0x1.4abbce625be53p-1")
_SIN_S5 = _b64("0x1.466bc6775aae2p-4")
_SIN_S7 = _b64("-0x1.32d2cce62bd86p-8")
_SIN_S9 = _b64("0x1.50783487ee782p-13")
_SIN_S11 = _b64("-0x1.e3074fde8871fp-19")
_SIN_S13 = _b64("0x1.e8f434d018d63p-25")
_SIN_S15 = _b64("-0x1.6fadb9f155744p-31")
_SIN_S17 = _b64("0x1.aaec32af93359p-38")
_COS_C2 = _b64("-0x1.3bd3cc9be45dep+0")
_COS_C4 = _b64("0x1.03c1f081b5ac4p-2")
_COS_C6 = _b64("-0x1.55d3c7e3cbffap-6")
_COS_C8 = _b64("0x1.e1f506891babbp-11")
_COS_C10 = _b64("-0x1.a6d1f2a204a8cp-16")
_COS_C12 = _b64("0x1.f9d38a3763cc3p-22")
_COS_C14 = _b64("-0x1.b6e24f44b128fp-28")
_COS_C16 = _b64("0x1.20c62c2f2d7f5p-34")
_COS_C18 = _b64("-0x1.2a0c591af8314p-41")
# AS 241 PPND16 (section 6), the C hex literals of csrc/fi_consts.h
_P16_CONST1 = _b64("0x1.71eb851eb851fp-3")    # 0.180625
_P16_CONST2 = _b64("0x1.999999999999ap+0")    # 1.6
_P16_SPLIT2 = _b64("0x1.4p+2")                # 5.0
_P16_A0 = _b64("0x1.b18d91e9eef75p+1")
_P16_A1 = _b64("0x1.0a4888b1a436ep+7")
_P16_A2 = _b64("0x1.ece5d2213c0ccp+10")
_P16_A3 = _b64("0x1.ad1d8cd4ee71dp+13")
_P16_A4 = _b64("0x1.66c3e869b752ap+15")
_P16_A5 = _b64("0x1.06c1c55b78f20p+16")
_P16_A6 = _b64("0x1.052d26b2e45e4p+15")
_P16_A7 = _b64("0x1.39a296f7d925ep+11")
_P16_B1 = _b64("0x1.5281b386e1ab5p+5")
_P16_B2 = _b64("0x1.5797efdc8b3f7p+9")
_P16_B3 = _b64("0x1.512322e75c89fp+12")
_P16_B4 = _b64("0x1.4b772d5d65266p+14")
_P16_B5 = _b64("0x1.3317caa64f4bep+15")
_P16_B6 = _b64("0x1.c0e457cb1ae76p+14")
_P16_B7 = _b64("0x1.46a7eca984b69p+12")
_P16_C0 = _b64("0x1.6c665fde9526ap+0")
_P16_C1 = _b64("0x1.2857748cab19bp+2")
_P16_C2 = _b64("0x1.713f71462256ap+2")
_P16_C3 = _b64("0x1.d2ecb1a3d02c4p+1")
_P16_C4 = _b64("0x1.453cc085375b2p+0")
_P16_C5 = _b64("0x1.ef2abb9b85c37p-3")
_P16_C6 = _b64("0x1.744eb6c45ec67p-6")
_P16_C7 = _b64("0x1.9615ac0b7ace9p-11")
_P16_D1 = _b64("0x1.06cefbb46a449p+1")
_P16_D2 = _b64("0x1.ad278e6526633p+0")
_P16_D3 = _b64("0x1.61292f23385c9p-1")
_P16_D4 = _b64("0x1.2f5123394f040p-3")
_P16_D5 = _b64("0x1.f207a7eab17bfp-7")
_P16_D6 = _b64("0x1.1f18cbfdf2728p-11")
_P16_D7 = _b64("0x1.20d3f686439e4p-30")
_P16_E0 = _b64("0x1.aa1b1c13ee526p+2")
_P16_E1 = _b64("0x1.5daea6e875003p+2")
_P16_E2 = _b64("0x1.c8ea6461fa445p+0")
_P16_E3 = _b64("0x1.2fad9315255cfp-2")
_P16_E4 = _b64("0x1.b2b41193b4ee7p-6")
_P16_E5 = _b64("0x1.45c1908425345p-10")
_P16_E6 = _b64("0x1.c6ec6cc59e02ap-16")
_P16_E7 = _b64("0x1.afb74d693bf93p-23")
_P16_F1 = _b64("0x1.331d34fc7d77fp-1")
_P16_F2 = _b64("0x1.186eb183443fbp-3")
_P16_F3 = _b64("0x1.e76f93215462ap-7")
_P16_F4 = _b64("0x1.9c8bc979dc5d7p-11")
_P16_F5 = _b64("0x1.35c2c496374bfp-16")
_P16_F6 = _b64("0x1.31446f740b9e0p-23")
_P16_F7 = _b64("0x1.269bff1f8c190p-49")

_ZERO64 = _b64(0.0)
_ONE64 = _b64(1.0)
_TWO64 = _b64(2.0)
_HALF64 = _b64(0.5)
_TWO_M53 = _b64(2.0 ** -53)
_TWO_M51 = _b64(2.0 ** -51)
_TWO_M24_64 = _b64(2.0 ** -24)
_ONE32 = _b32("0x1p+0")
_TWO32 = _b32("0x1p+1")
_FOUR32 = _b32("0x1p+2")
_QUARTER32 = _b32("0x1p-2")
_MONE32 = _b32("-0x1p+0")
_TWO_M24 = _b32("0x1p-24")
_TWO_M22 = _b32("0x1p-22")


@triton.jit
def _f32c(bits: tl.constexpr):
    """A float32 constant from its bit pattern."""
    return tl.full([], bits, tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def _f64c(bits: tl.constexpr):
    """A float64 constant from its bit pattern."""
    return tl.full([], bits, tl.int64).to(tl.float64, bitcast=True)


@triton.jit
def _u32c(v: tl.constexpr):
    return tl.full([], v, tl.uint32)


@triton.jit
def _u64c(v: tl.constexpr):
    return tl.full([], v, tl.uint64)


@triton.jit
def _div64(a, b):
    """IEEE float64 division: a plain ``/`` (arith.divf, LLVM fdiv double, which NVPTX lowers
    to div.rn.f64; there is no approximate f64 division). tl.math.div_rn takes float32
    only, and fdiv(ieee_rounding=True) on float64 fails to compile for NVIDIA in Triton 3.9
    (it lowers to the f32-only llvm.nvvm.div.rn.f intrinsic)."""
    return a / b


@triton.jit
def _sqrt64(x):
    """IEEE float64 square root (tl.math.sqrt_rn takes float32 only; tl.sqrt on float64 is
    llvm.sqrt.f64, which NVPTX lowers to sqrt.rn.f64: there is no approximate f64 sqrt)."""
    return tl.sqrt(x)


# ---------------------------------------------------------------------------
# Section 1: Philox4x32-10

@triton.jit
def _philox(c0, c1, c2, c3, k0, k1):
    """Ten rounds on uint32 counters; the key is bumped before every round but the first."""
    for rnd in tl.static_range(10):
        if rnd > 0:
            k0 = k0 + _u32c(_PH_W0)          # mod 2**32
            k1 = k1 + _u32c(_PH_W1)
        hi0 = tl.umulhi(c0, _u32c(_PH_M0))
        lo0 = c0 * _u32c(_PH_M0)              # the low 32 bits of the 64-bit product
        hi1 = tl.umulhi(c2, _u32c(_PH_M1))
        lo1 = c2 * _u32c(_PH_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


# ---------------------------------------------------------------------------
# Sections 4.1 and 6: the f32 logarithm

@triton.jit
def _log1p_core_f32(f):
    """ln(1 + f) = fma(f^2, Q(f), f), Q by Estrin's scheme (section 4.1)."""
    f2 = f * f
    f4 = f2 * f2
    f8 = f4 * f4
    a0 = tl.fma(_f32c(_LOG1PF_Q1), f, _f32c(_LOG1PF_Q0))
    a1 = tl.fma(_f32c(_LOG1PF_Q3), f, _f32c(_LOG1PF_Q2))
    a2 = tl.fma(_f32c(_LOG1PF_Q5), f, _f32c(_LOG1PF_Q4))
    a3 = tl.fma(_f32c(_LOG1PF_Q7), f, _f32c(_LOG1PF_Q6))
    q = tl.fma(tl.fma(a3, f2, a2), f4, tl.fma(a1, f2, a0))
    q = tl.fma(_f32c(_LOG1PF_Q8), f8, q)
    return tl.fma(f2, q, f)


@triton.jit
def _add_eln2_f32(e, lm):
    """e ln 2 + lm = fma(e, LN2F_HI, fma(e, LN2F_LO, lm)) (e * LN2F_HI is exact)."""
    return tl.fma(e, _f32c(_LN2F_HI), tl.fma(e, _f32c(_LN2F_LO), lm))


@triton.jit
def _logf(p):
    """ln p for a positive normal float32 p (end of section 4.1): p = 2^E m, m halved
    (exactly, by the exponent field) and E raised when m's bits are >= 0x3FB504F3."""
    b = p.to(tl.int32, bitcast=True)
    e = (b >> 23) - 127
    mb = (b & 0x7FFFFF) | 0x3F800000
    halve = mb >= 0x3FB504F3
    mb = tl.where(halve, mb - 0x00800000, mb)
    e = tl.where(halve, e + 1, e)
    m = mb.to(tl.float32, bitcast=True)
    return _add_eln2_f32(e.to(tl.float32), _log1p_core_f32(m - _f32c(_ONE32)))


# ---------------------------------------------------------------------------
# Section 4: Box-Muller

@triton.jit
def _radius_f32(x1):
    """r = sqrt(-2 ln u1), u1 = (x1 + 1) 2^-32 = 2^(E-32) (1 + f) (section 4.1); x1 uint32."""
    # E: from x1 + 1 rounded once to float32 (x1 < 0x7FFFFFFF), else 31 or 32. (x1 + 1
    # wraps for x1 = 0xFFFFFFFF, a lane the where() below discards.)
    fb = (x1 + 1).to(tl.float32).to(tl.int32, bitcast=True)
    e = (fb >> 23) - 127
    e = tl.where(((fb & 0x7FFFFF) | 0x3F800000) >= 0x3FB504F3, e + 1, e)
    e = tl.where(x1 < _u32c(0x7FFFFFFF), e, tl.where(x1 < _u32c(0xB504F333), 31, 32))
    # M = x1 + 1 - 2^E, exact in int64, |M| < 2^31; f = f32(M) * 2^-E (exact scaling)
    e64 = e.to(tl.int64)
    m = x1.to(tl.int64) + 1 - (tl.full([], 1, tl.int64) << e64)
    scale = ((127 - e) << 23).to(tl.float32, bitcast=True)
    f = m.to(tl.int32).to(tl.float32) * scale
    el = (e - 32).to(tl.float32)
    big_l = -_add_eln2_f32(el, _log1p_core_f32(f))
    return tl.math.sqrt_rn(big_l + big_l)


@triton.jit
def _angle_f32(x2):
    """(cos θ, sin θ), θ = 2π (x2 >> 8) 2^-24, by exact quarter-turn reduction (section 4.2)."""
    n = x2 >> 8
    kk = (n + 0x200000) >> 22
    j = n.to(tl.int32) - (kk << 22).to(tl.int32)
    t = j.to(tl.float32) * _f32c(_TWO_M22)
    t2 = t * t
    rest = tl.fma(t2, tl.fma(tl.fma(_f32c(_SINF_S7), t2, _f32c(_SINF_S5)), t2, _f32c(_SINF_S3)),
                  _f32c(_SINF_S1LO))
    sp = tl.fma(t, _f32c(_SINF_S1), t * rest)
    cp = tl.fma(t2, tl.fma(tl.fma(tl.fma(_f32c(_COSF_C8), t2, _f32c(_COSF_C6)), t2, _f32c(_COSF_C4)), t2,
                           _f32c(_COSF_C2)), _f32c(_ONE32))
    q = kk & 3
    c = tl.where(q == 0, cp, tl.where(q == 1, -sp, tl.where(q == 2, -cp, sp)))
    s = tl.where(q == 0, sp, tl.where(q == 1, cp, tl.where(q == 2, -sp, -cp)))
    return c, s


@triton.jit
def _frexp_sqrt2_f64(x):
    """(m, E) of a positive normal double, m in [1/√2, √2) (sections 4.3 and 6)."""
    b = x.to(tl.uint64, bitcast=True)
    e = (b >> 52).to(tl.int64) - 1023
    mb = (b & _u64c(0xFFFFFFFFFFFFF)) | _u64c(0x3FF0000000000000)
    halve = mb >= _u64c(0x3FF6A09E667F3BCD)
    mb = tl.where(halve, mb - _u64c(0x0010000000000000), mb)
    e = tl.where(halve, e + 1, e)
    return mb.to(tl.float64, bitcast=True), e


@triton.jit
def _log_core_f64(num, den, e):
    """e ln 2 + 2 atanh(num / den), f64 (section 4.3): Horner innermost first, no fma."""
    s = _div64(num, den)
    s2 = s * s
    t = s2 * _f64c(_LOG_C10)
    t = s2 * (_f64c(_LOG_C9) + t)
    t = s2 * (_f64c(_LOG_C8) + t)
    t = s2 * (_f64c(_LOG_C7) + t)
    t = s2 * (_f64c(_LOG_C6) + t)
    t = s2 * (_f64c(_LOG_C5) + t)
    t = s2 * (_f64c(_LOG_C4) + t)
    t = s2 * (_f64c(_LOG_C3) + t)
    t = s2 * (_f64c(_LOG_C2) + t)
    t = s2 * (_f64c(_LOG_C1) + t)
    h = s + s
    lm = h + h * t
    return e * _f64c(_LN2_HI) + (lm + e * _f64c(_LN2_LO))


@triton.jit
def _log_f64(p):
    m, e = _frexp_sqrt2_f64(p)
    return _log_core_f64(m - _f64c(_ONE64), m + _f64c(_ONE64), e.to(tl.float64))


@triton.jit
def _radius_f64(x64):
    """Section 4.3 radius from the 64-bit word X1 (uint64)."""
    x = x64 >> 11
    case_a = x < _u64c(0x16A09E667F3BCC)
    # A: u1 = 2^(E-53) m from f = x + 1 (exact)
    m, e = _frexp_sqrt2_f64(x.to(tl.int64).to(tl.float64) + _f64c(_ONE64))
    # B: u1 = 1 - d with d = ((2^53 - 1) - x) 2^-53 (exact)
    d = (_u64c(0x1FFFFFFFFFFFFF) - x).to(tl.int64).to(tl.float64) * _f64c(_TWO_M53)
    num = tl.where(case_a, m - _f64c(_ONE64), -d)
    den = tl.where(case_a, m + _f64c(_ONE64), _f64c(_TWO64) - d)
    e = tl.where(case_a, (e - 53).to(tl.float64), _f64c(_ZERO64))
    big_l = -_log_core_f64(num, den, e)
    return _sqrt64(big_l + big_l)


@triton.jit
def _angle_f64(x64):
    """Section 4.3 angle from the 64-bit word X2 (uint64)."""
    n = x64 >> 11
    kk = (n + _u64c(1 << 50)) >> 51
    j = n.to(tl.int64) - (kk << 51).to(tl.int64)
    t = j.to(tl.float64) * _f64c(_TWO_M51)
    t2 = t * t
    sp = t2 * _f64c(_SIN_S17)
    sp = t2 * (_f64c(_SIN_S15) + sp)
    sp = t2 * (_f64c(_SIN_S13) + sp)
    sp = t2 * (_f64c(_SIN_S11) + sp)
    sp = t2 * (_f64c(_SIN_S9) + sp)
    sp = t2 * (_f64c(_SIN_S7) + sp)
    sp = t2 * (_f64c(_SIN_S5) + sp)
    sp = t2 * (_f64c(_SIN_S3) + sp)
    sp = t * (_f64c(_SIN_S1) + sp)
    cp = t2 * _f64c(_COS_C18)
    cp = t2 * (_f64c(_COS_C16) + cp)
    cp = t2 * (_f64c(_COS_C14) + cp)
    cp = t2 * (_f64c(_COS_C12) + cp)
    cp = t2 * (_f64c(_COS_C10) + cp)
    cp = t2 * (_f64c(_COS_C8) + cp)
    cp = t2 * (_f64c(_COS_C6) + cp)
    cp = t2 * (_f64c(_COS_C4) + cp)
    cp = _f64c(_ONE64) + t2 * (_f64c(_COS_C2) + cp)
    q = (kk & 3).to(tl.int32)
    c = tl.where(q == 0, cp, tl.where(q == 1, -sp, tl.where(q == 2, -cp, sp)))
    s = tl.where(q == 0, sp, tl.where(q == 1, cp, tl.where(q == 2, -sp, -cp)))
    return c, s


# ---------------------------------------------------------------------------
# Section 6: the inverse normal CDF

@triton.jit
def _ndtri_low_f32(p, pc, ln_s):
    """The f32 rule (version 2) at a lower-tail probability p; both branches are
    evaluated on every lane (with a harmless input where unused) and one is picked."""
    central = p >= pc
    # central: z = (2p - 1) P(w), w = -ln(4p(1 - p))
    pcen = tl.where(central, p, _f32c(_QUARTER32))
    p4 = _f32c(_FOUR32) * pcen
    w = -_logf(tl.fma(-p4, pcen, p4))
    w2 = w * w
    w4 = w2 * w2
    w8 = w4 * w4
    a0 = tl.fma(_f32c(_NDTRIF_P1), w, _f32c(_NDTRIF_P0))
    a1 = tl.fma(_f32c(_NDTRIF_P3), w, _f32c(_NDTRIF_P2))
    a2 = tl.fma(_f32c(_NDTRIF_P5), w, _f32c(_NDTRIF_P4))
    a3 = tl.fma(_f32c(_NDTRIF_P7), w, _f32c(_NDTRIF_P6))
    a4 = tl.fma(_f32c(_NDTRIF_P9), w, _f32c(_NDTRIF_P8))
    big_p = tl.fma(tl.fma(a3, w2, a2), w4, tl.fma(a1, w2, a0))
    big_p = tl.fma(a4, w8, big_p)
    z_c = tl.fma(_f32c(_TWO32), pcen, _f32c(_MONE32)) * big_p
    # tail: PPND7's tail rationals in r = sqrt(lnS - ln p), fma Horner from the top
    ptail = tl.where(central, _f32c(_QUARTER32), p)
    r = tl.math.sqrt_rn(ln_s - _logf(ptail))
    r1 = r - _f32c(_PPND7_CONST2)
    c = tl.fma(tl.fma(tl.fma(_f32c(_PPND7_C3), r1, _f32c(_PPND7_C2)), r1, _f32c(_PPND7_C1)), r1,
               _f32c(_PPND7_C0))
    d = tl.fma(tl.fma(_f32c(_PPND7_D2), r1, _f32c(_PPND7_D1)), r1, _f32c(_ONE32))
    z_1 = -tl.math.div_rn(c, d)
    r2 = r - _f32c(_PPND7_SPLIT2)
    e = tl.fma(tl.fma(tl.fma(_f32c(_PPND7_E3), r2, _f32c(_PPND7_E2)), r2, _f32c(_PPND7_E1)), r2,
               _f32c(_PPND7_E0))
    f = tl.fma(tl.fma(_f32c(_PPND7_F2), r2, _f32c(_PPND7_F1)), r2, _f32c(_ONE32))
    z_2 = -tl.math.div_rn(e, f)
    z_t = tl.where(r <= _f32c(_PPND7_SPLIT2), z_1, z_2)
    return tl.where(central, z_c, z_t)


@triton.jit
def _horner8_f64(r, c7, c6, c5, c4, c3, c2, c1, c0):
    """(((c7 r + c6) r + ...) r + c0), each operation rounded (no fma)."""
    acc = c7 * r + c6
    acc = acc * r + c5
    acc = acc * r + c4
    acc = acc * r + c3
    acc = acc * r + c2
    acc = acc * r + c1
    return acc * r + c0


@triton.jit
def _ndtri_low_f64(p, pc, ln_s):
    """AS 241 PPND16 (the f64 rule of section 6); both branches evaluated, one picked."""
    one = _f64c(_ONE64)
    central = p >= pc
    pcen = tl.where(central, p, _f64c(_HALF64))
    q = pcen - _f64c(_HALF64)
    r = _f64c(_P16_CONST1) - q * q
    a = _horner8_f64(r, _f64c(_P16_A7), _f64c(_P16_A6), _f64c(_P16_A5), _f64c(_P16_A4), _f64c(_P16_A3),
                     _f64c(_P16_A2), _f64c(_P16_A1), _f64c(_P16_A0))
    b = _horner8_f64(r, _f64c(_P16_B7), _f64c(_P16_B6), _f64c(_P16_B5), _f64c(_P16_B4), _f64c(_P16_B3),
                     _f64c(_P16_B2), _f64c(_P16_B1), one)
    z_c = _div64(q * a, b)
    ptail = tl.where(central, _f64c(_HALF64), p)
    r = _sqrt64(ln_s - _log_f64(ptail))
    r1 = r - _f64c(_P16_CONST2)
    c = _horner8_f64(r1, _f64c(_P16_C7), _f64c(_P16_C6), _f64c(_P16_C5), _f64c(_P16_C4), _f64c(_P16_C3),
                     _f64c(_P16_C2), _f64c(_P16_C1), _f64c(_P16_C0))
    d = _horner8_f64(r1, _f64c(_P16_D7), _f64c(_P16_D6), _f64c(_P16_D5), _f64c(_P16_D4), _f64c(_P16_D3),
                     _f64c(_P16_D2), _f64c(_P16_D1), one)
    z_1 = -_div64(c, d)
    r2 = r - _f64c(_P16_SPLIT2)
    e = _horner8_f64(r2, _f64c(_P16_E7), _f64c(_P16_E6), _f64c(_P16_E5), _f64c(_P16_E4), _f64c(_P16_E3),
                     _f64c(_P16_E2), _f64c(_P16_E1), _f64c(_P16_E0))
    f = _horner8_f64(r2, _f64c(_P16_F7), _f64c(_P16_F6), _f64c(_P16_F5), _f64c(_P16_F4), _f64c(_P16_F3),
                     _f64c(_P16_F2), _f64c(_P16_F1), one)
    z_2 = -_div64(e, f)
    z_t = tl.where(r <= _f64c(_P16_SPLIT2), z_1, z_2)
    return tl.where(central, z_c, z_t)


@triton.jit
def _trunc_f32(x, par_ptr):
    """Truncated normal, f32 rule, from a uint32 word; par: float32 (mean, std, lo, hi,
    cA, cB, W, thr, pc, lnS)."""
    mean = tl.load(par_ptr + 0)
    std = tl.load(par_ptr + 1)
    lo = tl.load(par_ptr + 2)
    hi = tl.load(par_ptr + 3)
    c_a = tl.load(par_ptr + 4)
    c_b = tl.load(par_ptr + 5)
    w = tl.load(par_ptr + 6)
    thr = tl.load(par_ptr + 7)
    pc = tl.load(par_ptr + 8)
    ln_s = tl.load(par_ptr + 9)
    u = (2 * (x >> 9) + 1).to(tl.int32).to(tl.float32) * _f32c(_TWO_M24)   # exact, in (0, 1)
    v = _f32c(_ONE32) - u                                                    # exact
    plo = tl.fma(u, w, c_a)
    phi = tl.fma(v, w, c_b)
    low = plo <= thr
    z = _ndtri_low_f32(tl.where(low, plo, phi), pc, ln_s)
    z = tl.where(low, z, -z)
    y = tl.fma(std, z, mean)
    y = tl.where(y > lo, y, lo)
    return tl.where(y < hi, y, hi)


@triton.jit
def _trunc_core_f64(u, par_ptr):
    """Truncated normal, f64 rule, for u in (0, 1) (float64); par: float64 constants."""
    mean = tl.load(par_ptr + 0)
    std = tl.load(par_ptr + 1)
    lo = tl.load(par_ptr + 2)
    hi = tl.load(par_ptr + 3)
    c_a = tl.load(par_ptr + 4)
    c_b = tl.load(par_ptr + 5)
    w = tl.load(par_ptr + 6)
    thr = tl.load(par_ptr + 7)
    pc = tl.load(par_ptr + 8)
    ln_s = tl.load(par_ptr + 9)
    v = _f64c(_ONE64) - u
    plo = c_a + u * w
    phi = c_b + v * w
    low = plo <= thr
    z = _ndtri_low_f64(tl.where(low, plo, phi), pc, ln_s)
    z = tl.where(low, z, -z)
    y = mean + std * z
    y = tl.where(y > lo, y, lo)
    return tl.where(y < hi, y, hi)


# ---------------------------------------------------------------------------
# Section 7: half precision, on the float32 bits

@triton.jit
def _to_bf16_bits(v):
    b = v.to(tl.uint32, bitcast=True)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).to(tl.uint16).to(tl.int16, bitcast=True)


@triton.jit
def _to_f16_bits(v):
    """IEEE binary16, nearest even, subnormals kept, overflow to inf (csrc/fi_dist.h)."""
    b = v.to(tl.uint32, bitcast=True)
    sign = (b >> 16) & 0x8000
    a = b & 0x7FFFFFFF
    # normal range: rebias, round the 13 dropped bits (a carry may reach inf)
    hn = (a - 0x38000000) >> 13
    rem = a & 0x1FFF
    hn = tl.where((rem > 0x1000) | ((rem == 0x1000) & ((hn & 1) == 1)), hn + 1, hn)
    # subnormal range [2^-25, 2^-14): shift the full significand
    ex = a >> 23
    ms = (a & 0x7FFFFF) | 0x800000
    shift = tl.minimum(tl.maximum(126 - ex.to(tl.int32), 14), 24).to(tl.uint32)
    hs = ms >> shift
    rs = ms & ((_u32c(1) << shift) - 1)
    half = _u32c(1) << (shift - 1)
    hs = tl.where((rs > half) | ((rs == half) & ((hs & 1) == 1)), hs + 1, hs)
    h = tl.where(a >= 0x47800000, _u32c(0x7C00),
                 tl.where(a < 0x38800000, tl.where(a < 0x33000000, _u32c(0), hs), hn))
    return (sign | h).to(tl.uint16).to(tl.int16, bitcast=True)


@triton.jit
def _store_bits(v, OUT: tl.constexpr):
    """A working-precision value as the integer bits the output tensor holds."""
    if OUT == _F32:
        return v.to(tl.int32, bitcast=True)
    elif OUT == _F64:
        return v.to(tl.int64, bitcast=True)
    elif OUT == _F16:
        return _to_f16_bits(v)
    else:
        return _to_bf16_bits(v)


@triton.jit
def _word64(lo, hi):
    return lo.to(tl.uint64) | (hi.to(tl.uint64) << 32)


# ---------------------------------------------------------------------------
# The kernel

@triton.jit
def _fill_kernel(out_ptr, keep_ptr, first_ptr, local_ptr, meta_ptr, par_ptr,
                 KIND: tl.constexpr, OUT: tl.constexpr, SHIFT: tl.constexpr, MASKED: tl.constexpr,
                 BLOCK: tl.constexpr):
    """One lane per Philox block of one run (see the module docstring).

    out_ptr: the output as integers of its item size; keep_ptr: uint8 keep-mask, one per
    local element (MASKED); first_ptr / local_ptr: int64 per run, the stream index (the
    bits of a uint64) and local index of its first element; meta_ptr: int64 (k0, k1, c2,
    c3, run_len, blocks per run, lanes, pattern bits); par_ptr: the float parameters."""
    # SHIFT: log2 of the elements per block, 1 for float64 (two words each), else 2 (section 2)
    PER: tl.constexpr = 1 << SHIFT
    run_len = tl.load(meta_ptr + 4).to(tl.uint64)
    nblk = tl.load(meta_ptr + 5)
    lanes = tl.load(meta_ptr + 6)
    g = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    live = g < lanes
    row = tl.where(live, g // nblk, 0)
    first = tl.load(first_ptr + row).to(tl.uint64, bitcast=True)
    local0 = tl.load(local_ptr + row)
    blk = (first >> SHIFT) + (g - row * nblk).to(tl.uint64)      # block index, < 2**64

    if KIND == _K_PATTERN:
        pat = tl.load(meta_ptr + 7)
        if OUT == _F64:
            v0 = tl.full([BLOCK], 0, tl.int64) + pat
        elif OUT == _F32:
            v0 = tl.full([BLOCK], 0, tl.int32) + pat.to(tl.int32)
        else:
            v0 = tl.full([BLOCK], 0, tl.int16) + pat.to(tl.int16)
        v1 = v0
        v2 = v0
        v3 = v0
    else:
        # counter (b & 0xFFFFFFFF, b >> 32, t & 0xFFFFFFFF, t >> 32), key (seed lo, seed hi)
        k0 = tl.load(meta_ptr + 0).to(tl.uint32)
        k1 = tl.load(meta_ptr + 1).to(tl.uint32)
        c2 = tl.full([BLOCK], 0, tl.uint32) + tl.load(meta_ptr + 2).to(tl.uint32)
        c3 = tl.full([BLOCK], 0, tl.uint32) + tl.load(meta_ptr + 3).to(tl.uint32)
        w0, w1, w2, w3 = _philox((blk & _u64c(0xFFFFFFFF)).to(tl.uint32), (blk >> 32).to(tl.uint32),
                                 c2, c3, k0, k1)
        if KIND == _K_BITS:
            v0 = w0.to(tl.int32, bitcast=True)
            v1 = w1.to(tl.int32, bitcast=True)
            v2 = w2.to(tl.int32, bitcast=True)
            v3 = w3.to(tl.int32, bitcast=True)
        elif KIND == _K_UNIFORM:
            lo = tl.load(par_ptr + 0)
            width = tl.load(par_ptr + 1)
            if OUT == _F64:
                # u = f64(X >> 11) 2^-53 (exact); v = lo + width u, two roundings (section 3)
                u0 = (_word64(w0, w1) >> 11).to(tl.int64).to(tl.float64) * _f64c(_TWO_M53)
                u1 = (_word64(w2, w3) >> 11).to(tl.int64).to(tl.float64) * _f64c(_TWO_M53)
                v0 = _store_bits(lo + width * u0, OUT)
                v1 = _store_bits(lo + width * u1, OUT)
                v2 = v0
                v3 = v0
            else:
                # u = f32(x >> 8) 2^-24 (exact); v = lo + width u in f32, two roundings
                v0 = _store_bits(lo + width * ((w0 >> 8).to(tl.int32).to(tl.float32) * _f32c(_TWO_M24)), OUT)
                v1 = _store_bits(lo + width * ((w1 >> 8).to(tl.int32).to(tl.float32) * _f32c(_TWO_M24)), OUT)
                v2 = _store_bits(lo + width * ((w2 >> 8).to(tl.int32).to(tl.float32) * _f32c(_TWO_M24)), OUT)
                v3 = _store_bits(lo + width * ((w3 >> 8).to(tl.int32).to(tl.float32) * _f32c(_TWO_M24)), OUT)
        elif KIND == _K_NORMAL:
            mean = tl.load(par_ptr + 0)
            std = tl.load(par_ptr + 1)
            if OUT == _F64:
                # X1 = w0 + 2^32 w1 (radius), X2 = w2 + 2^32 w3 (angle); mean + std (r cos θ)
                r = _radius_f64(_word64(w0, w1))
                c, s = _angle_f64(_word64(w2, w3))
                v0 = _store_bits(mean + std * (r * c), OUT)
                v1 = _store_bits(mean + std * (r * s), OUT)
                v2 = v0
                v3 = v0
            else:
                # pairs (w0, w1) and (w2, w3): radius word first; fma(std, r cos θ, mean) (4.4)
                r = _radius_f32(w0)
                c, s = _angle_f32(w1)
                v0 = _store_bits(tl.fma(std, r * c, mean), OUT)
                v1 = _store_bits(tl.fma(std, r * s, mean), OUT)
                r = _radius_f32(w2)
                c, s = _angle_f32(w3)
                v2 = _store_bits(tl.fma(std, r * c, mean), OUT)
                v3 = _store_bits(tl.fma(std, r * s, mean), OUT)
        elif KIND == _K_TRUNC:
            if OUT == _F64:
                # u = f64(2 (X >> 12) + 1) 2^-53, open (section 6)
                u0 = (2 * (_word64(w0, w1) >> 12) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M53)
                u1 = (2 * (_word64(w2, w3) >> 12) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M53)
                v0 = _store_bits(_trunc_core_f64(u0, par_ptr), OUT)
                v1 = _store_bits(_trunc_core_f64(u1, par_ptr), OUT)
                v2 = v0
                v3 = v0
            else:
                v0 = _store_bits(_trunc_f32(w0, par_ptr), OUT)
                v1 = _store_bits(_trunc_f32(w1, par_ptr), OUT)
                v2 = _store_bits(_trunc_f32(w2, par_ptr), OUT)
                v3 = _store_bits(_trunc_f32(w3, par_ptr), OUT)
        else:
            # TRUNC_WIDE (narrow interval, 32-bit output): u from the f32 word, computed in
            # f64 (u = f64(2 (x >> 9) + 1) 2^-24), the f64 rule, rounded once to f32
            u0 = (2 * (w0 >> 9) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M24_64)
            u1 = (2 * (w1 >> 9) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M24_64)
            u2 = (2 * (w2 >> 9) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M24_64)
            u3 = (2 * (w3 >> 9) + 1).to(tl.int64).to(tl.float64) * _f64c(_TWO_M24_64)
            v0 = _store_bits(_trunc_core_f64(u0, par_ptr).to(tl.float32), OUT)
            v1 = _store_bits(_trunc_core_f64(u1, par_ptr).to(tl.float32), OUT)
            v2 = _store_bits(_trunc_core_f64(u2, par_ptr).to(tl.float32), OUT)
            v3 = _store_bits(_trunc_core_f64(u3, par_ptr).to(tl.float32), OUT)

    # element e = PER b + k of the block; stored when inside the run [first, first + run_len)
    for k in tl.static_range(PER):
        if k == 0:
            v = v0
        elif k == 1:
            v = v1
        elif k == 2:
            v = v2
        else:
            v = v3
        e = (blk << SHIFT) + k
        ok = live & (e >= first) & ((e - first) < run_len)
        pos = tl.where(ok, local0 + (e - first).to(tl.int64), 0)
        if MASKED:
            keep = tl.load(keep_ptr + pos, mask=ok, other=0)
            v = tl.where(keep != 0, v, tl.full([BLOCK], 0, v.dtype))
        tl.store(out_ptr + pos, v, mask=ok)


# ---------------------------------------------------------------------------
# Host side

def tile_runs(shape, place):
    """(first, local, run_len): the runs of a buffer of ``shape`` at ``place`` (a
    fastinit._buffers.Placement), ``first`` and ``local`` as NumPy uint64 / int64
    arrays. The stream index of the buffer's element (j0, j1, ...) is offset +
    Σ_k (s_k + j_k) Π_{m>k} G_m (STREAM.md section 2); the trailing axes that span
    whole axes of the tensor (plus the first that does not) make one run."""
    size = 1
    for d in shape:
        size *= d
    if place.starts is None:
        return np.array([place.offset], np.uint64), np.zeros(1, np.int64), size
    gshape, starts = place.global_shape, place.starts
    ndim = len(shape)
    gstride = [1] * ndim
    for j in range(ndim - 2, -1, -1):
        gstride[j] = gstride[j + 1] * gshape[j + 1]
    k = max(ndim - 1, 0)
    while k > 0 and shape[k] == gshape[k]:
        k -= 1
    run_len = 1
    for d in shape[k:]:
        run_len *= d
    base = place.offset + sum(starts[j] * gstride[j] for j in range(ndim))
    lead = tuple(shape[:k])
    nruns = 1
    for d in lead:
        nruns *= d
    first = np.full(nruns, base, np.uint64)
    if nruns > 1:
        idx = np.unravel_index(np.arange(nruns, dtype=np.int64), lead)
        for j, ij in enumerate(idx):
            if lead[j] > 1:
                first += ij.astype(np.uint64) * np.uint64(gstride[j])
    return first, np.arange(nruns, dtype=np.int64) * run_len, run_len


_INT_VIEW = {_kernels.F32: torch.int32, _kernels.F64: torch.int64, _kernels.F16: torch.int16,
             _kernels.BF16: torch.int16}


def _block_size(lanes):
    if INTERPRET:                         # few large programs: the interpreter's cost is per op
        return max(16, min(1 << 13, triton.next_power_of_2(max(1, lanes))))
    return 256


def prepare(out, kind, code, params, runs, keep=None):
    """Everything of one fill's launch but the seed and stream: the kernel's argument
    tensors on ``out``'s device, and the kernel compiled for them (outside the
    interpreter), so that a Triton failure (no compiler, an unsupported GPU) is raised
    here, before the caller takes a stream. Returns ``go(seed, stream)``, which launches.

    ``out``: a flat C-contiguous tensor (the float or uint32 / int32 output); ``kind``,
    ``code``, ``params`` as ``Draw.kernel`` returns them (checked); ``runs`` from
    :func:`tile_runs`; ``keep`` None or a flat uint8 tensor of out's size. Call it, and
    ``go``, with out's device current (``torch.cuda.device(out.device)``): Triton launches
    on the current device."""
    first, local, run_len = runs
    if out.numel() == 0 or run_len == 0 or len(first) == 0:
        return lambda seed, stream: None
    device = out.device
    bits_out = kind == _kernels.BITS
    view = out.view(torch.int32) if bits_out else out.view(_INT_VIEW[code])
    shift = 1 if (code == _kernels.F64 and not bits_out) else 2
    per = 1 << shift
    nblk = (run_len + per - 1) // per + 1           # blocks a run of run_len can touch
    lanes = nblk * len(first)
    pattern = 0
    par = torch.zeros(1, dtype=torch.float32)
    if kind == _kernels.PATTERN:
        raw = bytes(params[0])
        pattern = int.from_bytes(raw, "little", signed=True)   # the item bits, as the int view stores them
    elif kind in (_kernels.UNIFORM, _kernels.NORMAL, _kernels.TRUNC, _kernels.TRUNC_WIDE):
        # parameters in the working precision, rounded as the C bridge's (float) casts
        f64 = code == _kernels.F64 or kind == _kernels.TRUNC_WIDE
        with np.errstate(over="ignore"):
            par = torch.from_numpy(np.array(params, np.float64 if f64 else np.float32))
    elif kind != _kernels.BITS:
        raise ValueError(f"unknown fill kind {kind}")
    first_t = torch.from_numpy(np.ascontiguousarray(first, np.uint64).view(np.int64))
    local_t = torch.from_numpy(np.ascontiguousarray(local, np.int64))
    first_t, local_t, par = (t.to(device) for t in (first_t, local_t, par))
    block = _block_size(lanes)
    grid = (triton.cdiv(lanes, block),)
    consts = dict(KIND=kind, OUT=code, SHIFT=shift, MASKED=keep is not None, BLOCK=block, **LAUNCH_OPTIONS)
    keep_arg = view if keep is None else keep

    def meta(seed, stream):
        return torch.tensor([seed & 0xFFFFFFFF, seed >> 32, stream & 0xFFFFFFFF, stream >> 32,
                             run_len, nblk, lanes, pattern], dtype=torch.int64).to(device)

    if not INTERPRET:                                # compile now (a no-op once cached)
        _fill_kernel.warmup(view, keep_arg, first_t, local_t, meta(0, 0), par, grid=grid, **consts)

    def go(seed, stream):
        _fill_kernel[grid](view, keep_arg, first_t, local_t, meta(seed, stream), par, **consts)
    return go


def launch(out, kind, code, params, seed, stream, runs, keep=None):
    """Write one fill into ``out`` with (seed, stream): :func:`prepare`, then go."""
    prepare(out, kind, code, params, runs, keep)(seed, stream)
