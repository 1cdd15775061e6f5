"""Diagnose a PyTorch model before training: the findings of ``diagnostics.diagnose``, per named layer.

``diagnose_module(model, inputs, targets)`` runs one forward pass (and, with targets, one
backward pass) of a copy of the model with hooks on its layers (``trace.record_forward``: every
``Linear`` and ``Conv`` module the forward pass calls, numbered in call order, the last one the
output layer) and returns the ``DiagnosticReport`` that ``diagnostics.diagnose`` returns for
practicaldl's own networks: the same ``Finding`` records, the same layer dicts (so the same
plots, ``diagnostics.plots.plot_activation_histograms``), from the same rules
(``diagnostics.rules``). Per layer l, with Z_l its output and A_l = g(Z_l) in the units layout
(n_l, m) of ``trace``::

    z_mean, z_std, z_rms, a_mean, a_std, histograms   of Z_l and A_l on the batch
    dead_fraction        ReLU: units never positive on the batch
    saturated_fraction   tanh / sigmoid: entries within 1% of an asymptote
    identical_units      units whose incoming weights (W_l[i], b_l[i]), outgoing weights (the next
                         layer's columns for unit i, when it consumes layer l directly) and
                         outputs Z_l[i] are equal: symmetry not broken
    init_ratio           rms(W_l) / std_l, std_l = sqrt(Var) of the scheme for the layer's fan-in and
                         activation (he for ReLU-like, lecun for tanh and linear, xavier for sigmoid)
    grad_norm, relative_gradient = ||grad W_l|| / ||W_l||, dz_rms = rms(dL/dZ_l)   (with targets)

The copy runs in the model's mode with dropout switched off (as ``diagnose`` uses keep_prob = 1),
so batch normalization in training mode uses the batch's statistics, as training will. The
user's model, its gradients and the global random generators are left as they were.

With targets and no ``loss_fn`` the loss is inferred (and named in the report's notes): integer
targets -> ``F.cross_entropy``; targets of 0 / 1 the shape of the output -> ``F.binary_cross_entropy``
on an output in [0, 1], else ``F.binary_cross_entropy_with_logits``; other targets -> ``F.mse_loss``.
With a cross-entropy loss on logits, the output layer is judged as softmax (or sigmoid) outputs,
the way the loss sees them (confident and wrong answers).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..core.initializers import VARIANCES
from ..diagnostics.findings import RECOMMENDED_SCHEME, DiagnosticReport, _num
from ..diagnostics.probes import _histogram, identical_row_groups, unit_statistics
from ..diagnostics.rules import layer_findings, nonfinite_findings
from .batch import batch_size, call_loss, cast, check_inputs, device_of, forward
from .check import copy_model, run_backward
from .randomness import replayable_rng
from .trace import DROPOUT_TYPES, LAYER_TYPES, NORM_TYPES, record_forward

#: activation -> the recommended initialization, in torch.nn.init's terms ("linear": any other)
TORCH_INIT = {
    "relu": "He initialization (nn.init.kaiming_normal_(layer.weight, nonlinearity='relu'): W ~ N(0, 2 / fan_in))",
    "leaky_relu": "He initialization (nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity='leaky_relu'))",
    "tanh": "LeCun initialization (nn.init.kaiming_normal_(layer.weight, nonlinearity='linear'): W ~ N(0, 1 / fan_in); "
            "or nn.init.xavier_normal_)",
    "sigmoid": "Xavier initialization (nn.init.xavier_normal_(layer.weight): W ~ N(0, 2 / (fan_in + fan_out)))",
    "linear": "LeCun initialization (nn.init.kaiming_normal_(layer.weight, nonlinearity='linear'): "
              "W ~ N(0, 1 / fan_in))",
}
for _act in ("elu", "gelu", "silu"):
    TORCH_INIT[_act] = TORCH_INIT["relu"]
del _act

_CROSS_ENTROPY = (F.cross_entropy, nn.CrossEntropyLoss)
_BCE_LOGITS = (F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss)


def diagnose_module(model, inputs, targets=None, *, loss_fn: Optional[Callable] = None) -> DiagnosticReport:
    """Diagnose ``model`` on the batch ``inputs`` (and ``targets``): see the module docstring.

    ``inputs``: a tensor, a tuple of tensors (``model(*inputs)``) or a dict (``model(**inputs)``).
    ``targets`` (optional) add the gradient findings, through ``loss_fn(output, targets)``
    (inferred when not given, see the module docstring); a ``loss_fn`` without targets is called
    as ``loss_fn(output)``. Returns a ``DiagnosticReport``: ``findings``, ``layers`` (one dict per
    layer, with ``name`` the module's name, e.g. "fc1"), ``healthy``, ``to_dict()``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable as loss_fn(output, targets) -> scalar tensor, got "
                         f"{type(loss_fn).__name__}")
    check_inputs(inputs)
    device = device_of(model)
    work = _probe_copy(model)
    inputs, targets = cast(inputs, device=device), cast(targets, device=device)
    notes = []
    gradients = targets is not None or loss_fn is not None
    with replayable_rng(device) as replay, torch.enable_grad(), record_forward(work, gradients=gradients) as rec:
        replay()
        output = forward(work, inputs)
        if targets is not None or loss_fn is not None:
            loss_fn, note = _loss(loss_fn, output, targets)
            if note:
                notes.append(note)
            loss = call_loss(loss_fn, output, targets)
            if not loss.requires_grad:
                notes.append("the loss does not depend on any trainable parameter: no gradient findings")
            else:
                run_backward(loss)
    layers = rec.assemble(output)
    if not layers:
        raise ValueError("model has no Linear or Conv layer that its forward pass calls: nothing to diagnose")
    notes += _coverage_notes(work, rec)
    return _report(layers, output, targets, loss_fn, batch_size(inputs), notes)


def _probe_copy(model):
    """A copy of the model with its dropout modules switched off."""
    work = copy_model(model)
    for module in work.modules():
        if isinstance(module, DROPOUT_TYPES):
            module.eval()
    return work


def _loss(loss_fn, output, targets):
    """(the loss function, a note naming it when inferred)."""
    if loss_fn is not None:
        return loss_fn, None
    if not isinstance(targets, torch.Tensor) or not isinstance(output, torch.Tensor):
        raise ValueError("loss_fn must be given when the output or the targets are not single tensors")
    why = "pass loss_fn to choose"
    if not targets.is_floating_point():
        return F.cross_entropy, f"gradients of F.cross_entropy (inferred from integer targets; {why})"
    binary = targets.shape == output.shape and bool(((targets == 0) | (targets == 1)).all())
    if binary and float(output.min()) >= 0 and float(output.max()) <= 1:
        return F.binary_cross_entropy, f"gradients of F.binary_cross_entropy (inferred from 0/1 targets; {why})"
    if binary:
        return (F.binary_cross_entropy_with_logits,
                f"gradients of F.binary_cross_entropy_with_logits (inferred from 0/1 targets; {why})")
    return F.mse_loss, f"gradients of F.mse_loss (inferred from real-valued targets; {why})"


def _coverage_notes(model, rec) -> list:
    notes = []
    called = set(rec.layers)
    skipped = [f"{name} ({type(m).__name__})" for name, m in model.named_modules()
               if isinstance(m, LAYER_TYPES) and name not in called]
    if skipped:
        notes.append(f"layers defined but not called by forward (not diagnosed): {', '.join(skipped)}")
    other = [f"{name} ({type(m).__name__})" for name, m in model.named_modules()
             if not isinstance(m, LAYER_TYPES) and any(p.requires_grad for p in m.parameters(recurse=False))
             and not isinstance(m, NORM_TYPES)]
    if other:
        notes.append(f"modules with weights that are not Linear or Conv layers (not diagnosed): {', '.join(other)}")
    repeated = [f"{layer.name} ({layer.calls} calls)" for layer in rec.layers.values() if layer.calls > 1]
    if repeated:
        notes.append(f"layers called more than once, described at their first call: {', '.join(repeated)}")
    unknown = [layer.name for layer in rec.layers.values() if layer.activation == "unknown"]
    if unknown:
        notes.append(f"activation not recognised after {', '.join(unknown)}: its statistics are those of Z")
    return notes


def _report(layers, output, targets, loss_fn, n_samples, notes) -> DiagnosticReport:
    L = len(layers)
    hidden_acts = {layer.activation for layer in layers[:-1]}
    activation = hidden_acts.pop() if len(hidden_acts) == 1 else ("mixed" if hidden_acts else layers[0].activation)
    out_layer = layers[-1]
    probs = _output_probabilities(out_layer, output, targets, loss_fn)
    stats, outputs, prev_rms = [], [], None
    for k, layer in enumerate(layers):
        nxt = layers[k + 1] if k + 1 < L else None
        act, A, Y = (probs if (k == L - 1 and probs) else (layer.activation, layer.A, None))
        Zu, Au = layer.units(layer.Z).numpy(), layer.units(A).numpy()
        s = unit_statistics(Zu, Au, act, Y=None if Y is None else layer.units(Y).numpy())
        s.update(_weights(layer, act, nxt, Zu))
        s.update(layer=layer.index, label=f"layer {layer.index} ({type(layer.module).__name__} {layer.name!r})",
                 weight_name=f"{layer.name}.weight", grad_name=f"{layer.name}.weight.grad", name=layer.name,
                 module=type(layer.module).__name__, role="hidden" if k < L - 1 else "output",
                 scale_ratio=_num(s["z_rms"] / prev_rms) if prev_rms and s["z_rms"] is not None else None,
                 dz_rms=None if layer.dZ is None else _num(_rms(layer.dZ)), calls=layer.calls)
        stats.append(s)
        outputs.append((layer.index, f"the output of {layer.name}", Zu))
        prev_rms = s["z_rms"]
    report = DiagnosticReport(activation=activation, output=stats[-1]["activation"], n_samples=n_samples,
                              gradients=any(layer.module.weight.grad is not None for layer in layers), notes=notes,
                              layer_dims=[int(layers[0].module.weight.shape[1])] + [layer.n_units for layer in layers])
    report.findings += nonfinite_findings(
        outputs, [(layer.index, f"{layer.name}.weight.grad", layer.module.weight.grad.detach().double().cpu().numpy())
                  for layer in layers if layer.module.weight.grad is not None])
    report.layers = stats
    findings, report.activation_growth = layer_findings(stats, n_samples=n_samples, activation=activation,
                                                        advice=TORCH_INIT)
    report.findings += findings
    return report


def _rms(T: torch.Tensor) -> float:
    return float(T.detach().double().square().mean().sqrt()) if T.numel() else 0.0


def _weights(layer, activation, nxt, Zu) -> dict:
    """Weight scale against the recommended scheme, gradient norms, identical units."""
    W = layer.module.weight.detach()
    fan_in, fan_out = int(W[0].numel()), int(W.shape[0] * W[0, 0].numel())
    scheme = RECOMMENDED_SCHEME.get(activation, "lecun")
    init_std = math.sqrt(VARIANCES[scheme](fan_in, fan_out))
    weight_norm, weight_rms = float(W.double().norm()), _rms(W)
    grad_norm = relative = None
    if layer.module.weight.grad is not None:
        grad_norm = float(layer.module.weight.grad.double().norm())
        relative = grad_norm / weight_norm if weight_norm > 0 else None
    groups = _identical_units(layer, nxt, Zu) if nxt is not None else []
    return {"fan_in": fan_in, "fan_out": fan_out, "init_scheme": scheme, "init_std": init_std,
            "weight_rms": _num(weight_rms), "init_ratio": _num(weight_rms / init_std),
            "weight_norm": _num(weight_norm), "grad_norm": _num(grad_norm), "relative_gradient": _num(relative),
            "identical_units": int(sum(len(g) for g in groups)), "identical_groups": len(groups),
            "w_hist": _histogram(W.double().numpy())}


def _identical_units(layer, nxt, Zu) -> list:
    """Groups of units equal in incoming weights, outgoing weights (when known) and outputs."""
    n = layer.n_units
    parts = [layer.module.weight.detach().reshape(n, -1)]
    if layer.module.bias is not None:
        parts.append(layer.module.bias.detach().reshape(n, 1))
    outgoing = _outgoing(n, nxt.module)
    if outgoing is not None:
        parts.append(outgoing)
    V = torch.cat([p.to("cpu", torch.float64) for p in parts], dim=1).numpy()
    return identical_row_groups(V, Zu)


def _outgoing(n: int, module) -> Optional[torch.Tensor]:
    """(n, k): the next layer's weights on each of the n units, when it reads them directly
    (a Linear over the n features, or over n channels flattened; a Conv over n channels)."""
    W = module.weight.detach()
    if isinstance(module, nn.Linear) and W.shape[1] % n == 0:
        return W.reshape(W.shape[0], n, -1).transpose(0, 1).reshape(n, -1)
    if not isinstance(module, nn.Linear) and W.shape[1] == n and module.groups == 1:
        return W.transpose(0, 1).reshape(n, -1)
    return None


def _output_probabilities(layer, output, targets, loss_fn):
    """(activation, probabilities, one-hot targets) for logits fed to a cross-entropy, else None."""
    if targets is None or layer.activation != "linear" or not isinstance(output, torch.Tensor):
        return None
    if output.shape != layer.Z.shape or not torch.equal(output.detach(), layer.Z):
        return None
    Z = layer.Z.double()
    if _is(loss_fn, _CROSS_ENTROPY) and not targets.is_floating_point() and Z.dim() >= 2:
        K = Z.shape[1]
        if targets.shape != Z.shape[:1] + Z.shape[2:] or not bool(((targets >= 0) & (targets < K)).all()):
            return None
        onehot = F.one_hot(targets.long(), K).movedim(-1, 1).to(Z.dtype)
        return "softmax", Z.softmax(dim=1), onehot.movedim(1, layer.units_dim)
    if _is(loss_fn, _BCE_LOGITS) and targets.shape == Z.shape:
        return "sigmoid", Z.sigmoid(), targets.to(Z.dtype)
    return None


def _is(loss_fn, kinds) -> bool:
    return any(loss_fn is k or (isinstance(k, type) and isinstance(loss_fn, k)) for k in kinds)
