"""Fuzzing the command line with the files a user hands it (hypothesis): random bytes and random
edits of a table (CSV), a dataset (.npz), a model (.json and .npz), a study (TOML) and a report
(results.json), each through the command that reads it, in process (typer's runner).

Every run must end with exit code 0 or 2 (1 only where a command reports a failed check: a
study whose runs all failed), no traceback, no file written outside ``--out``, and, when it is
refused (exit 2), every file that was there before exactly as it was (the folder's previous
report or study included). Messages must print plain numbers (no ``np.int64(40)``).

The seeds are real files: rows of the Palmer penguins table, a model trained on them, a study's
TOML and the report it wrote. The examples are derandomized, so CI sees the same ones every time
(a few minutes in all on 2 cores); ``PRACTICALDL_FUZZ_SCALE=10`` runs ten times as many and
``PRACTICALDL_FUZZ_RANDOM=1`` draws new ones on every run (for a longer search by hand).
"""

import json
import math
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from practicaldl.io.models import metadata_sha256

SCALE = float(os.environ.get("PRACTICALDL_FUZZ_SCALE", "1"))
RANDOM = bool(os.environ.get("PRACTICALDL_FUZZ_RANDOM"))


def fuzz_settings(examples: int):
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=not RANDOM,
                    database=None if not RANDOM else settings.default.database,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


STUDY_TOML = """name = "fuzz"
title = "A fuzzed study"
dataset = "circles"
hidden_layer_sizes = [3]
init = ["he", "zeros"]
l2 = [0.0]
keep_prob = 1.0
learning_rate = 0.1
seeds = [0]
max_iter = 3
grid_points = 8
diagnose = true
"""
TRAIN = ["--hidden", "3", "--max-iter", "3"]


# -- the seed files ---------------------------------------------------------------------------------------
def _invoke(args, cwd: Path):
    from practicaldl.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, penguins_csv):
    """Valid files to mutate: penguins.csv (every 6th row: 3 species, missing values), data.npz,
    a table model (m.json, m.npz) and a plain one (plain.*), study.toml and the study it made."""
    root = tmp_path_factory.mktemp("corpus")
    lines = penguins_csv.read_text().splitlines()
    (root / "penguins.csv").write_text("\n".join([lines[0]] + lines[1::6]) + "\n")
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    np.savez(root / "data.npz", X=X, y=(X[:, 0] + X[:, 1] > 0).astype(np.int64))
    (root / "study.toml").write_text(STUDY_TOML)
    for args in (["train", "-d", "penguins.csv", "--target", "species", "--drop-missing", *TRAIN, "--model", "m"],
                 ["train", "-d", "data.npz", *TRAIN, "--model", "plain"],
                 ["compare", "--config", "study.toml", "--out", "study"]):
        result = _invoke([*args, "--quiet"], root)
        assert result.exit_code == 0, result.output
    return root


# -- mutations ----------------------------------------------------------------------------------------------
NASTY = ["", "-1", "0", "1e309", "-1e309", "nan", "NaN", "inf", "1e-310", "99999999999999999999999", "'", '"', ",",
         ";", "\t", "\n", "\r\n", "[", "]", "{", "}", "=", "../../ESCAPED", "/", "\x00", "\ufeff", "é", "NA", "true",
         "[[[[[[[[[[", "0x10", "1_000", "#", "\\", "    ", "3.14159", "-0", "1e20"]


@st.composite
def text_edits(draw, text: str) -> str:
    """``text`` after a few random edits: spans deleted, duplicated or replaced by nasty tokens."""
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "random"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(NASTY)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.sampled_from(NASTY)) + text[j:]
        elif kind == "duplicate":
            text = text[:i] + text[i:j] * draw(st.integers(2, 50)) + text[j:]
        else:
            text = text[:i] + draw(st.text(max_size=20)) + text[j:]
    return text


def file_contents(seed: bytes):
    """Random bytes, the seed with random edits, or the seed with a few bytes flipped."""
    text = seed.decode("utf-8", "replace")

    @st.composite
    def flipped(draw):
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)

    return st.one_of(st.binary(max_size=2000), text_edits(text).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     flipped(), st.just(seed[: len(seed) // 2]))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from(NASTY), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every path (a tuple of keys and indices) into a JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            yield from _paths(v, (*prefix, i))


@st.composite
def json_edits(draw, doc, values=None):
    """A copy of ``doc`` with a few values replaced (any JSON value, a huge integer, NaN, a deep
    list, ..., or one of ``values``) or keys and list items removed."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "deep", "grow"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "delete":
            parent.pop(path[-1])
        elif action == "deep":  # written out as that many nested lists by json_bytes / toml_text
            parent[path[-1]] = f"@@DEEP:{draw(st.integers(20, 3000))}@@"
        elif action == "grow" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
            parent[path[-1]] = parent[path[-1]] * draw(st.integers(2, 5))
        else:
            new = draw(JSON_VALUES if values is None else st.one_of(values, values, JSON_VALUES))
            parent[path[-1]] = json.loads(json.dumps(new))  # a copy: later edits must not change the strategy's
    return doc


def _deepen(text: str) -> str:
    """Each ``"@@DEEP:n@@"`` of ``json_edits`` as ``n`` nested lists."""
    return re.sub(r'"@@DEEP:(\d+)@@"', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)


def json_bytes(doc) -> bytes:
    return _deepen(json.dumps(doc, allow_nan=True)).encode("utf-8")


# -- running a case -------------------------------------------------------------------------------------------
def files_under(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@contextmanager
def case(corpus: Path, copy: tuple):
    """A fresh folder holding copies of the corpus entries ``copy``."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        for name in copy:
            source = corpus / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)
        yield work


def check_run(work: Path, args: list, *, out=None, failed_check_allowed=False):
    """Run the command in ``work`` and assert the fuzz contract (see the module docstring)."""
    before = files_under(work)
    result = _invoke(args, work)
    after = files_under(work)
    if currently_in_test_context():  # pytest --hypothesis-show-statistics shows the mix
        event(f"{args[0]}: exit {result.exit_code}")
    allowed = {0, 2} | ({1} if failed_check_allowed else set())
    assert result.exit_code in allowed, f"exit {result.exit_code} for {args}:\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr, result.stderr
    for token in ("np.int64(", "np.float64(", "np.str_("):
        assert token not in result.stderr, result.stderr
    outputs = {out} if isinstance(out, str) else set(out or ())
    inside = (lambda k: Path(k).parts[0] in outputs)
    assert {k: v for k, v in after.items() if not inside(k)} == {k: v for k, v in before.items() if not inside(k)}, \
        "a file outside --out was written, changed or removed"
    if result.exit_code == 2:  # (exit 1: the command ran and reports a failed check, with its records)
        assert after == before, f"a failed command changed files: {sorted(set(after) ^ set(before))}"
        assert result.stderr.startswith("Error:") or "Error" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3 or "╭" in result.stderr, result.stderr  # typer's usage box
    return result


# -- the fuzz tests -----------------------------------------------------------------------------------------
@fuzz_settings(60)
@given(data=st.data())
def test_fuzzed_tables_train_and_predict(corpus, data):
    seed = (corpus / "penguins.csv").read_bytes()
    content = data.draw(file_contents(seed), label="penguins.csv")
    with case(corpus, ("m.json", "m.npz")) as work:
        (work / "penguins.csv").write_bytes(content)
        check_run(work, ["train", "-d", "penguins.csv", "--target", "species", "--drop-missing", *TRAIN,
                         "--model", "m", "--quiet"], out=("m.json", "m.npz"))
        check_run(work, ["predict", "m", "penguins.csv"])


@fuzz_settings(50)
@given(data=st.data())
def test_fuzzed_npz_datasets_train_and_predict(corpus, data):
    seed = (corpus / "data.npz").read_bytes()
    arrays = st.builds(lambda X, y: {"X": X, "y": y},
                       st.sampled_from([np.zeros((0, 2)), np.zeros((40, 0)), np.ones((40, 2)), np.full((40, 2), np.nan),
                                        np.arange(80, dtype=np.int8).reshape(40, 2), np.array([["a", "b"]] * 40),
                                        np.ones((40, 2, 2)), np.ones(40), np.full((40, 2), 1e-310),
                                        np.ones((3, 2)), np.ones((40, 2), dtype=np.complex128)]),
                       st.sampled_from([np.arange(40) % 2, np.zeros(40), np.arange(40), np.array(["x", "y"] * 20),
                                        np.ones((40, 2)), np.arange(3) % 2, np.full(40, np.nan),
                                        np.array([1e20, 0] * 20), np.array([True, False] * 20)]))

    def as_npz(d):
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **d)
        return buffer.getvalue()

    content = data.draw(st.one_of(file_contents(seed), arrays.map(as_npz)), label="data.npz")
    with case(corpus, ("plain.json", "plain.npz")) as work:
        (work / "data.npz").write_bytes(content)
        check_run(work, ["train", "-d", "data.npz", *TRAIN, "--model", "plain", "--quiet"], out=("plain.json", "plain.npz"))
        check_run(work, ["predict", "plain", "data.npz", "--proba"])


@fuzz_settings(80)
@given(data=st.data())
def test_fuzzed_models_are_refused_or_predict(corpus, data):
    meta = json.loads((corpus / "m.json").read_text())
    which = data.draw(st.sampled_from(["json bytes", "json values", "json values rehashed", "npz bytes"]))
    with case(corpus, ("m.json", "m.npz", "penguins.csv")) as work:
        if which == "npz bytes":
            (work / "m.npz").write_bytes(data.draw(file_contents((corpus / "m.npz").read_bytes())))
        elif which == "json bytes":
            (work / "m.json").write_bytes(data.draw(file_contents((corpus / "m.json").read_bytes())))
        else:
            edited = data.draw(json_edits(meta))
            if which.endswith("rehashed") and isinstance(edited, dict):
                try:  # an editor who also recomputes the checksum: the other checks must hold
                    edited["sha256"] = metadata_sha256(edited)
                except (ValueError, TypeError, RecursionError):
                    pass
            (work / "m.json").write_bytes(json_bytes(edited))
        check_run(work, ["predict", "m", "penguins.csv", "--proba"])
        check_run(work, ["diagnose", "--model", "m", "-d", "penguins.csv", "--quiet"], failed_check_allowed=True)


def toml_text(settings: dict) -> str:
    """``settings`` as TOML (keys with null values left out: TOML has no null)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if v != v else ("inf" if v > 0 else "-inf")
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v if x is not None) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items() if x is not None) + "}"
    return _deepen("".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in settings.items() if v is not None))


STUDY_VALUES = st.sampled_from([["he", "lecun"], ["random"], "xavier", [0.0, 0.7], 0.5, [1.0, 0.5], [0.1, 0.3],
                                [0, 1], [3, 3], [2], 0, 1, 2, 400, 401, "moons", "noisy", [{"init": "he"}],
                                [{"label": "a"}, {"label": "a"}], {"target": "x"}, "", -1, 2**40, [], 1e-310])
PLAUSIBLE = {"name": ["x", "../../ESCAPED", "a b/c", ".hidden", "é" * 3], "title": ["", "<b>t</b>"],
             "dataset": ["moons", "noisy"], "hidden_layer_sizes": [[2, 2], 4], "init": ["lecun", ["random", "he"]],
             "l2": [[0.0, 0.7], 1e300], "keep_prob": [[1.0, 0.5], 0.8], "learning_rate": [[0.1, 1e6], 1e-9],
             "seeds": [[0, 1], [4294967295]], "max_iter": [1, 2], "grid_points": [0, 2, 400], "diagnose": [False],
             "configurations": [[{"label": "a/b", "l2": 0.1}, {"label": "a b", "init": "lecun"}],
                                [{"label": "../x"}], [{"hidden_layer_sizes": [1]}]],
             "target_error": [0.5], "batch_size": [7], "activation": ["tanh", "sigmoid"]}


@st.composite
def plausible_edits(draw, settings: dict) -> dict:
    """``settings`` with a few keys set to values a user might well give (valid or nearly)."""
    settings = dict(settings)
    for key in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), min_size=1, max_size=3, unique=True)):
        settings[key] = draw(st.sampled_from(PLAUSIBLE[key]))
    return settings


@fuzz_settings(40)
@given(data=st.data())
def test_fuzzed_study_tomls(corpus, data):
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    settings_ = tomllib.loads(STUDY_TOML)
    structured = st.one_of(json_edits(settings_, STUDY_VALUES), plausible_edits(settings_), plausible_edits(settings_))
    content = data.draw(st.one_of(file_contents(STUDY_TOML.encode()),
                                  structured.map(lambda d: (toml_text(d) if isinstance(d, dict) else "").encode())),
                        label="study.toml")
    with case(corpus, ("study",)) as work:  # the folder of an earlier run of the study, to resume or refuse
        (work / "study.toml").write_bytes(content)
        check_run(work, ["compare", "--config", "study.toml", "--out", "study", "--quiet"], out="study",
                  failed_check_allowed=True)
    with case(corpus, ()) as work:  # a new folder
        (work / "study.toml").write_bytes(content)
        check_run(work, ["compare", "--config", "study.toml", "--out", "new", "--quiet"], out="new",
                  failed_check_allowed=True)


@fuzz_settings(40)
@given(data=st.data())
def test_fuzzed_results_json_reports(corpus, data):
    doc = json.loads((corpus / "study" / "results.json").read_text())
    content = data.draw(st.one_of(json_edits(doc).map(json_bytes),
                                  file_contents((corpus / "study" / "results.json").read_bytes())), label="results.json")
    with case(corpus, ("study",)) as work:
        report = work / "report"
        report.mkdir()
        for name in ("index.html", "summary.md", "figures"):  # the report as it was before, to keep or replace
            source = work / "study" / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, report / name)
        (report / "results.json").write_bytes(content)
        check_run(work, ["report", "report", "--quiet"], out="report")
        check_run(work, ["report", "report/results.json", "--out", "elsewhere", "--quiet"], out="elsewhere")


@fuzz_settings(20)
@given(data=st.data())
def test_fuzzed_study_records(corpus, data):
    """A study folder whose records or manifest were edited: report renders it or refuses it."""
    with case(corpus, ("study",)) as work:
        target = data.draw(st.sampled_from(sorted(str(p.relative_to(work)) for p in (work / "study").rglob("*.json")
                                                  if "models" not in p.parts)))
        original = json.loads((work / target).read_text())
        (work / target).write_bytes(data.draw(st.one_of(json_edits(original).map(json_bytes),
                                                        file_contents((work / target).read_bytes()))))
        check_run(work, ["report", "study", "--quiet"], out="study")


def test_the_fuzz_contract_catches_a_planted_traceback(corpus, monkeypatch):
    """The checks above can fail: a command that raises an unexpected error is caught (exit 3)."""
    import practicaldl.io.models as models

    def broken(path):
        raise RuntimeError("planted")

    monkeypatch.setattr(models, "read_metadata", broken)
    with case(corpus, ("m.json", "m.npz", "penguins.csv")) as work:
        with pytest.raises(AssertionError, match="exit 3"):
            check_run(work, ["predict", "m", "penguins.csv"])


def test_the_fuzz_contract_catches_a_write_outside_out(corpus, monkeypatch):
    import practicaldl.report.pages as pages

    render = pages.render_files

    def leaky(doc, **kwargs):
        Path("leaked.txt").write_text("outside --out")  # the working folder, not --out
        return render(doc, **kwargs)

    monkeypatch.setattr(pages, "render_files", leaky)
    with case(corpus, ("study",)) as work:
        with pytest.raises(AssertionError, match="outside --out"):
            check_run(work, ["report", "study", "--quiet"], out="study")


def test_a_figure_name_that_leads_out_is_refused_by_the_writer(corpus, monkeypatch):
    import practicaldl.report.figures as figures

    monkeypatch.setattr(figures, "figure_stems", lambda doc: ["../escaped"] * len(doc["sections"]))
    with case(corpus, ("study",)) as work:
        result = check_run(work, ["report", "study", "--quiet"], out="study")
        assert result.exit_code == 2 and "refusing to write" in result.stderr


OPTION_VALUES = {  # absurd, invalid and edge values; none that is valid and slow (no --max-iter 10**18)
    "--max-iter": ["0", "-1", "1", "2", "99999999999999999999999", "1e3", "nan", "x", "9223372036854775808"],
    "--batch-size": ["0", "-5", "1", "7", "99999999999999999999999", "9223372036854775807"],
    "--hidden": ["3", "0", "-1", "3,,2", "100000,100000", "99999999999999999999999", "2,2,2,2", " 3", "3.5", ""],
    "--lr": ["0", "-1", "1e-320", "1e308", "inf", "nan", "1e6", "0.1"],
    "--l2": ["-0.0", "1e300", "inf", "nan", "-1", "0.5"],
    "--keep-prob": ["0", "1", "1.0000001", "0.5", "nan", "1e-320"],
    "--init-scale": ["0", "1e-320", "1e300", "nan", "-1", "2"],
    "--seed": ["-1", "4294967296", "99999999999999999999999", "0"],
    "--init": ["he", "zeros", "random", "nope", ""],
    "--activation": ["relu", "tanh", "nope", ""],
}


@fuzz_settings(60)
@given(options=st.dictionaries(st.sampled_from(sorted(OPTION_VALUES)), st.integers(0, 20), min_size=1, max_size=4))
def test_fuzzed_numeric_options(corpus, options):
    args = ["train", "-d", "circles", "--max-iter", "2", "--model", "m", "--quiet"]
    for option, k in options.items():
        values = OPTION_VALUES[option]
        args += [option, values[k % len(values)]]
    with case(corpus, ()) as work:
        check_run(work, args, out=("m.json", "m.npz"), failed_check_allowed=True)
