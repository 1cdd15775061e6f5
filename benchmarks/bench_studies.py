"""Where a study's runs go: wall time of one study on joblib and on a Dask LocalCluster, and the
per-run overhead of each path.

Run (from the repository root)::

    python benchmarks/bench_studies.py                 # the 200-run study, each way twice (~4 min on 2 cores)
    python benchmarks/bench_studies.py --repeat 1 --runs 40 --json /tmp/out.json

The study (``study_config``): circles, [2, 10, 5, 1], ``init`` he / lecun x ``l2`` 0 / 0.7 x
``keep_prob`` 1 / 0.86 (8 configurations) x ``runs / 8`` seeds, 1000 full-batch iterations,
the report's extras on the first seed of each configuration (80 x 80 decision grid,
diagnostics), records written to a study folder as they finish (as ``practicaldl compare`` does).

Ways, each timed end to end (``run_study``: data loading, runs, records on disk):

* ``jobs 1``: joblib, in this process, one run after another;
* ``joblib 2``: two loky worker processes (``--jobs 2``);
* ``dask local 2``: ``scheduler="local", jobs=2``: a LocalCluster of 2 single-threaded worker
  processes, started by ``run_study`` (its start-up is in the time, as a user pays it), and the
  same on an already running cluster (``scheduler=client``).

Overhead per run: the same ways on a study of ``--runs`` runs of 1 iteration each, no grid and no
diagnostics (what is left is the machinery: dispatch, pickling, the data, the record and model
files), minus the same study in this process, divided by the number of runs; for Dask on a
cluster that is already running (start-up reported apart) with one worker, and with two.

Every way runs ``--repeat`` times, interleaved; the table gives the minimum and the median.
BLAS runs one thread per process in every way (threadpoolctl in this process; loky and Dask's
nanny set one thread in their workers), so that a single run costs the same everywhere and the
ratios measure the scheduling. The machine is shared: the load average before and after is
printed, and written with every timing to ``--json`` (default
``benchmarks/results/bench_studies.json``, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from practicaldl.studies import StudyConfig, run_study  # noqa: E402


def study_config(runs: int, *, max_iter: int = 1000, extras: bool = True) -> StudyConfig:
    seeds = tuple(range(max(1, runs // 8)))
    return StudyConfig(name="bench", dataset="circles", hidden_layer_sizes=(10, 5), init=("he", "lecun"),
                       l2=(0.0, 0.7), keep_prob=(1.0, 0.86), learning_rate=0.05, max_iter=max_iter, seeds=seeds,
                       grid_points=80 if extras else 0, diagnose=extras)


def timed(study: StudyConfig, **where) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-study-"))
    try:
        start = time.perf_counter()
        run_study(study, out=out / "study", **where)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def summary(times: list[float]) -> dict:
    return {"min": min(times), "median": statistics.median(times), "all": times}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs in the study (a multiple of 8)")
    parser.add_argument("--repeat", type=int, default=2, help="times each way runs (interleaved)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_studies.json")
    args = parser.parse_args(argv)

    import distributed
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    load_before = os.getloadavg()
    study = study_config(args.runs)
    tiny = study_config(args.runs, max_iter=1, extras=False)
    results: dict = {"runs": len(study.expand()), "cpus": os.cpu_count(), "load_before": load_before}

    start = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    client.wait_for_workers(2)
    results["cluster_start_s"] = time.perf_counter() - start
    one = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
    client1 = distributed.Client(one)

    ways = {"jobs 1": (study, {"jobs": 1}), "joblib 2": (study, {"jobs": 2}),
            "dask local 2": (study, {"scheduler": "local", "jobs": 2}),
            "dask running cluster 2": (study, {"scheduler": client}),
            "overhead: in process": (tiny, {"jobs": 1}), "overhead: joblib 2": (tiny, {"jobs": 2}),
            "overhead: dask 1 worker": (tiny, {"scheduler": client1}),
            "overhead: dask 2 workers": (tiny, {"scheduler": client})}
    times: dict = {name: [] for name in ways}
    timed(tiny, jobs=2)  # loky's workers start once per process: not part of a study's time after the first
    for _ in range(args.repeat):
        for name, (config, where) in ways.items():
            times[name].append(timed(config, **where))
            print(f"{name:<28} {times[name][-1]:8.2f} s", flush=True)
    client.close(), cluster.close(), client1.close(), one.close()

    results["times"] = {name: summary(t) for name, t in times.items()}
    base = results["times"]["overhead: in process"]["median"]
    n = results["runs"]
    results["overhead_per_run_ms"] = {
        name.split(": ")[1]: 1000 * (results["times"][name]["median"] - base) / n
        for name in ways if name.startswith("overhead") and name != "overhead: in process"}
    results["load_after"] = os.getloadavg()

    print(f"\n{n}-run study (1000 iterations, [2, 10, 5, 1], circles), wall time, min / median of {args.repeat}:")
    for name in ways:
        if not name.startswith("overhead"):
            t = results["times"][name]
            print(f"  {name:<26} {t['min']:7.2f} s / {t['median']:7.2f} s   "
                  f"(x{results['times']['jobs 1']['median'] / t['median']:.2f} of jobs 1)")
    print(f"  LocalCluster start-up      {results['cluster_start_s']:7.2f} s")
    print(f"per-run overhead ({n} runs of 1 iteration; in process: {1000 * base / n:.2f} ms a run):")
    for name, ms in results["overhead_per_run_ms"].items():
        print(f"  {name:<26} {ms:7.2f} ms")
    print(f"load average before {load_before}, after {results['load_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
