"""One forward pass of a PyTorch model, recorded layer by layer with hooks.

A *layer* is a ``Linear`` or ``Conv1d/2d/3d`` module that the forward pass calls; layers are
numbered 1, 2, ... in the order of their first call (the last one is the output layer). For each,
``record_forward`` keeps (copies, since later in-place operations would change them) its input
X and its output Z (the pre-activation), and, when gradients are recorded, dL/dZ through a hook
on Z. A layer's *units* are its output features (the last dimension of a ``Linear``'s output) or
channels (dimension 1 of a convolution's); ``units(T)`` lays a tensor out as (n_units, m) with
m = every other position (examples, and pixels or time steps), the course's layout.

Each layer's activation and its output A = g(Z):

* the first activation module (``ACTIVATION_MODULES``: ``nn.ReLU``, ``nn.Tanh``, ...) called
  after the layer and before the next layer's call, whose output has the layer's units (a
  normalization in between is allowed: A is then g(BN(Z)));
* else a function applied in ``forward`` (``torch.relu(self.fc1(x))``), recognised when the next
  layer's input (or the model's output, for the last layer) equals relu(Z), tanh(Z), sigmoid(Z)
  or Z itself ("linear");
* else "unknown" (pooling, a residual sum, ...): A is taken as Z and the activation-specific
  statistics are skipped.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: activation module -> the activation's name in practicaldl's vocabulary
ACTIVATION_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu", nn.LeakyReLU: "leaky_relu", nn.PReLU: "leaky_relu", nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid", nn.GELU: "gelu", nn.ELU: "elu", nn.CELU: "elu", nn.SELU: "selu", nn.SiLU: "silu",
    nn.Mish: "mish", nn.Softplus: "softplus", nn.Hardtanh: "hardtanh", nn.Hardsigmoid: "hardsigmoid",
    nn.Hardswish: "hardswish", nn.Softmax: "softmax", nn.LogSoftmax: "log_softmax",
}

#: activations recognised when applied as functions in ``forward``, in the order they are tried
FUNCTIONAL = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)

#: normalizations: modules with weights that pass each unit through (neither layers nor left out)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d,
              nn.InstanceNorm2d, nn.InstanceNorm3d) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


@dataclass
class Layer:
    """One layer's record: its module and name, X, Z, dL/dZ, activation and A (see the module)."""

    index: int
    name: str
    module: nn.Module
    X: torch.Tensor
    Z: torch.Tensor
    calls: int = 1
    dZ: Optional[torch.Tensor] = None
    activation: str = "unknown"
    A: Optional[torch.Tensor] = None

    @property
    def units_dim(self) -> int:
        return -1 if isinstance(self.module, nn.Linear) else 1

    @property
    def n_units(self) -> int:
        return int(self.module.weight.shape[0])

    def units(self, T: torch.Tensor) -> torch.Tensor:
        """T laid out as (n_units, m), float64 on the CPU (m: examples times positions)."""
        return T.detach().movedim(self.units_dim, 0).reshape(self.n_units, -1).to("cpu", torch.float64)

    def fits(self, T: torch.Tensor) -> bool:
        """Whether T has this layer's units, in the same place as Z."""
        return T.dim() == self.Z.dim() and T.shape[self.units_dim] == self.n_units


@dataclass
class Recording:
    """What a forward pass called, in order: ("layer", Layer) and ("activation", name, A) events."""

    events: list = field(default_factory=list)
    layers: dict = field(default_factory=dict)  # name -> Layer (first call)

    def assemble(self, output) -> list:
        """The layers in the order of their first call, each with its activation and A."""
        order = [e[1] for e in self.events if e[0] == "layer"]
        positions = {id(layer): i for i, (kind, layer, *_) in enumerate(self.events) if kind == "layer"}
        for k, layer in enumerate(order):
            start = positions[id(layer)]
            nxt = next((i for i in range(start + 1, len(self.events)) if self.events[i][0] == "layer"),
                       len(self.events))
            found = next(((e[1], e[2]) for e in self.events[start + 1:nxt] if layer.fits(e[2])), None)
            if found is None:
                consumer = self.events[nxt][1].X if nxt < len(self.events) else output
                found = _functional(layer.Z, consumer)
            layer.activation, layer.A = found if found else ("unknown", layer.Z)
        return order


def _functional(Z: torch.Tensor, consumer) -> Optional[tuple]:
    """(name, A) when ``consumer`` equals g(Z) for one of ``FUNCTIONAL``, else None."""
    if not isinstance(consumer, torch.Tensor) or consumer.numel() != Z.numel() or not consumer.is_floating_point():
        return None
    A = consumer.detach().reshape(Z.shape).to(Z.dtype)
    tol = 1e-6 * float(A.abs().max()) if A.numel() else 0.0
    for name, g in FUNCTIONAL.items():
        if torch.allclose(g(Z), A, rtol=1e-5, atol=tol):
            return name, A
    return None


@contextmanager
def record_forward(model: nn.Module, *, gradients: bool = False):
    """Hooks on ``model``'s layers and activation modules for the forward passes inside the block.

    Yields a ``Recording``; with ``gradients`` the layers' dL/dZ are filled in by the backward
    pass. The hooks are removed on exit.
    """
    rec = Recording()
    handles = []

    def on_layer(name):
        def hook(module, args, out):
            if name in rec.layers:
                rec.layers[name].calls += 1
                return
            layer = Layer(len(rec.layers) + 1, name, module, _copy(args[0] if args else None), _copy(out))
            rec.layers[name] = layer
            rec.events.append(("layer", layer))
            if gradients and isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(lambda g: setattr(layer, "dZ", g.detach().clone()))
        return hook

    def on_activation(kind):
        def hook(module, args, out):
            if isinstance(out, torch.Tensor):
                rec.events.append(("activation", kind, _copy(out)))
        return hook

    for name, module in model.named_modules():
        if isinstance(module, LAYER_TYPES):
            handles.append(module.register_forward_hook(on_layer(name)))
        elif type(module) in ACTIVATION_MODULES:
            handles.append(module.register_forward_hook(on_activation(ACTIVATION_MODULES[type(module)])))
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


def _copy(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value
