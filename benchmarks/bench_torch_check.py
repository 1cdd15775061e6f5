"""Speed of ``practicaldl.torch.check_module`` on a PyTorch MLP of about 100k parameters.

Run (from the repository root; needs PyTorch, ``pip install -e ".[torch]"``)::

    python benchmarks/bench_torch_check.py                 # 5 rounds (a few seconds)
    python benchmarks/bench_torch_check.py --rounds 3 --threads 2 --json out.json

Model: ``nn.Sequential(Linear(784, 128), ReLU, Dropout(0.2), Linear(128, 10))`` in training mode
(101,770 parameters), ``CrossEntropyLoss``, a batch of 64 examples ~ N(0, 1) with random labels,
``torch.manual_seed(0)``.

Variants, in turn in each round:

* ``directional``: ``check_module(method="directional")`` on the correct model (4 random
  directions: 1 + 2 x 4 evaluations after the analytic pass), at epsilon 1e-6 (the default) and 1e-7;
* ``directional, planted bug``: the same with the last layer replaced by the ``ScaledLinear`` of
  ``examples/torch_custom_function_bug.py`` (a custom autograd Function whose weight gradient is
  sqrt(128) = 11.3x too large): a failed check drills down (2 directions per parameter,
  2 x 2 x 4 more evaluations) to name ``3.weight``. The outcome column shows what each check
  concluded (passed, failing parameters, and its notes: the directions it left out as kinks);
* ``torch fast gradcheck``: ``torch.autograd.gradcheck(fast_mode=True)`` on the loss as a function
  of the four parameters (``torch.func.functional_call``), in eval mode (with dropout it fails:
  every call draws new masks), with no names in its answer;
* ``forward + backward``: one float64 forward and backward pass of the copy: the floor of any check.

The loop (``method="loop"``) would need 2 x 101,770 + 1 evaluations: its time is estimated as that
many times the median time of one evaluation (a forward pass and the loss). PyTorch runs with
``--threads`` intra-op threads (default 1, as in ``bench_gradcheck.py``). The table gives each
variant's median and the median of the per-round ratios against ``forward + backward``; the JSON
(``--json``, default ``benchmarks/results/bench_torch_check.json``) has every measurement.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import runpy
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call

from practicaldl import torch as pdt


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def workload(bug: bool = False):
    torch.manual_seed(0)
    if bug:  # the example's ScaledLinear: its backward forgets the 1 / sqrt(fan_in) in the weight's gradient
        scaled_linear = runpy.run_path(str(EXAMPLES / "torch_custom_function_bug.py"))["ScaledLinear"]
        last = scaled_linear(128, 10)
    else:
        last = nn.Linear(128, 10)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), last).train()
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    return model, nn.CrossEntropyLoss(), x, y


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_torch_check.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, loss_fn, x, y = workload()
    buggy = workload(bug=True)[0]
    n = sum(p.numel() for p in model.parameters())

    work = copy.deepcopy(model).double()
    x64 = x.double()
    names = [k for k, _ in work.named_parameters()]

    def floor():
        work.zero_grad()
        loss_fn(work(x64), y).backward()

    def one_evaluation():
        with torch.no_grad():
            return float(loss_fn(work(x64), y))

    def torch_fast():
        ev = copy.deepcopy(work).eval()
        params = tuple(p.detach().clone().requires_grad_() for p in ev.parameters())
        f = lambda *ps: loss_fn(functional_call(ev, dict(zip(names, ps)), (x64,)), y)  # noqa: E731
        return torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-5, fast_mode=True)

    variants = {
        "directional": lambda: pdt.check_module(model, loss_fn, x, y, method="directional"),
        "directional, planted bug": lambda: pdt.check_module(buggy, loss_fn, x, y, method="directional"),
        "directional, eps 1e-7": lambda: pdt.check_module(model, loss_fn, x, y, method="directional", epsilon=1e-7),
        "directional, bug, eps 1e-7": lambda: pdt.check_module(buggy, loss_fn, x, y, method="directional",
                                                               epsilon=1e-7),
        "torch fast gradcheck": torch_fast,
        "forward + backward": floor,
        "one evaluation": one_evaluation,
    }
    for fn in variants.values():  # warm-up
        fn()
    times = {k: [] for k in variants}
    outcomes = {}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            t, out = timed(fn)
            times[name].append(t)
            if hasattr(out, "passed"):
                outcomes[name] = {"passed": out.passed, "failing": out.failing, "n_evaluations": out.n_evaluations,
                                  "notes": out.notes}
            elif isinstance(out, bool):
                outcomes[name] = {"passed": out}
    ratio = {k: statistics.median(t / f for t, f in zip(v, times["forward + backward"])) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    loop_estimate = (2 * n + 1) * median["one evaluation"]
    print(f"check_module on a {n:,}-parameter MLP (batch 64, dropout in training mode), {args.rounds} rounds, "
          f"{args.threads} PyTorch thread(s), torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'variant':<28}{'median':>12}{'x forward+backward':>22}  outcome")
    for k in variants:
        print(f"{k:<28}{median[k] * 1e3:>10.1f}ms{ratio[k]:>22.1f}  {outcomes.get(k, '')}")
    print(f"{'loop (estimated)':<28}{loop_estimate:>11.1f}s  = (2 x {n:,} + 1) evaluations x "
          f"{median['one evaluation'] * 1e3:.2f} ms")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "n_parameters": n, "rounds": args.rounds, "threads": args.threads, "torch": torch.__version__,
        "python": platform.python_version(), "load_average": os.getloadavg(), "times": times, "median": median,
        "ratio_to_forward_backward": ratio, "loop_estimate_s": loop_estimate, "outcomes": outcomes}, indent=2))


if __name__ == "__main__":
    main()
