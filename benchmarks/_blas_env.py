"""The BLAS kernel a benchmark runs with, and ``--native-blas``: the same run without the overrides.

OpenBLAS picks its kernels for the CPU it detects, unless ``OPENBLAS_CORETYPE`` names one
(``OPENBLAS_L2_SIZE`` overrides the cache size it tunes its blocks for). ``native_blas_rerun``
runs a benchmark script again in a child process whose environment is a copy of ours without
both variables, so that OpenBLAS chooses for itself; this process's environment is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys

#: OpenBLAS settings that ``--native-blas`` removes (together) from the child's environment.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

NATIVE_FLAG, CHILD_FLAG = "--native-blas", "--native-blas-child"
NATIVE_HELP = ("rerun in a child process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so that OpenBLAS "
               "picks the kernel for this CPU (this process's environment is unchanged)")


def blas_architectures() -> list:
    """The kernel architecture of every OpenBLAS library loaded in this process (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]


def kernel_line(native_child: bool) -> str:
    """``OpenBLAS kernel: Haswell, Haswell (OPENBLAS_CORETYPE=..., OPENBLAS_L2_SIZE=...)`` for a header."""
    blas_env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in BLAS_OVERRIDES)
    return (f"OpenBLAS kernel: {', '.join(map(str, blas_architectures())) or 'no OpenBLAS'} ({blas_env}"
            f"{'; ' + NATIVE_FLAG if native_child else ''})")


def native_blas_rerun(script: str, argv: list) -> int:
    """Run ``script`` again with ``argv``, in a child process without ``BLAS_OVERRIDES`` in its
    environment (the child's own children inherit it). Returns the child's exit status."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    args = [a for a in argv if a != NATIVE_FLAG] + [CHILD_FLAG]
    return subprocess.run([sys.executable, script, *args], env=env).returncode
