"""Our own C compiles without a single warning (warnings are errors in csrc/)."""
import glob
import os
import shutil
import subprocess

import pytest

CSRC = os.path.join(os.path.dirname(__file__), "..", "csrc")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.skipif(not os.path.isdir(CSRC), reason="csrc/ not beside the tests (installed package)")
@pytest.mark.parametrize("std", ["c11", "c17"])
def test_csrc_compiles_without_warnings(std):
    sources = sorted(glob.glob(os.path.join(CSRC, "*.c")))
    assert sources
    cmd = ["gcc", f"-std={std}", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion",
           "-Werror", "-ffp-contract=off", "-fsyntax-only", "-DFI_HAVE_X86_SIMD", "-I", CSRC] + sources
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None,
                    reason="no AArch64 cross compiler (tools/check_aarch64.sh installs it; CI runs that)")
@pytest.mark.skipif(not os.path.isdir(CSRC), reason="csrc/ not beside the tests (installed package)")
def test_csrc_compiles_without_warnings_for_aarch64():
    """The NEON build (and every other file as AArch64 sees it) is as clean."""
    sources = sorted(glob.glob(os.path.join(CSRC, "*.c")))
    cmd = ["aarch64-linux-gnu-gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow",
           "-Wconversion", "-Werror", "-ffp-contract=off", "-fsyntax-only", "-DFI_HAVE_NEON", "-I", CSRC] + sources
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
