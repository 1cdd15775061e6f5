"""Diagnostics: why a network will not train, or will not generalise.

``findings`` (records and thresholds), ``probes`` (``diagnose``: one forward and backward pass on
a probe batch), ``rules`` (the findings from per-layer statistics, shared with
``practicaldl.torch.diagnose_module``), ``monitor`` (during training), ``fit`` (bias and variance
after training), ``plots`` (figures from the reports' dicts).
"""

from .findings import SEVERITIES, THRESHOLDS, DiagnosticReport, Finding
from .fit import diagnose_fit
from .monitor import TrainingMonitor, monitor_findings
from .probes import confident_wrong_fraction, dead_fraction, diagnose, identical_unit_groups, saturated_fraction

__all__ = ["SEVERITIES", "THRESHOLDS", "DiagnosticReport", "Finding", "TrainingMonitor", "confident_wrong_fraction",
           "dead_fraction", "diagnose", "diagnose_fit", "identical_unit_groups", "monitor_findings",
           "saturated_fraction"]
