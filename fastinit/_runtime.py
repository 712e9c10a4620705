"""Threads and SIMD level: how fast a fill runs, never what it writes.

At import, ``FASTINIT_NUM_THREADS`` sets the thread count (default: the CPUs
this process may run on) and ``FASTINIT_SIMD=scalar|avx2|avx512`` (on AArch64
``scalar|neon``) caps the SIMD level (default: the best the CPU has).
"""
import os
import warnings

from . import _kernels

__all__ = ["set_num_threads", "get_num_threads", "simd_level"]

#: The pool's limit (256 workers and the calling thread).
MAX_THREADS = 257


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_num_threads(n):
    """Use ``n`` threads (the calling thread included) for large fills.

    Fills are cut into fixed chunks of 65,536 elements that the threads share,
    so the thread count never changes an output bit. Fills below 262,144
    elements run on the calling thread.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number of threads must be an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"number of threads must be between 1 and {MAX_THREADS}, got {n}")
    _kernels.set_num_threads(n)


def get_num_threads():
    """The number of threads a large fill uses."""
    return _kernels.get_num_threads()


def simd_level():
    """The SIMD level the kernels run at: ``'avx512'``, ``'avx2'`` or ``'scalar'`` on
    x86-64, ``'neon'`` or ``'scalar'`` on AArch64.

    Every level writes the same bits; ``FASTINIT_SIMD`` caps it for testing or
    for comparison.
    """
    return _kernels.simd_level()


def _configure_from_environment():
    threads = os.environ.get("FASTINIT_NUM_THREADS")
    n = _available_cpus()
    if threads:
        try:
            n = int(threads)
            if not 1 <= n <= MAX_THREADS:
                raise ValueError
        except ValueError:
            warnings.warn(f"ignoring FASTINIT_NUM_THREADS={threads!r}: expected an integer from 1 to {MAX_THREADS}",
                          RuntimeWarning, stacklevel=3)
            n = _available_cpus()
    _kernels.set_num_threads(n)
    cap = os.environ.get("FASTINIT_SIMD")
    if cap:
        if cap.lower() in _kernels.LEVELS:
            _kernels.set_simd_level(cap.lower())
        else:
            warnings.warn(f"ignoring FASTINIT_SIMD={cap!r}: expected one of {', '.join(_kernels.LEVELS)}",
                          RuntimeWarning, stacklevel=3)


_configure_from_environment()
