"""Layer health while a PyTorch model trains, in a plain training loop.

::

    monitor = pdt.TrainingMonitor(model, every=10)
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        monitor.step(loss=loss.item())      # after optimizer.step()
    monitor.findings()                       # update ratios too large or too small, dead ReLUs
    monitor.close()                          # removes the hooks (or use it as a context manager)

Every ``every`` steps a record (``monitor.records``, JSON-serialisable, the shape of
``diagnostics.TrainingMonitor``'s, so ``diagnostics.plots.plot_training_diagnostics`` draws it)
holds, per layer (the model's ``Linear`` and ``Conv`` modules, in definition order; names in
``layers``)::

    iteration, cost (the loss passed to step, or None), layers
    grad_norm[l]          ||W_l.grad||_F                     (the step's gradient)
    weight_norm[l]        ||W_l||_F                          (after the step)
    update_ratio[l]       ||W_l(t) - W_l(t-1)||_F / ||W_l(t-1)||_F   the step actually taken, whatever
                          the optimizer (momentum, Adam, weight decay, clipping); a rule of thumb is ~1e-3
    dead_fraction[l]      ReLU layers: units never positive on the step's batch
    saturated_fraction[l] tanh / sigmoid layers: entries within 1% of an asymptote

W_l(t-1) is copied at the step before a recorded one (one copy of the layers' weights, then
freed). The dead and saturated fractions come from the last training-mode forward pass with
gradients enabled before the recorded step (``trace.record_forward`` hooks, attached for that
pass only: it copies the layers' activations once; evaluation passes under ``torch.no_grad()``
are not counted). The monitor draws no random numbers and changes no tensor of the model: a
monitored run trains to the same bits as an unmonitored one.
"""

from __future__ import annotations

import numbers
from contextlib import ExitStack
from typing import Optional

import torch
from torch import nn

from ..diagnostics.findings import _num
from ..diagnostics.monitor import monitor_findings
from ..diagnostics.probes import dead_fraction, saturated_fraction
from .trace import LAYER_TYPES, record_forward


class TrainingMonitor:
    """Record update-to-weight ratios, gradient norms and dead units every ``every`` steps (see the module).

    ``every=0`` turns it off (``step`` only counts). Call ``step()`` once per optimizer step,
    after ``optimizer.step()``; ``findings()`` reads the last record.
    """

    def __init__(self, model, every: int = 1):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 0:
            raise ValueError(f"every must be a non-negative integer, got {every!r}")
        self.layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LAYER_TYPES)]
        if not self.layers:
            raise ValueError("model has no Linear or Conv layer to monitor")
        self.model, self.every, self.iteration = model, int(every), 0
        self.records: list = []
        self._previous: Optional[dict] = None
        self._units: dict = {}
        self._open: Optional[ExitStack] = None
        self._handles = [model.register_forward_pre_hook(self._start), model.register_forward_hook(self._finish)]
        self._snapshot_if_next_recorded()

    # -- hooks: one recorded forward pass before each recorded step
    def _armed(self) -> bool:
        return bool(self.every) and (self.iteration + 1) % self.every == 0

    def _start(self, module, args):
        self._stop()
        if self._armed() and module.training and torch.is_grad_enabled():
            self._open = ExitStack()
            self._recording = self._open.enter_context(record_forward(module))

    def _finish(self, module, args, output):
        if self._open is None:
            return
        rec = self._recording
        self._stop()
        units = {}
        for layer in rec.assemble(output):
            A = layer.units(layer.A).numpy()
            units[layer.name] = (dead_fraction(A) if layer.activation == "relu" else None,
                                 saturated_fraction(A, layer.activation))
        self._units = units

    def _stop(self):
        if self._open is not None:
            self._open.close()
            self._open = None

    # -- steps
    def step(self, loss: Optional[float] = None) -> None:
        """Count one optimizer step; on every ``every``-th, append a record (see the module)."""
        self.iteration += 1
        if self.every and self.iteration % self.every == 0:
            self.records.append(self._record(loss))
            self._units = {}
        self._snapshot_if_next_recorded()

    def _snapshot_if_next_recorded(self):
        self._previous = ({name: m.weight.detach().clone() for name, m in self.layers} if self._armed() else None)

    @torch.no_grad()
    def _record(self, loss) -> dict:
        rec = {"iteration": self.iteration, "cost": None if loss is None else _num(float(loss)),
               "layers": [name for name, _ in self.layers], "grad_norm": [], "weight_norm": [], "update_ratio": [],
               "dead_fraction": [], "saturated_fraction": []}
        for name, m in self.layers:
            W = m.weight.detach()
            rec["weight_norm"].append(_num(float(W.double().norm())))
            rec["grad_norm"].append(None if m.weight.grad is None else _num(float(m.weight.grad.double().norm())))
            before = self._previous.get(name) if self._previous else None
            ratio = None
            if before is not None and float(before.double().norm()) > 0:
                ratio = float((W.double() - before.double()).norm() / before.double().norm())
            rec["update_ratio"].append(_num(ratio))
            dead, saturated = self._units.get(name, (None, None))
            rec["dead_fraction"].append(dead)
            rec["saturated_fraction"].append(saturated)
        return rec

    def findings(self) -> list:
        """Findings from the last record: update ratios too large or too small, dead ReLUs."""
        return monitor_findings(self.records)

    def close(self) -> None:
        """Remove the hooks from the model."""
        self._stop()
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
