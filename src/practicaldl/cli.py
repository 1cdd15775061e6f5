"""The ``practicaldl`` command line (typer + rich): the only module that prints or exits.

Commands: ``demo`` (the main job), ``train``, ``compare``, ``gradcheck``, ``diagnose``, ``report``,
``predict``. Every command takes ``--json`` (one JSON document on stdout and nothing else there),
``--quiet`` (no progress bars, tables or messages; errors still go to stderr) and ``--help``.
Progress bars and messages go to stderr, tables and results to stdout.

Exit codes: 0 ok; 1 a failed check (a gradient check that fails, an error-severity diagnostic,
a training run that diverged, a demo check that did not come out as expected); 2 bad usage or
bad input (unknown option or dataset, a value out of range, a missing, corrupt or tampered file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE = 0, 1, 2

APP_HELP = """practicaldl: see what initialization and regularization do, check gradients, compare choices.

Start with [bold]practicaldl demo[/bold]: three classic studies, a report in ./practicaldl-report/index.html.

Commands, in short: demo (the main job), train (fit and save a model), compare (a study and its report), gradcheck, diagnose, report (re-render from results.json), predict (a saved model on a file).

Exit codes: [bold]0[/bold] ok; [bold]1[/bold] a failed check (gradient check failed, an error-severity diagnostic, training diverged); [bold]2[/bold] bad usage or bad input (unknown option or dataset, a value out of range, a missing, corrupt or tampered file).

Every command has --json (one JSON document on stdout), --quiet and --help."""

app = typer.Typer(help=APP_HELP, add_completion=False, rich_markup_mode="rich",
                  context_settings={"help_option_names": ["-h", "--help"]})


class UsageProblem(Exception):
    """Bad usage or bad input: exit 2 with the message."""


# -- output -------------------------------------------------------------------------------------
class Output:
    """Where things go: tables to stdout, progress and messages to stderr, JSON alone on stdout."""

    def __init__(self, json_mode: bool, quiet: bool):
        from rich.console import Console

        self.json_mode, self.quiet = json_mode, quiet
        self.out = Console(file=sys.stdout, soft_wrap=False)
        self.err = Console(file=sys.stderr)

    def message(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text)

    def show(self, renderable) -> None:
        if not (self.quiet or self.json_mode):
            self.out.print(renderable)

    def json(self, document) -> None:
        if self.json_mode:
            sys.stdout.write(json.dumps(document, indent=2, default=_json_default) + "\n")
            sys.stdout.flush()

    def progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=self.err, disable=self.quiet, transient=False)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _fail(message: str, code: int = EXIT_USAGE):
    sys.stderr.write(f"Error: {message}\n")
    raise typer.Exit(code)


_OPTION_OF = {"keep_prob": "--keep-prob", "l2": "--l2", "learning_rate": "--learning-rate", "init": "--init",
              "init_scale": "--init-scale", "max_iter": "--max-iter", "batch_size": "--batch-size",
              "activation": "--activation", "dataset": "--dataset", "seeds": "--seed", "random_state": "--seed",
              "hidden_layer_sizes": "--hidden", "epsilon": "--epsilon", "jobs": "--jobs", "max_samples": "--max-samples",
              "name": "--name", "grid_points": "--grid-points"}


def _usage_message(exc: Exception) -> str:
    """Prefix a library message ("keep_prob must be in (0, 1], got 1.5") with the CLI option it is about."""
    text = str(exc)
    first = text.split(" ", 1)[0]
    option = _OPTION_OF.get(first)
    return f"invalid value for {option}: {text}" if option else text


class _Guard:
    """Turn library errors into exit codes: bad input -> 2, a diverged fit -> 1."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or issubclass(exc_type, (typer.Exit, KeyboardInterrupt, SystemExit)):
            return False
        from .io.models import ModelFileError
        from .report import ReportError
        from .engine.loop import NumericalError

        if issubclass(exc_type, NumericalError):
            _fail(str(exc), EXIT_FAILED_CHECK)
        if issubclass(exc_type, (UsageProblem, ModelFileError, ReportError, FileNotFoundError)):
            _fail(str(exc))
        if issubclass(exc_type, (ValueError, TypeError)):
            _fail(_usage_message(exc))
        return False


# -- option parsing ------------------------------------------------------------------------------
def parse_hidden(text: str) -> tuple:
    """"10,5" -> (10, 5); the message names the option, the rule and the value."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(s <= 0 for s in sizes):
        raise UsageProblem(f"invalid value for --hidden: it must be comma-separated positive integers "
                           f"such as 10,5, got {text!r}")
    return sizes


def _check_out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"invalid value for --out: it must be a folder, got the existing file {str(out)!r}")
    return out


def _load_data(dataset: str):
    from .io.datasets import load_dataset
    from .studies.config import check_dataset

    return load_dataset(check_dataset(dataset))


def _table(table: dict):
    from rich.table import Table

    t = Table(title=table["title"], title_justify="left")
    for c in table["columns"]:
        t.add_column(str(c), overflow="fold")
    for row in table["rows"]:
        t.add_row(*(str(v) for v in row))
    return t


JSON_OPT = typer.Option(False, "--json", help="Print one JSON document on stdout (and nothing else there).")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress bars, tables or messages; errors still go to stderr.")
ACTIVATION_HELP = "Hidden-layer activation: relu, tanh or sigmoid (the names of the activation registry)."
DATASET_HELP = "A built-in dataset (circles, moons, noisy, breast_cancer, digits) or a .csv / .npz / .mat file."
# the network that gradcheck and diagnose look at: a saved model, or a fresh one from these flags
MODEL_OPT = typer.Option(None, "--model", "-m", help="A saved model (MODEL.npz + .json).")
DATASET_OPT = typer.Option("circles", "--dataset", "-d", help=DATASET_HELP)
FRESH_HIDDEN_OPT = typer.Option("10,5", "--hidden", help="Hidden sizes of a fresh network (no --model).")
FRESH_ACTIVATION_OPT = typer.Option("relu", "--activation", help=ACTIVATION_HELP)
FRESH_INIT_OPT = typer.Option("he", "--init")


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context):
    """Show the help when no command is given (exit 0)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


# -- demo ------------------------------------------------------------------------------------------
@app.command()
def demo(out: Path = typer.Option(Path("practicaldl-report"), "--out", "-o", help="Report folder (created)."),
         jobs: int = typer.Option(-1, "--jobs", "-j", help="Processes for the runs (-1: all cores)."),
         quick: bool = typer.Option(False, "--quick", help="Few iterations and one seed: a smoke test, not the study."),
         json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """[bold]The main job[/bold]: the three classic studies on built-in data, and a report a person opens.

    Initialization (zeros / random x10 / He on circles), regularization (none / L2 / dropout on the noisy
    2-D set) and gradient checking (a correct backprop passes, a planted bug in dW2 is found). Writes
    results.json, figures/*.png, summary.md and index.html (self-contained) to --out.

    Examples:

      practicaldl demo

      practicaldl demo --out /tmp/report --jobs 2

      practicaldl demo --json --quiet
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .studies.classic import demo_studies, gradcheck_study
        from .report import gradcheck_ok, make_results, tables, write_report

        _check_out_dir(out)
        if jobs == 0 or jobs < -1:
            raise UsageProblem(f"invalid value for --jobs: it must be a positive integer or -1, got {jobs}")
        studies = demo_studies(quick=quick)
        sections = _run_studies(studies, jobs, out, o)
        notes = _demo_notes(quick)
        sections.append(gradcheck_study())
        doc = make_results(sections, title="practicaldl demo: initialization, regularization, gradient checking",
                           notes=notes)
        written = write_report(doc, out)
        _finish(o, doc, out, written, tables(doc))
        if not gradcheck_ok(doc):
            o.message("[red]A gradient check did not come out as expected.[/red]")
            raise typer.Exit(EXIT_FAILED_CHECK)


def _demo_notes(quick: bool) -> list:
    notes = ["Each configuration runs over several seeds; tables give mean ± standard deviation over seeds. "
             "The demo uses fewer seeds than a full study (3 per configuration) and, for regularization, "
             "20000 iterations where the course runs 30000.",
             "Seed 3 of the initialization study uses the course's settings exactly (the course reports "
             "zeros 0.5 / 0.5, random x10 0.83 / 0.86, He 0.9933 / 0.96 train / test accuracy).",
             "Re-render this report without retraining: practicaldl report DIR."]
    if quick:
        notes.insert(0, "QUICK MODE: a few hundred iterations and one seed; the numbers show nothing yet.")
    return notes


def _run_studies(studies, jobs, out: Path, o: Output) -> list:
    from .studies.runner import run_study

    sections = []
    with o.progress() as progress:
        for study in studies:
            runs = study.expand()
            task = progress.add_task(f"{study.name:<16}", total=len(runs))
            sections.append(run_study(study, jobs=jobs, model_dir=out / "models",
                                      on_result=lambda record, task=task: progress.advance(task)))
    return sections


def _finish(o: Output, doc, out: Path, written: dict, table_list: list) -> None:
    for table in table_list:
        o.show(_table(table))
    o.message(f"Report written: [bold]{out / 'index.html'}[/bold] (also summary.md, results.json, figures/)")
    o.json({"out": str(out), "index": str(out / "index.html"), "files": sorted(written), "tables": table_list,
            "notes": doc.get("notes", [])})


# -- train -----------------------------------------------------------------------------------------
@app.command()
def train(dataset: str = typer.Option("circles", "--dataset", "-d", help=DATASET_HELP),
          hidden: str = typer.Option("10,5", "--hidden", help="Hidden layer sizes, comma-separated."),
          activation: str = typer.Option("relu", "--activation", help=ACTIVATION_HELP),
          init: str = typer.Option("he", "--init", help="zeros, random, he, lecun, xavier, ... (see INITIALIZERS)."),
          init_scale: float = typer.Option(1.0, "--init-scale", help="Multiplies the initial weights' std."),
          l2: float = typer.Option(0.0, "--l2", help="L2 strength: (l2 / 2m) sum ||W||^2."),
          keep_prob: float = typer.Option(1.0, "--keep-prob", help="Dropout keep probability in (0, 1]."),
          learning_rate: float = typer.Option(0.01, "--learning-rate", "--lr"),
          max_iter: int = typer.Option(15000, "--max-iter", help="Iterations (epochs with --batch-size)."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Minibatch size (default: full batch)."),
          seed: int = typer.Option(0, "--seed", help="random_state: every draw comes from it."),
          model: Path = typer.Option(Path("model"), "--model", "-m", help="Save as MODEL.npz + MODEL.json."),
          json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Train one network, save it (.npz + .json) and print its train / test accuracy.

    Examples:

      practicaldl train --dataset circles --init he --max-iter 15000 --seed 3 --model he

      practicaldl train --dataset noisy --hidden 20,3 --init lecun --lr 0.3 --l2 0.7 --model l2

      practicaldl train --dataset data.csv --keep-prob 0.86 --json
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .estimator import NeuralNetClassifier
        from .io.models import save_model

        data = _load_data(dataset)
        clf = NeuralNetClassifier(parse_hidden(hidden), activation=activation, init=init, init_scale=init_scale,
                                  learning_rate=learning_rate, max_iter=max_iter, batch_size=batch_size, l2=l2,
                                  keep_prob=keep_prob, random_state=seed)
        clf._check_params()
        if model.exists() and model.is_dir():
            raise UsageProblem(f"invalid value for --model: it must be a file name stem, got the folder {str(model)!r}")
        o.message(f"Training {clf.hidden_layer_sizes} on {data.name} ({len(data.y_train)} train / "
                  f"{len(data.y_test)} test) for {max_iter} iterations ...")
        clf.fit(data.X_train, data.y_train)
        npz_path, json_path = save_model(clf, model)
        result = {"model": str(npz_path), "metadata": str(json_path), "dataset": data.name,
                  "train_accuracy": float(clf.score(data.X_train, data.y_train)),
                  "test_accuracy": float(clf.score(data.X_test, data.y_test)),
                  "final_cost": float(clf.cost_history_[-1]), "n_iter": int(clf.n_iter_)}
        o.show(_table({"title": f"practicaldl train: {data.name}", "columns": ["quantity", "value"],
                       "rows": [[k, _short(v)] for k, v in result.items()]}))
        o.message(f"Model saved: {npz_path} + {json_path.name}")
        o.json(result)


def _short(v):
    return f"{v:.4f}" if isinstance(v, float) else v


# -- compare ---------------------------------------------------------------------------------------
@app.command()
def compare(config: Optional[Path] = typer.Option(None, "--config", "-c", help="A study in a TOML file."),
            dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help=DATASET_HELP),
            hidden: Optional[str] = typer.Option(None, "--hidden", help="Hidden layer sizes, comma-separated (10,5)."),
            activation: Optional[str] = typer.Option(None, "--activation", help=ACTIVATION_HELP),
            init: Optional[List[str]] = typer.Option(None, "--init", help="Grid axis; repeat: --init zeros --init he."),
            init_scale: Optional[float] = typer.Option(None, "--init-scale"),
            l2: Optional[List[float]] = typer.Option(None, "--l2", help="Grid axis; repeat: --l2 0 --l2 0.7."),
            keep_prob: Optional[List[float]] = typer.Option(None, "--keep-prob", help="Grid axis; repeat."),
            learning_rate: Optional[List[float]] = typer.Option(None, "--learning-rate", "--lr", help="Grid axis; repeat."),
            seed: Optional[List[int]] = typer.Option(None, "--seed", help="Seeds; repeat (default 0, 1, 2)."),
            max_iter: Optional[int] = typer.Option(None, "--max-iter", help="Iterations (default 1000)."),
            batch_size: Optional[int] = typer.Option(None, "--batch-size"),
            name: Optional[str] = typer.Option(None, "--name", help="The study's name (figure file names)."),
            target_error: Optional[float] = typer.Option(None, "--target-error",
                                                         help="Human-level (or Bayes) error for the bias / variance "
                                                              "column (default 0)."),
            jobs: int = typer.Option(1, "--jobs", "-j", help="Processes (-1: all cores); results are the same."),
            out: Path = typer.Option(Path("practicaldl-compare"), "--out", "-o", help="Report folder."),
            json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Run a study (a grid init x l2 x keep_prob x learning rate, over seeds) and write a report.

    The study comes from flags or from a TOML file (--config) whose keys are StudyConfig's fields
    (name, dataset, hidden_layer_sizes, init, l2, keep_prob, learning_rate, seeds, max_iter, configurations, ...).

    Examples:

      practicaldl compare --dataset circles --init zeros --init he --max-iter 2000 --seed 1 --seed 2

      practicaldl compare --dataset noisy --hidden 20,3 --init lecun --lr 0.3 --l2 0 --l2 0.7 --keep-prob 1 --keep-prob 0.86 --target-error 0.15

      practicaldl compare --config study.toml --jobs 2 --out report
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .studies.config import StudyConfig
        from .report import make_results, tables, write_report

        _check_out_dir(out)
        flags = {"dataset": dataset, "hidden_layer_sizes": parse_hidden(hidden) if hidden else None,
                 "activation": activation, "init": init, "init_scale": init_scale, "l2": l2, "keep_prob": keep_prob,
                 "learning_rate": learning_rate, "seeds": seed, "max_iter": max_iter, "batch_size": batch_size,
                 "name": name, "target_error": target_error}
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in flags.items() if v not in (None, [], ())}
        if config is not None:
            if not config.is_file():
                raise UsageProblem(f"invalid value for --config: the file {str(config)!r} does not exist")
            study = StudyConfig.from_toml(config)
            if given:
                study = StudyConfig.from_dict({**study.to_dict(), **given})
        else:
            study = StudyConfig.from_dict({"name": "compare", "seeds": (0, 1, 2), **given})
        if jobs == 0 or jobs < -1:
            raise UsageProblem(f"invalid value for --jobs: it must be a positive integer or -1, got {jobs}")
        sections = _run_studies([study], jobs, out, o)
        doc = make_results(sections, title=f"practicaldl compare: {study.title or study.name}",
                           notes=[f"{len(study.seeds)} seeds per configuration: mean ± standard deviation over seeds."])
        written = write_report(doc, out)
        _finish(o, doc, out, written, tables(doc))


# -- gradcheck -------------------------------------------------------------------------------------
@app.command()
def gradcheck(model: Optional[Path] = MODEL_OPT, dataset: str = DATASET_OPT, hidden: str = FRESH_HIDDEN_OPT,
              activation: str = FRESH_ACTIVATION_OPT, init: str = FRESH_INIT_OPT,
              l2: float = typer.Option(0.0, "--l2"),
              keep_prob: float = typer.Option(1.0, "--keep-prob", help="Dropout during the check (masks replayed)."),
              seed: int = typer.Option(1, "--seed"),
              max_samples: int = typer.Option(64, "--max-samples", help="Examples used (the first ones)."),
              epsilon: float = typer.Option(1e-7, "--epsilon", help="Centred-difference step."),
              plant_bug: Optional[str] = typer.Option(None, "--plant-bug",
                                                      help="Double one gradient (e.g. dW2) to see the check catch it."),
              jobs: Optional[int] = typer.Option(None, "--jobs", help="Threads that share the check (the same numbers "
                                                                      "for any value; default: 2 on a machine with "
                                                                      "two cores or more, else 1)."),
              json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Check backprop against centred differences: overall difference, one line per parameter, a verdict.

    Exit code 1 when the check fails.

    Examples:

      practicaldl gradcheck --hidden 5,3 --l2 0.7 --keep-prob 0.8

      practicaldl gradcheck --plant-bug dW2

      practicaldl gradcheck --model he --dataset circles --json
    """
    o = Output(json_out, quiet)
    with _Guard():
        from . import gradcheck as gc

        if max_samples <= 0:
            raise UsageProblem(f"invalid value for --max-samples: it must be a positive integer, got {max_samples}")
        if jobs is not None and jobs <= 0:
            raise UsageProblem(f"invalid value for --jobs: it must be a positive integer, got {jobs}")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise UsageProblem(f"invalid value for --epsilon: it must be a positive finite number, got {epsilon}")
        data = _load_data(dataset)
        if model is not None:
            if plant_bug:
                raise UsageProblem("--plant-bug works on a fresh network, not with --model")
            from .io.models import load_model

            clf = load_model(model)
            if data.X_train.shape[1] != clf.n_features_in_:
                raise UsageProblem(f"invalid value for --dataset: the model expects {clf.n_features_in_} features, "
                                   f"{data.name} has {data.X_train.shape[1]}")
            report = gc.check_classifier_gradients(clf, data.X_train, data.y_train, epsilon=epsilon,
                                                   max_samples=max_samples, n_jobs=jobs)
            source = {"model": str(model), "dataset": data.name}
        else:
            report, source = _fresh_gradcheck(gc, data, parse_hidden(hidden), activation, init, l2, keep_prob, seed,
                                              max_samples, epsilon, plant_bug, jobs)
        o.show(report)
        o.json({"source": source, **report.to_dict()})
        if not report.passed:
            o.message(f"[red]Gradient check failed[/red]: {report.verdict}")
            raise typer.Exit(EXIT_FAILED_CHECK)
        o.message(f"[green]Gradient check passed[/green]: difference {report.difference:.3g}")


def _fresh_gradcheck(gc, data, sizes, activation, init, l2, keep_prob, seed, max_samples, epsilon, plant_bug,
                     jobs=None):
    from sklearn.preprocessing import LabelBinarizer

    from .core.network import backward_propagation, initialize_parameters

    X = data.X_train[:max_samples].T.astype(np.float64)  # (n_x, m)
    classes = np.unique(data.y_train)
    Y = LabelBinarizer().fit(classes).transform(data.y_train[:max_samples]).T.astype(np.float64)  # (n_L, m)
    output = "sigmoid" if len(classes) == 2 else "softmax"
    params = initialize_parameters([X.shape[0], *sizes, Y.shape[0]], init=init, rng=np.random.RandomState(seed))
    backward = None
    if plant_bug:
        keys = [f"d{k}" for k in params]
        if plant_bug not in keys:
            raise UsageProblem(f"invalid value for --plant-bug: it must be one of {keys}, got {plant_bug!r}")

        def backward(params, Y, cache, l2=0.0):
            grads = backward_propagation(params, Y, cache, l2)
            grads[plant_bug] = 2.0 * grads[plant_bug]
            return grads

    rng = np.random.RandomState(seed) if keep_prob < 1 else None
    report = gc.check_backprop(params, X, Y, l2=l2, keep_prob=keep_prob, rng=rng, epsilon=epsilon,
                               activation=activation, output=output, backward=backward, n_jobs=jobs)
    source = {"dataset": data.name, "layer_dims": [X.shape[0], *sizes, Y.shape[0]], "init": init, "l2": l2,
              "keep_prob": keep_prob, "seed": seed, "m": X.shape[1], "plant_bug": plant_bug}
    return report, source


# -- diagnose --------------------------------------------------------------------------------------
@app.command()
def diagnose(model: Optional[Path] = MODEL_OPT, dataset: str = DATASET_OPT, hidden: str = FRESH_HIDDEN_OPT,
             activation: str = FRESH_ACTIVATION_OPT, init: str = FRESH_INIT_OPT,
             init_scale: float = typer.Option(1.0, "--init-scale"),
             seed: int = typer.Option(0, "--seed"),
             target_error: float = typer.Option(0.0, "--target-error", min=0.0, max=1.0,
                                                help="Human-level (or Bayes) error the model is measured against "
                                                     "for avoidable bias, e.g. 0.15 for data with 15% label noise."),
             json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Diagnose a network: symmetry, dead units, saturation, vanishing / exploding signals, bias / variance.

    A saved model is diagnosed as trained (with its train / test accuracy on --dataset); without --model,
    a fresh network as it would start training. Exit code 1 when there is an error-severity finding.

    Examples:

      practicaldl diagnose --init zeros

      practicaldl diagnose --init random --init-scale 10 --json

      practicaldl diagnose --model he --dataset circles

      practicaldl diagnose --model overfit --dataset noisy --target-error 0.15
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .diagnostics.probes import diagnose as run_diagnose

        data = _load_data(dataset)
        if model is not None:
            from .io.models import load_model

            clf = load_model(model)
            if data.X_train.shape[1] != clf.n_features_in_:
                raise UsageProblem(f"invalid value for --dataset: the model expects {clf.n_features_in_} features, "
                                   f"{data.name} has {data.X_train.shape[1]}")
            report = run_diagnose(clf, data.X_train, data.y_train, train_score=float(clf.score(data.X_train, data.y_train)),
                                  test_score=float(clf.score(data.X_test, data.y_test)), target_error=target_error)
            source = {"model": str(model), "dataset": data.name, "target_error": target_error}
        else:
            from .estimator import NeuralNetClassifier

            clf = NeuralNetClassifier(parse_hidden(hidden), activation=activation, init=init, init_scale=init_scale,
                                      random_state=seed)
            report = run_diagnose(clf, data.X_train, data.y_train)
            source = {"dataset": data.name, "hidden_layer_sizes": list(clf.hidden_layer_sizes), "init": init,
                      "init_scale": init_scale, "seed": seed, "at": "initialization"}
        o.show(report)
        o.json({"source": source, **report.to_dict()})
        errors = [f for f in report.findings if f.severity == "error"]
        if errors:
            o.message(f"[red]{len(errors)} error-severity finding(s)[/red]: {', '.join(f.kind for f in errors)}")
            raise typer.Exit(EXIT_FAILED_CHECK)
        o.message("[green]No error-severity finding.[/green]")


# -- report ----------------------------------------------------------------------------------------
@app.command()
def report(source: Path = typer.Argument(..., help="A report folder (with results.json) or a results.json file."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write (default: next to results.json)."),
           json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Re-render a report (figures, index.html, summary.md) from results.json, without retraining.

    Examples:

      practicaldl report practicaldl-report

      practicaldl report practicaldl-report/results.json --out /tmp/copy
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .report import load_results, tables, write_report

        if not source.exists():
            raise UsageProblem(f"invalid value for SOURCE: {str(source)!r} does not exist")
        doc = load_results(source)
        target = out if out is not None else (source if source.is_dir() else source.parent)
        _check_out_dir(target)
        written = write_report(doc, target)
        _finish(o, doc, target, written, tables(doc))


# -- predict ---------------------------------------------------------------------------------------
@app.command()
def predict(model: Path = typer.Argument(..., help="The saved model (MODEL, MODEL.npz or MODEL.json)."),
            data: Path = typer.Argument(..., help="Features: a .csv (numeric, header optional), a .npy, or a .npz with X."),
            proba: bool = typer.Option(False, "--proba", help="Also print class probabilities."),
            json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Predict labels with a saved model, one per line (or a JSON document).

    The features must be in the model's order, one row per example, no label column.

    Examples:

      practicaldl predict he points.csv

      practicaldl predict he.npz points.npy --proba --json
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .io.models import load_model

        clf = load_model(model)
        X = _read_features(data)
        if X.shape[1] != clf.n_features_in_:
            raise UsageProblem(f"invalid value for DATA: the model expects {clf.n_features_in_} features per row, "
                               f"{data.name} has {X.shape[1]}")
        labels = clf.predict(X)
        probabilities = clf.predict_proba(X) if proba else None
        result = {"model": str(model), "n_samples": int(X.shape[0]), "classes": clf.classes_.tolist(),
                  "predictions": labels.tolist()}
        if probabilities is not None:
            result["probabilities"] = probabilities.tolist()
        if json_out:
            o.json(result)
        else:
            lines = [str(v) if probabilities is None else f"{v}\t" + "\t".join(f"{p:.6f}" for p in row)
                     for v, row in zip(labels.tolist(), probabilities if probabilities is not None else labels)]
            sys.stdout.write("\n".join(lines) + "\n")


def _read_features(path: Path) -> np.ndarray:
    from .core.validation import check_array_2d

    if not path.is_file():
        raise UsageProblem(f"invalid value for DATA: the file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            X = np.genfromtxt(path, delimiter=",", dtype=float)
            X = X[None, :] if X.ndim == 1 else X
            if X.size and np.isnan(X[0]).all():
                X = X[1:]
        elif suffix == ".npy":
            X = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if "X" not in npz.files:
                    raise UsageProblem(f"invalid value for DATA: {path.name} must hold an array X, has {npz.files}")
                X = npz["X"]
        else:
            raise UsageProblem(f"invalid value for DATA: it must end in .csv, .npy or .npz, got {path.name!r}")
    except UsageProblem:
        raise
    except Exception as exc:
        raise UsageProblem(f"invalid value for DATA: {path.name} could not be read: {exc}") from exc
    try:
        return check_array_2d("DATA", X)
    except ValueError as exc:
        raise UsageProblem(f"invalid value for {exc}") from exc


def main() -> None:
    """Console-script entry point: run the typer app (exits with the command's code)."""
    app(prog_name="practicaldl")
