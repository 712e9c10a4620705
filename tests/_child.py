"""Child interpreters whose peak-memory figures are their own.

On Linux a process's ru_maxrss survives execve(2): a child started straight
from the test process reports at least the test process's own peak (which,
after the torch tests, is well over a GiB), and a memory-bound check would
measure nothing. So the child is started by a small launcher interpreter:
the launcher's exec carries the test process's peak, but the child it forks
starts a fresh count, and its pre-exec image is the launcher's (~10 MiB).
"""
import os
import subprocess
import sys
import textwrap

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_python_fresh(code, *args, timeout=300):
    """Run ``code`` (dedented) with ``args`` in an interpreter whose ru_maxrss starts near zero;
    returns its stdout, failing the test on a non-zero exit."""
    cmd = [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", textwrap.dedent(code)] + [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=TESTS_DIR, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout
