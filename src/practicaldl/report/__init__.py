"""Reports: a results document (``document``), its figures (``figures``) and pages (``pages``)."""

from .document import (ReportError, check_results, gradcheck_ok, load_results, make_results, results_from_folder,
                       study_results, tables)
from .pages import render_report, write_report

__all__ = ["ReportError", "check_results", "gradcheck_ok", "load_results", "make_results", "render_report",
           "results_from_folder", "study_results", "tables", "write_report"]
