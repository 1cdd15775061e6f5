"""A user's own backprop, from a Python file: what ``practicaldl gradcheck --code FILE.py`` checks.

The file defines the parameters and either one function that returns the cost and the gradients,
or the course's pair of a forward function (returning the cost and a cache) and a backward one
(returning the gradients)::

    parameters                                   a dict of named arrays ("W1", "b1", ... or any names)
    cost_and_gradients(parameters) -> (cost, grads)

or::

    parameters
    X, Y                                         the data the pair is called with
    forward_propagation_n(X, Y, parameters) -> (cost, cache)
    backward_propagation_n(X, Y, cache) -> grads

(``forward_propagation`` / ``backward_propagation`` are accepted for the pair's names too).
``grads`` holds ``"d" + name`` for each parameter ("dW1" for "W1"; other keys, such as the course's
"dZ1" and "dA1", are ignored). The cost function the check perturbs is the file's own: the first
value of ``cost_and_gradients`` or of the forward function, at a copy of ``parameters`` with
one entry moved.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, NamedTuple

ONE_FUNCTION = ("parameters", "cost_and_gradients")
PAIRS = (("forward_propagation_n", "backward_propagation_n"), ("forward_propagation", "backward_propagation"))
CONTRACT = ("`parameters` and `cost_and_gradients(parameters) -> (cost, grads)`, or `parameters`, `X`, `Y`, "
            "`forward_propagation_n(X, Y, parameters) -> (cost, cache)` and `backward_propagation_n(X, Y, cache) "
            "-> grads`")

_counter = itertools.count()


class UserCodeError(ValueError):
    """The file cannot be imported, lacks a name of the contract, or its functions fail."""


class UserProblem(NamedTuple):
    """What to check: ``cost_fn(params) -> float``, the parameters and the file's gradients at them."""

    cost_fn: Callable
    parameters: dict
    grads: Mapping
    style: str  # "cost_and_gradients" or the pair's forward name


def load_module(path):
    """Import ``path`` as a fresh module (its own name, so two files never share state)."""
    path = Path(path)
    if not path.is_file():
        raise UserCodeError(f"--code must be a Python file, got {str(path)!r} (not found)")
    name = f"practicaldl_user_code_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"--code must be a Python file, got {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: anything can go wrong in it
        sys.modules.pop(name, None)
        raise UserCodeError(f"could not import {path.name}: {type(exc).__name__}: {exc}") from exc
    return module


def _call(what, fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        raise UserCodeError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def user_problem(module, filename: str = "the file") -> UserProblem:
    """The cost function, parameters and gradients the module defines (see the module docstring)."""
    names = set(vars(module))
    parameters = getattr(module, "parameters", None)
    pair = next((p for p in PAIRS if p[0] in names or p[1] in names), None)
    if "cost_and_gradients" in names:
        missing = [n for n in ONE_FUNCTION if n not in names]
    elif pair is not None:
        missing = [n for n in ("parameters", "X", "Y", *pair) if n not in names]
    else:
        missing = [n for n in ("parameters",) if n not in names]
        missing.append("cost_and_gradients (or X, Y, forward_propagation_n and backward_propagation_n)")
    if missing:
        raise UserCodeError(f"{filename} must define {CONTRACT}; it lacks: {', '.join(missing)}")
    if not isinstance(parameters, Mapping) or not parameters:
        raise UserCodeError(f"{filename}'s `parameters` must be a non-empty dict of named arrays, "
                            f"got {type(parameters).__name__}")
    parameters = dict(parameters)
    if "cost_and_gradients" in names:
        fn = module.cost_and_gradients
        out = _call(f"{filename}'s cost_and_gradients(parameters)", fn, dict(parameters))
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
            raise UserCodeError(f"{filename}'s cost_and_gradients(parameters) must return (cost, grads), "
                                f"got {type(out).__name__}")

        def cost_fn(p):
            return _call(f"{filename}'s cost_and_gradients", fn, p)[0]

        return UserProblem(cost_fn, parameters, out[1], "cost_and_gradients")
    forward, backward = (getattr(module, n) for n in pair)
    X, Y = module.X, module.Y
    out = _call(f"{filename}'s {pair[0]}(X, Y, parameters)", forward, X, Y, dict(parameters))
    if not (isinstance(out, tuple) and len(out) >= 2):
        raise UserCodeError(f"{filename}'s {pair[0]}(X, Y, parameters) must return (cost, cache), "
                            f"got {type(out).__name__}")
    grads = _call(f"{filename}'s {pair[1]}(X, Y, cache)", backward, X, Y, out[1])
    if not isinstance(grads, Mapping):
        raise UserCodeError(f"{filename}'s {pair[1]}(X, Y, cache) must return a dict of gradients, "
                            f"got {type(grads).__name__}")

    def cost_fn(p):
        return _call(f"{filename}'s {pair[0]}", forward, X, Y, p)[0]

    return UserProblem(cost_fn, parameters, grads, pair[0])
