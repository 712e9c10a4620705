"""Print the polynomial constants of docs/STREAM.md as C hex literals.

The constants are Taylor coefficients rounded to nearest (mpmath at 60 digits,
then to float64, then to float32 for the single-precision set).  They are part
of the stream definition: csrc/fi_consts.h and tests/reference.py hold the
printed values, and changing one changes output bits.
"""
import mpmath
import numpy as np

mpmath.mp.dps = 60
half_pi = mpmath.pi / 2


def f64(x):
    return float(x)


def f32(x):
    return float(np.float32(float(x)))


def emit(name, value, single):
    if single:
        print(f"#define {name} {value.hex()}f  /* {value!r} */")
    else:
        print(f"#define {name} {value.hex()}  /* {value!r} */")


# log: atanh series 1/(2k+1); float32 uses C1-C4 for |s| <= 0.1716
# (fi_logf) and C1-C8 for |s| <= 1/3 (the Box-Muller radius)
for k in range(1, 9):
    emit(f"FI_LOGF_C{k}", f32(mpmath.mpf(1) / (2 * k + 1)), True)
for k in range(1, 11):
    emit(f"FI_LOG_C{k}", f64(mpmath.mpf(1) / (2 * k + 1)), False)
# sin(t*pi/2) = t * sum S_{2k+1} t^{2k};  cos(t*pi/2) = 1 + sum C_{2k} t^{2k}
for k in range(5):
    emit(f"FI_SINF_S{2*k+1}", f32((-1) ** k * half_pi ** (2 * k + 1) / mpmath.factorial(2 * k + 1)), True)
for k in range(1, 6):
    emit(f"FI_COSF_C{2*k}", f32((-1) ** k * half_pi ** (2 * k) / mpmath.factorial(2 * k)), True)
for k in range(9):
    emit(f"FI_SIN_S{2*k+1}", f64((-1) ** k * half_pi ** (2 * k + 1) / mpmath.factorial(2 * k + 1)), False)
for k in range(1, 10):
    emit(f"FI_COS_C{2*k}", f64((-1) ** k * half_pi ** (2 * k) / mpmath.factorial(2 * k)), False)
