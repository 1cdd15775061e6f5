"""practicaldl: initialization, regularization, gradient checking, and studies that show them.

The public API; see DESIGN.md for the conventions (course notation in the core, scikit-learn's
layout in the estimator, one random generator for every draw).
"""

from .activations import ACTIVATIONS
from .datasets import DATASETS, Dataset, load_dataset
from .diagnostics import THRESHOLDS, DiagnosticReport, Finding, TrainingMonitor, diagnose, diagnose_fit
from .dropout import apply_mask, draw_mask
from .estimator import NeuralNetClassifier
from .gradcheck import (
    GradCheckReport,
    ParameterCheck,
    check_backprop,
    check_classifier_gradients,
    dictionary_to_vector,
    directional_check,
    gradient_check,
    gradients_to_vector,
    vector_to_dictionary,
)
from .experiments import RunConfig, StudyConfig, aggregate, run_one, run_study
from .initializers import INITIALIZERS
from .losses import binary_cross_entropy, categorical_cross_entropy
from .network import (
    Cache,
    backward_propagation,
    compute_cost,
    cost_and_gradients,
    forward_propagation,
    initialize_parameters,
    predict,
    predict_proba,
)
from .optimizers import gradient_descent_step, update_parameters
from .persistence import ModelFileError, load_model, save_model
from .regularization import l2_gradient, l2_penalty
from .training import History, NumericalError, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "DATASETS", "INITIALIZERS", "Cache", "Dataset", "History", "NeuralNetClassifier",
    "NumericalError", "apply_mask", "backward_propagation", "binary_cross_entropy", "categorical_cross_entropy",
    "compute_cost", "cost_and_gradients", "draw_mask", "forward_propagation", "gradient_descent_step",
    "initialize_parameters", "l2_gradient", "l2_penalty", "load_dataset", "predict", "predict_proba", "train",
    "update_parameters",
    "THRESHOLDS", "DiagnosticReport", "Finding", "TrainingMonitor", "diagnose", "diagnose_fit",
    "ModelFileError", "RunConfig", "StudyConfig", "aggregate", "load_model", "run_one", "run_study", "save_model",
    "GradCheckReport", "ParameterCheck", "check_backprop", "check_classifier_gradients", "dictionary_to_vector",
    "directional_check", "gradient_check", "gradients_to_vector", "vector_to_dictionary",
]
