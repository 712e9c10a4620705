"""The builds users install: the cibuildwheel matrix, the sdist's manifest, and the clear
refusal on Windows. (tools/check_wheel.sh builds the sdist and wheel and tests the wheel.)"""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")        # Python 3.11+


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]


def test_cibuildwheel_covers_manylinux_x86_64_aarch64_and_macos_not_windows():
    cfg = _config()
    assert cfg["linux"]["archs"] == ["x86_64", "aarch64"]
    assert set(cfg["macos"]["archs"]) == {"x86_64", "arm64"}
    assert "*-win*" in cfg["skip"].split()
    assert "test-command" in cfg and "{project}/tests" in cfg["test-command"]
    assert cfg["test-extras"] == ["test"]


def test_the_manifest_ships_sources_and_no_generated_c():
    lines = [line.split("#")[0].strip() for line in (ROOT / "MANIFEST.in").read_text().splitlines()]
    assert "recursive-include csrc *.c *.h" in lines
    assert "include fastinit/*.pyx fastinit/*.pxd" in lines
    assert "exclude fastinit/_kernels.c" in lines


def test_windows_is_refused_with_a_clear_message():
    if not (ROOT / "setup.py").exists():
        pytest.skip("no setup.py beside the tests (an installed copy)")
    code = "import sys; sys.platform = 'win32'; sys.argv = ['setup.py', '--name']; exec(open('setup.py').read())"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "Windows/MSVC is not supported" in p.stderr + p.stdout
