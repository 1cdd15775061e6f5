"""Training speed and memory: practicaldl against a course-style NumPy loop, PyTorch and the GEMM floor.

Run from the repository root (``pip install -e ".[bench]"`` adds PyTorch; without it its rows
are skipped)::

    python benchmarks/bench_training.py                 # all five workloads, about 6 minutes on 2 cores
    python benchmarks/bench_training.py --quick         # smaller sizes, fewer rounds: a smoke run
    python benchmarks/bench_training.py --only small,large --rounds 7 --json /tmp/out.json

Workloads (what each measures is in ``benchmarks/README.md``): ``small`` (the course's circles,
[2, 10, 5, 1], 15000 full-batch iterations), ``large`` ([784, 1024, 1024, 1], float32, minibatch
256, one epoch of 60000 synthetic examples), ``memory`` (the peak resident memory of ``large``,
a fresh process per variant), ``scaling`` (one epoch of [100, 256, 128, 1] on 10k to 1M
examples) and ``optimizers`` (the ``large`` epoch with momentum, RMSprop and Adam against
gradient descent, beside PyTorch's Adam / SGD). Every measurement goes to the JSON file (default
``benchmarks/results/bench_training.json``, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import practicaldl as pdl

torch = None  # PyTorch, loaded by load_torch(): optional


def load_torch(wanted: bool = True):
    """Import PyTorch if it is installed and wanted (late: the memory children of the other
    variants do not carry its libraries)."""
    global torch
    if wanted and torch is None:
        try:
            import torch as _torch
        except ImportError:  # pragma: no cover - depends on the environment
            return None
        torch = _torch
    return torch


ROOT = Path(__file__).resolve().parent
DEFAULT_JSON = ROOT / "results" / "bench_training.json"
LARGE_DIMS = [784, 1024, 1024, 1]
SCALING_DIMS = [100, 256, 128, 1]
TARGETS = {"small": {"course loop (NumPy)": 0.7, "PyTorch autograd": 0.25}, "large": {"GEMM-only floor": 1.25},
           "memory_mb": 100.0, "optimizers": {"adam": 1.35}}
#: Learning rates of the optimizers workload: steps that neither diverge nor stall in one epoch
OPTIMIZER_RATES = {"gd": 0.01, "momentum": 0.01, "rmsprop": 1e-4, "adam": 1e-4}


# == the course-style NumPy loop (what a student writes after the course) =======================
def course_initialize_he(layer_dims, rng):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = rng.randn(layer_dims[l], layer_dims[l - 1]) * np.sqrt(2.0 / layer_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def course_forward(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, everything kept in a cache tuple."""
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    z1 = np.dot(W1, X) + b1
    a1 = np.maximum(0, z1)
    z2 = np.dot(W2, a1) + b2
    a2 = np.maximum(0, z2)
    z3 = np.dot(W3, a2) + b3
    a3 = 1 / (1 + np.exp(-z3))
    return a3, (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)


def course_loss(a3, Y):
    logprobs = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    return 1.0 / Y.shape[1] * np.nansum(logprobs)


def course_backward(X, Y, cache):
    m = X.shape[1]
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) = cache
    dz3 = 1.0 / m * (a3 - Y)
    dW3 = np.dot(dz3, a2.T)
    db3 = np.sum(dz3, axis=1, keepdims=True)
    da2 = np.dot(W3.T, dz3)
    dz2 = np.multiply(da2, np.int64(a2 > 0))
    dW2 = np.dot(dz2, a1.T)
    db2 = np.sum(dz2, axis=1, keepdims=True)
    da1 = np.dot(W2.T, dz2)
    dz1 = np.multiply(da1, np.int64(a1 > 0))
    dW1 = np.dot(dz1, X.T)
    db1 = np.sum(dz1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def course_update(parameters, grads, learning_rate):
    for l in range(1, len(parameters) // 2 + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters


def course_random_mini_batches(X, Y, mini_batch_size, rng):
    """The course's shuffle: a permuted copy of the whole data set, then slices of it."""
    m = X.shape[1]
    permutation = list(rng.permutation(m))
    shuffled_X, shuffled_Y = X[:, permutation], Y[:, permutation]
    return [(shuffled_X[:, k:k + mini_batch_size], shuffled_Y[:, k:k + mini_batch_size])
            for k in range(0, m, mini_batch_size)]


def course_model(X, Y, layer_dims, learning_rate, num_iterations, mini_batch_size=None, seed=3):
    """The course's training loop on X (n_x, m), Y (1, m); records the cost every iteration."""
    rng = np.random.RandomState(seed)
    parameters = course_initialize_he(layer_dims, rng)
    if X.dtype == np.float32:  # the course has no dtype setting: cast once, so that the comparison is fair
        parameters = {k: v.astype(np.float32) for k, v in parameters.items()}
    costs = []
    for _ in range(num_iterations):
        batches = [(X, Y)] if mini_batch_size is None else course_random_mini_batches(X, Y, mini_batch_size, rng)
        for Xb, Yb in batches:
            a3, cache = course_forward(Xb, parameters)
            cost = course_loss(a3, Yb)
            parameters = course_update(parameters, course_backward(Xb, Yb, cache), learning_rate)
        costs.append(cost)
    return parameters, costs


# == PyTorch (CPU, autograd) ====================================================================
def torch_fit(X, y, hidden, learning_rate, iterations, batch_size=None, seed=0, optimizer="SGD"):
    """nn.Sequential of Linear/ReLU, BCEWithLogitsLoss, ``torch.optim.<optimizer>`` (SGD, Adam) with its
    defaults; X (m, n_x) shared with NumPy (no copy)."""
    torch.manual_seed(seed)
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(X.dtype).reshape(-1, 1))
    layers, n_in = [], X.shape[1]
    for n in hidden:
        layers += [torch.nn.Linear(n_in, n, dtype=dtype), torch.nn.ReLU()]
        n_in = n
    model = torch.nn.Sequential(*layers, torch.nn.Linear(n_in, 1, dtype=dtype))
    loss_fn, opt = torch.nn.BCEWithLogitsLoss(), getattr(torch.optim, optimizer)(model.parameters(), lr=learning_rate)
    m = X.shape[0]
    for _ in range(iterations):
        batches = [(Xt, yt)] if batch_size is None else (
            (Xt[idx], yt[idx]) for idx in torch.split(torch.randperm(m), batch_size))
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    return model


# == the GEMM-only floor ========================================================================
def gemm_floor(layer_dims, m, batch_size, dtype, seed=0):
    """Seconds for the matrix products of one minibatch epoch and nothing else, into preallocated
    arrays, with the layouts the training step has (X gathered in Fortran order).

    Per minibatch: Z_l = W_l A_{l-1} (l = 1..L), dW_l = dZ_l A_{l-1}^T (l = 1..L), dA_{l-1} =
    W_l^T dZ_l (l = 2..L). Each with ``np.matmul``, but for an inner size of 1 (W_L^T dZ_L with one
    output unit), where ``np.dot``'s gemm is faster than ``np.matmul``'s own loop."""
    rng = np.random.RandomState(seed)
    L = len(layer_dims) - 1
    W = [rng.standard_normal((layer_dims[l], layer_dims[l - 1])).astype(dtype) * 0.01 for l in range(1, L + 1)]
    dW = [np.empty_like(w) for w in W]

    def buffers(b):
        X = np.asarray(rng.standard_normal((b, layer_dims[0])), dtype=dtype).T
        return X, [np.empty((n, b), dtype) for n in layer_dims[1:]], [np.empty((n, b), dtype) for n in layer_dims[1:]]

    sizes = [batch_size] * (m // batch_size) + ([m % batch_size] if m % batch_size else [])
    bufs = {b: buffers(b) for b in set(sizes)}
    t0 = time.perf_counter()
    for b in sizes:
        X, Z, dA = bufs[b]
        A = X
        for l in range(L):
            A = np.matmul(W[l], A, out=Z[l])
        dZ = Z[L - 1]
        for l in range(L - 1, -1, -1):
            np.matmul(dZ, (X if l == 0 else Z[l - 1]).T, out=dW[l])
            if l:
                (np.dot if W[l].shape[0] == 1 else np.matmul)(W[l].T, dZ, out=dA[l - 1])
                dZ = dA[l - 1]
    return time.perf_counter() - t0


# == data and timing ============================================================================
def synthetic(m, n_x, dtype, seed=0, chunk=4096):
    """X (m, n_x) ~ N(0, 1), y = 1[X w > 0], filled chunk by chunk (no temporary the size of X)."""
    rng = np.random.RandomState(seed)
    w = rng.standard_normal(n_x)
    X, y = np.empty((m, n_x), dtype=dtype), np.empty(m, dtype=np.int64)
    for s in range(0, m, chunk):
        block = rng.standard_normal((min(chunk, m - s), n_x))
        X[s:s + len(block)], y[s:s + len(block)] = block, block @ w > 0
    return X, y


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_rounds(variants: dict, rounds: int, pair: tuple = ()) -> dict:
    """One untimed warm-up of each variant, then ``rounds`` rounds of every variant in turn; returns
    name -> seconds per round. ``pair``: two variants that run back to back, swapping places every
    other round, so that their ratio pairs measurements a second apart, neither always first."""
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants)
        if pair and r % 2:
            i, j = order.index(pair[0]), order.index(pair[1])
            order[i], order[j] = order[j], order[i]
        for name in order:
            times[name].append(variants[name]())
            time.sleep(0.05)  # let the previous variant's spinning BLAS / OpenMP threads go idle
    return times


def summarize(times: dict, per: int) -> dict:
    """Medians, and the median (and range) of the per-round ratios practicaldl / each other variant."""
    out = {"median_s": {k: statistics.median(v) for k, v in times.items()},
           "per_unit_us": {k: statistics.median(v) / per * 1e6 for k, v in times.items()}, "times_s": times,
           "ratios": {}, "ratio_range": {}}
    for name, values in times.items():
        if name != "practicaldl":
            ratios = [a / b for a, b in zip(times["practicaldl"], values)]
            out["ratios"][name], out["ratio_range"][name] = statistics.median(ratios), [min(ratios), max(ratios)]
    return out


def print_table(title: str, summary: dict, unit: str, targets: dict):
    print(f"\n{title}")
    print(f"  {'variant':<22} {'median':>9} {unit:>14} {'practicaldl / it':>17} {'rounds':>15} {'target':>12}")
    for name, med in summary["median_s"].items():
        ratio, target = summary["ratios"].get(name), targets.get(name)
        low, high = summary["ratio_range"].get(name, (None, None))
        print(f"  {name:<22} {med:>8.3f}s {summary['per_unit_us'][name]:>14.1f} "
              f"{'' if ratio is None else f'{ratio:.3f}x':>17} {'' if low is None else f'{low:.2f}-{high:.2f}x':>15} "
              f"{'' if target is None else f'<= {target}x ' + ('ok' if ratio <= target else 'MISSED'):>12}")


# == workloads ==================================================================================
def workload_small(iterations: int, rounds: int) -> dict:
    data = pdl.load_dataset("circles")
    X, y = data.X_train, data.y_train
    XT, Y = X.T, y.reshape(1, -1).astype(np.float64)
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=(10, 5), init="he", learning_rate=0.01, max_iter=iterations,
                                  random_state=3)
    variants = {"practicaldl": lambda: timed(lambda: clf.fit(X, y)),
                "course loop (NumPy)": lambda: timed(lambda: course_model(XT, Y, [2, 10, 5, 1], 0.01, iterations))}
    if torch is not None:
        variants["PyTorch autograd"] = lambda: timed(lambda: torch_fit(X, y, (10, 5), 0.01, iterations))
        # one intra-op thread: a (10, 300) layer is far below the size PyTorch splits across threads,
        # and on a shared machine its idle OpenMP threads would cost it up to 50x the time
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    summary = summarize(run_rounds(variants, rounds), per=iterations)
    if torch is not None:
        torch.set_num_threads(threads)
    summary.update(iterations=iterations, rounds=rounds)
    print_table(f"1. small: circles (300 x 2), [2, 10, 5, 1], {iterations} full-batch iterations, {rounds} rounds",
                summary, "us/iteration", TARGETS["small"])
    return summary


def workload_large(m: int, rounds: int, batch_size: int = 256) -> dict:
    X, y = synthetic(m, LARGE_DIMS[0], np.float32)
    XT, Y = X.T, y.reshape(1, -1).astype(np.float32)
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=tuple(LARGE_DIMS[1:-1]), init="he", learning_rate=0.01,
                                  max_iter=1, batch_size=batch_size, random_state=0)
    variants = {"practicaldl": lambda: timed(lambda: clf.fit(X, y)),
                "GEMM-only floor": lambda: gemm_floor(LARGE_DIMS, m, batch_size, np.float32),
                "course loop (NumPy)": lambda: timed(
                    lambda: course_model(XT, Y, LARGE_DIMS, 0.01, 1, mini_batch_size=batch_size))}
    if torch is not None:  # in a child process: see torch_epoch_child
        variants["PyTorch"] = lambda: torch_epoch_in_child(m, batch_size)
    summary = summarize(run_rounds(variants, rounds, pair=("practicaldl", "GEMM-only floor")),
                        per=math.ceil(m / batch_size))
    summary.update(m=m, batch_size=batch_size, rounds=rounds, dataset_mb=X.nbytes / 2**20)
    print_table(f"2. large: {m} x 784 float32, {LARGE_DIMS}, minibatch {batch_size}, one epoch, {rounds} rounds",
                summary, "us/minibatch", TARGETS["large"])
    return summary


def torch_epoch_child(m: int, batch_size: int) -> dict:
    """In a fresh process: PyTorch's epoch of the large workload, after a warm-up on two minibatches.

    A child, because PyTorch's OpenMP threads, once started, compete with OpenBLAS's threads for
    the cores in the process that holds both; a user's process holds one of them."""
    if load_torch() is None:
        return {"skipped": "PyTorch is not installed"}
    X, y = synthetic(m, LARGE_DIMS[0], np.float32)
    torch_fit(X[:2 * batch_size], y[:2 * batch_size], tuple(LARGE_DIMS[1:-1]), 0.01, 1, batch_size=batch_size)
    return {"seconds": timed(lambda: torch_fit(X, y, tuple(LARGE_DIMS[1:-1]), 0.01, 1, batch_size=batch_size))}


def torch_epoch_in_child(m: int, batch_size: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--torch-child", str(m), str(batch_size)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def workload_optimizers(m: int, rounds: int, batch_size: int = 256) -> dict:
    """The ``large`` epoch with each optimizer, in turn in one process (gradient descent and Adam back
    to back, swapping places); each figure is the median of the per-round ratios optimizer / gd.
    PyTorch's Adam / SGD ratio is measured the same way, in a child process."""
    X, y = synthetic(m, LARGE_DIMS[0], np.float32)
    clfs = {name: pdl.NeuralNetClassifier(hidden_layer_sizes=tuple(LARGE_DIMS[1:-1]), optimizer=name,
                                          learning_rate=lr, max_iter=1, batch_size=batch_size, random_state=0)
            for name, lr in OPTIMIZER_RATES.items()}
    variants = {name: (lambda clf=clf: timed(lambda: clf.fit(X, y))) for name, clf in clfs.items()}
    times = run_rounds(variants, rounds, pair=("gd", "adam"))
    per = math.ceil(m / batch_size)
    out = {"median_s": {k: statistics.median(v) for k, v in times.items()}, "times_s": times, "ratios": {},
           "ratio_range": {}, "m": m, "batch_size": batch_size, "rounds": rounds,
           "n_parameters": int(sum(p.size for p in clfs["adam"].parameters_.values()))}
    for name, values in times.items():
        ratios = [a / b for a, b in zip(values, times["gd"])]
        out["ratios"][name], out["ratio_range"][name] = statistics.median(ratios), [min(ratios), max(ratios)]
    if torch is not None:
        child = subprocess.run([sys.executable, __file__, "--torch-optimizers-child", str(m), str(batch_size),
                                str(rounds)], capture_output=True, text=True, check=True)
        out["torch"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"\n5. optimizers: the large epoch ({m} x 784 float32, {LARGE_DIMS}, minibatch {batch_size}, "
          f"{out['n_parameters']} parameters), {rounds} rounds")
    print(f"  {'optimizer':<22} {'median':>9} {'us/minibatch':>14} {'/ gd':>9} {'rounds':>15} {'target':>12}")
    for name, med in out["median_s"].items():
        low, high = out["ratio_range"][name]
        target = TARGETS["optimizers"].get(name)
        verdict = "" if target is None else f"<= {target}x " + ("ok" if out["ratios"][name] <= target else "MISSED")
        print(f"  {name:<22} {med:>8.3f}s {med / per * 1e6:>14.1f} {out['ratios'][name]:>8.3f}x "
              f"{low:>7.2f}-{high:.2f}x {verdict:>12}")
    if "torch" in out:
        t = out["torch"]
        print(f"  {'PyTorch SGD':<22} {t['median_s']['SGD']:>8.3f}s {t['median_s']['SGD'] / per * 1e6:>14.1f}")
        print(f"  {'PyTorch Adam':<22} {t['median_s']['Adam']:>8.3f}s {t['median_s']['Adam'] / per * 1e6:>14.1f} "
              f"{t['ratio']:>8.3f}x {t['ratio_range'][0]:>7.2f}-{t['ratio_range'][1]:.2f}x  (Adam / SGD)")
    return out


def torch_optimizers_child(m: int, batch_size: int, rounds: int) -> dict:
    """In a fresh process (see torch_epoch_child): PyTorch's epoch with SGD and with Adam, in turn,
    after a warm-up of each; the median of the per-round ratios Adam / SGD."""
    if load_torch() is None:
        return {"skipped": "PyTorch is not installed"}
    X, y = synthetic(m, LARGE_DIMS[0], np.float32)
    hidden = tuple(LARGE_DIMS[1:-1])
    variants = {name: (lambda name=name, lr=lr: timed(lambda: torch_fit(X, y, hidden, lr, 1, batch_size=batch_size,
                                                                         optimizer=name)))
                for name, lr in (("SGD", OPTIMIZER_RATES["gd"]), ("Adam", OPTIMIZER_RATES["adam"]))}
    times = run_rounds(variants, rounds, pair=("SGD", "Adam"))
    ratios = [a / s for a, s in zip(times["Adam"], times["SGD"])]
    return {"median_s": {k: statistics.median(v) for k, v in times.items()}, "times_s": times,
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
            "threads": torch.get_num_threads()}


def _vm(field: str) -> float:
    """A /proc/self/status field in MiB (VmRSS: now, VmHWM: the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")  # pragma: no cover


def memory_child(variant: str, m: int, batch_size: int = 256) -> dict:
    """In a fresh process: the resident size before the data, with it, and the peak after one epoch.

    The baseline is taken once the variant's libraries are loaded (scikit-learn for the estimator,
    PyTorch) and the BLAS has run a product (its thread buffers): what is left is training's own."""
    if variant == "PyTorch":
        if load_torch() is None:
            return {"skipped": "PyTorch is not installed"}
        torch.ones(256, 256) @ torch.ones(256, 256)
    elif variant == "practicaldl":
        from practicaldl.estimator import NeuralNetClassifier  # noqa: F401  (imports scikit-learn)
    a = np.ones((256, 256), np.float32)
    a @ a
    before = _vm("VmRSS")
    X, y = synthetic(m, LARGE_DIMS[0], np.float32)
    data_mb = (X.nbytes + y.nbytes) / 2**20
    if variant == "practicaldl":
        pdl.NeuralNetClassifier(hidden_layer_sizes=tuple(LARGE_DIMS[1:-1]), max_iter=1, batch_size=batch_size,
                                random_state=0).fit(X, y)
    elif variant == "course loop (NumPy)":
        course_model(X.T, y.reshape(1, -1).astype(np.float32), LARGE_DIMS, 0.01, 1, mini_batch_size=batch_size)
    else:
        torch_fit(X, y, tuple(LARGE_DIMS[1:-1]), 0.01, 1, batch_size=batch_size)
    peak = _vm("VmHWM")
    return {"before_data_mb": before, "data_mb": data_mb, "peak_mb": peak, "overhead_mb": peak - before - data_mb}


def workload_memory(m: int) -> dict:
    results = {}
    print(f"\n3. memory: peak resident memory of one epoch of the large workload ({m} x 784 float32), "
          "a fresh process each")
    print(f"  {'variant':<22} {'before data':>12} {'data':>9} {'peak':>9} {'peak - before - data':>21} {'target':>14}")
    for variant in ["practicaldl", "course loop (NumPy)"] + (["PyTorch"] if torch is not None else []):
        out = subprocess.run([sys.executable, __file__, "--memory-child", variant, str(m)], capture_output=True,
                             text=True, check=True)
        r = results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        target = ""
        if variant == "practicaldl":
            target = f"<= {TARGETS['memory_mb']:.0f} MB " + ("ok" if r["overhead_mb"] <= TARGETS["memory_mb"]
                                                             else "MISSED")
        print(f"  {variant:<22} {r['before_data_mb']:>10.0f}MB {r['data_mb']:>7.0f}MB {r['peak_mb']:>7.0f}MB "
              f"{r['overhead_mb']:>19.0f}MB {target:>14}")
    return results


def workload_scaling(sizes, rounds: int, batch_size: int = 256) -> dict:
    """One epoch on each size; the least-squares line t = a + b n and the log-log slope."""
    hidden = tuple(SCALING_DIMS[1:-1])
    X, y = synthetic(1000, SCALING_DIMS[0], np.float32, seed=1)
    pdl.NeuralNetClassifier(hidden, max_iter=1, batch_size=batch_size).fit(X, y)  # warm-up
    medians, all_times = [], []
    for m in sizes:
        X, y = synthetic(m, SCALING_DIMS[0], np.float32, seed=1)
        clf = pdl.NeuralNetClassifier(hidden, max_iter=1, batch_size=batch_size, random_state=0)
        times = [timed(lambda: clf.fit(X, y)) for _ in range(rounds)]
        all_times.append(times)
        medians.append(statistics.median(times))
        del X, y
    n, t = np.asarray(sizes, dtype=float), np.asarray(medians)
    b, a = np.polyfit(n, t, 1)
    r2 = 1 - np.sum((t - (a + b * n)) ** 2) / np.sum((t - t.mean()) ** 2)
    slope = np.polyfit(np.log(n), np.log(t), 1)[0]
    print(f"\n4. scaling: one epoch of {SCALING_DIMS}, float32, minibatch {batch_size}, median of {rounds}")
    for m, tm in zip(sizes, t):
        print(f"  {m:>10} examples {tm:>8.3f}s {tm / m * 1e6:>8.2f} us/example")
    print(f"  t = {a:.3f} s + {b * 1e6:.3f} us x n (R^2 {r2:.4f}); log-log slope {slope:.3f} (1 = linear)")
    return {"sizes": list(sizes), "median_s": medians, "times_s": all_times, "intercept_s": float(a),
            "us_per_example_fit": float(b * 1e6), "r2": float(r2), "loglog_slope": float(slope)}


#: Environment variables that force OpenBLAS's kernel or cache size: a run removes them (see main)
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def rerun_without_blas_overrides(argv: list) -> int | None:
    """Where the environment forces OpenBLAS's kernel (some machines do, for old OpenBLAS builds),
    run this script again without those variables, so that OpenBLAS picks the kernel for this CPU
    as it does for a user of NumPy's wheel; None when there is nothing to remove."""
    if not any(k in os.environ for k in BLAS_OVERRIDES):
        return None
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env).returncode


def environment() -> dict:
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):  # pragma: no cover - not Linux
        pass
    env = {"cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
           "blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                    for i in threadpool_info() if i.get("user_api") == "blas"],
           "blas_env": {k: os.environ.get(k) for k in BLAS_OVERRIDES}, "practicaldl": pdl.__version__,
           "loadavg_at_start": os.getloadavg()}
    if torch is not None:
        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return env


def write_json(path: Path, record: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1, default=float)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (a smoke run)")
    parser.add_argument("--only", default="small,large,memory,scaling,optimizers", help="comma-separated workloads")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the small and large workloads (default 5)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows even if it is installed")
    parser.add_argument("--env-blas", action="store_true",
                        help="keep the environment's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: run without them)")
    parser.add_argument("--memory-child", nargs=2, metavar=("VARIANT", "M"), help=argparse.SUPPRESS)
    parser.add_argument("--torch-child", nargs=2, metavar=("M", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--torch-optimizers-child", nargs=3, metavar=("M", "BATCH", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child[0], int(args.memory_child[1]))))
        return 0
    if args.torch_child:
        print(json.dumps(torch_epoch_child(*map(int, args.torch_child))))
        return 0
    if args.torch_optimizers_child:
        print(json.dumps(torch_optimizers_child(*map(int, args.torch_optimizers_child))))
        return 0
    status = None if args.env_blas else rerun_without_blas_overrides(sys.argv[1:] if argv is None else list(argv))
    if status is not None:
        return status
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    if wanted - {"small", "large", "memory", "scaling", "optimizers"}:
        parser.error(f"--only must name workloads among small, large, memory, scaling, optimizers; got {sorted(wanted)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be a positive integer, got {args.rounds}")
    load_torch(not args.no_torch)
    q, rounds = args.quick, args.rounds or (2 if args.quick else 5)
    record = {"quick": q, "environment": environment(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    env = record["environment"]
    print(f"{env['cpu']}, {env['cpu_count']} CPUs; Python {env['python']}, NumPy {env['numpy']}, "
          f"{'PyTorch ' + env['torch'] if torch is not None else 'no PyTorch (its rows are skipped)'}; "
          f"load average {env['loadavg_at_start'][0]:.2f}")
    print("BLAS: " + ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
                               for b in env["blas"])
          + "; " + ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in BLAS_OVERRIDES))
    t0 = time.perf_counter()
    if "small" in wanted:
        record["small"] = workload_small(2000 if q else 15000, rounds)
    if "large" in wanted:
        record["large"] = workload_large(6000 if q else 60000, rounds)
    if "memory" in wanted:
        record["memory"] = workload_memory(6000 if q else 60000)
    if "scaling" in wanted:
        record["scaling"] = workload_scaling([10_000, 30_000, 100_000] if q else [10_000, 100_000, 1_000_000],
                                             1 if q else 3)
    if "optimizers" in wanted:
        record["optimizers"] = workload_optimizers(6000 if q else 60000, rounds)
    record.update(total_s=time.perf_counter() - t0, loadavg_at_end=os.getloadavg())
    write_json(args.json, record)
    print(f"\ntotal {record['total_s']:.0f} s; load average at the end {record['loadavg_at_end'][0]:.2f}; "
          f"results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
