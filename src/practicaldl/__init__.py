"""practicaldl: initialization, regularization, gradient checking, and studies that show them.

The public API, every name reachable as ``practicaldl.NAME``; see DESIGN.md for the conventions
(course notation in the core, scikit-learn's layout in the estimator, one random generator for
every draw). Names are imported on first use (PEP 562), so ``import practicaldl`` loads neither
scikit-learn nor matplotlib nor rich.

Layers, dependencies pointing inward: ``core`` (the course's math), ``engine`` (optimizers, steps,
the training loop), the tools (``gradcheck``, ``diagnostics``, ``estimator``, ``studies``) and the
edges (``io``, ``report``, ``cli``).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {}
for _module, _names in {
    "core.activations": ("ACTIVATIONS", "register_activation"),
    "core.dropout": ("apply_mask", "draw_mask"),
    "core.initializers": ("INITIALIZERS",),
    "core.losses": ("binary_cross_entropy", "categorical_cross_entropy"),
    "core.network": ("Cache", "backward_propagation", "compute_cost", "cost_and_gradients", "forward_propagation",
                     "initialize_parameters", "predict", "predict_proba"),
    "core.regularization": ("l2_gradient", "l2_penalty"),
    "core.optimization": ("initialize_adam", "initialize_rmsprop", "initialize_velocity", "schedule_lr_decay",
                          "update_lr", "update_parameters_with_adam", "update_parameters_with_momentum",
                          "update_parameters_with_rmsprop"),
    "core.minibatches": ("random_mini_batches",),
    "engine.optimizers": ("OPTIMIZERS", "Adam", "GradientDescent", "Momentum", "Optimizer", "RMSprop",
                          "gradient_descent_step", "update_parameters"),
    "engine.schedules": ("InverseTimeDecay",),
    "engine.loop": ("History", "IterationInfo", "NumericalError", "train"),
    "gradcheck": ("GradCheckReport", "ParameterCheck", "check_backprop", "check_classifier_gradients",
                  "dictionary_to_vector", "directional_check", "gradient_check", "gradients_to_vector",
                  "vector_to_dictionary"),
    "diagnostics": ("THRESHOLDS", "DiagnosticReport", "Finding", "TrainingMonitor", "diagnose", "diagnose_fit"),
    "estimator": ("NeuralNetClassifier",),
    "studies": ("RunConfig", "SearchConfig", "StudyConfig", "aggregate", "run_one", "run_search", "run_study"),
    "io.datasets": ("DATASETS", "Dataset", "load_dataset"),
    "io.models": ("ModelFileError", "load_model", "load_saved", "save_model"),
    "io.tables": ("TableOptions",),
}.items():
    _EXPORTS.update(dict.fromkeys(_names, _module))
del _module, _names

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'practicaldl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup skips __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
