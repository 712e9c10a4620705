"""csrc/fi_consts.h is exactly what tools/gen_constants.py prints, and the C code
takes the AS 241 coefficients from it alone (they decide output bits)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
SCRIPT = os.path.join(ROOT, "tools", "gen_constants.py")
CSRC = os.path.join(ROOT, "csrc")

pytestmark = pytest.mark.skipif(not (os.path.exists(SCRIPT) and os.path.isdir(CSRC)),
                                reason="tools/ and csrc/ not beside the tests (installed package)")


def test_header_is_the_generators_output():
    pytest.importorskip("mpmath")
    out = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, check=True).stdout
    with open(os.path.join(CSRC, "fi_consts.h"), newline="") as f:
        assert f.read() == out, "csrc/fi_consts.h differs: run python tools/gen_constants.py -o csrc/fi_consts.h"


def test_as241_coefficients_are_typed_once():
    """fi_dist.h and fi_vmath.h hold no long decimal literal (an AS 241 coefficient
    typed out) and both use the generated FI_PPND7_* / FI_PPND16_* names."""
    for name in ("fi_dist.h", "fi_vmath.h"):
        with open(os.path.join(CSRC, name)) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        assert not re.findall(r"\b\d\.\d{6,}(?:e[+-]?\d+)?", text), name
        assert "FI_PPND7_C0" in text and "FI_PPND16_F7" in text and "FI_NDTRIF_P9" in text, name


def test_central_limits_match_the_header():
    """The f32 rule's central region starts where fi_consts.h says (FI_NDTRIF_PC), and
    the Python setup hands that limit to the float32 kernels."""
    from fastinit import _truncation
    with open(os.path.join(CSRC, "fi_consts.h")) as f:
        m = re.search(r"#define FI_NDTRIF_PC (0x[0-9a-f.]+p[+-]\d+)f", f.read())
    assert m and float.fromhex(m.group(1)) == _truncation.CENTRAL_F32 == 2.0 ** -8
    values, narrow = _truncation.trunc_params(0.0, 1.0, -2.0, 2.0)
    assert values[8] == _truncation.CENTRAL_F64 and not narrow
    assert _truncation.f32_values(values)[8] == _truncation.CENTRAL_F32
    far, _ = _truncation.trunc_params(0.0, 1.0, 10.0, 11.0)           # rescaled tail: no central region
    assert far[8] == _truncation.f32_values(far)[8] == float("inf")
