"""compare and search as a user runs them: interrupted by a signal and resumed, a worker process
killed, every run failing, a partial report, a random search extended."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from practicaldl.studies import runner

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "search.toml"
# 8 runs of about a quarter of a second each
STUDY = ["compare", "--dataset", "circles", "--hidden", "8,4", "--init", "zeros", "--init", "he", "--max-iter", "3000",
         "--lr", "0.05", "--seed", "0", "--seed", "1", "--seed", "2", "--seed", "3"]


def _records(doc):
    """The records of results.json, without what differs between two runs of the same study (time)."""
    return [{k: v for k, v in r.items() if k != "time_s"} for r in doc["sections"][0]["records"]]


def _without_times(doc):
    doc = json.loads(json.dumps(doc))
    for section in doc["sections"]:
        for r in section["records"]:
            r.pop("time_s")
        for row in section["aggregate"]:
            row.pop("time_s_mean"), row.pop("time_s_std")
    return doc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = subprocess.run([sys.executable, "-m", "practicaldl", *STUDY, "--out", "rep", "--quiet"], cwd=folder,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads((folder / "rep" / "results.json").read_text())


@pytest.mark.parametrize("signum, jobs", [(signal.SIGINT, "2"), (signal.SIGTERM, "1")])
def test_an_interrupted_study_keeps_its_records_and_the_same_command_finishes_it(tmp_path, uninterrupted, signum,
                                                                                 jobs):
    command = [sys.executable, "-m", "practicaldl", *STUDY, "--jobs", jobs, "--out", "rep"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "rep" / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 2 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    kept = sorted(runs.glob("*.json"))
    assert 2 <= len(kept) < 8, stderr
    assert f"Interrupted: {len(kept)} of 8 runs are recorded in rep" in stderr
    assert not list((tmp_path / "rep").rglob("*.tmp")) and not (tmp_path / "rep" / "results.json").exists()
    expected = {r["run_id"]: r for r in _records(uninterrupted)}
    for path in kept:  # intact: each the record an uninterrupted study has
        record = json.loads(path.read_text())
        assert {k: v for k, v in record.items() if k != "time_s"} == expected[record["run_id"]]
    stamps = {p.name: p.stat().st_mtime_ns for p in kept}

    again = subprocess.run(command + ["--json", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["runs"] == {"total": 8, "recorded_before": len(kept), "run_now": 8 - len(kept),
                                                "failed": 0}
    assert {p.name: p.stat().st_mtime_ns for p in kept} == stamps  # the recorded runs were not run again
    final = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert _without_times(final) == _without_times(uninterrupted)


def test_a_killed_joblib_worker_its_runs_are_retried(cli, tmp_path, uninterrupted):
    psutil = pytest.importorskip("psutil", reason="psutil (a dask.distributed dependency) finds the worker processes")
    killed = {}

    def kill_a_worker():
        deadline = time.time() + 60
        while time.time() < deadline:  # the runs start when the manifest is written
            workers = [p for p in psutil.Process().children(recursive=True) if "popen_loky" in " ".join(p.cmdline())]
            if (tmp_path / "rep" / "study.json").is_file() and len(workers) >= 2:
                time.sleep(0.1)  # both training
                killed["pool"] = {p.pid for p in workers}
                workers[0].kill()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=kill_a_worker)
    thread.start()
    result = cli(*STUDY, "--jobs", "2", "--out", "rep", "--json", "--quiet")
    thread.join()
    assert result.exit_code == 0, result.output
    # the pool broke in the middle of the study and another one did the runs in flight again
    workers = {p.pid for p in psutil.Process().children(recursive=True) if "popen_loky" in " ".join(p.cmdline())}
    assert killed["pool"] and not workers & killed["pool"]
    assert json.loads(result.stdout)["runs"]["failed"] == 0
    assert _records(json.loads((tmp_path / "rep" / "results.json").read_text())) == _records(uninterrupted)


def test_a_study_where_every_run_fails_exits_1_and_says_so(cli, tmp_path, monkeypatch):
    def broken(run, data, key):
        raise ValueError("no network today")

    monkeypatch.setattr(runner, "_train", broken)
    result = cli("compare", "--dataset", "circles", "--hidden", "3", "--max-iter", "5", "--seed", "0", "--seed", "1",
                 "--out", "rep", "--json")
    assert result.exit_code == 1
    assert "every run failed (2 runs)" in result.stderr
    out = json.loads(result.stdout)
    failed = out["tables"][1]
    assert failed["rows"][0][3:] == ["error", "ValueError: no network today"]
    assert (tmp_path / "rep" / "index.html").is_file()  # the report is written all the same


def test_report_on_a_half_finished_study_says_it_is_partial(cli, tmp_path):
    assert cli("compare", "--dataset", "circles", "--hidden", "3", "--max-iter", "20", "--init", "zeros", "--init",
               "he", "--seed", "0", "--out", "rep", "--quiet").exit_code == 0
    (tmp_path / "rep" / "runs" / "compare-he-seed0.json").unlink()
    (tmp_path / "rep" / "results.json").unlink()
    result = cli("report", "rep", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["partial"] == {"recorded": 1, "total": 2}
    assert out["notes"][0].startswith("PARTIAL: 1 of 2 runs recorded so far")
    assert [row[0] for row in out["tables"][0]["rows"]] == ["zeros"]
    assert "Partial report" in result.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "PARTIAL: 1 of 2 runs" in page


def test_resume_reads_the_study_from_its_folder(cli, tmp_path):
    args = ["compare", "--dataset", "circles", "--hidden", "3", "--max-iter", "20", "--seed", "0", "--seed", "1",
            "--out", "rep", "--quiet"]
    assert cli(*args).exit_code == 0
    (tmp_path / "rep" / "runs" / "compare-he-seed1.json").unlink()
    resumed = cli("compare", "--resume", "rep", "--json", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["runs"]["run_now"] == 1
    changed = cli(*[a if a != "20" else "30" for a in args])
    assert changed.exit_code == 2 and "max_iter: 20 -> 30" in changed.stderr
    both = cli("compare", "--resume", "rep", "--max-iter", "30")
    assert both.exit_code == 2 and "--resume takes the study from 'rep'; give it no study options" in both.stderr
    wrong = cli("search", "--resume", "rep")
    assert wrong.exit_code == 2 and "holds a study, not a search" in wrong.stderr
    nothing = cli("compare", "--resume", "nowhere")
    assert nothing.exit_code == 2 and "holds no study" in nothing.stderr


@pytest.mark.parametrize("args, needle", [
    (["--scheduler", "nowhere"], "--scheduler: scheduler must be 'local', an address such as tcp://HOST:PORT"),
    (["--scheduler", "tcp://127.0.0.1:9", "--jobs", "2"], "--jobs: jobs sets the worker processes of a local"),
    (["--jobs", "0"], "--jobs: jobs must be a positive integer or -1"),
    (["--retries", "-1"], "--retries"),
])
def test_bad_study_options_exit_2(cli, tmp_path, args, needle):
    result = cli("compare", "--dataset", "circles", "--max-iter", "5", "--out", "rep", *args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_search_from_the_example_file_then_extended(cli, tmp_path):
    toml = EXAMPLE.read_text().replace("max_iter = 2000", "max_iter = 40")
    (tmp_path / "search.toml").write_text(toml)
    first = cli("search", "--config", "search.toml", "--trials", "5", "--out", "s", "--json", "--quiet")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["runs"] == {"total": 5, "recorded_before": 0, "run_now": 5, "failed": 0}
    best = out["tables"][0]
    assert best["columns"][:3] == ["rank", "trial", "learning_rate"] and len(best["rows"]) == 5
    assert {"figures/circles-search-scores.png", "figures/circles-search-cost.png"} <= set(out["files"])
    again = cli("search", "--config", "search.toml", "--trials", "7", "--out", "s", "--json", "--quiet")
    assert json.loads(again.stdout)["runs"]["run_now"] == 2
    other_seed = cli("search", "--config", "search.toml", "--trials", "7", "--seed", "1", "--out", "s")
    assert other_seed.exit_code == 2 and "seed: 0 -> 1" in other_seed.stderr
    missing = cli("search")
    assert missing.exit_code == 2 and "give --config FILE" in missing.stderr


def test_compare_on_a_local_dask_cluster_from_the_cli(cli, tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'practicaldl[dask]')")
    args = ["compare", "--dataset", "circles", "--hidden", "3", "--max-iter", "30", "--init", "zeros", "--init", "he",
            "--seed", "0", "--seed", "1", "--quiet"]
    assert cli(*args, "--out", "here").exit_code == 0
    result = cli(*args, "--scheduler", "local", "--jobs", "2", "--out", "dask")
    assert result.exit_code == 0, result.output
    docs = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("here", "dask")]
    assert _records(docs[0]) == _records(docs[1])


def test_runs_lost_with_their_worker_are_recorded_lost_then_run_again(cli, tmp_path, uninterrupted):
    """--retries 0: the runs in flight when a worker dies are given up as lost (the study goes on);
    the same command again runs them, and only them."""
    psutil = pytest.importorskip("psutil", reason="psutil (a dask.distributed dependency) finds the worker processes")

    def kill_a_worker_after_the_first_record():
        deadline = time.time() + 60
        while time.time() < deadline and not list((tmp_path / "rep" / "runs").glob("*.json")):
            time.sleep(0.02)
        workers = [p for p in psutil.Process().children(recursive=True) if "popen_loky" in " ".join(p.cmdline())]
        workers[0].kill()  # both workers are training

    thread = threading.Thread(target=kill_a_worker_after_the_first_record)
    thread.start()
    first = cli(*STUDY, "--jobs", "2", "--retries", "0", "--out", "rep", "--json", "--quiet")
    thread.join()
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    lost = [row for row in out["tables"][1]["rows"] if row[3] == "lost"]
    assert 1 <= len(lost) == out["runs"]["failed"] < 8
    assert all(row[4].startswith("not run: its worker process died 1 times") for row in lost)
    again = cli(*STUDY, "--jobs", "2", "--out", "rep", "--json", "--quiet")
    assert json.loads(again.stdout)["runs"]["run_now"] == len(lost)
    assert _records(json.loads((tmp_path / "rep" / "results.json").read_text())) == _records(uninterrupted)
