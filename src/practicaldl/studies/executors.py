"""Where a study's runs execute: joblib processes on this machine, or a Dask cluster.

Both executors map ``fn(item, shared)`` over ``(index, item)`` pairs and yield ``(index,
outcome)`` as each call finishes (completion order; the runner puts records back in the study's
order). ``shared`` is the study's data set: joblib pickles it with each call (and memory-maps
arrays over 1 MB); Dask scatters it to every worker once (``Client.scatter(broadcast=True)``) and
each call refers to it, so it travels once per worker, not once per run.

A worker process that dies (killed, out of memory, a crash in native code) takes its runs with
it; they are retried, up to ``retries`` times each (``RETRIES`` by default), then given up as
``Lost``:

- joblib: a dead worker breaks the whole process pool; every run handed out and not back (the
  runs in flight, at most a few more than ``jobs``) counts one attempt and runs again in a new pool.
- Dask: the scheduler reschedules the dead worker's runs itself, up to its
  ``distributed.scheduler.allowed-failures`` (``make_executor`` sets it to ``retries`` for the
  ``LocalCluster`` it starts; a cluster started by hand has its own, 3 unless configured), then
  the run fails with ``KilledWorker`` and is given up. A run cancelled because every copy of the
  scattered data died with its workers is resubmitted with the data scattered again, which
  counts as an attempt.

A lost connection to the scheduler raises ``SchedulerLost``; what finished before is kept by the
caller. ``fn`` itself is expected to catch its exceptions (a run that raises is a result, not a
worker failure); a call that fails outside ``fn`` (the task cannot be unpickled on a worker,
say) comes back as ``Crashed``.
"""

from __future__ import annotations

import logging
import numbers
import uuid
import warnings
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

RETRIES = 3  # attempts after the first, for a run whose worker process died
CONNECT_TIMEOUT_S = 10  # reaching a scheduler given by address
WORKER_WAIT_S = 60  # a scheduler with no worker yet: how long to wait for one


@dataclass(frozen=True)
class Lost:
    """The outcome of a run whose worker died on every attempt."""

    reason: str


@dataclass(frozen=True)
class Crashed:
    """The outcome of a call that failed outside the mapped function."""

    error: str


class SchedulerLost(RuntimeError):
    """The connection to the Dask scheduler was lost in the middle of a study."""


class SchedulerUnavailable(ValueError):
    """The Dask scheduler cannot be used: not installed, unreachable, no workers, or workers
    that run another practicaldl."""


def check_jobs(jobs) -> int:
    if not isinstance(jobs, numbers.Integral) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    return int(jobs)


def check_retries(retries) -> int:
    if not isinstance(retries, numbers.Integral) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    return int(retries)


def _call(fn, index, item, shared):
    return index, fn(item, shared)


# -- joblib ---------------------------------------------------------------------------------------
class LocalExecutor:
    """``jobs`` joblib (loky) worker processes on this machine; ``jobs=1`` runs in this process."""

    def __init__(self, jobs: int = 1, retries: int = RETRIES):
        from joblib import effective_n_jobs

        self.jobs, self.retries = check_jobs(jobs), check_retries(retries)
        self.workers = effective_n_jobs(self.jobs)
        self._pending: dict = {}
        self._outputs = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._outputs is not None:  # stopped early (Ctrl-C): joblib stops handing out runs and ends its workers
            with warnings.catch_warnings():  # "N tasks ... have been cancelled": what stopping means
                warnings.simplefilter("ignore", UserWarning)
                self._outputs.close()
        return False

    @property
    def in_flight(self) -> int:
        """Runs not back yet (the runner shows at most ``workers`` of them as running)."""
        return len(self._pending)

    def map(self, fn, items, shared) -> Iterator[tuple[int, Any]]:
        from joblib import Parallel, delayed
        from joblib.externals.loky import BrokenProcessPool

        pending = self._pending = dict(items)
        attempts: Counter = Counter()
        while pending:
            handed, done = [], set()

            def calls():
                for index, item in list(pending.items()):
                    handed.append(index)
                    yield delayed(_call)(fn, index, item, shared)

            # one call per batch, dispatched as workers free up: the runs in flight are known
            parallel = Parallel(n_jobs=self.jobs, return_as="generator_unordered", pre_dispatch="n_jobs",
                                batch_size=1)
            self._outputs = parallel(calls())
            try:
                for index, outcome in self._outputs:
                    done.add(index)
                    del pending[index]
                    yield index, outcome
            except BrokenProcessPool as exc:
                for index in [i for i in handed if i not in done]:
                    attempts[index] += 1
                    if attempts[index] > self.retries:
                        del pending[index]
                        yield index, Lost(f"its worker process died {attempts[index]} times ({type(exc).__name__})")
        self._outputs = None


# -- Dask -----------------------------------------------------------------------------------------
def _worker_versions() -> dict:
    from .. import __version__

    return {"practicaldl": __version__}


@contextmanager
def _quiet(logger_name: str = "distributed"):
    """Hide distributed's log records below CRITICAL while closing a client whose scheduler is gone."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class DaskExecutor:
    """Runs on a Dask distributed cluster: an existing ``Client``, a scheduler address, or
    ``"local"`` (a ``LocalCluster`` of ``jobs`` single-threaded worker processes, closed at the end)."""

    def __init__(self, scheduler, jobs: int = -1, retries: int = RETRIES):
        try:
            import dask
            import distributed
        except ImportError as exc:
            raise SchedulerUnavailable("a Dask scheduler needs dask.distributed: pip install 'practicaldl[dask]'") from exc
        self.retries = check_retries(retries)
        self._owned: list = []
        self._futures: dict = {}
        self.lost_scheduler = False
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
        elif scheduler == "local":
            from joblib import effective_n_jobs

            n_workers = effective_n_jobs(check_jobs(jobs))
            with dask.config.set({"distributed.scheduler.allowed-failures": self.retries}):
                cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                   dashboard_address=":0", silence_logs=logging.ERROR)
            self._owned.append(cluster)
            self.client = distributed.Client(cluster)
            self._owned.insert(0, self.client)
        elif isinstance(scheduler, str) and "://" in scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                raise SchedulerUnavailable(f"could not reach the Dask scheduler at {scheduler} "
                                           f"within {CONNECT_TIMEOUT_S} s: {exc}") from exc
            self._owned.append(self.client)
        else:
            raise ValueError(f"scheduler must be 'local', an address such as tcp://HOST:PORT, or a "
                             f"dask.distributed.Client, got {scheduler!r}")
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise
        self.workers = self._threads()

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def _threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _check_workers(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as exc:
            raise SchedulerUnavailable(f"the Dask scheduler at {self.address} has no workers after "
                                       f"{WORKER_WAIT_S} s; start some with: dask worker {self.address}") from exc
        from .. import __version__

        versions = self.client.run(_worker_versions, on_error="return")
        # a worker that went away meanwhile (a lost connection) is no reason to refuse the others
        versions = {w: v for w, v in versions.items() if not isinstance(v, OSError)}
        wrong = {w: v for w, v in versions.items() if not isinstance(v, dict) or v["practicaldl"] != __version__}
        if wrong:
            worker, found = next(iter(wrong.items()))
            found = found["practicaldl"] if isinstance(found, dict) else f"none ({type(found).__name__}: {found})"
            raise SchedulerUnavailable(f"{len(wrong)} Dask worker(s) cannot run practicaldl {__version__}: "
                                       f"{worker} has practicaldl {found}; install this version on every worker")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        """Cancel the runs not back yet (stopped early: Ctrl-C), and close the client and cluster this
        executor started (a ``Client`` passed in stays open)."""
        if self._futures and not self.lost_scheduler:
            self.client.cancel(list(self._futures))
            self._futures = {}
        with _quiet() if self.lost_scheduler else nullcontext():
            for thing in self._owned:
                thing.close()
        self._owned = []

    @property
    def in_flight(self) -> int:
        """Runs submitted and not back yet (the runner shows at most ``workers`` of them as running)."""
        return len(self._futures)

    def map(self, fn, items, shared) -> Iterator[tuple[int, Any]]:
        from distributed import KilledWorker, as_completed

        client, token = self.client, uuid.uuid4().hex[:8]
        data = self._scatter(shared)
        futures = self._futures = {}
        attempts: Counter = Counter()

        def submit(index, item):
            future = client.submit(fn, item, data, key=f"practicaldl-{token}-{index}-{attempts[index]}", pure=False)
            futures[future] = (index, item)
            return future

        completed = as_completed([submit(index, item) for index, item in items])
        for future in completed:
            index, item = futures.pop(future)
            status = future.status
            if status == "finished":
                try:
                    outcome = future.result()
                except Exception:  # the scheduler went away between "finished" and the transfer
                    status = "cancelled"
                else:
                    future.release()
                    yield index, outcome
                    continue
            if status == "error":
                exc = future.exception()
                if isinstance(exc, KilledWorker):  # the scheduler's allowed-failures are spent
                    yield index, Lost("its Dask worker died on each of the scheduler's attempts (KilledWorker)")
                else:
                    yield index, Crashed(f"{type(exc).__name__}: {exc}")
                continue
            if client.status != "running":  # cancelled because the scheduler is gone
                self.lost_scheduler = True
                raise SchedulerLost(f"lost the Dask scheduler at {self.address}")
            attempts[index] += 1  # cancelled with the scheduler alive: the scattered data died with its workers
            if attempts[index] > self.retries:
                yield index, Lost(f"the data set was lost with its workers {attempts[index]} times")
                continue
            if data.status != "finished":
                data = self._scatter(shared)
            completed.add(submit(index, item))
            self.workers = self._threads()

    def _scatter(self, shared):
        # a one-element list: scatter would split a tuple (a Dataset) into one future per array
        return self.client.scatter([shared], broadcast=True, hash=False)[0]


def make_executor(scheduler=None, jobs=None, retries: int = RETRIES):
    """``LocalExecutor(jobs)`` without a scheduler (``jobs`` default 1), else ``DaskExecutor``
    (``jobs``: worker processes of ``scheduler="local"``, default all cores; refused with an address)."""
    if scheduler is None:
        return LocalExecutor(1 if jobs is None else jobs, retries)
    if jobs is not None and scheduler != "local":
        raise ValueError(f"jobs sets the worker processes of a local scheduler; with scheduler={scheduler!r} "
                         "the cluster's workers do the runs")
    return DaskExecutor(scheduler, -1 if jobs is None else jobs, retries)
