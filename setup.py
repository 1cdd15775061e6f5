"""Build the optional C kernels of the training step (``practicaldl._kernels``; see ``_kernels.c``).

Everything else is in ``pyproject.toml``. The extension is optional: where it does not compile
(no C compiler), practicaldl installs without it and the step uses NumPy for the same work, with
the same results (``practicaldl._native`` imports the module if it is there, and compares it with
NumPy once per process before the step uses it).
"""

import sys

from setuptools import Extension, setup

# No -ffast-math and no contraction into fused multiply-adds: the kernels must round exactly as
# NumPy's loops do (the tests compare them bit for bit).
flags = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(ext_modules=[Extension("practicaldl._kernels", ["src/practicaldl/_kernels.c"], extra_compile_args=flags,
                             optional=True)])
