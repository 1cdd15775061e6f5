"""Gradient-checking speed: practicaldl's structured check against the course's loop and PyTorch.

Run (from the repository root)::

    python benchmarks/bench_gradcheck.py             # both networks, 5 rounds (about 15 s)
    python benchmarks/bench_gradcheck.py --quick     # 2 rounds, PyTorch slow mode once
    python benchmarks/bench_gradcheck.py --no-torch --json out.json
    python benchmarks/bench_gradcheck.py --env-blas  # keep the environment's OpenBLAS overrides
                                                     # (default: OpenBLAS's own kernel, see _blas_env.py)

Networks (ReLU hidden layers, sigmoid output, He init with RandomState(1), biases ~ 0.1 N(0, 1),
X ~ N(0, 1), random 0/1 labels, epsilon = 1e-7, float64, no L2 or dropout unless stated):

* ``small``: [4, 5, 3, 1], m = 3 (47 parameters);
* ``large``: [20, 50, 50, 1], m = 32 (3,651 parameters); also with ``l2=0.7, keep_prob=0.8``.

Variants (all check every entry unless stated):

* ``structured``: ``check_backprop(n_jobs=1)``, one thread; ``structured x2``: ``n_jobs=2``, the
  machine's two cores (the default on a machine with two cores or more);
* ``loop``: ``check_backprop(method="loop")``, the plain loop over practicaldl's forward pass (the
  reference whose difference the structured check reproduces);
* ``course loop``: the course's ``gradient_check_n``, hand-written: for each entry copy theta,
  perturb, unflatten, run a course-style forward pass and cost, twice;
* ``torch slow`` / ``torch fast``: ``torch.autograd.gradcheck(f, params, eps=1e-7, fast_mode=...)``
  on the same network in float64 (PyTorch optional: its rows are skipped without it), one
  intra-op thread; ``torch slow, N threads`` is slow mode with PyTorch's default thread count.
  PyTorch runs in a child process of its own (started once, warmed up, then handed each round in
  turn with the others): once its OpenMP threads have run in a process they slow the NumPy
  variants that share it (see ``bench_training.py``);
* ``directional``: ``method="directional"`` (4 random directions; not a full check).

Timing: after one untimed call of each practicaldl variant but the loop (``n_jobs=2`` starts a
thread pool; the work buffers are faulted in once, as they are for a user's second check), the
variants run in turn for several rounds; the table gives the median time of each and
the median of the per-round ratios ``variant / structured`` (paired, so a slow period of a shared
machine hits both), and the targets' ratios: the course's loop and PyTorch's slow mode against
the structured check (its faster row). BLAS is limited to one thread for the whole run
(threadpoolctl), as are PyTorch's intra-op threads except in the row that says otherwise. The
JSON (``--json``, default ``benchmarks/results/bench_gradcheck.json``; ``--env-blas``:
``bench_gradcheck_env.json``) has every measurement and the differences.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

import practicaldl as pdl
from _blas_env import (BLAS_OVERRIDES, add_blas_arguments, blas_architectures, kernel_line, rerun_without_overrides,
                       results_path)

HAVE_TORCH = importlib.util.find_spec("torch") is not None  # optional: its rows are skipped without it

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

ROOT = Path(__file__).resolve().parent
DEFAULT_JSON = ROOT / "results" / "bench_gradcheck.json"
EPSILON = 1e-7


# == the problem ==================================================================================
def make_problem(dims, m, seed=1):
    rng = np.random.RandomState(seed)
    params = pdl.initialize_parameters(dims, init="he", rng=rng)
    for k in params:
        if k[0] == "b":
            params[k] = rng.standard_normal(params[k].shape) * 0.1
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random_sample((1, m)) < 0.5).astype(np.float64)
    return params, X, Y


# == the course's loop, hand-written ==============================================================
def course_forward_cost(X, Y, parameters, L):
    """The course's forward_propagation_n: LINEAR -> RELU ... -> LINEAR -> SIGMOID, then its cost."""
    A = X
    for l in range(1, L):
        Z = np.dot(parameters["W" + str(l)], A) + parameters["b" + str(l)]
        A = np.maximum(0, Z)
    Z = np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)]
    AL = 1 / (1 + np.exp(-Z))
    m = X.shape[1]
    logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
    return 1.0 / m * np.sum(logprobs)


def course_backward(X, Y, parameters, L):
    """The course's backward_propagation_n, generalised to L layers (no L2, no dropout)."""
    caches, A = [X], X
    for l in range(1, L):
        A = np.maximum(0, np.dot(parameters["W" + str(l)], A) + parameters["b" + str(l)])
        caches.append(A)
    AL = 1 / (1 + np.exp(-(np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)])))
    m = X.shape[1]
    grads, dZ = {}, AL - Y
    for l in range(L, 0, -1):
        grads["dW" + str(l)] = 1.0 / m * np.dot(dZ, caches[l - 1].T)
        grads["db" + str(l)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA = np.dot(parameters["W" + str(l)].T, dZ)
            dZ = np.multiply(dA, np.int64(caches[l - 1] > 0))
    return grads


def course_gradient_check(parameters, X, Y, epsilon=EPSILON):
    """The course's gradient_check_n: 2 n full forward passes, one entry at a time."""
    L = len(parameters) // 2
    keys = [k for l in range(1, L + 1) for k in ("W" + str(l), "b" + str(l))]
    shapes = [(k, parameters[k].shape) for k in keys]
    parameters_values = np.concatenate([parameters[k].reshape(-1, 1) for k in keys])
    grads = course_backward(X, Y, parameters, L)
    grad = np.concatenate([grads["d" + k].reshape(-1, 1) for k in keys])

    def vector_to_dictionary(theta):
        out, start = {}, 0
        for k, shape in shapes:
            size = int(np.prod(shape))
            out[k] = theta[start:start + size].reshape(shape)
            start += size
        return out

    num_parameters = parameters_values.shape[0]
    gradapprox = np.zeros((num_parameters, 1))
    for i in range(num_parameters):
        thetaplus = np.copy(parameters_values)
        thetaplus[i][0] = thetaplus[i][0] + epsilon
        J_plus = course_forward_cost(X, Y, vector_to_dictionary(thetaplus), L)
        thetaminus = np.copy(parameters_values)
        thetaminus[i][0] = thetaminus[i][0] - epsilon
        J_minus = course_forward_cost(X, Y, vector_to_dictionary(thetaminus), L)
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return numerator / denominator


# == PyTorch (in a child process) =================================================================
_TORCH = {}  # in the child: the module and its default thread count


def _torch_child_start():
    """Runs once in the child: import PyTorch and warm it up (its first gradcheck pays for lazy setup)."""
    import torch

    _TORCH.update(torch=torch, default_threads=torch.get_num_threads())
    torch.set_num_threads(1)
    params, X, Y = make_problem([4, 5, 3, 1], 3)
    torch_gradcheck(params, X, Y, False)


def _torch_default_threads():
    return _TORCH["default_threads"]


def torch_child_run(dims, m, fast_mode, default_threads):
    """In the child: ``(seconds, passed, torch version, threads)`` of one ``torch.autograd.gradcheck``."""
    torch = _TORCH["torch"]
    threads = _TORCH["default_threads"] if default_threads else 1
    torch.set_num_threads(threads)
    params, X, Y = make_problem(dims, m)
    t0 = time.perf_counter()
    ok = torch_gradcheck(params, X, Y, fast_mode)
    return time.perf_counter() - t0, ok, torch.__version__, threads


def torch_gradcheck(params, X, Y, fast_mode):
    torch = _TORCH["torch"]
    L = len(params) // 2
    tensors = tuple(torch.tensor(params[k], dtype=torch.float64, requires_grad=True)
                    for l in range(1, L + 1) for k in (f"W{l}", f"b{l}"))
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def f(*ps):
        A = Xt
        for l in range(L):
            Z = ps[2 * l] @ A + ps[2 * l + 1]
            A = torch.relu(Z) if l < L - 1 else Z
        return torch.nn.functional.binary_cross_entropy_with_logits(A, Yt)

    return bool(torch.autograd.gradcheck(f, tensors, eps=EPSILON, atol=1e-5, rtol=1e-3, fast_mode=fast_mode,
                                         raise_exception=False))


# == the runs =====================================================================================
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class TorchChild:
    """One child process for every PyTorch row, started and warmed up once."""

    def __init__(self):
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=_torch_child_start)
        self.version = self.pool.submit(torch_child_run, [4, 5, 3, 1], 3, True, False).result()[2]
        self.default_threads = self.pool.submit(_torch_default_threads).result()

    def variant(self, *args):
        """A PyTorch variant: run in the child, timed there (no inter-process time counted)."""
        def run():
            seconds, ok, _, _ = self.pool.submit(torch_child_run, *args).result()
            return seconds, ok
        return run


def run_workload(name, dims, m, rounds, torch_child, torch_slow_rounds, kw=None):
    kw = kw or {}
    params, X, Y = make_problem(dims, m)
    n = sum(v.size for v in params.values())
    variants = {
        "structured": lambda: timed(lambda: pdl.check_backprop(params, X, Y, n_jobs=1, **kw)),
        "structured x2": lambda: timed(lambda: pdl.check_backprop(params, X, Y, n_jobs=2, **kw)),
        "loop": lambda: timed(lambda: pdl.check_backprop(params, X, Y, method="loop", **kw)),
        "directional": lambda: timed(lambda: pdl.check_backprop(params, X, Y, method="directional", **kw)),
    }
    if not kw:
        variants["course loop"] = lambda: timed(lambda: course_gradient_check(params, X, Y))
        if torch_child is not None:
            variants["torch fast"] = torch_child.variant(dims, m, True, False)
            variants["torch slow"] = torch_child.variant(dims, m, False, False)
            variants[f"torch slow, {torch_child.default_threads} threads"] = torch_child.variant(dims, m, False, True)
    for k in ("structured", "structured x2", "directional"):  # untimed first calls: a thread pool to
        variants[k]()                                          # start, work buffers to fault in
    times = {k: [] for k in variants}
    outputs = {}
    for r in range(rounds):
        for k, fn in variants.items():
            if k.startswith("torch slow") and r >= torch_slow_rounds:
                continue
            t, out = fn()
            times[k].append(t)
            outputs[k] = out
    base = times["structured"]
    best = [min(a, b) for a, b in zip(base, times["structured x2"])]  # the faster structured row, per round
    rows = []
    for k, ts in times.items():
        ratios = [t / b for t, b in zip(ts, base)]
        out = outputs[k]
        if isinstance(out, pdl.GradCheckReport):
            difference, verdict, evals = out.difference, out.verdict, out.n_evaluations
        elif isinstance(out, bool):
            difference, verdict, evals = None, "pass" if out else "fail", None
        else:
            difference, verdict, evals = float(out), None, 2 * n
        rows.append({"variant": k, "median_s": statistics.median(ts), "times_s": ts,
                     "ratio_to_structured": statistics.median(ratios),
                     "ratio_to_best_structured": statistics.median([t / b for t, b in zip(ts, best)]),
                     "difference": difference, "verdict": verdict, "n_evaluations": evals})
    s, lp = outputs["structured"], outputs["loop"]
    return {"workload": name, "dims": dims, "m": m, "n_parameters": n, "options": kw, "rows": rows,
            "structured_vs_loop_relative": abs(s.difference - lp.difference) / lp.difference,
            "structured_method": s.method}


TARGETS = {"course loop": 10.0, "torch slow": 40.0}  # speed-ups over the structured check (its faster row)


def print_tables(results):
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps(results, indent=2))
        return
    console = Console(width=130)
    for res in results["workloads"]:
        title = (f"{res['workload']}: {res['dims']}, m = {res['m']}, {res['n_parameters']} parameters"
                 + (f", {res['options']}" if res["options"] else ""))
        table = Table(title=title, caption=(f"structured vs loop difference, relative: "
                                            f"{res['structured_vs_loop_relative']:.1e} ({res['structured_method']})"))
        for col in ("variant", "median time", "x structured", "difference", "verdict", "evaluations"):
            table.add_column(col, justify="right" if col != "variant" else "left")
        for row in res["rows"]:
            table.add_row(row["variant"], f"{row['median_s'] * 1e3:.2f} ms", f"{row['ratio_to_structured']:.1f}",
                          "-" if row["difference"] is None else f"{row['difference']:.6e}", row["verdict"] or "-",
                          "-" if row["n_evaluations"] is None else str(row["n_evaluations"]))
        console.print(table)
        for row in res["rows"] if res["workload"] == "large" else ():  # the targets are for this one
            if row["variant"] in TARGETS:
                ratio, target = row["ratio_to_best_structured"], TARGETS[row["variant"]]
                console.print(f"  {row['variant']} / structured (faster of 1 and 2 threads): {ratio:.1f}x "
                              f"(target >= {target:g}x: {'met' if ratio >= target else 'missed'})")


def write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, PyTorch slow mode once")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    add_blas_arguments(parser)
    args = parser.parse_args(argv)
    status = rerun_without_overrides(str(Path(__file__).resolve()), sys.argv[1:] if argv is None else list(argv), args)
    if status is not None:
        return status
    args.json = results_path(args.json, DEFAULT_JSON, args)
    print(kernel_line())
    rounds = args.rounds or (2 if args.quick else 5)
    torch_slow_rounds = 1 if args.quick else rounds  # paired with the same rounds of the others
    torch_child = TorchChild() if HAVE_TORCH and not args.no_torch else None
    limiter = threadpool_limits(limits=1) if threadpool_limits is not None else None
    try:
        workloads = [
            run_workload("small", [4, 5, 3, 1], 3, max(rounds, 5), torch_child, max(rounds, 5)),
            run_workload("large", [20, 50, 50, 1], 32, rounds, torch_child, torch_slow_rounds),
            run_workload("large, l2 + dropout", [20, 50, 50, 1], 32, rounds, None, 0,
                         {"l2": 0.7, "keep_prob": 0.8, "rng": 0}),
        ]
    finally:
        if limiter is not None:
            limiter.unregister() if hasattr(limiter, "unregister") else limiter.restore_original_limits()
        if torch_child is not None:
            torch_child.pool.shutdown()
    results = {"benchmark": "gradcheck", "epsilon": EPSILON, "python": sys.version.split()[0],
               "numpy": np.__version__, "machine": platform.platform(),
               "torch": None if torch_child is None else {"version": torch_child.version,
                                                          "default_threads": torch_child.default_threads},
               "processor": platform.processor(), "cpu_count": os.cpu_count(),
               "torch_skipped": torch_child is None, "env_blas": args.env_blas,
               "openblas_architecture": blas_architectures(),
               "blas_env": {k: os.environ.get(k) for k in BLAS_OVERRIDES}, "workloads": workloads}
    print_tables(results)
    if not HAVE_TORCH:
        print("PyTorch is not installed: its rows were skipped (pip install practicaldl[bench]).")
    write_json(args.json, results)
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    out = main()
    sys.exit(out if isinstance(out, int) else 0)  # a rerun without the overrides: the child's exit status
