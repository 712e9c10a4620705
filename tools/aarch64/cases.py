"""Write the kernel calls of the golden table, and the parameter sets of the
scalar/NEON sweep, for tools/aarch64/driver.c (run by tools/check_aarch64.sh).

    python tools/aarch64/cases.py > cases.txt

Each golden case of tests/golden_cases.py is run here once with
fastinit._kernels.fill wrapped, so that every kernel call it makes (kind,
output code, seed, stream, first index, byte offset in the output,
parameters) is written down; the driver replays the calls with the NEON
kernels and prints the SHA-256 of each output, to be compared with
tests/data/golden.json.  Parameters are written as C hex floats (doubles,
exactly what the Cython bridge receives) or, for constants, the element's
bytes in hex.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))

from fastinit import _kernels, _truncation  # noqa: E402
from golden_cases import cases  # noqa: E402


def _param(v):
    return v.hex() if isinstance(v, bytes) else float(v).hex()


def main(out=sys.stdout):
    calls = []
    real = _kernels.fill

    def spy(kind, raw, code, seed, stream, first, params, mask=None):
        assert mask is None and isinstance(first, int), "golden cases are plain fills"
        calls.append((kind, code, seed, stream, first, raw, params))
        return real(kind, raw, code, seed, stream, first, params, mask)

    _kernels.fill = spy
    try:
        for cid, make in cases():
            if "/bfloat16/" in cid:
                try:
                    import ml_dtypes  # noqa: F401
                except ImportError:
                    continue
            calls.clear()
            arr = make()
            base = arr.__array_interface__["data"][0]
            out.write(f"case {cid} {arr.nbytes}\n")
            for kind, code, seed, stream, first, raw, params in calls:
                at = np.frombuffer(raw, np.uint8).__array_interface__["data"][0] - base
                out.write(f"call {kind} {code} {seed} {stream} {first} {at} {len(raw)} {len(params)} "
                          + " ".join(_param(p) for p in params) + "\n")
            out.write("end\n")
    finally:
        _kernels.fill = real
    # the sweep: every fill and output with representative parameters
    codes = [_kernels.F32, _kernels.F64, _kernels.F16, _kernels.BF16]
    out.write(f"sweep {_kernels.BITS} {_kernels.F32} 0\n")
    for code in codes:
        f64 = code == _kernels.F64
        out.write(f"sweep {_kernels.UNIFORM} {code} 2 {(-0.5).hex()} {(2.5).hex()}\n")
        out.write(f"sweep {_kernels.NORMAL} {code} 2 {(0.25).hex()} {(1.5).hex()}\n")
        for mean, std, a, b in ((0.0, 0.02, -2.0, 2.0), (0.1, 1.0, -1.0, 3.0), (0.0, 1.0, 5.0, 6.0),
                                (0.0, 1.0, -12.0, -11.5), (0.0, 1.0, -37.0, -36.5), (0.0, 1.0, 0.3, 0.3001)):
            values, narrow = _truncation.trunc_params(mean, std, a, b)
            if f64:
                kind, vals = _kernels.TRUNC, values
            elif narrow:
                kind, vals = _kernels.TRUNC_WIDE, values
            else:
                kind, vals = _kernels.TRUNC, _truncation.f32_values(values)
            out.write(f"sweep {kind} {code} {len(vals)} " + " ".join(_param(v) for v in vals) + "\n")


if __name__ == "__main__":
    main()
