"""Studies: configurations in (``config``), JSON records out (``runner``), on joblib processes or
Dask (``executors``), kept in a study folder as they finish (``store``); random search
(``search``); the demo's studies (``classic``)."""

from .config import RunConfig, StudyConfig
from .runner import Progress, aggregate, run_one, run_study
from .search import SearchConfig, run_search

__all__ = ["Progress", "RunConfig", "SearchConfig", "StudyConfig", "aggregate", "run_one", "run_search", "run_study"]
