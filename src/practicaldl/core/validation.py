"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` (or ``TypeError``) whose message names the argument, the rule
and the received value, for example ``keep_prob must be in (0, 1], got 1.5``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np


def check_choice(name: str, value, registry: Mapping):
    """Look ``value`` up in ``registry``; an unknown name lists the valid ones."""
    if callable(value) and not isinstance(value, str):
        return value
    if not isinstance(value, str) or value not in registry:
        raise ValueError(f"{name} must be one of {sorted(registry)}, got {value!r}")
    return registry[value]


def check_positive(name: str, value, *, integer: bool = False):
    """``value > 0`` (and an integer when ``integer``)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value) or value <= 0:
        rule = "a positive integer" if integer else "a positive finite number"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def check_non_negative(name: str, value):
    """``value >= 0`` and finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def check_keep_prob(keep_prob, n_hidden: int) -> tuple[float, ...]:
    """Normalise ``keep_prob`` to one probability per hidden layer, each in (0, 1]."""
    if isinstance(keep_prob, numbers.Real) and not isinstance(keep_prob, bool):
        values = (keep_prob,) * n_hidden
    elif isinstance(keep_prob, (Sequence, np.ndarray)) and not isinstance(keep_prob, str):
        values = tuple(keep_prob)
        if len(values) != n_hidden:
            raise ValueError(
                f"keep_prob must be a float or one value per hidden layer ({n_hidden}), "
                f"got {len(values)} values: {keep_prob!r}"
            )
    else:
        raise ValueError(f"keep_prob must be a float in (0, 1] or a sequence of them, got {keep_prob!r}")
    for p in values:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
            raise ValueError(f"keep_prob must be in (0, 1], got {p!r}")
    return tuple(float(p) for p in values)


def check_layer_dims(layer_dims) -> list[int]:
    """At least an input and an output layer, every size a positive integer."""
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(f"layer_dims must list at least the input and output sizes, got {layer_dims!r}")
    for d in dims:
        check_positive("each layer size", d, integer=True)
    return [int(d) for d in dims]


def check_array_2d(name: str, X) -> np.ndarray:
    """A finite, non-empty, numeric 2-D array (float64 unless already float32)."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds here
        raise ValueError(f"{name} must be a numeric 2-D array, got {type(X).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def from_settings(cls, data, what: str):
    """``cls(**data)`` for the dataclass ``cls``; a non-dict or an unknown key is refused, listing
    the valid ones ("unknown study settings ['learning_rates']; valid settings are [...]")."""
    from dataclasses import fields

    if not isinstance(data, Mapping):
        raise ValueError(f"{what} settings must be a table of settings, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {what} settings {unknown}; valid settings are {sorted(names)}")
    return cls(**data)
