"""Learning-rate schedules: callables ``schedule(initial_learning_rate, epoch) -> learning_rate``.

An optimizer applies its schedule at the end of epoch ``epoch`` = 0, 1, 2, ... (``Optimizer.end_epoch``),
so the rate it returns is the next epoch's. ``InverseTimeDecay`` is the course's decay::

    decay_interval None:  lr = lr0 / (1 + decay_rate epoch)                   (update_lr)
    decay_interval k:     lr = lr0 / (1 + decay_rate floor(epoch / k))        (schedule_lr_decay)

With ``schedule(lr0, 0) == lr0`` epochs 0 and 1 both run at lr0; with an interval k, epochs 0 to
k run at lr0 and the rate drops after epochs k, 2k, ... Keras' ``InverseTimeDecay(lr0,
decay_steps=k, decay_rate, staircase=True)`` is the same rule counted in steps instead of epochs.
"""

from __future__ import annotations

from typing import Optional

from ..core.optimization import schedule_lr_decay, update_lr
from ..core.validation import check_non_negative, check_positive


class InverseTimeDecay:
    """``lr0 / (1 + decay_rate epoch)``, or in steps of ``decay_interval`` epochs (see the module docstring)."""

    def __init__(self, decay_rate: float, decay_interval: Optional[int] = None):
        self.decay_rate = check_non_negative("decay_rate", decay_rate)
        if decay_interval is not None:
            check_positive("decay_interval", decay_interval, integer=True)
            decay_interval = int(decay_interval)
        self.decay_interval = decay_interval

    def __call__(self, initial_learning_rate: float, epoch: int) -> float:
        if self.decay_interval is None:
            return update_lr(initial_learning_rate, epoch, self.decay_rate)
        return schedule_lr_decay(initial_learning_rate, epoch, self.decay_rate, self.decay_interval)

    def config(self) -> dict:
        return {"decay_rate": self.decay_rate, "decay_interval": self.decay_interval}

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash((type(self), self.decay_rate, self.decay_interval))

    def __repr__(self) -> str:
        interval = "" if self.decay_interval is None else f", decay_interval={self.decay_interval}"
        return f"InverseTimeDecay(decay_rate={self.decay_rate!r}{interval})"

    def describe(self) -> str:
        """``"lr0 / (1 + 1 floor(epoch / 1000))"``: the rule with its numbers."""
        epoch = "epoch" if self.decay_interval is None else f"floor(epoch / {self.decay_interval})"
        return f"lr0 / (1 + {self.decay_rate:g} {epoch})"


def make_schedule(decay_rate: Optional[float], decay_interval: Optional[int]) -> Optional[InverseTimeDecay]:
    """The schedule of the settings ``decay_rate`` / ``decay_interval`` (None, None: no schedule).
    ``decay_interval`` without ``decay_rate`` is refused: it would decay nothing."""
    if decay_rate is None:
        if decay_interval is not None:
            raise ValueError(f"decay_interval needs a decay_rate (the rate decays by decay_rate every "
                             f"decay_interval epochs), got decay_interval={decay_interval!r} and decay_rate=None")
        return None
    return InverseTimeDecay(decay_rate, decay_interval)
