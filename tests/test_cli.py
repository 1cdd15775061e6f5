"""The command line through typer's runner (the ``cli`` fixture of conftest.py), in temporary folders:
every command, --json parsed, exit codes."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from practicaldl.io.models import load_model

COMMANDS = ["demo", "train", "compare", "search", "gradcheck", "diagnose", "report", "predict"]
FAST_TRAIN = ["--hidden", "4,3", "--max-iter", "50", "--lr", "0.1"]


def _json(result):
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def test_no_arguments_shows_the_help_with_exit_codes(cli):
    result = cli()
    assert result.exit_code == 0
    for word in COMMANDS + ["Exit codes", "bad usage"]:
        assert word in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"practicaldl {command}" in result.stdout
    assert "--json" in result.stdout and "--quiet" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["train", "--keep-prob", "1.5"], "--keep-prob: keep_prob must be in (0, 1], got 1.5"),
    (["train", "--dataset", "nope"], "--dataset: dataset must be one of"),
    (["train", "--dataset", "missing.csv"], "dataset file 'missing.csv' does not exist"),
    (["train", "--hidden", "10,x"], "--hidden: it must be comma-separated positive integers"),
    (["train", "--l2", "-1"], "--l2: l2 must be a non-negative finite number, got -1.0"),
    (["compare", "--keep-prob", "0", "--out", "rep"], "--keep-prob: keep_prob must be in (0, 1], got 0.0"),
    (["compare", "--config", "missing.toml", "--out", "rep"], "--config: the file 'missing.toml' does not exist"),
    (["gradcheck", "--epsilon", "-1"], "--epsilon: it must be a positive finite number, got -1.0"),
    (["gradcheck", "--plant-bug", "dW9", "--hidden", "3"], "--plant-bug: it must be one of"),
    (["gradcheck", "--method", "fast"], "--method: it must be one of ['structured', 'loop', 'directional']"),
    (["predict", "nomodel", "x.csv"], "does not exist"),
    (["report", "nowhere"], "'nowhere' does not exist"),
    (["demo", "--jobs", "0", "--out", "rep"], "--jobs: it must be a positive integer or -1, got 0"),
    (["train", "--optimizer", "sgd"], "--optimizer: optimizer must be one of ['adam', 'gd', 'momentum', 'rmsprop']"),
    (["train", "--optimizer", "adam", "--beta1", "1"], "--beta1: beta1 must be a number in [0, 1), got 1.0"),
    (["train", "--optimizer", "adam", "--epsilon", "0"], "--epsilon: epsilon must be a positive finite number, got 0.0"),
    (["train", "--decay-interval", "100"], "--decay-interval: decay_interval needs a decay_rate"),
    (["compare", "--optimizer", "adamw", "--out", "rep"], "--optimizer: optimizer must be one of"),
    (["compare", "--beta", "1.5", "--out", "rep"], "--beta: beta must be a number in [0, 1), got 1.5"),
    (["compare", "--decay-rate", "-1", "--out", "rep"], "--decay-rate: decay_rate must be a non-negative finite"),
])
def test_bad_usage_exits_2_with_a_message_and_leaves_no_files(cli, tmp_path, args, needle):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["train", "--bogus"], ["train", "--max-iter", "many"], ["frobnicate"]])
def test_typer_usage_errors_exit_2(cli, args):
    result = cli(*args)
    assert result.exit_code == 2 and result.stderr


def test_train_saves_a_model_that_predict_uses_identically(cli, tmp_path):
    result = cli("train", *FAST_TRAIN, "--seed", "2", "--model", "net", "--json")
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert out["model"] == "net.npz" and (tmp_path / "net.json").is_file()
    assert 0 <= out["test_accuracy"] <= 1 and out["n_iter"] == 50
    clf = load_model(tmp_path / "net")
    from practicaldl import load_dataset

    data = load_dataset("circles")
    assert clf.score(data.X_test, data.y_test) == out["test_accuracy"]
    np.savetxt(tmp_path / "points.csv", data.X_test[:7], delimiter=",", header="x0,x1")
    result = cli("predict", "net", "points.csv", "--proba", "--json")
    assert result.exit_code == 0, result.stderr
    pred = _json(result)
    assert pred["predictions"] == clf.predict(data.X_test[:7]).tolist()
    np.testing.assert_allclose(pred["probabilities"], clf.predict_proba(data.X_test[:7]))
    np.save(tmp_path / "points.npy", data.X_test[:7])
    plain = cli("predict", "net.npz", "points.npy")
    assert plain.exit_code == 0 and plain.stdout.split() == [str(v) for v in pred["predictions"]]


def test_train_with_an_optimizer_and_a_decay_records_them(cli, tmp_path):
    result = cli("train", "-d", "course_moons", "--hidden", "5,2", "--optimizer", "adam", "--lr", "0.01", "--beta2",
                 "0.99", "--epsilon", "1e-7", "--decay-rate", "1", "--decay-interval", "10", "--batch-size", "64",
                 "--max-iter", "25", "--seed", "3", "--model", "adam", "--json")
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert out["optimizer"] == {"name": "adam", "learning_rate": 0.01, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-7,
                                "schedule": {"name": "InverseTimeDecay", "decay_rate": 1.0, "decay_interval": 10}}
    assert out["final_learning_rate"] == pytest.approx(0.01 / 3, rel=1e-15)  # epochs 21-24 (0-based): lr0 / (1 + floor(20 / 10))
    clf = load_model(tmp_path / "adam")
    assert {k: clf.get_params()[k] for k in ("optimizer", "beta2", "epsilon", "decay_rate", "decay_interval")} == {
        "optimizer": "adam", "beta2": 0.99, "epsilon": 1e-7, "decay_rate": 1.0, "decay_interval": 10}
    table = cli("train", "-d", "course_moons", "--hidden", "5,2", "--optimizer", "momentum", "--beta", "0.8",
                "--max-iter", "5", "--model", "m")
    assert table.exit_code == 0 and "momentum (beta 0.8)" in table.stdout


def test_the_two_epsilons_are_told_apart(cli):
    """gradcheck's --epsilon is the finite-difference step; train's and compare's are Adam's."""
    import typer

    from practicaldl.cli import app

    def epsilon_help(command):
        cmd = typer.main.get_command(app).commands[command]
        return next(p.help for p in cmd.get_params(typer.Context(cmd)) if "--epsilon" in p.opts)

    assert epsilon_help("gradcheck").startswith("The gradient check's finite-difference step")
    for command in ("train", "compare"):
        assert epsilon_help(command).startswith("Adam's and RMSprop's epsilon, added to sqrt(s)")
    check = cli("gradcheck", "--hidden", "3", "--epsilon", "1e-6", "--json")
    assert check.exit_code == 0 and _json(check)["epsilon"] == 1e-6


def test_train_table_and_quiet(cli):
    result = cli("train", *FAST_TRAIN, "--model", "m")
    assert result.exit_code == 0 and "test_accuracy" in result.stdout and "Model saved" in result.stderr
    quiet = cli("train", *FAST_TRAIN, "--model", "m2", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_tampered_model_is_refused_with_exit_2(cli, tmp_path):
    assert cli("train", *FAST_TRAIN, "--model", "net", "--quiet").exit_code == 0
    data = bytearray((tmp_path / "net.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "net.npz").write_bytes(bytes(data))
    np.savetxt(tmp_path / "p.csv", np.zeros((2, 2)), delimiter=",")
    for args in (["predict", "net", "p.csv"], ["gradcheck", "--model", "net"], ["diagnose", "--model", "net"]):
        result = cli(*args)
        assert result.exit_code == 2 and "SHA-256" in result.stderr and result.stdout == ""


def test_predict_refuses_wrong_feature_count(cli, tmp_path):
    assert cli("train", *FAST_TRAIN, "--model", "net", "--quiet").exit_code == 0
    np.savetxt(tmp_path / "p.csv", np.zeros((2, 3)), delimiter=",")
    result = cli("predict", "net", "p.csv")
    assert result.exit_code == 2 and "expects 2 features" in result.stderr


def test_compare_writes_a_report_and_report_rerenders_the_same_tables(cli, tmp_path):
    result = cli("compare", "--dataset", "circles", "--hidden", "4,3", "--init", "zeros", "--init", "he",
                 "--max-iter", "40", "--seed", "0", "--seed", "1", "--jobs", "2", "--out", "rep", "--json")
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert [row[0] for row in out["tables"][0]["rows"]] == ["zeros", "he"]
    assert (tmp_path / "rep" / "index.html").is_file() and "figures/compare-cost.png" in out["files"]
    results = json.loads((tmp_path / "rep" / "results.json").read_text())
    record = results["sections"][0]["records"][0]
    assert load_model(tmp_path / "rep" / record["model_path"]).n_features_in_ == 2  # the fitted parameters' path
    rerender = cli("report", "rep", "--out", "again", "--json")
    assert rerender.exit_code == 0, rerender.stderr
    assert _json(rerender)["tables"] == out["tables"]


def test_compare_grids_over_optimizers(cli, tmp_path):
    result = cli("compare", "-d", "course_moons", "--hidden", "5,2", "--batch-size", "64", "--lr", "0.01",
                 "--optimizer", "gd", "--optimizer", "momentum", "--optimizer", "adam", "--beta", "0.8",
                 "--decay-rate", "1", "--decay-interval", "10", "--max-iter", "30", "--seed", "3", "--out", "rep",
                 "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert [row[0] for row in out["tables"][0]["rows"]] == ["optimizer=gd", "optimizer=momentum", "optimizer=adam"]
    assert "figures/compare-learning-rate.png" in out["files"]
    records = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][0]["records"]
    assert [(r["config"]["optimizer"], r["config"]["beta"]) for r in records] == [("gd", 0.8), ("momentum", 0.8),
                                                                                  ("adam", 0.8)]
    assert records[0]["learning_rate_history"][0] == 0.01
    assert records[0]["learning_rate_history"][-1] == pytest.approx(0.01 / 3, rel=1e-15)
    assert load_model(tmp_path / "rep" / records[2]["model_path"]).get_params()["optimizer"] == "adam"


def test_compare_from_toml(cli, tmp_path):
    (tmp_path / "study.toml").write_text(
        'name = "lr"\ndataset = "moons"\nhidden_layer_sizes = [3]\nlearning_rate = [0.05, 0.5]\n'
        'seeds = [4]\nmax_iter = 30\n')
    result = cli("compare", "--config", "study.toml", "--out", "rep", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    rows = _json(result)["tables"][0]["rows"]
    assert [r[0] for r in rows] == ["learning_rate=0.05", "learning_rate=0.5"]
    (tmp_path / "bad.toml").write_text('name = "x"\nlearning_rates = [1]\n')
    bad = cli("compare", "--config", "bad.toml", "--out", "rep2")
    assert bad.exit_code == 2 and "unknown study settings ['learning_rates']" in bad.stderr
    assert not (tmp_path / "rep2").exists()


def test_gradcheck_passes_and_a_planted_bug_fails_with_exit_1(cli):
    ok = cli("gradcheck", "--hidden", "5,3", "--l2", "0.7", "--keep-prob", "0.8", "--max-samples", "20", "--json")
    assert ok.exit_code == 0, ok.stderr
    report = _json(ok)
    assert report["passed"] and report["failing"] == [] and set(report["per_parameter"]) >= {"W1", "b1", "W3", "b3"}
    bug = cli("gradcheck", "--hidden", "5,3", "--max-samples", "20", "--plant-bug", "dW2", "--json")
    assert bug.exit_code == 1
    assert _json(bug)["failing"] == ["W2"]
    table = cli("gradcheck", "--hidden", "5,3", "--max-samples", "20", "--plant-bug", "db1")
    assert table.exit_code == 1 and "b1" in table.stdout and "failed" in table.stderr
    loop = cli("gradcheck", "--hidden", "5,3", "--l2", "0.7", "--keep-prob", "0.8", "--max-samples", "20",
               "--method", "loop", "--json")
    assert loop.exit_code == 0 and _json(loop)["method"] == "loop"


def test_gradcheck_of_a_saved_model(cli):
    assert cli("train", *FAST_TRAIN, "--model", "net", "--quiet").exit_code == 0
    result = cli("gradcheck", "--model", "net", "--max-samples", "16", "--json")
    assert result.exit_code == 0, result.stderr
    assert _json(result)["source"]["model"] == "net"


def test_diagnose_exit_code_follows_error_findings(cli):
    zeros = cli("diagnose", "--init", "zeros", "--json")
    assert zeros.exit_code == 1
    report = _json(zeros)
    assert "symmetry" in {f["kind"] for f in report["findings"] if f["severity"] == "error"}
    he = cli("diagnose", "--init", "he", "--json")
    errors = [f for f in _json(he)["findings"] if f["severity"] == "error"]
    assert he.exit_code == (1 if errors else 0) == 0


def test_diagnose_a_saved_model_includes_bias_variance(cli):
    assert cli("train", *FAST_TRAIN, "--model", "net", "--quiet").exit_code == 0
    result = cli("diagnose", "--model", "net", "--json")
    assert result.exit_code in (0, 1)
    kinds = {f["kind"] for f in _json(result)["findings"]}
    assert kinds & {"high_bias", "high_variance", "fit_ok"}



def test_diagnose_target_error_moves_the_bias_baseline(cli):
    """A train error equal to the target error is no avoidable bias; against 0 it is."""
    assert cli("train", *FAST_TRAIN, "--model", "net", "--quiet").exit_code == 0
    # 50 iterations on circles leave the train error far above 0: high bias against a target of 0
    biased = {f["kind"] for f in _json(cli("diagnose", "--model", "net", "--json"))["findings"]}
    assert "high_bias" in biased
    lenient = _json(cli("diagnose", "--model", "net", "--target-error", "0.5", "--json"))
    assert lenient["source"]["target_error"] == 0.5
    assert "high_bias" not in {f["kind"] for f in lenient["findings"]}
    bad = cli("diagnose", "--model", "net", "--target-error", "1.5")
    assert bad.exit_code == 2 and "--target-error" in bad.output

def test_demo_quick_writes_the_report(cli, tmp_path):
    result = cli("demo", "--quick", "--out", "rep", "--jobs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert out["index"] == "rep/index.html" and any("QUICK" in n for n in out["notes"])
    titles = [t["title"] for t in out["tables"]]
    assert titles[:3] == ["Initialization: zeros vs large random vs He", "Regularization: none vs L2 vs dropout",
                          "Optimization: gradient descent, momentum, Adam; learning-rate decay"]
    assert "Gradient checking" in titles
    files = set(out["files"])
    for name in ("initialization", "regularization", "optimization"):
        assert {f"figures/{name}-cost.png", f"figures/{name}-boundaries.png", f"figures/{name}-accuracy.png"} <= files
    assert "figures/optimization-learning-rate.png" in files  # only the optimization study's rates change
    assert not any(f.endswith("-learning-rate.png") and "optimization" not in f for f in files)


def test_python_dash_m_runs_the_app():
    result = subprocess.run([sys.executable, "-m", "practicaldl", "gradcheck", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Examples" in result.stdout


@pytest.mark.slow
def test_full_demo_shows_the_classic_results(cli, tmp_path):
    start = time.perf_counter()
    result = cli("demo", "--out", "rep", "--json")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.stderr
    init, reg = (json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][i]["aggregate"] for i in (0, 1))
    by = {row["configuration"]: row for row in init}
    assert by["zeros"]["train_accuracy_mean"] == 0.5 and by["zeros"]["train_accuracy_std"] == 0  # symmetry not broken
    assert by["he"]["test_accuracy_mean"] > by["random x10"]["test_accuracy_mean"] > 0.5
    course = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][0]["records"]
    he3 = next(r for r in course if r["configuration"] == "he" and r["seed"] == 3)
    assert he3["test_accuracy"] == 0.96 and abs(he3["train_accuracy"] - 0.9933333) < 1e-6  # the course's numbers
    gaps = {row["configuration"]: row["gap_mean"] for row in reg}
    assert gaps["none"] > gaps["L2 0.7"] and gaps["none"] > gaps["dropout 0.86"]
    # the course's week 2: at 0.0007 gradient descent and momentum stall far below Adam; with decay all three meet
    optimization = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][2]["aggregate"]
    accuracy = {row["configuration"]: row["train_accuracy_mean"] for row in optimization}
    assert accuracy["adam 0.0007"] - max(accuracy["gd 0.0007"], accuracy["momentum 0.0007"]) > 0.1
    decayed = [accuracy[k] for k in ("gd 0.1 + decay", "momentum 0.1 + decay", "adam 0.01 + decay")]
    assert min(decayed) > 0.92 and max(decayed) - min(decayed) < 0.02
    assert elapsed < 300


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_text_and_a_sensible_placeholder(cli, command):
    """No option without help, no typer default placeholder such as <bool>, <str> or <list[float]>."""
    import re

    import typer

    from practicaldl.cli import app

    cmd = typer.main.get_command(app).commands[command]
    for param in cmd.get_params(typer.Context(cmd)):
        if param.param_type_name == "option":
            assert param.help, f"{command} {param.opts} has no help text"
            if param.is_flag:
                assert param.metavar == "", f"{command} {param.opts}"
            else:
                assert param.metavar and param.metavar[0].isupper(), f"{command} {param.opts} placeholder {param.metavar!r}"
    generic = re.search(r"<(bool|str|int|float|list\[\w+\])>", cli(command, "--help").stdout)
    assert generic is None, generic


def test_the_root_help_shows_no_placeholder(cli):
    assert "<bool>" not in cli("--help").stdout
