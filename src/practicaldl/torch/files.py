"""The ``--torch FILE.py`` contract of the command line: a Python file that defines a model and a batch.

``practicaldl gradcheck --torch FILE.py`` and ``practicaldl diagnose --torch FILE.py`` run the
file (as ``python FILE.py`` would, with its folder on ``sys.path``, but under a name other than
``"__main__"``, so an ``if __name__ == "__main__":`` block does not run) and read these
module-level names (``practicaldl.torch.TORCH_FILE_NAMES``)::

    model     a torch.nn.Module                                    gradcheck, diagnose
    inputs    a tensor, a tuple of tensors (model(*inputs)) or
              a dict of them (model(**inputs))                     gradcheck, diagnose
    targets   a tensor; None when loss_fn takes only the output    gradcheck; diagnose: optional
    loss_fn   a callable, loss_fn(model(inputs), targets) -> a
              scalar tensor (nn.CrossEntropyLoss(), F.mse_loss)    gradcheck; diagnose: optional

A missing name, a name of the wrong type, or a file that raises is a ``TorchFileError`` (a
``ValueError``) with a one-line message naming it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import torch

from . import TORCH_FILE_NAMES
from .batch import check_inputs

class TorchFileError(ValueError):
    """A ``--torch`` file that cannot be used: missing, raising, or not defining the names."""


def load_torch_file(path, required=("model", "inputs", "targets", "loss_fn")) -> dict:
    """Run the file at ``path``; return ``{name: value}`` for every name of ``TORCH_FILE_NAMES``
    (None for an optional one it does not define). ``required`` names must be defined."""
    path = Path(path)
    if not path.is_file():
        raise TorchFileError(f"invalid value for --torch: the file {str(path)!r} does not exist")
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(str(path), run_name="__practicaldl_torch__")
    except SystemExit as exc:
        raise TorchFileError(f"{path.name} called exit({exc.code}) while being loaded") from None
    except Exception as exc:
        raise TorchFileError(f"{path.name} raised {type(exc).__name__} while being loaded: {exc}") from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    for name in required:
        if name not in namespace:
            raise TorchFileError(f"{path.name} must define {name!r}: {TORCH_FILE_NAMES[name]}")
    values = {name: namespace.get(name) for name in TORCH_FILE_NAMES}
    if not isinstance(values["model"], torch.nn.Module):
        raise TorchFileError(f"{path.name}: 'model' must be a torch.nn.Module, got {type(values['model']).__name__}")
    if values["loss_fn"] is not None and not callable(values["loss_fn"]):
        raise TorchFileError(f"{path.name}: 'loss_fn' must be callable, got {type(values['loss_fn']).__name__}")
    try:
        check_inputs(values["inputs"])
    except ValueError as exc:
        raise TorchFileError(f"{path.name}: {exc}") from None
    return values
