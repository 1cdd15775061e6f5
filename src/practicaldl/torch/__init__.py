"""Checks and diagnostics for PyTorch models (the optional extra ``practicaldl[torch]``)::

    from practicaldl import torch as pdt

    report = pdt.check_module(model, loss_fn, inputs, targets)   # gradients by parameter name
    report.per_parameter["0.weight"].verdict
    pdt.diagnose_module(model, inputs, targets).findings          # initialization, dead units, ...
    monitor = pdt.TrainingMonitor(model)                          # in a plain training loop:
    ...; optimizer.step(); monitor.step(loss=loss.item())
    monitor.findings()

``check`` (``check_module``: a float64 copy, the generators replayed per evaluation),
``diagnose`` (``diagnose_module``: hooks on the layers), ``monitor`` (``TrainingMonitor``),
``trace`` (one forward pass recorded layer by layer), ``batch`` (inputs and targets),
``files`` (the ``--torch FILE.py`` contract of the command line).

Importing this package does not import PyTorch; the first use of one of its names does, and
without PyTorch raises ``ImportError`` naming the extra.
"""

from __future__ import annotations

import importlib

#: public name -> the submodule that defines it
_EXPORTS = {
    "BackwardError": "check", "check_module": "check", "METHODS": "check",
    "TORCH_INIT": "diagnose", "diagnose_module": "diagnose",
    "TrainingMonitor": "monitor",
    "TorchFileError": "files", "load_torch_file": "files",
}

#: The names a ``--torch FILE.py`` defines for the command line (``files.load_torch_file``), and what each is.
TORCH_FILE_NAMES = {
    "model": "a torch.nn.Module",
    "inputs": "a tensor, a tuple of tensors (model(*inputs)) or a dict of them (model(**inputs))",
    "targets": "a tensor; None when loss_fn takes only the output (optional for diagnose)",
    "loss_fn": "loss_fn(model(inputs), targets) -> scalar tensor, e.g. torch.nn.CrossEntropyLoss() "
               "(optional for diagnose: inferred from the targets)",
}

__all__ = sorted([*_EXPORTS, "TORCH_FILE_NAMES", "require_torch"])

INSTALL_HINT = "pip install 'practicaldl[torch]'"


def require_torch():
    """The ``torch`` module, or ImportError naming the extra that installs it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"practicaldl.torch needs PyTorch, which is not installed: {INSTALL_HINT}") from exc
    return torch


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'practicaldl.torch' has no attribute {name!r}")
    require_torch()
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
