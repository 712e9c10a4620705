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
