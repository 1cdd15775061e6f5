"""The batch a model is checked or diagnosed on: its inputs and targets, and how the model is called.

``inputs`` is a tensor (``model(inputs)``), a tuple or list of tensors (``model(*inputs)``) or a
dict of them (``model(**inputs)``). ``targets`` is a tensor (or any nesting of them), or None
when the loss needs only the output (``loss_fn(output)``). Floating-point tensors are cast to the
dtype a check runs in; integer tensors (class labels) keep theirs. Tensors are detached: nothing
the user holds is modified or recorded by autograd.
"""

from __future__ import annotations

import torch


def check_inputs(inputs) -> None:
    if isinstance(inputs, torch.Tensor):
        return
    if isinstance(inputs, (tuple, list)) and inputs and all(isinstance(x, torch.Tensor) for x in inputs):
        return
    if isinstance(inputs, dict) and inputs and all(isinstance(k, str) for k in inputs):
        return
    raise ValueError("inputs must be a tensor, a non-empty tuple of tensors (model(*inputs)) or a dict of "
                     f"them (model(**inputs)), got {type(inputs).__name__}")


def cast(value, dtype=None, device=None):
    """``value`` with every tensor detached and moved to ``device``, floating ones cast to ``dtype``."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.is_floating_point() and dtype is not None:
            return value.to(device=device, dtype=dtype)
        return value.to(device=device) if device is not None else value
    if isinstance(value, (tuple, list)):
        return type(value)(cast(v, dtype, device) for v in value)
    if isinstance(value, dict):
        return {k: cast(v, dtype, device) for k, v in value.items()}
    return value


def call(model, inputs):
    """``model(inputs)``, ``model(*inputs)`` or ``model(**inputs)`` as the module docstring says."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def forward(model, inputs):
    """``call(model, inputs)``; what it raises becomes a ValueError (the batch does not fit the model)."""
    try:
        return call(model, inputs)
    except Exception as exc:
        raise ValueError(f"model(inputs) failed: {type(exc).__name__}: {exc}") from exc


def batch_size(inputs) -> int:
    """The length of the first dimension of the first input tensor (1 for a 0-d tensor)."""
    first = inputs if isinstance(inputs, torch.Tensor) else next(iter(
        inputs.values() if isinstance(inputs, dict) else inputs))
    return int(first.shape[0]) if first.dim() else 1


def device_of(model) -> torch.device:
    """The one device that holds the model's parameters and buffers (the CPU for a model with none)."""
    devices = {t.device for t in (*model.parameters(), *model.buffers())}
    if len(devices) > 1:
        raise ValueError(f"model must be on one device, got parameters on {sorted(str(d) for d in devices)}")
    return devices.pop() if devices else torch.device("cpu")


def call_loss(loss_fn, output, targets):
    """``loss_fn(output, targets)`` (``loss_fn(output)`` when targets is None), checked to be a scalar tensor."""
    loss = loss_fn(output) if targets is None else loss_fn(output, targets)
    if not isinstance(loss, torch.Tensor):
        raise ValueError(f"loss_fn must return a scalar tensor (one autograd can differentiate), got "
                         f"{type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar tensor (reduce the loss, e.g. reduction='mean'), got a "
                         f"tensor of shape {tuple(loss.shape)}")
    return loss.reshape(())
