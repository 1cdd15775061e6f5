"""Studies: configurations in (``config``), JSON records out (``runner``); the demo's studies (``classic``)."""

from .config import RunConfig, StudyConfig
from .runner import aggregate, run_one, run_study

__all__ = ["RunConfig", "StudyConfig", "aggregate", "run_one", "run_study"]
