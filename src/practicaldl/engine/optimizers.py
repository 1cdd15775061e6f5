"""Optimizers: one protocol over the flat parameter vector theta, and the course's update functions.

The training steps (``engine.steps``) keep every parameter array as a view of one flat vector
``theta`` (W1, b1, W2, b2, ... in that order, each row-major) and every gradient as a view of
``dtheta``, laid out the same way. An optimizer keeps its state as flat vectors of theta's length
and dtype, and updates theta in place from dtheta with a few vectorised NumPy operations through
one reusable ``scratch`` vector. Every operation is elementwise, so the numbers are those of the
rule applied array by array, in a handful of calls instead of a handful per array.

Protocol (what the training loop calls, and when)::

    optimizer.bind(theta, dtheta)   once per training run, before the first update: t = 0,
                                    learning_rate = initial_learning_rate, scratch and state allocated
    optimizer.step(theta, dtheta)   once per (mini)batch, after backward: t += 1, then update(...)
    optimizer.end_epoch(epoch)      after epoch 0, 1, 2, ... (after its callbacks): the schedule,
                                    if any, sets learning_rate for the next epoch

A new optimizer is one class: a subclass with a registry ``name``, the names of its state vectors
in ``state`` (each allocated by ``bind`` as zeros of theta's length, as ``self.<name>``), its
hyperparameters as keyword arguments of ``__init__`` named in ``hyperparameters`` (``config``
returns them, with the learning rate and the schedule), and ``update(theta, dtheta)``, which
reads ``self.t`` (updates so far, counting this one from 1) and ``self.learning_rate``, never
writes dtheta (callbacks may read the gradients), and writes intermediates into ``self.scratch``.
Then one line adds it to ``OPTIMIZERS``. ``Momentum`` below is the example (``v = beta v +
(1 - beta) dW``, ``W -= lr v``): eleven lines.

A learning-rate schedule is a callable ``schedule(initial_learning_rate, epoch) -> learning_rate``
given to any optimizer (``engine.schedules``: the course's decay); ``end_epoch(epoch)`` applies it
at the end of epoch ``epoch`` (0-based), as the course's ``update_lr`` does (so epochs 0 and 1
both run at the initial rate when ``schedule(lr0, 0) == lr0``).

The rules (``core.optimization`` has them on parameter dicts, as the course writes them; t counts
the updates from 1)::

    gd         theta := theta - lr dtheta
    momentum   v := beta v + (1 - beta) dtheta;  theta := theta - lr v
    rmsprop    s := beta2 s + (1 - beta2) dtheta^2;  theta := theta - lr (dtheta / (sqrt(s) + epsilon))
    adam       v and s as above (beta1, beta2);  theta := theta - lr v_hat / (sqrt(s_hat) + epsilon)
               with v_hat = v / (1 - beta1^t), s_hat = s / (1 - beta2^t)

Gradient descent, momentum and RMSprop do the operations of their ``core.optimization`` functions
in the same order (the same numbers, bit for bit); Adam folds its bias corrections into two
scalars (see ``Adam``), the same rule up to rounding. Every state vector is the course's: ``v``
and ``s`` are the moving averages the course defines, readable after training.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable, ClassVar, Optional

import numpy as np

from ..core.optimization import check_beta
from ..core.validation import check_positive
from .schedules import make_schedule


class Optimizer(ABC):
    """Base class of the optimizers: updates theta in place from dtheta (see the module docstring)."""

    name: ClassVar[str] = ""
    state: ClassVar[tuple] = ()  # names of the flat state vectors that ``bind`` allocates
    hyperparameters: ClassVar[tuple] = ()  # names of the ``__init__`` arguments besides learning_rate and schedule

    def __init__(self, learning_rate: float = 0.01, schedule: Optional[Callable[[float, int], float]] = None):
        check_positive("learning_rate", learning_rate)
        if schedule is not None and not callable(schedule):
            raise ValueError(f"schedule must be None or a callable (learning_rate0, epoch) -> learning_rate, "
                             f"got {schedule!r}")
        self.initial_learning_rate = self.learning_rate = learning_rate  # as given (messages quote it)
        self.schedule = schedule
        self.t = 0
        self.scratch = None

    def config(self) -> dict:
        """The constructor's arguments: ``type(opt)(**opt.config())`` builds a fresh copy."""
        return {"learning_rate": self.initial_learning_rate, **{h: getattr(self, h) for h in self.hyperparameters},
                "schedule": self.schedule}

    def copy(self) -> "Optimizer":
        """A fresh optimizer with the same settings (no state): what a second training run takes."""
        return type(self)(**self.config())

    def describe(self) -> dict:
        """The settings as JSON values: ``{"name", "learning_rate", <hyperparameters>, "schedule"}``,
        the schedule as its ``config()`` (with its "name") when it has one, else its repr."""
        out = {"name": self.name, **{k: v for k, v in self.config().items() if k != "schedule"}}
        schedule = self.schedule
        if schedule is None or hasattr(schedule, "config"):
            out["schedule"] = None if schedule is None else {"name": type(schedule).__name__, **schedule.config()}
        else:
            out["schedule"] = repr(schedule)
        return out

    def bind(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        """Start a run on theta (n,): ``t = 0``, the initial learning rate, zeroed state vectors.

        State and scratch take the dtype theta and dtheta promote to (theta's, when they agree)."""
        dtype = np.result_type(theta, dtheta)
        self.t = 0
        self.learning_rate = self.initial_learning_rate
        self.scratch = np.empty(theta.shape, dtype)
        for name in self.state:
            setattr(self, name, np.zeros(theta.shape, dtype))

    def step(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        """One update of theta (n,) in place from dtheta (n,); ``t`` counts it (from 1)."""
        self.t += 1
        self.update(theta, dtheta)

    @abstractmethod
    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        """The optimizer's rule: theta (n,) updated in place from dtheta (n,) at step ``self.t``."""

    def end_epoch(self, epoch: int) -> None:
        """After epoch ``epoch`` (0-based): the schedule, if any, sets the next epoch's learning rate."""
        if self.schedule is not None:
            self.learning_rate = float(self.schedule(self.initial_learning_rate, epoch))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "schedule" or v is not None)
        return f"{type(self).__name__}({args})"


class GradientDescent(Optimizer):
    """``theta := theta - learning_rate * dtheta``: two passes, through the scratch vector."""

    name = "gd"

    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        # the rate in theta's dtype, as gradient_descent_step multiplies (float32 stays float32)
        lr = theta.dtype.type(self.learning_rate)
        np.subtract(theta, np.multiply(lr, dtheta, out=self.scratch), out=theta)


def _moving_average(avg: np.ndarray, beta: float, x: np.ndarray, tmp: np.ndarray) -> None:
    """``avg := beta avg + (1 - beta) x`` in place (three passes; ``tmp`` is overwritten)."""
    np.add(np.multiply(avg, beta, out=avg), np.multiply(x, 1 - beta, out=tmp), out=avg)


class Momentum(Optimizer):
    """Gradient descent with momentum: ``v := beta v + (1 - beta) dtheta``; ``theta := theta - lr v``.

    v is the exponentially weighted average of the gradients over about ``1 / (1 - beta)`` steps,
    without bias correction (it starts at 0); ``beta = 0`` is gradient descent. Five passes."""

    name, state, hyperparameters = "momentum", ("v",), ("beta",)

    def __init__(self, learning_rate: float = 0.01, beta: float = 0.9, schedule=None):
        super().__init__(learning_rate, schedule)
        self.beta = check_beta("beta", beta)

    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        _moving_average(self.v, self.beta, dtheta, self.scratch)
        np.subtract(theta, np.multiply(self.v, float(self.learning_rate), out=self.scratch), out=theta)


class RMSprop(Optimizer):
    """RMSprop: ``s := beta2 s + (1 - beta2) dtheta^2``; ``theta := theta - lr (dtheta / (sqrt(s) + epsilon))``.

    Each entry's step is its gradient divided by the root mean square of its recent gradients:
    large where gradients are small and steady, small where they are large or oscillate. Nine passes."""

    name, state, hyperparameters = "rmsprop", ("s",), ("beta2", "epsilon")

    def __init__(self, learning_rate: float = 0.01, beta2: float = 0.999, epsilon: float = 1e-8, schedule=None):
        super().__init__(learning_rate, schedule)
        self.beta2 = check_beta("beta2", beta2)
        self.epsilon = float(check_positive("epsilon", epsilon))

    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        s, tmp = self.s, self.scratch
        _moving_average(s, self.beta2, np.square(dtheta, out=tmp), tmp)  # square into tmp, then (1 - beta2) tmp
        np.add(np.sqrt(s, out=tmp), self.epsilon, out=tmp)
        np.divide(dtheta, tmp, out=tmp)
        np.subtract(theta, np.multiply(tmp, float(self.learning_rate), out=tmp), out=theta)


class Adam(Optimizer):
    """Adam: momentum's v and RMSprop's s, bias-corrected, ``theta := theta - lr v_hat / (sqrt(s_hat) + epsilon)``.

    With ``v_hat = v / (1 - beta1^t)`` and ``s_hat = s / (1 - beta2^t)`` the step is, with
    ``c = sqrt(1 - beta2^t)``::

        lr v_hat / (sqrt(s_hat) + epsilon) = (lr c / (1 - beta1^t)) v / (sqrt(s) + epsilon c)

    so the corrections are two scalars, not two passes over v and s (Kingma and Ba, section 2,
    give the same rearrangement). Twelve passes over vectors of theta's length, through one
    scratch vector: v (3), s (4), the step (5). The same rule as ``update_parameters_with_adam``
    up to rounding.
    """

    name, state, hyperparameters = "adam", ("v", "s"), ("beta1", "beta2", "epsilon")

    def __init__(self, learning_rate: float = 0.01, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                 schedule=None):
        super().__init__(learning_rate, schedule)
        self.beta1, self.beta2 = check_beta("beta1", beta1), check_beta("beta2", beta2)
        self.epsilon = float(check_positive("epsilon", epsilon))

    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:
        v, s, tmp, t = self.v, self.s, self.scratch, self.t
        _moving_average(v, self.beta1, dtheta, tmp)
        _moving_average(s, self.beta2, np.square(dtheta, out=tmp), tmp)
        c = math.sqrt(1.0 - self.beta2 ** t)
        step = float(self.learning_rate) * c / (1.0 - self.beta1 ** t)
        np.add(np.sqrt(s, out=tmp), self.epsilon * c, out=tmp)  # sqrt(s) + epsilon c
        np.divide(v, tmp, out=tmp)
        np.subtract(theta, np.multiply(tmp, step, out=tmp), out=theta)


#: Optimizer classes by registry name.
OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (GradientDescent, Momentum, RMSprop, Adam)}

#: The settings an optimizer name is built with, and their defaults (the estimator's, the CLI's, a study's).
DEFAULT_SETTINGS = {"beta": 0.9, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def get_optimizer(name: str) -> type[Optimizer]:
    """The optimizer class registered as ``name``; an unknown name lists the valid ones."""
    cls = OPTIMIZERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer, got {name!r}")
    return cls


def check_settings(*, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8, decay_rate=None, decay_interval=None) -> None:
    """Every optimizer setting, whichever optimizer uses it: beta, beta1, beta2 in [0, 1), epsilon > 0,
    decay_rate None or >= 0, decay_interval None or a positive integer (and only with a decay_rate)."""
    for name, value in (("beta", beta), ("beta1", beta1), ("beta2", beta2)):
        check_beta(name, value)
    check_positive("epsilon", epsilon)
    make_schedule(decay_rate, decay_interval)


def make_optimizer(optimizer: str, learning_rate: float, *, decay_rate=None, decay_interval=None,
                   **settings) -> Optimizer:
    """The optimizer ``optimizer`` (a registry name) with the settings it takes, from ``settings``
    (``DEFAULT_SETTINGS``' names; those it does not take are checked and left out), and the
    course's decay when ``decay_rate`` is set (``schedules.make_schedule``)."""
    cls = get_optimizer(optimizer)
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise TypeError(f"make_optimizer got unknown settings {unknown}; valid ones are {sorted(DEFAULT_SETTINGS)}")
    settings = {**DEFAULT_SETTINGS, **settings}
    check_settings(decay_rate=decay_rate, decay_interval=decay_interval, **settings)
    missing = [h for h in cls.hyperparameters if h not in settings]
    if missing:
        raise ValueError(f"optimizer {optimizer!r} takes the settings {missing}, which only an Optimizer instance can set")
    return cls(learning_rate, **{h: settings[h] for h in cls.hyperparameters},
               schedule=make_schedule(decay_rate, decay_interval))


# -- the course's functions, on parameter dicts ---------------------------------------------------
def gradient_descent_step(params: dict, grads: dict, learning_rate: float, *, inplace: bool = False) -> dict:
    """One step of gradient descent; returns the updated dict (``params`` itself when inplace)."""
    if inplace:
        for key, value in params.items():
            value -= value.dtype.type(learning_rate) * grads["d" + key]
        return params
    return {key: value - learning_rate * grads["d" + key] for key, value in params.items()}


update_parameters = gradient_descent_step  # the course's name
