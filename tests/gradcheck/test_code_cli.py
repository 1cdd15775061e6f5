"""``practicaldl gradcheck --code FILE.py``: the shipped examples, the file contract, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from practicaldl.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["gradcheck", *map(str, args)])


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_course_style_example_passes(cli):
    result = cli("--code", EXAMPLES / "gradcheck_course.py", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["verdict"] == "right" and report["method"] == "loop"
    assert report["source"]["style"] == "forward_propagation_n"
    assert list(report["per_parameter"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    table = cli("--code", EXAMPLES / "gradcheck_course.py")
    assert "W3" in table.stdout and "Gradient check passed" in table.stderr


def test_the_planted_bug_example_fails_and_names_its_parameters(cli):
    result = cli("--code", EXAMPLES / "gradcheck_course_bug.py", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["failing"] == ["b1", "W2"] and report["verdict"] == "bug"
    assert report["message"] == "bug: b1, W2"
    plain = cli("--code", EXAMPLES / "gradcheck_course_bug.py")
    assert plain.exit_code == 1 and "Gradient check failed: bug: b1, W2" in plain.stderr


@pytest.mark.parametrize("method", ["loop", "directional"])
def test_one_function_with_named_parameters(cli, method):
    result = cli("--code", EXAMPLES / "gradcheck_function.py", "--method", method, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report["per_parameter"]) == ["weights", "bias"] and report["method"] == method
    assert report["source"]["style"] == "cost_and_gradients"


def test_an_inconclusive_check_exits_1_and_says_so(cli, tmp_path):
    # the course's log(1 - A) with A within 1e-11 to 1e-9 of 1 and labels 0: too noisy at any step
    code = write(tmp_path, "saturated.py", """
import numpy as np
X = np.array([[1.0, 0.9, 0.8]])
parameters = {"w": np.array([[25.0]]), "b": np.array([[0.0]])}

def cost_and_gradients(p):
    A = 1 / (1 + np.exp(-(p["w"] @ X + p["b"])))
    Y = np.array([[0.0, 0.0, 0.0]])
    cost = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    dZ = (A - Y) / 3
    return cost, {"dw": dZ @ X.T, "db": dZ.sum(axis=1, keepdims=True)}
""")
    result = cli("--code", code)
    assert result.exit_code == 1, result.stdout
    assert "Gradient check inconclusive: " in result.stderr and "rounding noise" in result.stderr
    assert "pre-activation Z" in result.stderr and "inconclusive: inconclusive" not in result.stderr


def test_a_tiny_epsilon_with_a_planted_bug_exits_1(cli):
    result = cli("--plant-bug", "dW2", "--epsilon", "1e-14", "--hidden", "5,3", "--max-samples", "20", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["passed"] and "W2" in report["failing"] and report["per_parameter"]["W2"]["verdict"] == "bug"


@pytest.mark.parametrize("text, lacks", [
    ("import numpy as np\nparameters = {'W1': np.ones((1, 1))}\n",
     "it lacks: cost_and_gradients (or X, Y, forward_propagation_n and backward_propagation_n)"),
    ("def cost_and_gradients(p):\n    return 0.0, {}\n", "it lacks: parameters"),
    ("import numpy as np\nparameters = {'W1': np.ones((1, 1))}\ndef forward_propagation_n(X, Y, p):\n    pass\n",
     "it lacks: X, Y, backward_propagation_n"),
])
def test_a_file_missing_the_names_gets_a_one_line_error(cli, tmp_path, text, lacks):
    result = cli("--code", write(tmp_path, "mine.py", text))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "mine.py must define `parameters`" in result.stderr
    assert lacks in result.stderr


@pytest.mark.parametrize("text, needle", [
    ("raise RuntimeError('boom')\n", "could not import broken.py: RuntimeError: boom"),
    ("import numpy as np\nparameters = {'w': np.ones((1, 2))}\ndef cost_and_gradients(p):\n    return 1 / 0, {}\n",
     "broken.py's cost_and_gradients(parameters) raised ZeroDivisionError"),
    ("import numpy as np\nparameters = {'w': np.ones((1, 2))}\ndef cost_and_gradients(p):\n    return 1.0\n",
     "must return (cost, grads), got float"),
    ("parameters = [1, 2]\ndef cost_and_gradients(p):\n    return 1.0, {}\n",
     "`parameters` must be a non-empty dict of named arrays, got list"),
    ("import numpy as np\nparameters = {'w': np.ones((1, 2))}\ndef cost_and_gradients(p):\n    return 1.0, {'dv': 0}\n",
     "grads is missing 'dw' (the gradient of params['w'])"),
])
def test_bad_files_exit_2_with_the_reason(cli, tmp_path, text, needle):
    result = cli("--code", write(tmp_path, "broken.py", text))
    assert result.exit_code == 2 and needle in result.stderr, result.stderr


def test_options_that_do_not_apply_to_code_are_refused(cli):
    code = EXAMPLES / "gradcheck_course.py"
    result = cli("--code", code, "--plant-bug", "dW2", "--hidden", "3")
    assert result.exit_code == 2 and "--hidden, --plant-bug do not apply with --code" in result.stderr
    result = cli("--code", code, "--method", "structured")
    assert result.exit_code == 2 and "structured checks practicaldl's own network" in result.stderr
    assert cli("--code", "missing.py").exit_code == 2
