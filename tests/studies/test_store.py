"""Study folders: a record per run as it finishes, resume by key, changed configurations refused,
failed runs recorded and reported apart, partial reports."""

import dataclasses
import json

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.report import load_results, tables
from practicaldl.studies import runner
from practicaldl.studies.config import RunConfig, StudyConfig
from practicaldl.studies.data import data_checksum, load_study_data
from practicaldl.studies.runner import run_study, section_from_folder
from practicaldl.studies.store import StudyFolder, StudyMismatch, config_differences, run_key

TINY = dict(name="tiny", dataset="circles", hidden_layer_sizes=(4, 3), max_iter=40, learning_rate=0.05, grid_points=0,
            diagnose=False, init=("zeros", "he"), seeds=(0, 1))


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


class Stop(Exception):
    """Stands in for Ctrl-C in the library (the CLI's SIGINT test sends the real one)."""


# -- keys --------------------------------------------------------------------------------------------
def test_run_key_names_the_configuration_and_the_data_not_the_spelling():
    run = RunConfig(study="s", configuration="c", dataset="circles", hidden_layer_sizes=(4, 3), l2=0.0, seed=1)
    checksum = data_checksum(pdl.load_dataset("circles"))
    key = run_key(run, checksum)
    assert len(key) == 64 and key == run_key(run, checksum)
    assert run_key(dataclasses.replace(run, l2=0, max_iter=1000.0), checksum) == key  # 0 and 0.0: one value
    assert run_key(dataclasses.replace(run, dataset="/elsewhere/circles.npz"), checksum) == key  # the data, not the path
    for change in (dict(l2=0.7), dict(seed=2), dict(hidden_layer_sizes=(4, 4)), dict(configuration="d"),
                   dict(init="lecun"), dict(max_iter=41)):
        assert run_key(dataclasses.replace(run, **change), checksum) != key, change
    assert run_key(run, data_checksum(pdl.load_dataset("moons"))) != key


def test_a_setting_added_later_with_its_default_keeps_old_keys():
    """Another setting (a warm-up, say) added to RunConfig with a default must not orphan old records."""
    Extended = dataclasses.make_dataclass("Extended", [("warmup", int, dataclasses.field(default=0))],
                                          bases=(RunConfig,), frozen=True)
    old = RunConfig(study="s", configuration="c", dataset="circles", hidden_layer_sizes=(3,))
    new = Extended(study="s", configuration="c", dataset="circles", hidden_layer_sizes=(3,))
    assert run_key(new, "x") == run_key(old, "x")
    assert run_key(dataclasses.replace(new, warmup=5), "x") != run_key(old, "x")


def test_keys_of_runs_with_default_optimizer_settings_are_pinned():
    """Gradient descent with no decay hashes as a RunConfig without the optimizer settings did (these
    digests are pinned: the folders of such studies resume); any other optimizer setting changes the key."""
    run = RunConfig(study="s", configuration="c", dataset="circles", hidden_layer_sizes=(10, 5))
    assert run_key(run, "abc") == "b9e2038f2a42bb0329fc82d9028a41874582e1681b522a4ed334bdc2a5c333c4"
    other = dataclasses.replace(run, learning_rate=0.1, batch_size=32, l2=0.7, seed=3)
    assert run_key(other, "abc") == "705c32bc3b8121695dcc9dfe87fc8b0cfe2714cf07ea75fb6f9197ed9bc1e6a7"
    for change in (dict(optimizer="adam"), dict(beta=0.8), dict(beta1=0.8), dict(beta2=0.99), dict(epsilon=1e-7),
                   dict(decay_rate=1.0), dict(decay_rate=1.0, decay_interval=1000)):
        assert run_key(dataclasses.replace(run, **change), "abc") != run_key(run, "abc"), change


def test_data_checksum_sees_every_split_and_dtype():
    data = pdl.load_dataset("circles")
    checksum = data_checksum(data)
    assert checksum == data_checksum(pdl.load_dataset("circles"))
    changed = data.X_test.copy()
    changed[0, 0] += 1e-12
    assert data_checksum(data._replace(X_test=changed)) != checksum
    assert data_checksum(data._replace(y_train=data.y_train.astype(np.int32))) != checksum
    labels = data._replace(y_train=np.array(["a", "b"] * 150, dtype=object))
    assert data_checksum(labels) == data_checksum(labels._replace(y_train=np.array(["a", "b"] * 150, dtype=object)))


def test_config_differences_name_old_and_new_values():
    assert config_differences({"max_iter": 40, "seeds": [0, 1], "space": {"l2": [0.1, 1]}},
                              {"max_iter": 50, "seeds": [0, 1], "space": {"l2": [0.1, 2]}, "top": 3}) == [
        "max_iter: 40 -> 50", "space.l2: [0.1, 1] -> [0.1, 2]", "top: (none) -> 3"]
    assert config_differences({"l2": 0}, {"l2": 0.0}) == []


# -- a study in its folder ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted study, its models in a folder named as a study folder's are."""
    return run_study(StudyConfig(**TINY), model_dir=tmp_path_factory.mktemp("reference") / "models")


def test_each_run_is_recorded_as_it_finishes_and_resume_skips_them(tmp_path, reference):
    study, out = StudyConfig(**TINY), tmp_path / "study"
    on_disk = []

    def stop_after_two(record):
        on_disk.append(sorted(p.name for p in (out / "runs").iterdir()))
        if len(on_disk) == 2:
            raise Stop

    with pytest.raises(Stop):
        run_study(study, out=out, on_result=stop_after_two)
    # each record was on disk when its callback ran: the first before the second started
    assert on_disk == [["tiny-zeros-seed0.json"], ["tiny-zeros-seed0.json", "tiny-zeros-seed1.json"]]
    assert not list(out.rglob("*.tmp"))
    recorded = StudyFolder(out).records()
    assert _without_time(sorted(recorded.values(), key=lambda r: r["run_id"])) == _without_time(
        sorted(reference["records"][:2], key=lambda r: r["run_id"]))
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}

    seen = []
    result = run_study(study, out=out, on_progress=seen.append)
    assert seen[0].recorded_before == 2 and seen[0].done == 2 and seen[-1].done == seen[-1].total == 4
    assert len(seen) == 1 + 2  # the start, then one per missing run
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir() if p.name in mtimes} == mtimes
    assert _without_time(result["records"]) == _without_time(reference["records"])
    assert [r["key"] for r in result["records"]] == [r["key"] for r in reference["records"]]
    models = sorted(p.name for p in (out / "models").iterdir())
    assert models == sorted(f"{r['run_id']}.{ext}" for r in result["records"] for ext in ("npz", "json"))
    assert result["records"][0]["model_path"] == "models/tiny-zeros-seed0.npz"


def test_a_changed_configuration_is_refused_by_name_and_nothing_is_touched(tmp_path):
    out = tmp_path / "study"
    run_study(StudyConfig(**{**TINY, "seeds": (0,)}), out=out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(StudyMismatch, match=r"different configuration \(max_iter: 40 -> 50\); use another folder"):
        run_study(StudyConfig(**{**TINY, "seeds": (0,), "max_iter": 50}), out=out)
    with pytest.raises(StudyMismatch, match=r"seeds: \[0\] -> \[1\]"):
        run_study(StudyConfig(**{**TINY, "seeds": (1,)}), out=out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # only report settings changed: the same runs, resumed, nothing run again
    seen = []
    run_study(StudyConfig(**{**TINY, "seeds": (0,), "title": "renamed"}), out=out, on_progress=seen.append)
    assert seen[-1].recorded_before == seen[-1].total == 2
    assert StudyFolder(out).manifest()["config"]["title"] == "renamed"


def test_changed_data_is_refused(tmp_path):
    data = pdl.load_dataset("moons")
    np.savez(tmp_path / "mine.npz", X=data.X_train, y=data.y_train)
    study = StudyConfig(**{**TINY, "dataset": str(tmp_path / "mine.npz"), "seeds": (0,)})
    run_study(study, out=tmp_path / "study")
    np.savez(tmp_path / "mine.npz", X=data.X_train[:-1], y=data.y_train[:-1])
    with pytest.raises(StudyMismatch, match=r"data checksum: [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\."):
        run_study(study, out=tmp_path / "study")


def test_a_grown_study_keeps_its_records_and_runs_only_the_new_ones(tmp_path, reference):
    out = tmp_path / "study"
    run_study(StudyConfig(**{**TINY, "seeds": (0,)}), out=out)
    seen = []
    result = run_study(StudyConfig(**TINY), out=out, on_progress=seen.append)
    assert seen[0].recorded_before == 2 and seen[-1].done == 4
    assert _without_time(result["records"]) == _without_time(reference["records"])


def test_not_a_study_folder_and_another_kind_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StudyMismatch, match="is a file"):
        run_study(StudyConfig(**TINY), out=tmp_path / "file")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "study.json").write_text('{"format": "other"}')
    with pytest.raises(StudyMismatch, match="not a practicaldl study manifest"):
        run_study(StudyConfig(**TINY), out=tmp_path / "odd")


# -- failed runs ------------------------------------------------------------------------------------------
@pytest.fixture
def he_raises(monkeypatch):
    """Runs of init "he" raise inside training (in this process: jobs=1)."""
    train = runner._train

    def flaky(run, data, key):
        if run.init == "he":
            raise RuntimeError("planted failure\nsecond line")
        return train(run, data, key)

    monkeypatch.setattr(runner, "_train", flaky)


def test_a_run_that_raises_is_recorded_as_failed_and_the_study_goes_on(tmp_path, he_raises):
    out = tmp_path / "study"
    result = run_study(StudyConfig(**TINY), out=out)
    statuses = [(r["configuration"], r["status"]) for r in result["records"]]
    assert statuses == [("zeros", "ok"), ("zeros", "ok"), ("he", "error"), ("he", "error")]
    failed = result["records"][2]
    assert failed["error"] == "RuntimeError: planted failure" and "planted failure" in failed["traceback"]
    assert failed["test_accuracy"] is None and failed["model_path"] is None
    row = result["aggregate"][1]
    assert row["n_failed"] == 2 and row["test_accuracy_mean"] is None
    doc = load_results(out)  # the report, built from the folder
    failed_table = tables(doc)[1]
    assert failed_table["columns"] == ["run", "configuration", "seed", "status", "error"]
    assert failed_table["rows"] == [["tiny-he-seed0", "he", 0, "error", "RuntimeError: planted failure"],
                                    ["tiny-he-seed1", "he", 1, "error", "RuntimeError: planted failure"]]
    assert any("2 of 4 runs failed" in note for note in doc["notes"])
    # a raised run is a result of its configuration: resuming does not run it again
    seen = []
    run_study(StudyConfig(**TINY), out=out, on_progress=seen.append)
    assert seen[-1].recorded_before == 4


def test_lost_and_unreadable_records_are_run_again(tmp_path, reference):
    out = tmp_path / "study"
    run_study(StudyConfig(**TINY), out=out)
    lost = json.loads((out / "runs" / "tiny-he-seed0.json").read_text())
    lost.update(status="lost", error="not run: its worker process died 4 times", test_accuracy=None)
    (out / "runs" / "tiny-he-seed0.json").write_text(json.dumps(lost))
    (out / "runs" / "tiny-zeros-seed1.json").write_text('{"study": "tiny", "configu')  # cut short by hand
    seen = []
    result = run_study(StudyConfig(**TINY), out=out, on_progress=seen.append)
    assert seen[0].recorded_before == 2 and seen[-1].done == 4
    assert _without_time(result["records"]) == _without_time(reference["records"])


# -- reports from the folder ---------------------------------------------------------------------------------
def test_a_half_finished_study_renders_a_partial_report(tmp_path, reference):
    out = tmp_path / "study"
    with pytest.raises(Stop):
        run_study(StudyConfig(**TINY), out=out, on_result=lambda r: (_ for _ in ()).throw(Stop()))
    section = section_from_folder(out)
    assert section["partial"] == {"recorded": 1, "total": 4} and len(section["records"]) == 1
    doc = load_results(out)
    assert doc["notes"][0].startswith("PARTIAL: 1 of 4 runs recorded so far")
    assert [row[0] for row in tables(doc)[0]["rows"]] == ["zeros"]
    run_study(StudyConfig(**TINY), out=out)
    complete = load_results(out)
    assert "partial" not in complete["sections"][0] and not any("PARTIAL" in n for n in complete["notes"])
    assert _without_time(complete["sections"][0]["records"]) == _without_time(reference["records"])


def test_load_study_data_is_the_one_loader():
    data = load_study_data(StudyConfig(**TINY))
    np.testing.assert_array_equal(data.X_train, pdl.load_dataset("circles").X_train)


def test_progress_estimates_the_time_left_from_the_runs_done_since_the_start():
    from practicaldl.studies.runner import Progress

    # 2 runs done in 4 s since the start (2 more were recorded before): 2 s a run, 6 runs to go
    p = Progress(total=10, done=4, failed=1, running=2, recorded_before=2, elapsed_s=4.0)
    assert p.eta_s == 12.0
    assert Progress(total=10, done=2, failed=0, running=2, recorded_before=2, elapsed_s=4.0).eta_s is None


def test_a_table_run_key_has_its_options_but_not_its_file_paths(penguins_csv, tmp_path):
    study = StudyConfig(name="p", dataset=str(penguins_csv), table={"target": "species", "impute": "median"},
                        hidden_layer_sizes=(3,), max_iter=5, seeds=(0,), diagnose=False, grid_points=0)
    run = study.expand()[0]
    checksum = data_checksum(load_study_data(study))
    key = run_key(run, checksum)
    assert run_key(dataclasses.replace(run, dataset="elsewhere/penguins.csv",
                                       table=dataclasses.replace(run.table, test="elsewhere/test.csv")), checksum) == key
    assert run_key(dataclasses.replace(run, table=dataclasses.replace(run.table, impute="mean")), checksum) != key
    other = StudyConfig(**{**study.to_dict(), "table": {"target": "species", "impute": "mean"}})
    assert data_checksum(load_study_data(other)) != checksum  # the preprocessed data differ too
