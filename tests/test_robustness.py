"""Issue 21's cases, one test each: nothing written outside its folder, nothing lost, no traceback.

Every case of the issue (paths from names, tampered models, crafted reports, data loss on failure
or interrupt, the estimator after a failed refit, tracebacks and unclear messages) runs through
the command line (typer's runner, in a temporary folder) or the library, as a user would meet it.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from practicaldl.io.models import metadata_sha256

TINY = ["--hidden", "3", "--max-iter", "5"]
TINY_STUDY = ["-d", "circles", "--max-iter", "5", "--seed", "0"]


def files_under(root: Path) -> dict:
    """{relative path: bytes} of every file under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def no_traceback(result):
    assert "Traceback" not in result.stderr and result.exception is None or isinstance(result.exception, SystemExit)


def rehash(meta: dict) -> dict:
    meta["sha256"] = metadata_sha256(meta)
    return meta


@pytest.fixture(scope="module")
def study_report(tmp_path_factory):
    """A finished compare folder (2-D data: decision grids, diagnostics) to copy and tamper with."""
    from practicaldl.cli import app

    root = tmp_path_factory.mktemp("study")
    old = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, ["compare", *TINY_STUDY, "--init", "he", "--init", "zeros", "--out", "rep",
                                          "--quiet"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return root / "rep"


@pytest.fixture
def results(study_report, tmp_path):
    """``results(edit)``: a copy of the study's results.json edited by ``edit(doc)``, alone in its folder."""
    def make(edit, name="crafted"):
        doc = json.loads((study_report / "results.json").read_text())
        edit(doc)
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "results.json").write_text(json.dumps(doc))
        return tmp_path / name
    return make


# -- security: writes outside the output folder ------------------------------------------------------
def test_a_study_name_cannot_write_outside_out(cli, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    os.chdir(tmp_path / "a" / "b")
    result = cli("compare", *TINY_STUDY, "--name", "../../ESCAPED", "--out", "rep", "--quiet")
    assert result.exit_code == 0, result.output
    outside = [p for p in tmp_path.rglob("*") if "rep" not in p.relative_to(tmp_path).parts and p.is_file()]
    assert outside == []
    assert sorted(p.name for p in (tmp_path / "a" / "b" / "rep" / "figures").iterdir())[0] == "ESCAPED-accuracy.png"


def test_a_section_name_in_results_json_cannot_write_outside_out(cli, tmp_path, results):
    def pwn(doc):
        doc["sections"][0]["config"]["name"] = "../../PWNED"
        doc["sections"].append({**doc["sections"][0], "config": {**doc["sections"][0]["config"], "name": "/PWNED"}})
    folder = results(pwn, "a/b")
    result = cli("report", folder, "--quiet")
    assert result.exit_code == 0, result.output
    figures = sorted(p.name for p in (folder / "figures").iterdir())
    assert "PWNED-cost.png" in figures and "PWNED-2-cost.png" in figures  # two sections, two names
    assert [p for p in tmp_path.rglob("*") if p.is_file() and folder not in p.parents] == []


# -- security: model metadata under the checksum --------------------------------------------------------
@pytest.fixture
def model(cli, tmp_path):
    assert cli("train", *TINY, "--model", "m", "--quiet").exit_code == 0
    np.save(tmp_path / "pts.npy", np.zeros((3, 2)))
    return json.loads((tmp_path / "m.json").read_text())


@pytest.mark.parametrize("edit, rehashed, needle", [
    (lambda m: m["classes"].update(values=[5, 7]), False, "does not match its SHA-256"),
    (lambda m: m.update(activation="tanh"), False, "does not match its SHA-256"),
    (lambda m: m["classes"].update(values=[1, 1]), True, "classes must be distinct"),
    (lambda m: m["classes"].update(dtype="<M8[D]", kind="M", values=[0, 1]), True, "classes.kind must be one of"),
    (lambda m: m["config"].update(activation="tanh"), True, "differs from config"),
])
def test_an_edited_model_json_is_refused(cli, tmp_path, model, edit, rehashed, needle):
    edit(model)
    (tmp_path / "m.json").write_text(json.dumps(rehash(model) if rehashed else model))
    result = cli("predict", "m", "pts.npy")
    assert result.exit_code == 2 and needle in result.stderr and result.stdout == ""


def test_a_model_json_nested_100000_deep_is_one_line(cli, tmp_path, model):
    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    result = cli("predict", "m", "pts.npy")
    assert result.exit_code == 2 and "nested too deeply" in result.stderr and "m.json" in result.stderr
    no_traceback(result)


# -- security: what a crafted report may ask for --------------------------------------------------------
def test_a_decision_grid_of_a_billion_points_is_refused_before_drawing(cli, results):
    def grid(doc):
        record = next(r for r in doc["sections"][0]["records"] if r["decision_grid"])
        record["decision_grid"]["n"] = 10**9
    result = cli("report", results(grid), "--quiet")
    assert result.exit_code == 2, result.output
    assert "decision_grid: 'n' (points per side) must be in [2, 400], got 1000000000" in result.stderr


def test_a_two_million_configuration_grid_is_refused_and_a_large_one_asks_for_yes(cli, tmp_path, monkeypatch):
    (tmp_path / "big.toml").write_text(f"dataset = 'circles'\nl2 = {list(range(2000))}\n"
                                       f"learning_rate = {[0.01 + i * 1e-5 for i in range(1000)]}\nseeds = [0]\n")
    result = cli("compare", "--config", "big.toml", "--out", "rep", "--yes")
    assert result.exit_code == 2 and "2,000,000 runs" in result.stderr and "more than the 100,000" in result.stderr
    (tmp_path / "s.toml").write_text("dataset = 'circles'\n")
    result = cli("search", "--config", "s.toml", "--trials", "200000", "--out", "s")
    assert result.exit_code == 2 and "200,000 runs" in result.stderr
    import practicaldl.cli

    monkeypatch.setattr(practicaldl.cli, "CONFIRM_RUNS", 2)  # a 3-run study stands for one of 1,001 runs
    args = ["compare", *TINY_STUDY, "--seed", "1", "--seed", "2", "--out", "rep", "--quiet"]
    result = cli(*args)
    assert result.exit_code == 2 and "3 runs, more than 2: add --yes" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml", "s.toml"]
    assert cli(*args, "--yes").exit_code == 0


# -- data loss and inconsistency ----------------------------------------------------------------------------
def test_a_failed_train_leaves_the_existing_model(cli, tmp_path):
    rng = np.random.RandomState(0)
    rows = ["a,b,y"] + [f"{x:.3f},{z:.3f},{int(x > z)}" for x, z in rng.randn(40, 2)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "other.csv").write_text("a,c,y\n1,2,0\n3,4,1\n")
    assert cli("train", "-d", "t.csv", *TINY, "--model", "m", "--quiet").exit_code == 0
    before = files_under(tmp_path)
    result = cli("train", "-d", "t.csv", "--test", "other.csv", *TINY, "--model", "m", "--quiet")
    assert result.exit_code == 2 and "other.csv" in result.stderr
    assert files_under(tmp_path) == before


def test_an_interrupted_demo_leaves_the_earlier_demo_whole(cli, tmp_path, monkeypatch):
    assert cli("demo", "--quick", "--jobs", "1", "--out", "rep", "--quiet").exit_code == 0
    before = files_under(tmp_path / "rep")
    assert any(k.startswith("models/") for k in before)
    import practicaldl.studies.classic as classic

    def interrupted(**kwargs):  # after the studies: their new models are written (staged)
        raise KeyboardInterrupt

    monkeypatch.setattr(classic, "gradcheck_study", interrupted)
    result = cli("demo", "--quick", "--jobs", "1", "--out", "rep", "--quiet")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    no_traceback(result)
    assert files_under(tmp_path / "rep") == before
    assert [p.name for p in (tmp_path / "rep").iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_sigint_during_a_demo_over_an_earlier_demo(tmp_path):
    """A real Ctrl-C, from outside, while the new demo's models are being written."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    command = [sys.executable, "-m", "practicaldl", "demo", "--quick", "--jobs", "1", "--out", "rep", "--quiet"]
    assert subprocess.run(command, cwd=tmp_path, env=env, capture_output=True).returncode == 0
    before = files_under(tmp_path / "rep")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "rep").glob(".practicaldl-staging-*/models/*.npz")):
        assert process.poll() is None and time.monotonic() < deadline, "the demo ended before it could be interrupted"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert files_under(tmp_path / "rep") == before
    assert [p.name for p in (tmp_path / "rep").iterdir() if p.name.startswith(".")] == []


def test_an_interrupt_while_a_report_is_written(cli, tmp_path, study_report, monkeypatch):
    shutil.copytree(study_report, tmp_path / "rep")
    shutil.rmtree(tmp_path / "rep" / "runs")
    (tmp_path / "rep" / "study.json").unlink()  # a plain report folder
    before = files_under(tmp_path / "rep")
    import practicaldl.report.pages as pages

    real = pages.render_html

    def interrupted(doc, figs):
        raise KeyboardInterrupt  # after results.json, the figures and summary.md are rendered

    monkeypatch.setattr(pages, "render_html", interrupted)
    result = cli("report", "rep", "--quiet")
    assert result.exit_code == 130 and files_under(tmp_path / "rep") == before
    monkeypatch.setattr(pages, "render_html", real)
    import practicaldl.io.folders as folders

    rename, calls = os.rename, []

    def rename_then_interrupt(src, dst):  # Ctrl-C in the middle of moving the new set into place
        calls.append(src)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return rename(src, dst)

    monkeypatch.setattr(folders.os, "rename", rename_then_interrupt)
    doc = json.loads((tmp_path / "rep" / "results.json").read_text())
    doc["title"] = "the new one"
    (tmp_path / "new.json").write_text(json.dumps(doc))
    result = cli("report", "new.json", "--out", "rep", "--quiet")
    assert result.exit_code == 130
    assert "the new one" in (tmp_path / "rep" / "index.html").read_text()  # the whole new set is in place
    assert "the new one" in (tmp_path / "rep" / "summary.md").read_text()


@pytest.mark.parametrize("command", [["report", "src"], ["demo", "--quick", "--jobs", "1"]])
def test_an_unrelated_index_html_is_not_replaced_without_force(cli, tmp_path, results, command):
    results(lambda doc: None, "src")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<p>my homepage</p>")
    result = cli(*command, "--out", "site", "--quiet")
    assert result.exit_code == 2 and "index.html, which practicaldl did not write" in result.stderr
    assert "--force" in result.stderr and files_under(tmp_path / "site") == {"index.html": b"<p>my homepage</p>"}
    if command[0] == "report":
        assert cli(*command, "--out", "site", "--force", "--quiet").exit_code == 0
        assert b"practicaldl" in (tmp_path / "site" / "index.html").read_bytes()


def test_a_model_that_is_not_practicaldls_needs_force(cli, tmp_path):
    (tmp_path / "m.json").write_text('{"mine": true}')
    result = cli("train", *TINY, "--model", "m", "--quiet")
    assert result.exit_code == 2 and "not a practicaldl model" in result.stderr
    assert (tmp_path / "m.json").read_text() == '{"mine": true}' and not (tmp_path / "m.npz").exists()
    assert cli("train", *TINY, "--model", "m", "--quiet", "--force").exit_code == 0
    assert cli("train", *TINY, "--model", "m", "--quiet").exit_code == 0  # practicaldl's own: replaced


def test_report_and_demo_do_not_write_into_a_study_folder(cli, tmp_path, study_report, results):
    shutil.copytree(study_report, tmp_path / "study")
    before = files_under(tmp_path / "study")
    results(lambda doc: None, "other")
    for args in (["report", "other", "--out", "study"], ["demo", "--quick", "--out", "study"]):
        result = cli(*args, "--quiet")
        assert result.exit_code == 2 and "holds a study" in result.stderr
    assert files_under(tmp_path / "study") == before
    assert cli("report", "study", "--quiet").exit_code == 0  # its own report, from its records


def test_a_failed_refit_leaves_the_fitted_estimator_as_it_was():
    from sklearn.datasets import make_classification

    from practicaldl import NeuralNetClassifier
    from practicaldl.engine.loop import NumericalError

    X5, y = make_classification(80, n_features=5, random_state=0)
    X7, _ = make_classification(80, n_features=7, random_state=1)
    clf = NeuralNetClassifier((4,), max_iter=20, random_state=0).fit(X5, y)
    state = {k: (v.copy() if isinstance(v, (dict, list, np.ndarray)) else v) for k, v in vars(clf).items()}
    before = clf.predict_proba(X5)
    with pytest.raises(NumericalError):
        clf.set_params(learning_rate=1e6, max_iter=200).fit(X7, y)  # diverges
    clf.set_params(learning_rate=0.01, max_iter=20)
    with pytest.raises(ValueError):
        clf.fit(X7, np.zeros(80))  # one class
    assert vars(clf).keys() == state.keys() and clf.n_features_in_ == 5
    assert all(np.array_equal(clf.parameters_[k], state["parameters_"][k]) for k in state["parameters_"])
    assert clf.cost_history_ == state["cost_history_"] and np.array_equal(clf.classes_, state["classes_"])
    np.testing.assert_array_equal(clf.predict_proba(X5), before)
    fresh = NeuralNetClassifier((4,), max_iter=20)
    with pytest.raises(ValueError):
        fresh.fit(X5, np.zeros(80))
    assert not hasattr(fresh, "n_features_in_") and not hasattr(fresh, "_binarizer")


def test_a_fit_interrupted_in_training_restores_everything(monkeypatch):
    from sklearn.datasets import make_classification

    import practicaldl.estimator as estimator
    from practicaldl import NeuralNetClassifier

    X, y = make_classification(60, n_features=4, random_state=0)
    clf = NeuralNetClassifier((3,), max_iter=10, random_state=0).fit(X, y)
    W1 = clf.parameters_["W1"].copy()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(estimator, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(np.hstack([X, X]), y)
    assert clf.n_features_in_ == 4 and np.array_equal(clf.parameters_["W1"], W1)


def test_divergence_at_the_last_update_exits_1_and_saves_nothing(cli, tmp_path):
    result = cli("train", "-d", "circles", "--l2", "1e300", "--max-iter", "1", "--model", "m", "--quiet")
    assert result.exit_code == 1 and not (tmp_path / "m.npz").exists()


def test_a_study_where_every_run_diverged_exits_1_and_says_so(cli):
    result = cli("compare", *TINY_STUDY, "--lr", "1e6", "--max-iter", "50", "--out", "rep", "--quiet")
    assert result.exit_code == 1 and "every run failed (1 runs)" in result.stderr


def test_an_int_hidden_layer_size_saves_and_loads(tmp_path):
    from sklearn.datasets import make_moons

    from practicaldl import NeuralNetClassifier
    from practicaldl.io.models import load_model, save_model

    X, y = make_moons(40, random_state=0)
    clf = NeuralNetClassifier(hidden_layer_sizes=3, max_iter=5).fit(X, y)
    save_model(clf, tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), clf.predict(X))


def test_labels_too_large_for_a_float_are_refused_by_line(cli, tmp_path):
    (tmp_path / "big.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{'1e20' if i % 2 else 0}\n" for i in range(12)))
    result = cli("train", "-d", "big.csv", *TINY, "--quiet")
    assert result.exit_code == 2 and "holds 1e+20 (line 3)" in result.stderr and "2**53" in result.stderr
    assert "-9223372036854775808" not in result.stderr and "RuntimeWarning" not in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
def test_report_files_honour_the_umask(cli, tmp_path, results):
    saved = os.umask(0o022)
    try:
        assert cli("report", results(lambda doc: None, "r"), "--quiet").exit_code == 0
    finally:
        os.umask(saved)
    for path in (tmp_path / "r").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path


# -- tracebacks and unclear messages -----------------------------------------------------------------------
def test_a_corrupt_dataset_npz_is_one_line(cli, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 2)), y=np.arange(10) % 2)
    (tmp_path / "d.npz").write_bytes((tmp_path / "d.npz").read_bytes()[:300])
    result = cli("train", "-d", "d.npz", *TINY)
    assert result.exit_code == 2 and "d.npz" in result.stderr and "not a readable .npz" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize("command", ["train", "gradcheck", "diagnose"])
def test_a_network_too_large_for_memory_is_refused_before_allocating(cli, command):
    result = cli(command, "--hidden", "100000,100000", "--quiet")
    assert result.exit_code == 2
    assert "--hidden: hidden_layer_sizes (100000, 100000) need about" in result.stderr
    assert "more than this machine's" in result.stderr


@pytest.mark.parametrize("args", [["train", *TINY, "--model", "afile/m"],
                                  ["compare", *TINY_STUDY, "--out", "afile/x"],
                                  ["demo", "--quick", "--out", "afile"],
                                  ["diagnose", "--plot", "afile/h.png"]])
def test_an_output_under_an_existing_file_is_refused_before_any_work(cli, tmp_path, args):
    (tmp_path / "afile").write_text("x")
    result = cli(*args, "--quiet")
    assert result.exit_code == 2 and "afile" in result.stderr and "is a file" in result.stderr
    no_traceback(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere; needs POSIX permissions")
def test_an_unwritable_folder_is_refused_before_any_work(cli, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    result = cli("train", *TINY, "--model", "ro/m", "--quiet")
    assert result.exit_code == 2 and "permission denied" in result.stderr


@pytest.mark.parametrize("errno_, reason", [(13, "Permission denied"), (28, "No space left on device")])
def test_operating_system_errors_while_writing_are_one_line_and_change_nothing(cli, tmp_path, results, monkeypatch,
                                                                                errno_, reason):
    import practicaldl.io.files as files

    folder = results(lambda doc: None, "r")
    assert cli("report", folder, "--quiet").exit_code == 0
    assert cli("train", *TINY, "--model", "m", "--quiet").exit_code == 0
    before = files_under(tmp_path)

    def fail(path):
        raise OSError(errno_, reason, str(path))

    monkeypatch.setattr(files, "_create_temporary", fail)
    for args in (["report", folder], ["train", *TINY, "--model", "m"]):
        result = cli(*args, "--quiet")
        assert result.exit_code == 2 and reason in result.stderr and "'" in result.stderr, result.stderr
        no_traceback(result)
    assert files_under(tmp_path) == before


def test_a_toml_title_that_is_not_text_is_refused_before_training(cli, tmp_path):
    (tmp_path / "t.toml").write_text('title = 5\ndataset = "circles"\nmax_iter = 5\nseeds = [0]\n')
    result = cli("compare", "--config", "t.toml", "--out", "rep", "--quiet")
    assert result.exit_code == 2 and "title must be text, got 5" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d["sections"][0]["records"][0].pop("seed"), "section 0, record 0: the key 'seed' is missing"),
    (lambda d: d["sections"][0]["records"][0].update(cost_history=[1, 2]), "same length"),
    (lambda d: d["sections"][0]["config"].update(name=["x"]), "'name' must be text"),
    (lambda d: d["sections"][0].update(data={"X_train": [[0, 1]], "y_train": []}), "one per label"),
    (lambda d: d["sections"].append({"kind": "gradcheck", "checks": [{"label": "x"}]}), "the key 'report' is missing"),
    (lambda d: d["sections"][0]["records"][0].update(diagnostics={"layers": [{"layer": 1, "a_hist": 3}]}),
     "'a_hist' must be an object"),
])
def test_a_results_json_with_missing_or_wrong_keys_is_one_line(cli, results, edit, needle):
    result = cli("report", results(edit), "--quiet")
    assert result.exit_code == 2 and needle in result.stderr, result.stderr
    no_traceback(result)


def test_a_deeply_nested_results_json_is_one_line(cli, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text('{"format": "practicaldl-results", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    result = cli("report", "r", "--quiet")
    assert result.exit_code == 2 and "nested" in result.stderr
    no_traceback(result)


def test_absurd_numbers_name_the_option(cli):
    result = cli("train", "--max-iter", "99999999999999999999999", "--quiet")
    assert result.exit_code == 2
    assert "--max-iter: max_iter must be an integer below 2**63, got 99999999999999999999999" in result.stderr
    assert "ufunc" not in result.stderr


def test_an_empty_npz_x_is_named(cli, tmp_path):
    np.savez(tmp_path / "e.npz", X=np.zeros((0, 2)), y=np.zeros(0))
    result = cli("train", "-d", "e.npz", *TINY, "--quiet")
    assert result.exit_code == 2 and "X in e.npz is empty (shape (0, 2))" in result.stderr
    assert "zero-size array" not in result.stderr


def test_messages_about_rows_print_plain_numbers(cli, tmp_path):
    rows = ["a,b,y"] + [f"{i},{i % 3},{i % 2}" for i in range(60)]
    rows[40], rows[45] = "1,,0", "3,2,"
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    for args in (["-d", "m.csv"], ["-d", "m.csv", "--impute", "mean"]):
        result = cli("train", *args, *TINY, "--quiet")
        assert result.exit_code == 2 and "line" in result.stderr, result.stderr
        assert "np." not in result.stderr
    (tmp_path / "one.csv").write_text("a,species\n" + "".join(f"{i},Gentoo\n" for i in range(10)))
    result = cli("train", "-d", "one.csv", *TINY, "--quiet")  # found by the fuzz suite: np.str_('Gentoo')
    assert result.exit_code == 2 and "has a single value ('Gentoo')" in result.stderr, result.stderr


def test_debug_shows_the_traceback_and_only_then(cli):
    plain = cli("train", "--keep-prob", "2", "--quiet")
    debug = cli("--debug", "train", "--keep-prob", "2", "--quiet")
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    assert plain.stderr.strip().splitlines()[-1] == debug.stderr.strip().splitlines()[-1]


def test_an_unexpected_error_is_one_line_with_exit_3(cli, monkeypatch):
    import practicaldl.estimator as estimator

    def bug(*args, **kwargs):
        raise RuntimeError("a planted bug")

    monkeypatch.setattr(estimator, "train", bug)
    result = cli("train", *TINY, "--quiet")
    assert result.exit_code == 3 and "internal error (RuntimeError: a planted bug)" in result.stderr
    assert "--debug" in result.stderr and "Traceback" not in result.stderr


def test_subnormal_inputs_get_a_warning(cli, tmp_path):
    from practicaldl import NeuralNetClassifier
    from practicaldl.diagnostics.inputs import SubnormalInputWarning

    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    y = (X[:, 0] > 0).astype(int)
    X[:, 1] *= 1e-310  # subnormal float64
    np.savez(tmp_path / "d.npz", X=X, y=y)
    result = cli("train", "-d", "d.npz", *TINY)
    assert result.exit_code == 0 and "subnormal" in result.stderr and result.stderr.count("subnormal") == 1
    with pytest.warns(SubnormalInputWarning, match="40 subnormal value"):
        NeuralNetClassifier((3,), max_iter=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X[:, 1] = rng.randn(40) * 1e-300  # tiny, but normal numbers: no warning
        NeuralNetClassifier((3,), max_iter=2).fit(X, y)


def test_a_run_id_is_never_hidden_or_outside():
    from practicaldl.studies.config import StudyConfig

    assert StudyConfig(name="../..", seeds=(0,), max_iter=5).expand()[0].run_id == "he-seed0"
    assert StudyConfig(name=".hidden", seeds=(0,), max_iter=5).expand()[0].run_id == "hidden-he-seed0"
