"""Gradient check of a PyTorch model with respect to its named parameters.

``check_module(model, loss_fn, inputs, targets)`` checks the gradients autograd computes for the
loss ``J(theta) = loss_fn(model(inputs), targets)`` with respect to every trainable parameter,
by name (``"0.weight"``, ``"fc1.bias"``), with ``practicaldl.gradcheck``: the same report as
``gradient_check`` (a line per parameter, its worst entries by index, kinks, the verdict).

How:

* a float64 copy of the model (``copy.deepcopy(model).to(torch.float64)``; the loss too when it
  is a module with floating-point state, such as class weights) and of the batch's
  floating-point tensors. The user's model, its ``requires_grad`` flags, dtype, mode, gradients
  and the global random generators are as they were afterwards.
* the analytic gradient: one forward and ``loss.backward()`` on the copy, in the model's own mode
  (``train()`` or ``eval()``); a parameter that receives no gradient (``grad is None``, as when a
  custom ``torch.autograd.Function`` returns None for it) counts as 0, and the report says so.
* the numerical gradient: ``cost_fn(arrays) = loss_fn(functional_call(copy, arrays, inputs), targets)``
  over the named float64 arrays, by ``gradcheck.gradient_check`` (``method="loop"``: centred
  differences for every entry, ``2 n + 25`` evaluations with the noise measurement, more for
  kinks and second looks) or ``gradcheck.directional_check`` (``method="directional"``: random
  directions over all parameters and per parameter; a few dozen evaluations whatever n, for
  large models).
* the global generators are replayed before every forward pass (``randomness.replayable_rng``),
  so dropout draws the same masks in every evaluation and a correct model passes in training mode.

A wrong backward in a custom ``torch.autograd.Function`` is named by the parameter it feeds. A
backward that raises (a gradient of the wrong shape) raises ``BackwardError``.

Reference: Andrew Ng, Improving Deep Neural Networks, week 1, "Gradient Checking";
pytorch/pytorch#114333 (gradcheck and dropout).
"""

from __future__ import annotations

import copy
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from torch.func import functional_call

from ..core.validation import check_positive
from ..gradcheck import GradCheckReport, directional_check, gradient_check
from .batch import call, call_loss, cast, check_inputs, device_of, forward
from .randomness import replayable_rng

#: method -> the practicaldl.gradcheck function that checks the named arrays
METHODS = {"loop": gradient_check, "directional": directional_check}


class BackwardError(RuntimeError):
    """``loss.backward()`` raised: a backward (often a custom ``autograd.Function``'s) is wrong."""


def check_module(model, loss_fn: Callable, inputs, targets=None, epsilon: float = 1e-6, method: str = "loop", *,
                 parameters: Optional[Iterable[str]] = None, progress: Optional[Callable[[int], None]] = None,
                 **options) -> GradCheckReport:
    """Check autograd's gradients of ``loss_fn(model(inputs), targets)`` for every named parameter.

    ``model``: a ``torch.nn.Module``. ``loss_fn(output, targets)`` (or ``loss_fn(output)`` when
    ``targets`` is None) returns a scalar tensor. ``inputs``: a tensor, a tuple of tensors
    (``model(*inputs)``) or a dict (``model(**inputs)``). ``epsilon``: the centred-difference
    step, in float64. ``method``: "loop" (every entry) or "directional" (large models).
    ``parameters``: names to check (default: every parameter with ``requires_grad``; frozen ones
    are named in the report's notes). ``progress(n)`` is called after each cost evaluation with
    the count so far. Other keyword arguments go to ``gradcheck.gradient_check`` or
    ``gradcheck.directional_check`` (``threshold``, ``n_worst``, ``n_directions``, ...).

    Returns the ``GradCheckReport`` of those functions, keyed by parameter name: ``passed``,
    ``difference``, ``per_parameter["fc1.weight"]`` (its verdict and worst entries by index).
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable as loss_fn(output, targets) -> scalar tensor, got "
                         f"{type(loss_fn).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    check_positive("epsilon", epsilon)
    check_inputs(inputs)
    device = device_of(model)
    work, loss64 = _float64_copies(model, loss_fn)
    named = dict(work.named_parameters())
    names, notes = _checked_names(named, parameters)
    inputs64, targets64 = cast(inputs, torch.float64, device), cast(targets, torch.float64, device)

    with replayable_rng(device) as replay, torch.enable_grad():
        params, grads, missing = _analytic(work, loss64, inputs64, targets64, named, names, replay)
        if missing:
            notes.append(f"no gradient reached {', '.join(missing)} (grad is None): compared as 0")
        count = [0]

        def cost_fn(arrays: dict) -> float:
            replay()
            tensors = {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}
            output = call(lambda *a, **kw: functional_call(work, tensors, a, kw), inputs64)
            value = float(call_loss(loss64, output, targets64).detach())
            count[0] += 1
            if progress is not None:
                progress(count[0])
            return value

        report = METHODS[method](cost_fn, params, grads, epsilon, **options)
    report.notes.extend(notes)
    return report


def copy_model(model):
    """A deep copy of ``model`` with its gradients cleared (the user's stay as they are)."""
    try:
        work = copy.deepcopy(model)
    except Exception as exc:
        raise ValueError(f"model could not be copied (copy.deepcopy): {type(exc).__name__}: {exc}") from exc
    for p in work.parameters():
        p.grad = None
    return work


def run_backward(loss) -> None:
    """``loss.backward()``; what it raises becomes a ``BackwardError``."""
    try:
        loss.backward()
    except Exception as exc:
        raise BackwardError(f"loss.backward() failed: {type(exc).__name__}: {exc}") from exc


def _float64_copies(model, loss_fn):
    """float64 deep copies of the model and, when it is a module, of the loss; gradients cleared."""
    work = copy_model(model).to(torch.float64)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = copy.deepcopy(loss_fn).to(torch.float64)
    return work, loss_fn


def _checked_names(named: dict, parameters) -> tuple[list, list]:
    """The names to check and the notes on the others."""
    trainable = [n for n, p in named.items() if p.requires_grad]
    frozen = [n for n, p in named.items() if not p.requires_grad]
    notes = []
    if parameters is None:
        if not trainable:
            raise ValueError("model has no trainable parameter (none with requires_grad=True) to check"
                             + (f"; frozen: {frozen}" if frozen else ""))
        if frozen:
            notes.append(f"frozen (requires_grad=False), not checked: {', '.join(frozen)}")
        return trainable, notes
    wanted = [parameters] if isinstance(parameters, str) else list(parameters)
    unknown = [n for n in wanted if n not in trainable]
    if unknown or not wanted:
        raise ValueError(f"parameters must name trainable parameters of the model, one of {trainable}, "
                         f"got {unknown or wanted}")
    return list(dict.fromkeys(wanted)), notes


def _analytic(work, loss_fn, inputs, targets, named, names, replay):
    """(params, grads, names that got no gradient): float64 arrays by name, grads keyed ``"d" + name``."""
    replay()
    loss = call_loss(loss_fn, forward(work, inputs), targets)
    if not loss.requires_grad:
        raise ValueError("the loss does not depend on any trainable parameter (loss.requires_grad is False): "
                         "is the output detached, or the loss computed outside autograd?")
    run_backward(loss)
    params, grads, missing = {}, {}, []
    for name in names:
        p = named[name]
        params[name] = p.detach().cpu().numpy().copy()
        if p.grad is None:
            missing.append(name)
            grads[f"d{name}"] = np.zeros_like(params[name])
        else:
            g = p.grad.to_dense() if p.grad.is_sparse else p.grad
            grads[f"d{name}"] = g.detach().cpu().numpy().copy()
    return params, grads, missing
