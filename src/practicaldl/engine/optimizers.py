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
hyperparameters in ``__init__`` (returned by ``config``), and ``update(theta, dtheta)``, which
reads ``self.t`` (updates so far, counting this one from 1) and ``self.learning_rate``, never
writes dtheta (callbacks may read the gradients), and writes intermediates into ``self.scratch``.
Then one line adds it to ``OPTIMIZERS``. For example momentum (``v = beta v + (1 - beta) dW``,
``W -= lr v``)::

    class Momentum(Optimizer):
        name, state = "momentum", ("v",)

        def __init__(self, learning_rate=0.01, beta=0.9, schedule=None):
            super().__init__(learning_rate, schedule)
            self.beta = beta

        def config(self):
            return {**super().config(), "beta": self.beta}

        def update(self, theta, dtheta):
            v, tmp, beta = self.v, self.scratch, self.beta
            np.add(np.multiply(beta, v, out=v), np.multiply(1 - beta, dtheta, out=tmp), out=v)
            np.subtract(theta, np.multiply(self.learning_rate, v, out=tmp), out=theta)

A learning-rate schedule is a callable ``schedule(initial_learning_rate, epoch) -> learning_rate``
given to any optimizer; ``end_epoch(epoch)`` applies it at the end of epoch ``epoch`` (0-based),
as the course's ``update_lr`` does (so epochs 0 and 1 both run at the initial rate when
``schedule(lr0, 0) == lr0``).

Gradient descent, the first implementation::

    W_l := W_l - learning_rate * dW_l
    b_l := b_l - learning_rate * db_l
"""

from __future__ import annotations

from typing import Callable, ClassVar, Optional

import numpy as np

from ..core.validation import check_positive


class Optimizer:
    """Base class of the optimizers: updates theta in place from dtheta (see the module docstring)."""

    name: ClassVar[str] = ""
    state: ClassVar[tuple] = ()  # names of the flat state vectors that ``bind`` allocates

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
        return {"learning_rate": self.initial_learning_rate, "schedule": self.schedule}

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

    def update(self, theta: np.ndarray, dtheta: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

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


#: Optimizer classes by registry name.
OPTIMIZERS: dict[str, type[Optimizer]] = {"gd": GradientDescent}


def get_optimizer(name: str) -> type[Optimizer]:
    """The optimizer class registered as ``name``; an unknown name lists the valid ones."""
    cls = OPTIMIZERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer, got {name!r}")
    return cls


# -- the course's functions, on parameter dicts ---------------------------------------------------
def gradient_descent_step(params: dict, grads: dict, learning_rate: float, *, inplace: bool = False) -> dict:
    """One step of gradient descent; returns the updated dict (``params`` itself when inplace)."""
    if inplace:
        for key, value in params.items():
            value -= value.dtype.type(learning_rate) * grads["d" + key]
        return params
    return {key: value - learning_rate * grads["d" + key] for key, value in params.items()}


update_parameters = gradient_descent_step  # the course's name
