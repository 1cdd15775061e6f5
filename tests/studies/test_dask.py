"""Studies on Dask: a real LocalCluster of 2 worker processes, Dask's own scheduler and worker
commands, worker processes killed in the middle of a study, and a scheduler lost."""

import json
import logging
import os
import signal
import site
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'practicaldl[dask]')")

import practicaldl as pdl  # noqa: E402
from practicaldl.studies.config import StudyConfig  # noqa: E402
from practicaldl.studies.executors import SchedulerUnavailable  # noqa: E402
from practicaldl.studies.runner import execute_runs, run_study  # noqa: E402

SMALL = dict(name="small", dataset="circles", hidden_layer_sizes=(4, 3), max_iter=60, learning_rate=0.05,
             grid_points=10, init=("zeros", "he"), seeds=(0, 1, 2), diagnose=True)
# runs of about half a second, so that a worker is killed while it trains
SLOW = dict(name="slow", dataset="circles", hidden_layer_sizes=(8, 4), max_iter=6000, learning_rate=0.05,
            grid_points=0, init=("he", "lecun"), seeds=(0, 1, 2), diagnose=False)


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


def _comparable(records):
    """Records without their time and model path (a study folder keeps models; the reference does not)."""
    return [{k: v for k, v in r.items() if k not in ("time_s", "model_path")} for r in records]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def slow_serial():
    return run_study(StudyConfig(**SLOW))


def _wait_for_workers(client, n=2):
    client.wait_for_workers(n, timeout=60)


def test_a_local_cluster_gives_the_serial_records_in_the_serial_order(client, tmp_path):
    study = StudyConfig(**SMALL)
    serial = run_study(study, model_dir=tmp_path / "serial" / "models")
    distributed_run = run_study(study, scheduler=client, out=tmp_path / "dask")
    assert _without_time(distributed_run["records"]) == _without_time(serial["records"])
    assert [r["run_id"] for r in distributed_run["records"]] == [r.run_id for r in study.expand()]
    on_disk = json.loads((tmp_path / "dask" / "runs" / "small-he-seed1.json").read_text())
    assert _without_time([on_disk]) == _without_time([serial["records"][4]])
    assert client.status == "running"  # a Client passed in is left open


COUNTED = '''
import os

from practicaldl.io.datasets import Dataset

LOG = LOG_PATH


class CountedDataset(Dataset):
    """A data set that notes in a file, with the process id, each time it is unpickled."""

    def __reduce__(self):
        return unpickled, (tuple(self),)


def unpickled(fields):
    with open(LOG, "a") as fh:
        fh.write(f"{os.getpid()} ")
    return CountedDataset(*fields)  # a copy a worker passes on to another is counted too
'''


def test_the_data_set_travels_once_per_worker_not_once_per_run(client, tmp_path, monkeypatch):
    log = tmp_path / "unpickled.log"
    (tmp_path / "counted_dataset.py").write_text(COUNTED.replace("LOG_PATH", repr(str(log))))
    monkeypatch.syspath_prepend(str(tmp_path))
    client.run(site.addsitedir, str(tmp_path))  # the workers import it as this process does
    from counted_dataset import CountedDataset

    study = StudyConfig(**{**SMALL, "seeds": (0, 1, 2, 3, 4)})
    data = CountedDataset(*pdl.load_dataset("circles"))
    records = execute_runs(study.expand(), data, kind="study", config=study.to_dict(), scheduler=client)
    assert len(records) == 10 and all(r["status"] == "ok" for r in records)
    pids = [int(pid) for pid in log.read_text().split()]
    workers = set(client.run(os.getpid).values())
    assert set(pids) <= workers and len(pids) == len(set(pids)) <= 2  # at most once in each worker, not 10 times


def test_a_worker_killed_mid_study_its_runs_are_retried(client, tmp_path, slow_serial):
    _wait_for_workers(client)
    killed = {}

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if len(busy) == 2:
                time.sleep(0.2)  # both are training
                worker, keys = next(iter(client.processing().items()))
                pid = client.run(os.getpid, workers=[worker])[worker]
                killed.update(worker=worker, keys=keys)
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    thread = threading.Thread(target=kill_a_busy_worker)
    thread.start()
    result = run_study(StudyConfig(**SLOW), scheduler=client, out=tmp_path / "killed")
    thread.join()
    assert killed["keys"]  # it died with runs on it
    # the scheduler's own log: a run of the dead worker was handed to a worker again, and finished
    story = client.run_on_scheduler(lambda dask_scheduler, keys=killed["keys"]: [
        (t[0], t[2]) for t in dask_scheduler.transition_log if t[0] in keys])
    starts = {key: sum(1 for k, finish in story if k == key and finish == "processing") for key in killed["keys"]}
    assert max(starts.values()) >= 2, story
    assert [r["status"] for r in result["records"]] == ["ok"] * 6
    assert _comparable(result["records"]) == _comparable(slow_serial["records"])


def test_every_worker_killed_the_data_is_scattered_again(client, tmp_path, slow_serial):
    """All copies of the scattered data die with their workers: the runs come back cancelled and are
    resubmitted with the data scattered anew."""
    _wait_for_workers(client)
    done = []

    def kill_all():
        deadline = time.time() + 60
        while time.time() < deadline and len([k for k in client.processing().values() if k]) < 2:
            time.sleep(0.02)
        time.sleep(0.2)
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        done.append(time.time())

    thread = threading.Thread(target=kill_all)
    thread.start()
    result = run_study(StudyConfig(**SLOW), scheduler=client)
    thread.join()
    assert done and [r["status"] for r in result["records"]] == ["ok"] * 6
    assert _comparable(result["records"]) == _comparable(slow_serial["records"])
    _wait_for_workers(client)


def test_bad_schedulers_are_refused_clearly(monkeypatch):
    from practicaldl.studies import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ValueError, match="scheduler must be 'local', an address such as tcp://HOST:PORT"):
        run_study(StudyConfig(**SMALL), scheduler="nowhere")
    with pytest.raises(SchedulerUnavailable, match="could not reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s"):
        run_study(StudyConfig(**SMALL), scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="jobs sets the worker processes of a local scheduler"):
        run_study(StudyConfig(**SMALL), scheduler="tcp://127.0.0.1:9", jobs=2)


# -- Dask's own commands, as the README shows -----------------------------------------------------------
@pytest.fixture
def dask_cluster(tmp_path):
    """``dask scheduler`` and ``dask worker`` started as a user would; yields (address, scheduler process)."""
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ)
    scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--scheduler-file", str(scheduler_file),
                                  "--port", "0", "--dashboard-address", ":0", "--host", "127.0.0.1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    processes = [scheduler]
    try:
        deadline = time.time() + 60
        while not scheduler_file.is_file() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nworkers", "2",
                                           "--nthreads", "1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        yield address, scheduler
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _toml(settings: dict) -> str:
    return "".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}\n" for k, v in settings.items())


def test_the_cli_on_a_cluster_started_with_dask_commands_then_the_scheduler_lost(dask_cluster, tmp_path,
                                                                                   monkeypatch, slow_serial):
    from typer.testing import CliRunner

    from practicaldl.cli import app

    address, scheduler = dask_cluster
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.toml").write_text(_toml({**SMALL, "seeds": [0, 1], "diagnose": False}))
    (tmp_path / "slow.toml").write_text(_toml(SLOW))
    result = CliRunner().invoke(app, ["compare", "--config", "small.toml", "--scheduler", address, "--out", "rep",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    on_cluster = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][0]["records"]
    here = run_study(StudyConfig(**{**SMALL, "seeds": (0, 1), "diagnose": False}))["records"]
    assert _comparable(on_cluster) == _comparable(here)

    def kill_scheduler_after_two_records():
        deadline = time.time() + 120
        while time.time() < deadline and len(list((tmp_path / "lost" / "runs").glob("*.json"))) < 2:
            time.sleep(0.02)
        scheduler.kill()

    thread = threading.Thread(target=kill_scheduler_after_two_records)
    thread.start()
    lost = CliRunner().invoke(app, ["compare", "--config", "slow.toml", "--scheduler", address, "--out", "lost",
                                    "--quiet"])
    thread.join()
    assert lost.exit_code == 1, lost.output
    assert f"lost the Dask scheduler at {address}" in lost.stderr and "run the same command again" in lost.stderr
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "lost" / "runs").glob("*.json")}
    assert 2 <= len(records) < 6  # what finished is kept, intact
    expected = {r["run_id"]: r for r in _comparable(slow_serial["records"])}
    assert {k: _comparable([r])[0] for k, r in records.items()} == {k: expected[k] for k in records}


def test_a_run_whose_worker_dies_more_than_allowed_is_recorded_lost(tmp_path, slow_serial):
    """retries=0 on a LocalCluster started by the study: the scheduler gives a run up with
    KilledWorker the first time its worker dies; the run is recorded as lost, the others finish."""
    psutil = pytest.importorskip("psutil")

    def spawned():
        return {p.pid: p for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())}

    others = set(spawned())  # the worker processes of other clusters (the module's)

    def kill_a_worker_after_the_first_record():
        deadline = time.time() + 60
        while time.time() < deadline and not list((tmp_path / "lost" / "runs").glob("*.json")):
            time.sleep(0.02)
        ours = [p for pid, p in spawned().items() if pid not in others]
        ours[0].kill()  # it holds runs: the one it trains and the next, queued

    thread = threading.Thread(target=kill_a_worker_after_the_first_record)
    thread.start()
    result = run_study(StudyConfig(**SLOW), scheduler="local", jobs=2, retries=0, out=tmp_path / "lost")
    thread.join()
    statuses = [r["status"] for r in result["records"]]
    assert "lost" in statuses and statuses.count("ok") >= 3, statuses
    lost = next(r for r in result["records"] if r["status"] == "lost")
    assert lost["error"] == "not run: its Dask worker died on each of the scheduler's attempts (KilledWorker)"
    ok = [r for r in result["records"] if r["status"] == "ok"]
    expected = {r["run_id"]: r for r in _comparable(slow_serial["records"])}
    assert all(_comparable([r])[0] == expected[r["run_id"]] for r in ok)


VERSION = '''
import practicaldl


def pretend(version):
    practicaldl.__version__ = version
'''


def test_workers_with_another_practicaldl_are_refused(client, tmp_path, monkeypatch):
    (tmp_path / "pretend_version.py").write_text(VERSION)
    client.run(site.addsitedir, str(tmp_path))
    from practicaldl import __version__

    monkeypatch.syspath_prepend(str(tmp_path))
    import pretend_version

    client.run(pretend_version.pretend, "0.0.1")
    try:
        with pytest.raises(SchedulerUnavailable, match=rf"2 Dask worker\(s\) cannot run practicaldl {__version__}: "
                                                       r"tcp://\S+ has practicaldl 0.0.1"):
            run_study(StudyConfig(**SMALL), scheduler=client)
    finally:
        client.run(pretend_version.pretend, __version__)
    assert run_study(StudyConfig(**{**SMALL, "seeds": (0,)}), scheduler=client)["records"][0]["status"] == "ok"
