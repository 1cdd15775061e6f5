"""Gradient checking: speed against the course's loop and PyTorch, and the false-alarm and miss rates.

Run (from the repository root)::

    python benchmarks/bench_gradcheck.py               # speed, 7 rounds (about 20 s)
    python benchmarks/bench_gradcheck.py --quick       # speed, 3 rounds
    python benchmarks/bench_gradcheck.py --no-torch    # without the PyTorch rows
    python benchmarks/bench_gradcheck.py --battery     # false-alarm and miss rates (about 2 min)
    python benchmarks/bench_gradcheck.py --battery 40  # the same, 40 cases per row

**Speed.** Network [20, 50, 50, 1] with m = 32 (3,651 parameters; ReLU, sigmoid output, He init
with RandomState(1), biases 0.1 N(0, 1), X ~ N(0, 1), random 0/1 labels, epsilon 1e-7, float64),
also with ``l2=0.7, keep_prob=0.8``, and [4, 5, 3, 1] with m = 3. Variants, each checking every
entry:

* ``structured``: ``check_backprop`` (the default method);
* ``loop``: ``check_backprop(method="loop")``, the plain loop over practicaldl's forward pass;
* ``course loop``: the course's ``gradient_check_n``, written here as the course writes it: per
  entry, copy theta, perturb, unflatten, a forward pass and the cost, twice;
* ``torch slow`` / ``torch fast``: ``torch.autograd.gradcheck(f, params, eps=1e-7,
  fast_mode=...)`` on the same network in float64, one intra-op thread, in a child process of its
  own (started and warmed up once; PyTorch's threads do not share a process with NumPy's);
  ``fast`` checks random projections, not every entry;
* ``directional``: ``check_backprop(method="directional")`` (random directions; not every entry).

The variants run in turn, round after round, after one untimed call each; the table gives the
median time and the median of the per-round ratios ``variant / structured`` (paired, so that a
busy period of a shared machine slows both). BLAS runs one thread (threadpoolctl, when
installed). Targets: course loop >= 10x and PyTorch's slow mode >= 20x the structured check's
time.

**Battery** (``--battery``): ``tests/gradcheck/battery.py`` (random architectures, batch sizes,
weight scales, outputs pushed to within 1e-1 ... 1e-12 of 0 or 1, both kinds of cost; planted
bugs), each row checked by one method: the share of correct cases that fail (false alarms),
that come out inconclusive, and the share of planted bugs reported right (misses) or
inconclusive. Run it against another checkout with ``PYTHONPATH=<its src>``.

The JSON (``--json``, default ``benchmarks/results/bench_gradcheck.json``) has every measurement.
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
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

import practicaldl as pdl

ROOT = Path(__file__).resolve().parent
DEFAULT_JSON = ROOT / "results" / "bench_gradcheck.json"
BATTERY = ROOT.parent / "tests" / "gradcheck" / "battery.py"
EPSILON = 1e-7
TARGETS = {"course loop": 10.0, "torch slow": 20.0}  # slower by at least this much than the structured check
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def make_problem(dims, m, seed=1):
    rng = np.random.RandomState(seed)
    params = pdl.initialize_parameters(dims, init="he", rng=rng)
    for k in params:
        if k[0] == "b":
            params[k] = rng.standard_normal(params[k].shape) * 0.1
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random_sample((1, m)) < 0.5).astype(np.float64)
    return params, X, Y


# == the course's loop, as the course writes it ===================================================
def course_forward_cost(X, Y, parameters, L):
    """The course's forward_propagation_n: LINEAR -> RELU ... -> LINEAR -> SIGMOID, then its cost."""
    A = X
    for l in range(1, L):
        A = np.maximum(0, np.dot(parameters["W" + str(l)], A) + parameters["b" + str(l)])
    AL = 1 / (1 + np.exp(-(np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)])))
    logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
    return 1.0 / X.shape[1] * np.sum(logprobs)


def course_backward(X, Y, parameters, L):
    """The course's backward_propagation_n, for L layers (no L2, no dropout)."""
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
            dZ = np.multiply(np.dot(parameters["W" + str(l)].T, dZ), np.int64(caches[l - 1] > 0))
    return grads


def course_gradient_check(parameters, X, Y, epsilon=EPSILON):
    """The course's gradient_check_n: 2 n forward passes, one entry at a time; returns the difference."""
    L = len(parameters) // 2
    keys = [k for l in range(1, L + 1) for k in ("W" + str(l), "b" + str(l))]
    shapes = [(k, parameters[k].shape) for k in keys]
    values = np.concatenate([parameters[k].reshape(-1, 1) for k in keys])
    grads = course_backward(X, Y, parameters, L)
    grad = np.concatenate([grads["d" + k].reshape(-1, 1) for k in keys])

    def vector_to_dictionary(theta):
        out, start = {}, 0
        for k, shape in shapes:
            size = int(np.prod(shape))
            out[k] = theta[start:start + size].reshape(shape)
            start += size
        return out

    gradapprox = np.zeros((values.shape[0], 1))
    for i in range(values.shape[0]):
        thetaplus = np.copy(values)
        thetaplus[i][0] = thetaplus[i][0] + epsilon
        J_plus = course_forward_cost(X, Y, vector_to_dictionary(thetaplus), L)
        thetaminus = np.copy(values)
        thetaminus[i][0] = thetaminus[i][0] - epsilon
        J_minus = course_forward_cost(X, Y, vector_to_dictionary(thetaminus), L)
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
    return float(np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))


# == PyTorch, in a child process ==================================================================
_TORCH = {}


def _torch_start():
    import torch

    torch.set_num_threads(1)
    _TORCH["torch"] = torch
    _torch_gradcheck([4, 5, 3, 1], 3, False)  # the first call pays for lazy set-up


def _torch_gradcheck(dims, m, fast_mode):
    """In the child: ``(seconds, passed, version)`` of one ``torch.autograd.gradcheck``."""
    torch = _TORCH["torch"]
    params, X, Y = make_problem(dims, m)
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

    t0 = time.perf_counter()
    ok = torch.autograd.gradcheck(f, tensors, eps=EPSILON, atol=1e-5, rtol=1e-3, fast_mode=fast_mode,
                                  raise_exception=False)
    return time.perf_counter() - t0, bool(ok), torch.__version__


class TorchChild:
    def __init__(self):
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=_torch_start)
        self.version = self.pool.submit(_torch_gradcheck, [4, 5, 3, 1], 3, True).result()[2]

    def variant(self, dims, m, fast_mode):
        def run():
            seconds, ok, _ = self.pool.submit(_torch_gradcheck, dims, m, fast_mode).result()
            return seconds, ok  # timed in the child: no inter-process time counted
        return run


# == speed ========================================================================================
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_workload(name, dims, m, rounds, torch_child, kw=None):
    kw = kw or {}
    params, X, Y = make_problem(dims, m)
    n = sum(v.size for v in params.values())
    variants = {
        "structured": lambda: timed(lambda: pdl.check_backprop(params, X, Y, **kw)),
        "loop": lambda: timed(lambda: pdl.check_backprop(params, X, Y, method="loop", **kw)),
        "directional": lambda: timed(lambda: pdl.check_backprop(params, X, Y, method="directional", **kw)),
    }
    if not kw:
        variants["course loop"] = lambda: timed(lambda: course_gradient_check(params, X, Y))
        if torch_child is not None:
            variants["torch slow"] = torch_child.variant(dims, m, False)
            variants["torch fast"] = torch_child.variant(dims, m, True)
    for fn in variants.values():
        fn()  # untimed
    times, outputs = {k: [] for k in variants}, {}
    for _ in range(rounds):
        for k, fn in variants.items():
            t, out = fn()
            times[k].append(t)
            outputs[k] = out
    rows = []
    for k, ts in times.items():
        out = outputs[k]
        if isinstance(out, pdl.GradCheckReport):
            difference, verdict, evals = out.difference, out.verdict, out.n_evaluations
        elif isinstance(out, bool):
            difference, verdict, evals = None, "pass" if out else "fail", None
        else:
            difference, verdict, evals = float(out), None, 2 * n
        rows.append({"variant": k, "median_s": statistics.median(ts), "times_s": ts,
                     "ratio_to_structured": statistics.median(t / b for t, b in zip(ts, times["structured"])),
                     "difference": difference, "verdict": verdict, "n_evaluations": evals})
    return {"workload": name, "dims": dims, "m": m, "n_parameters": n, "options": {k: str(v) for k, v in kw.items()},
            "rows": rows}


def print_speed(results):
    for res in results["workloads"]:
        opts = f", {res['options']}" if res["options"] else ""
        print(f"\n{res['workload']}: {res['dims']}, m = {res['m']}, {res['n_parameters']} parameters{opts}")
        print(f"  {'variant':<13} {'median':>10} {'x structured':>13}  {'difference':>12}  verdict      evaluations")
        for row in res["rows"]:
            diff = "-" if row["difference"] is None else f"{row['difference']:.3e}"
            evals = "-" if row["n_evaluations"] is None else str(row["n_evaluations"])
            print(f"  {row['variant']:<13} {row['median_s'] * 1e3:8.2f} ms {row['ratio_to_structured']:13.1f}  "
                  f"{diff:>12}  {str(row['verdict'] or '-'):<12} {evals}")
        if res["workload"] == "large":
            for row in res["rows"]:
                if row["variant"] in TARGETS:
                    ratio, target = row["ratio_to_structured"], TARGETS[row["variant"]]
                    print(f"  {row['variant']} / structured: {ratio:.1f}x (target >= {target:g}x: "
                          f"{'met' if ratio >= target else 'missed'})")


# == battery ======================================================================================
def load_battery():
    spec = importlib.util.spec_from_file_location("battery", BATTERY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["battery"] = module
    spec.loader.exec_module(module)
    return module


def battery_rows(b, n):
    """(label, kwargs of run_battery) for every row of the battery."""
    rows = []
    for kind, methods in (("course", ("loop", "directional")), ("practicaldl", ("structured", "loop", "directional"))):
        for method in methods:
            for sat in b.SATURATIONS:
                rows.append((f"{kind:<11} {method:<11} correct  outputs {sat:g} from 0/1",
                             dict(n=n, kind=kind, method=method, saturation=sat, seed0=1000)))
            if kind == "practicaldl":
                rows.append((f"{kind:<11} {method:<11} correct  dropout 0.8",
                             dict(n=n, kind=kind, method=method, keep_prob=0.8, seed0=3000)))
            for bug in b.BUGS:
                rows.append((f"{kind:<11} {method:<11} bug {bug:<9} outputs 1e-2..1e-6",
                             dict(n=n, kind=kind, method=method, bug=bug, seed0=2000)))
    for sat in (1e-9, 1e-12):
        rows.append((f"course      loop        correct  outputs {sat:g} from 0/1",
                     dict(n=n // 2, kind="course", saturation=sat, seed0=1000)))
        rows.append((f"course      loop        bugs (all five) outputs {sat:g}",
                     dict(n=n // 2, kind="course", saturation=sat, seed0=2000, bug="all")))
    return rows


def run_battery(n):
    b = load_battery()
    out = []
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")  # the course's cost takes log(0) on purpose in the extreme rows
    for label, kw in battery_rows(b, n):
        t0 = time.perf_counter()
        if kw.get("bug") == "all":
            counts = {}
            for bug in b.BUGS:
                c, _ = b.run_battery(**{**kw, "bug": bug, "n": max(1, kw["n"] // len(b.BUGS))})
                for key, v in c.items():
                    counts[key] = counts.get(key, 0) + v
        else:
            counts = dict(b.run_battery(**kw)[0])
        total = sum(counts.values())
        row = {"label": label, "n": total, **{k: counts.get(k, 0) for k in ("right", "inconclusive", "fail")},
               "seconds": time.perf_counter() - t0}
        bad = row["right"] if "bug" in label else row["fail"]
        row["rate"] = bad / total if total else float("nan")
        out.append(row)
        name = "missed (right)" if "bug" in label else "false alarms"
        print(f"{label:<58} n={total:4d}  right {row['right']:4d}  inconclusive {row['inconclusive']:4d}  "
              f"fail {row['fail']:4d}   {name}: {100 * row['rate']:.1f}%", flush=True)
    for label, bug in (("agreement of the three methods, kinky networks, dropout 0.5", None),
                       ("agreement of the three methods, kinky, a gradient x 1.001", "scale")):
        checked, differ = b.run_agreement(2 * n, seed0=5000, bug=bug)
        out.append({"label": label, "n": checked, "differ": len(differ), "seeds": [s for s, _ in differ]})
        print(f"{label:<58} n={checked:4d}  verdicts differ in {len(differ)}", flush=True)
    return out


# == main =========================================================================================
def write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the speed comparison")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument("--battery", type=int, nargs="?", const=100, default=None, metavar="N",
                        help="run the false-alarm and miss battery instead, N cases per row (default 100)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the measurements")
    args = parser.parse_args(argv)
    meta = {"python": sys.version.split()[0], "numpy": np.__version__, "practicaldl": pdl.__file__,
            "machine": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        limiter = None
    try:
        if args.battery is not None:
            results = {"benchmark": "gradcheck battery", **meta, "rows": run_battery(args.battery)}
        else:
            rounds = args.rounds or (3 if args.quick else 7)
            child = TorchChild() if HAVE_TORCH and not args.no_torch else None
            try:
                workloads = [run_workload("small", [4, 5, 3, 1], 3, rounds, child),
                             run_workload("large", [20, 50, 50, 1], 32, rounds, child),
                             run_workload("large, l2 + dropout", [20, 50, 50, 1], 32, rounds, None,
                                          {"l2": 0.7, "keep_prob": 0.8, "rng": 0})]
            finally:
                if child is not None:
                    child.pool.shutdown()
            results = {"benchmark": "gradcheck speed", **meta, "epsilon": EPSILON,
                       "torch": None if child is None else child.version, "workloads": workloads}
            print_speed(results)
            if child is None:
                print("PyTorch rows skipped" + ("" if HAVE_TORCH else " (pip install practicaldl[bench])"))
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    write_json(args.json, results)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
