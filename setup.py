"""Build the fastinit C kernels and their Cython bridge.

The C flags pin the floating-point semantics the stream rule relies on
(docs/STREAM.md): no contraction into fused multiply-adds beyond the ones the
rule writes out, no fast-math.
"""
import os
import platform
import sys

if sys.platform == "win32":
    # the kernels use GCC/Clang builtins, vector extensions and POSIX threads
    # (said before anything else is imported, so that it is the message a user sees)
    raise SystemExit("fastinit builds with GCC or Clang on a POSIX system (Linux, macOS); "
                     "Windows/MSVC is not supported yet")

from Cython.Build import cythonize  # noqa: E402
from setuptools import Extension, setup  # noqa: E402

c_sources = ["csrc/fi_fill.c", "csrc/fi_runtime.c", "csrc/fi_alloc.c", "csrc/fi_prune.c", "csrc/fi_wrap.c"]
macros = []

# The AVX2 and AVX-512 kernels are compiled for their targets through
# pragmas inside their files (GCC and Clang), and chosen at run time by CPUID.
if platform.machine().lower() in ("x86_64", "amd64"):
    c_sources += ["csrc/fi_avx2.c", "csrc/fi_avx512.c"]
    macros.append(("FI_HAVE_X86_SIMD", "1"))
# The NEON kernels (every AArch64 CPU has Advanced SIMD and its FMA).
if platform.machine().lower() in ("aarch64", "arm64"):
    c_sources += ["csrc/fi_neon.c"]
    macros.append(("FI_HAVE_NEON", "1"))

# FASTINIT_OPT (default -O3) replaces the optimisation flags, and
# FASTINIT_EXTRA_CFLAGS / FASTINIT_EXTRA_LDFLAGS are appended after ours: for
# the builds of tools/check_builds.sh (-O0, -O3 -march=native) and
# tools/sanitize.sh (-fsanitize=...); -ffp-contract=off stays in every build.
opt_args = os.environ.get("FASTINIT_OPT", "-O3").split()
compile_args = opt_args + ["-std=c11", "-ffp-contract=off", "-fno-math-errno", "-pthread"]
compile_args += os.environ.get("FASTINIT_EXTRA_CFLAGS", "").split()
link_args = ["-pthread"] + os.environ.get("FASTINIT_EXTRA_LDFLAGS", "").split()

extensions = [
    Extension(
        "fastinit._kernels",
        sources=["fastinit/_kernels.pyx"] + c_sources,
        include_dirs=["csrc"],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        libraries=["m"],          # fmaf/fma where the target has no FMA instruction
        depends=["csrc/fi_philox.h", "csrc/fi_dist.h", "csrc/fi_fill.h", "csrc/fi_consts.h",
                 "csrc/fi_kernels.h", "csrc/fi_runtime.h", "csrc/fi_alloc.h", "csrc/fi_prune.h", "csrc/fi_wrap.h", "csrc/fi_vmath.h",
                 "csrc/fi_vdrive.h",
                 "fastinit/_kernels.pxd"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
