"""Gradient checking: which parameter is wrong, judged against the cost's measured noise.

``report`` holds the report and the four verdicts (right, inconclusive, look closer, bug),
``judge`` how they are reached (noise measured, kinks told from noise, a second look),
``numerical`` the flattening, the plain loop and the directional check for any cost function,
``network`` the check of practicaldl's own network, ``fast`` its structured numerical gradient,
``usercode`` a user's own backprop from a Python file (``practicaldl gradcheck --code``).
"""

from .network import METHODS, check_backprop, check_classifier_gradients
from .numerical import (
    OneDimensionalCheck,
    dictionary_to_vector,
    directional_budget,
    directional_check,
    gradient_check,
    gradients_to_vector,
    numerical_gradient,
    one_dimensional_example,
    vector_to_dictionary,
    vector_to_gradients,
)
from .report import BUG_THRESHOLD, DEFAULT_THRESHOLD, VERDICTS, EntryCheck, GradCheckReport, ParameterCheck

__all__ = [
    "BUG_THRESHOLD", "DEFAULT_THRESHOLD", "METHODS", "VERDICTS", "EntryCheck", "GradCheckReport",
    "OneDimensionalCheck", "ParameterCheck", "check_backprop", "check_classifier_gradients", "dictionary_to_vector",
    "directional_budget", "directional_check", "gradient_check", "gradients_to_vector", "numerical_gradient",
    "one_dimensional_example", "vector_to_dictionary", "vector_to_gradients",
]
