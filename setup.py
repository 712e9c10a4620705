"""Build the fastinit C kernels and their Cython bridge.

The C flags pin the floating-point semantics the stream rule relies on
(docs/STREAM.md): no contraction into fused multiply-adds, no fast-math.
"""
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

c_sources = ["csrc/fi_fill.c"]

compile_args = []
if sys.platform != "win32":
    compile_args = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno"]
else:
    compile_args = ["/O2", "/fp:precise"]

extensions = [
    Extension(
        "fastinit._kernels",
        sources=["fastinit/_kernels.pyx"] + c_sources,
        include_dirs=["csrc"],
        extra_compile_args=compile_args,
        depends=["csrc/fi_philox.h", "csrc/fi_dist.h", "csrc/fi_fill.h", "csrc/fi_consts.h",
                 "fastinit/_kernels.pxd"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
