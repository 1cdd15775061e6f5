"""The BLAS kernel a benchmark runs with: OpenBLAS's own choice for this CPU unless ``--env-blas``.

OpenBLAS picks its kernels for the CPU it detects, unless ``OPENBLAS_CORETYPE`` names one
(``OPENBLAS_L2_SIZE`` overrides the cache size it tunes its blocks for). Some machines set both
for old OpenBLAS builds, which crash or compute wrong results on some processors; on a current
NumPy they force slower kernels (here AVX2 "Haswell" where the CPU has AVX-512), which a user's
machine does not have. So by default a benchmark whose environment sets either variable runs
itself again in a child process whose environment is a copy without both (``rerun_without_
overrides``), and OpenBLAS chooses for itself; this process's environment, the tests and CI keep
theirs. ``--env-blas`` measures with the environment as it is instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

#: OpenBLAS settings removed (together) from the child's environment unless ``--env-blas``.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

ENV_FLAG, CHILD_FLAG = "--env-blas", "--native-blas-child"


def add_blas_arguments(parser):
    """``--env-blas`` (and the hidden flag that marks the child)."""
    parser.add_argument(ENV_FLAG, action="store_true",
                        help="keep the environment's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: run in a child "
                             "process without them, so that OpenBLAS picks the kernel for this CPU)")
    parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)


def overridden() -> bool:
    return any(k in os.environ for k in BLAS_OVERRIDES)


def rerun_without_overrides(script: str, argv: list, args) -> int | None:
    """Run ``script argv`` again in a child without ``BLAS_OVERRIDES`` when this environment sets
    one and ``--env-blas`` was not given; returns the child's exit status, or None to run here."""
    if args.env_blas or args.native_blas_child or not overridden():
        return None
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    return subprocess.run([sys.executable, script, *argv, CHILD_FLAG], env=env).returncode


def results_path(path: Path, default: Path, args) -> Path:
    """``default`` for OpenBLAS's own kernel; ``name_env.json`` beside it for a run with the overrides."""
    if path != default or not (args.env_blas and overridden()):
        return path
    return default.with_name(default.stem + "_env" + default.suffix)


def blas_architectures() -> list:
    """The kernel architecture of every OpenBLAS library loaded in this process (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]


def kernel_line() -> str:
    """``OpenBLAS kernel: SkylakeX, SkylakeX (OPENBLAS_CORETYPE=(unset), ...)`` for a header."""
    blas_env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in BLAS_OVERRIDES)
    return f"OpenBLAS kernel: {', '.join(map(str, blas_architectures())) or 'no OpenBLAS'} ({blas_env})"
