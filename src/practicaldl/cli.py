"""The ``practicaldl`` command line (typer + rich): the only module that prints or exits.

Commands: ``demo`` (the main job), ``train``, ``compare``, ``search``, ``gradcheck``, ``diagnose``,
``report``, ``predict``. Every command takes ``--json`` (one JSON document on stdout and nothing else there),
``--quiet`` (no progress bars, tables or messages; errors still go to stderr) and ``--help``.
Progress bars and messages go to stderr, tables and results to stdout.

Exit codes: 0 ok; 1 a failed check (a gradient check that fails, an error-severity diagnostic,
a training run that diverged, a demo check that did not come out as expected); 2 bad usage or
bad input (unknown option or dataset, a value out of range, a missing, corrupt or tampered file,
an operating-system error such as a permission denied or a full disk, a network too large for
memory); 3 an internal error (a bug); 130 interrupted (Ctrl-C or SIGTERM). ``compare`` and
``search`` also exit 1 when every run failed or the Dask scheduler was lost (an interrupted study
keeps its finished runs; the same command resumes).

Every error is one line on stderr (``_exit_for``); the global ``--debug`` prints the traceback
first. Writes stay inside their folder and replace a report as a set (``io.files``,
``io.folders``); ``--force`` replaces what practicaldl did not write, ``--yes`` runs a study of
more than ``io.limits.CONFIRM_RUNS`` runs.
"""

from __future__ import annotations

import json
import signal
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from warnings import catch_warnings, filterwarnings
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from typer.core import TyperCommand, TyperGroup

from .io.limits import CONFIRM_RUNS
from .torch import TORCH_FILE_NAMES

EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

APP_HELP = """practicaldl: see what initialization, regularization and optimizers do, check gradients, compare choices.

Start with [bold]practicaldl demo[/bold]: four classic studies, a report in ./practicaldl-report/index.html.

Commands, in short: demo (the main job), train (fit and save a model), compare (a study and its report; on this machine or a Dask cluster; resumable), search (a random search of hyperparameters), gradcheck, diagnose, report (re-render from results.json or a study folder), predict (a saved model on a file).

Exit codes: [bold]0[/bold] ok; [bold]1[/bold] a failed check (gradient check failed, an error-severity diagnostic, training diverged, every run of a study failed); [bold]2[/bold] bad usage or bad input (unknown option or dataset, a value out of range, a missing, corrupt or tampered file, a permission denied, a full disk); [bold]3[/bold] an internal error (a bug: run again with --debug and report the traceback); [bold]130[/bold] interrupted.

Every command has --json (one JSON document on stdout), --quiet and --help; errors are one line on stderr (--debug, before the command, adds the traceback)."""

class _NoFlagPlaceholder:
    """Flags (``--json``, ``--help``, ``--header/--no-header``) take no value: show no placeholder for
    them in ``--help`` (typer would print ``<bool>``)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_NoFlagPlaceholder, TyperCommand):
    pass


class _Group(_NoFlagPlaceholder, TyperGroup):
    """The app: every command runs with SIGTERM as Ctrl-C (so that staged files are cleaned up)
    and any error that escapes it becomes a one-line message and an exit code (``_exit_for``)."""

    def invoke(self, ctx):
        token = _DEBUG.set(bool(ctx.params.get("debug")))
        try:
            with _sigterm_as_interrupt():
                return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except BaseException as exc:  # KeyboardInterrupt included: exit 130, no traceback
            _exit_for(exc)
        finally:
            _DEBUG.reset(token)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt (in the main thread) while a command runs."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


app = typer.Typer(help=APP_HELP, add_completion=False, rich_markup_mode="rich", cls=_Group,
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

    def progress(self, *, study: bool = False):
        """Progress bars on stderr; ``study=True``: one per study (``_StudyBar``), with the runs
        running and failed and an estimate of the time left."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        if study:
            columns[3:3] = [TextColumn("{task.fields[state]}")]
            columns.append(TextColumn("{task.fields[eta]}"))
        return Progress(*columns, console=self.err, disable=self.quiet, transient=False)


class _StudyBar:
    """An ``on_progress`` callback that draws one study's bar (``Output.progress(study=True)``)."""

    def __init__(self, progress, label: str):
        self.progress, self.label, self.task, self.last = progress, label, None, None

    def __call__(self, p) -> None:
        if self.task is None:
            self.task = self.progress.add_task(self.label, total=p.total, state="", eta="")
        eta = "" if p.eta_s is None or p.done == p.total else f"~{_duration(p.eta_s)} left"
        state = f"running {p.running}, failed {p.failed}" + (f", {p.recorded_before} resumed" if p.recorded_before else "")
        self.progress.update(self.task, completed=p.done, state=state, eta=eta)
        self.last = p


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"




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
              "name": "--name", "grid_points": "--grid-points", "target": "--target", "features": "--features",
              "drop": "--drop", "sep": "--sep", "skip_rows": "--skip-rows", "impute": "--impute",
              "drop_missing": "--drop-missing", "test_size": "--test-size", "test": "--test",
              "split_seed": "--split-seed", "scheduler": "--scheduler", "retries": "--retries", "trials": "--trials",
              "seed": "--seed", "optimizer": "--optimizer", "beta": "--beta", "beta1": "--beta1", "beta2": "--beta2",
              "decay_rate": "--decay-rate", "decay_interval": "--decay-interval"}


def _usage_message(exc: Exception) -> str:
    """Prefix a library message ("keep_prob must be in (0, 1], got 1.5") with the CLI option it is about."""
    text = str(exc)
    first = text.split(" ", 1)[0]
    option = _OPTION_OF.get(first)
    return f"invalid value for {option}: {text}" if option else text


class _Guard:
    """Turn library errors into exit codes (``_exit_for``): bad input -> 2, a diverged fit -> 1."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or issubclass(exc_type, _PASS_THROUGH):
            return False
        _exit_for(exc)


_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException, SystemExit)  # typer's own exits and usage errors
_DEBUG: ContextVar[bool] = ContextVar("practicaldl_debug", default=False)  # the global --debug, per invocation


def _exit_for(exc: BaseException):
    """Exit with the code and the one-line message that ``exc`` calls for (the module docstring's
    codes); with ``--debug`` the traceback comes first."""
    from .engine.loop import NumericalError
    from .studies.executors import SchedulerLost

    if _DEBUG.get():
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        _fail("interrupted; files that were there before are as they were", EXIT_INTERRUPTED)
    if isinstance(exc, SchedulerLost):
        _fail(f"{exc}; the runs finished so far are recorded: run the same command again to do the rest",
              EXIT_FAILED_CHECK)
    if isinstance(exc, NumericalError):
        _fail(str(exc), EXIT_FAILED_CHECK)
    if isinstance(exc, OSError) and exc.errno is not None:  # the operating system's: permission, disk full, ...
        where = " -> ".join(repr(str(f)) for f in (exc.filename, exc.filename2) if f is not None)
        _fail(f"{where + ': ' if where else ''}{exc.strerror or exc}")
    if isinstance(exc, (UsageProblem, FileNotFoundError)):
        _fail(str(exc))
    if isinstance(exc, (ValueError, TypeError)):
        _fail(_usage_message(exc))
    if isinstance(exc, MemoryError):
        _fail(f"not enough memory: {exc or 'an allocation failed'}; use smaller inputs or settings")
    if isinstance(exc, RecursionError):
        _fail("an input nests too deeply to be read")
    _fail(f"internal error ({type(exc).__name__}: {str(exc)[:300]}); this is a bug in practicaldl: please report "
          "it with the traceback that 'practicaldl --debug ...' prints", EXIT_INTERNAL)


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


def _check_out_dir(out: Path, *, study: Optional[bool] = None, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be written (a file in the way, no
    permission); ``study=False``: also one that holds a study (its report comes from its records)."""
    from .io.files import check_writable_folder
    from .studies.store import StudyFolder

    check_writable_folder(out, option)
    if study is False and StudyFolder.holds_study(out):
        raise UsageProblem(f"invalid value for {option}: {str(out)!r} holds a study (study.json), whose report is "
                           f"made from its records: 'practicaldl report {out}'; choose another folder")
    return out


def _load_data(dataset: str, table: Optional[dict] = None, preprocessing=None):
    """The dataset of ``--dataset`` (and the table options); a model's ``preprocessing`` is applied, not refitted."""
    from .io.datasets import load_dataset
    from .studies.config import check_dataset

    return load_dataset(check_dataset(dataset), table or None, preprocessing=preprocessing)


def _data_for_model(dataset: str, table: dict, saved):
    """The data a saved model is checked on: a table model's rows go through its own preprocessing,
    read with its saved table options unless flags override them."""
    from .io.tables import is_table_path

    if saved.preprocessing is not None and is_table_path(dataset):
        return _load_data(dataset, {**saved.table["options"], **table}, saved.preprocessing)
    return _load_data(dataset, table)


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
FORCE_OPT = typer.Option(False, "--force", help="Replace files in --out that practicaldl did not write "
                                                "(an index.html of your own, say); without it they are refused.")
YES_OPT = typer.Option(False, "--yes", "-y", help=f"Run a study or search of more than {CONFIRM_RUNS:,} runs "
                                                  "(configurations x seeds); without it such a study is refused.")
DATASET_HELP = ("A built-in dataset (circles, moons, course_moons, noisy, breast_cancer, digits), a table (.csv, "
                ".tsv, .parquet: see the table options) or a .npz / .mat file.")
# the network that gradcheck and diagnose look at: a saved model, or a fresh one from these flags
MODEL_OPT = typer.Option(None, "--model", "-m", metavar="MODEL", help="A saved model (MODEL.npz + .json).")
DATASET_OPT = typer.Option("circles", "--dataset", "-d", metavar="NAME|FILE", help=DATASET_HELP)
FRESH_HIDDEN_OPT = typer.Option("10,5", "--hidden", metavar="SIZES", help="Hidden sizes of a fresh network (no --model).")
FRESH_ACTIVATION_OPT = typer.Option("relu", "--activation", metavar="NAME",
                                    help="Hidden activation of a fresh network: relu, tanh or sigmoid.")
FRESH_INIT_OPT = typer.Option("he", "--init", metavar="NAME",
                              help="Initialization of a fresh network: zeros, random, he, lecun, xavier, ...")
TORCH_OPT = typer.Option(None, "--torch", metavar="FILE.py", help="A Python file defining a PyTorch model and a batch: model, inputs, "
                                               "targets, loss_fn (see TORCH FILES in this help).")
TORCH_FILES_HELP = (
    "[bold]TORCH FILES[/bold]: --torch FILE.py runs the file (not as __main__: its main block does not run) and "
    "reads these names.\n\n"
    + "".join(f"[bold]{name}[/bold]: {what}.\n\n" for name, what in TORCH_FILE_NAMES.items())
    + "A file missing a name, or defining one of the wrong type, exits 2 with a message naming it.")
# where a study's runs execute
SCHEDULER_OPT = typer.Option(None, "--scheduler", metavar="ADDRESS",
                             help="Run on Dask: 'local' (a LocalCluster of --jobs worker processes) or a scheduler's "
                                  "address, tcp://HOST:PORT. Default: joblib processes here.")
JOBS_OPT = typer.Option(None, "--jobs", "-j", metavar="N", help="Processes (-1: all cores; default 1, or all cores with "
                        "--scheduler local); the records are the same for any value.")
RETRIES_OPT = typer.Option(3, "--retries", min=0, metavar="N",
                           help="Attempts after the first for a run whose worker process dies (joblib and --scheduler "
                                "local; a cluster of your own uses its distributed.scheduler.allowed-failures).")
SEED_HELP = "random_state of the network: initialization, minibatches and dropout masks all come from it."
# the optimizer's settings (train, compare); each applies to the optimizers that use it
OPTIMIZER_PANEL = "Optimizer options"
OPTIMIZER_NAMES = "gd (gradient descent), momentum, rmsprop or adam"
BETA_OPT = typer.Option(None, "--beta", metavar="BETA", rich_help_panel=OPTIMIZER_PANEL,
                        help="Momentum's averaging rate in [0, 1): v = beta v + (1 - beta) dW (default 0.9).")
BETA1_OPT = typer.Option(None, "--beta1", metavar="BETA1", rich_help_panel=OPTIMIZER_PANEL,
                         help="Adam's averaging rate of the gradients, in [0, 1) (default 0.9).")
BETA2_OPT = typer.Option(None, "--beta2", metavar="BETA2", rich_help_panel=OPTIMIZER_PANEL,
                         help="Adam's and RMSprop's averaging rate of the squared gradients, in [0, 1) (default 0.999).")
ADAM_EPSILON_OPT = typer.Option(None, "--epsilon", metavar="EPS", rich_help_panel=OPTIMIZER_PANEL,
                                help="Adam's and RMSprop's epsilon, added to sqrt(s) in the step's denominator "
                                     "(default 1e-8).")
DECAY_RATE_OPT = typer.Option(None, "--decay-rate", metavar="RATE", rich_help_panel=OPTIMIZER_PANEL,
                              help="Learning-rate decay after each epoch i: lr / (1 + RATE i) (default: none).")
DECAY_INTERVAL_OPT = typer.Option(None, "--decay-interval", metavar="EPOCHS", rich_help_panel=OPTIMIZER_PANEL,
                                  help="With --decay-rate, decay in steps: lr / (1 + RATE floor(i / EPOCHS)).")


def _optimizer_settings(beta, beta1, beta2, epsilon, decay_rate, decay_interval) -> dict:
    """The optimizer settings given on the command line (None: not given)."""
    given = {"beta": beta, "beta1": beta1, "beta2": beta2, "epsilon": epsilon, "decay_rate": decay_rate,
             "decay_interval": decay_interval}
    return {k: v for k, v in given.items() if v is not None}

# -- table options: one definition, added to every command that reads a dataset ----------------------
TABLE_PANEL = "Table options (.csv, .tsv, .parquet)"
TABLE_OPTIONS = {
    "target": (Optional[str], typer.Option(
        None, "--target", metavar="COLUMN", rich_help_panel=TABLE_PANEL,
        help="The label column: a name, or a 0-based position (-1, the default: the last column).")),
    "features": (Optional[List[str]], typer.Option(
        None, "--features", metavar="COLUMNS", rich_help_panel=TABLE_PANEL,
        help="Feature columns to use, comma-separated names or positions (default: all but the target).")),
    "drop": (Optional[List[str]], typer.Option(
        None, "--drop", metavar="COLUMNS", rich_help_panel=TABLE_PANEL,
        help="Columns to leave out (an identifier, a leak), comma-separated.")),
    "sep": (Optional[str], typer.Option(
        None, "--sep", metavar="CHAR", rich_help_panel=TABLE_PANEL,
        help="Field separator: one character, or tab, comma, semicolon, pipe (default: sniffed from the file).")),
    "header": (Optional[bool], typer.Option(
        None, "--header/--no-header", rich_help_panel=TABLE_PANEL,
        help="Whether the first line names the columns (default: it does); without one, columns are named "
             "by position: 0, 1, ...")),
    "skip_rows": (Optional[int], typer.Option(
        None, "--skip-rows", metavar="N", rich_help_panel=TABLE_PANEL,
        help="Lines to skip before the header or the data (default 0).")),
    "standardize": (Optional[bool], typer.Option(
        None, "--standardize/--no-standardize", rich_help_panel=TABLE_PANEL,
        help="Standardize numeric columns with the training rows' mean and standard deviation (default: on).")),
    "impute": (Optional[str], typer.Option(
        None, "--impute", metavar="STRATEGY", rich_help_panel=TABLE_PANEL,
        help="Fill missing values: mean, median or most_frequent of the training rows (text columns: "
             "most_frequent). Default: refuse missing values.")),
    "drop_missing": (Optional[bool], typer.Option(
        None, "--drop-missing/--refuse-missing", rich_help_panel=TABLE_PANEL,
        help="Drop the rows that have a missing value in a used column (default: refuse them).")),
    "test_size": (Optional[float], typer.Option(
        None, "--test-size", metavar="FRACTION", rich_help_panel=TABLE_PANEL,
        help="Share of the rows held out as the test set, stratified by label (default 0.25).")),
    "test": (Optional[Path], typer.Option(
        None, "--test", metavar="FILE", rich_help_panel=TABLE_PANEL,
        help="A separate test table with the same columns, instead of a split.")),
    "split_seed": (Optional[int], typer.Option(
        None, "--split-seed", metavar="N", rich_help_panel=TABLE_PANEL,
        help="Seed of the train / test split (default 0); apart from --seed, so every seed sees the same split.")),
}


def _column_list(values: Optional[List[str]]) -> Optional[list]:
    """``--features a,b --features c`` -> ["a", "b", "c"]; None when not given."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def with_table_options(command):
    """Add ``TABLE_OPTIONS`` to ``command``'s flags (before --json / --quiet); the command receives
    the options given on the command line as one dict, ``table`` (field name -> value)."""
    import functools
    import inspect
    import typing

    hints = typing.get_type_hints(command)
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(command).parameters.values()
           if p.name != "table"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
             for name, (annotation, option) in TABLE_OPTIONS.items()]
    tail = [p for p in own if p.name in ("json_out", "quiet")]
    own = [p for p in own if p not in tail]

    @functools.wraps(command)
    def wrapper(**kwargs):
        given = {name: kwargs.pop(name) for name in TABLE_OPTIONS}
        given["features"], given["drop"] = _column_list(given["features"]), _column_list(given["drop"])
        if given["test"] is not None:
            given["test"] = str(given["test"])
        table = {k: v for k, v in given.items() if v is not None}
        if "test" in table and "test_size" in table:
            _fail("invalid value for --test: --test and --test-size exclude each other "
                  "(a separate test file, or a split of the table)")
        return command(table=table, **kwargs)

    params = [*own, *added, *tail]
    wrapper.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params])
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="On an error, print the Python traceback before the "
                                                            "one-line message (for a bug report).")):
    """Show the help when no command is given (exit 0)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


# -- demo ------------------------------------------------------------------------------------------
@app.command(cls=_Command)
def demo(out: Path = typer.Option(Path("practicaldl-report"), "--out", "-o", metavar="DIR",
                                  help="Report folder (created)."),
         jobs: int = typer.Option(-1, "--jobs", "-j", metavar="N", help="Processes for the runs (-1: all cores)."),
         quick: bool = typer.Option(False, "--quick", help="Few iterations and one seed: a smoke test, not the study."),
         force: bool = FORCE_OPT, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """[bold]The main job[/bold]: the four classic studies on built-in data, and a report a person opens.

    Initialization (zeros / random x10 / He on circles), regularization (none / L2 / dropout on the noisy
    2-D set), optimization (gradient descent / momentum / Adam, with and without learning-rate decay, on
    the course's moons) and gradient checking (a correct backprop passes, a planted bug in dW2 is found).
    Writes results.json, figures/*.png, summary.md, index.html (self-contained) and models/ to --out, as
    one set: they replace an earlier demo's together when the demo ends (an interrupted or failed demo
    leaves the old ones).

    Examples:

      practicaldl demo

      practicaldl demo --out /tmp/report --jobs 2

      practicaldl demo --json --quiet
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .io.folders import REPORT_ENTRIES, FolderUpdate
        from .report import gradcheck_ok, make_results, tables
        from .report.pages import render_files, write_files
        from .studies.classic import demo_studies, gradcheck_study

        _check_out_dir(out, study=False)
        if jobs == 0 or jobs < -1:
            raise UsageProblem(f"invalid value for --jobs: it must be a positive integer or -1, got {jobs}")
        studies = demo_studies(quick=quick)
        with FolderUpdate(out, (*REPORT_ENTRIES, "models"), force=force) as update:
            sections = _run_studies(studies, jobs, update.path, o)
            notes = _demo_notes(quick)
            sections.append(gradcheck_study())
            doc = make_results(sections, title="practicaldl demo: initialization, regularization, optimization, "
                                                 "gradient checking",
                               notes=notes)
            written = write_files(update, render_files(doc))
        _finish(o, doc, out, written, tables(doc))
        failed = [s["config"]["name"] for s in sections
                  if s["kind"] == "study" and all(r["error"] is not None for r in s["records"])]
        if failed:
            _fail(f"every run of the {', '.join(failed)} study failed; the failed runs tables in "
                  f"{out / 'index.html'} say why", EXIT_FAILED_CHECK)
        if not gradcheck_ok(doc):
            o.message("[red]A gradient check did not come out as expected.[/red]")
            raise typer.Exit(EXIT_FAILED_CHECK)


def _demo_notes(quick: bool) -> list:
    from .studies.classic import OPTIMIZATION_EPOCHS

    notes = ["Each configuration runs over several seeds; tables give mean ± standard deviation over seeds. "
             "The demo uses fewer seeds than a full study (3 per configuration) and fewer iterations than the "
             f"course in two studies: regularization 20000 where the course runs 30000, optimization "
             f"{OPTIMIZATION_EPOCHS} epochs where it runs 5000.",
             "Seed 3 of the initialization study uses the course's settings exactly (the course reports "
             "zeros 0.5 / 0.5, random x10 0.83 / 0.86, He 0.9933 / 0.96 train / test accuracy).",
             "Re-render this report without retraining: practicaldl report DIR."]
    if quick:
        notes.insert(0, "QUICK MODE: a few hundred iterations and one seed; the numbers show nothing yet.")
    return notes


def _run_studies(studies, jobs, out: Path, o: Output) -> list:
    from .studies.runner import run_study

    with o.progress(study=True) as progress:
        return [run_study(study, jobs=jobs, model_dir=out / "models", on_progress=_StudyBar(progress, f"{study.name:<16}"))
                for study in studies]


@contextmanager
def _stoppable(out: Path):
    """Ctrl-C or SIGTERM during a study: the runs recorded so far stay in ``out``; say how many, exit 130."""
    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        from .studies.store import StudyFolder

        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the message short
        manifest = StudyFolder(out).manifest() if StudyFolder.holds_study(out) else None
        recorded = len(StudyFolder(out).records())
        total = f" of {len(manifest['runs'])}" if manifest else ""
        sys.stderr.write(f"Interrupted: {recorded}{total} runs are recorded in {out}. Run the same command again "
                         f"(or with --resume {out}) to do the rest; 'practicaldl report {out}' shows what is there.\n")
        raise typer.Exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_folder(kind: str, config, *, out: Path, scheduler, jobs, retries, force: bool, yes: bool,
                o: Output) -> tuple[dict, dict]:
    """Run a study or a search in its folder ``out`` (resumed where it has records), with a progress
    bar; more than ``CONFIRM_RUNS`` runs only with ``--yes``."""
    from .studies.runner import run_study
    from .studies.search import run_search

    n_runs = config.n_runs if kind == "study" else config.trials * len(config.seeds)
    if n_runs > CONFIRM_RUNS and not yes:
        raise UsageProblem(f"this {kind} has {n_runs:,} runs, more than {CONFIRM_RUNS:,}: add --yes to run them "
                           "(or make the grid smaller)")
    run = run_study if kind == "study" else run_search
    if scheduler is not None and not o.quiet:
        o.message(f"Starting the runs on {'a local Dask cluster' if scheduler == 'local' else scheduler} ...")
    with _stoppable(out), o.progress(study=True) as progress:
        bar = _StudyBar(progress, f"{config.name:<16}")
        section = run(config, jobs=jobs, scheduler=scheduler, out=out, retries=retries, on_progress=bar, force=force)
    p = bar.last
    section_runs = {"total": p.total, "recorded_before": p.recorded_before, "run_now": p.done - p.recorded_before,
                    "failed": p.failed}
    if p.recorded_before:
        o.message(f"{p.recorded_before} of {p.total} runs were recorded in {out} already; ran the other "
                  f"{p.total - p.recorded_before}.")
    return section, section_runs


def _study_options(resume: Optional[Path], out: Path, kind: str, given: dict):
    """The folder and, with --resume, the configuration recorded there."""
    from .studies.store import StudyFolder

    if resume is None:
        return out, None
    if given:
        raise UsageProblem(f"--resume takes the {kind} from {str(resume)!r}; give it no {kind} options "
                           f"(got {', '.join(sorted(given))})")
    if not StudyFolder.holds_study(resume):
        raise UsageProblem(f"invalid value for --resume: {str(resume)!r} holds no study (no study.json)")
    manifest = StudyFolder(resume).manifest()
    if manifest["kind"] != kind:
        raise UsageProblem(f"invalid value for --resume: {str(resume)!r} holds a {manifest['kind']}, not a {kind}")
    return resume, manifest["config"]


def _claim_study_folder(out: Path, force: bool) -> None:
    """Refuse, before any work, a --out that holds a study's entries that practicaldl did not write."""
    from .studies.store import StudyFolder

    StudyFolder(out).check_claim(force=force)


def _finish_study(o: Output, section: dict, out: Path, runs: dict) -> None:
    """Write the report of a finished study or search; exit 1 when every run failed."""
    from .report import study_results, tables, write_report

    _show_warnings(o, (section.get("dataset") or {}).get("warnings") or [])
    doc = study_results(section)
    written = write_report(doc, out)
    for table in tables(doc):
        o.show(_table(table))
    o.message(f"Report written: [bold]{out / 'index.html'}[/bold] (also summary.md, results.json, figures/; "
              f"runs/ holds one record per run)")
    o.json({"out": str(out), "index": str(out / "index.html"), "files": sorted(written), "tables": tables(doc),
            "notes": doc["notes"], "runs": runs})
    records = section["records"]
    if records and all(r["error"] is not None for r in records):
        sys.stderr.write(f"Error: every run failed ({len(records)} runs); the failed runs table in "
                         f"{out / 'index.html'} says why.\n")
        raise typer.Exit(EXIT_FAILED_CHECK)
    if runs["failed"]:
        o.message(f"[yellow]{runs['failed']} of {runs['total']} runs failed[/yellow]: see the failed runs table.")




def _finish(o: Output, doc, out: Path, written: dict, table_list: list, **extra) -> None:
    for table in table_list:
        o.show(_table(table))
    o.message(f"Report written: [bold]{out / 'index.html'}[/bold] (also summary.md, results.json, figures/)")
    o.json({"out": str(out), "index": str(out / "index.html"), "files": sorted(written), "tables": table_list,
            "notes": doc.get("notes", []), **extra})


# -- train -----------------------------------------------------------------------------------------
@app.command(cls=_Command)
@with_table_options
def train(dataset: str = typer.Option("circles", "--dataset", "-d", metavar="NAME|FILE", help=DATASET_HELP),
          hidden: str = typer.Option("10,5", "--hidden", metavar="SIZES", help="Hidden layer sizes, comma-separated."),
          activation: str = typer.Option("relu", "--activation", metavar="NAME", help="relu, tanh or sigmoid."),
          init: str = typer.Option("he", "--init", metavar="NAME",
                                   help="zeros, random, he, lecun, xavier, ... (see INITIALIZERS)."),
          init_scale: float = typer.Option(1.0, "--init-scale", metavar="SCALE",
                                           help="Multiplies the initial weights' std."),
          l2: float = typer.Option(0.0, "--l2", metavar="L2", help="L2 strength: (l2 / 2m) sum ||W||^2."),
          keep_prob: float = typer.Option(1.0, "--keep-prob", metavar="P", help="Dropout keep probability in (0, 1]."),
          learning_rate: float = typer.Option(0.01, "--learning-rate", "--lr", metavar="RATE",
                                              help="The optimizer's (initial) step size."),
          optimizer: str = typer.Option("gd", "--optimizer", metavar="NAME", rich_help_panel=OPTIMIZER_PANEL,
                                        help=f"The optimizer: {OPTIMIZER_NAMES}."),
          beta: Optional[float] = BETA_OPT, beta1: Optional[float] = BETA1_OPT, beta2: Optional[float] = BETA2_OPT,
          epsilon: Optional[float] = ADAM_EPSILON_OPT, decay_rate: Optional[float] = DECAY_RATE_OPT,
          decay_interval: Optional[int] = DECAY_INTERVAL_OPT,
          max_iter: int = typer.Option(15000, "--max-iter", metavar="N", help="Iterations (epochs with --batch-size)."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", metavar="N",
                                                   help="Minibatch size (default: full batch)."),
          seed: int = typer.Option(0, "--seed", metavar="SEED", help=SEED_HELP),
          model: Path = typer.Option(Path("model"), "--model", "-m", metavar="MODEL",
                                     help="Save as MODEL.npz + MODEL.json (with a table's preprocessing)."),
          force: bool = typer.Option(False, "--force", help="Replace MODEL.npz / MODEL.json even when they are not "
                                                            "a practicaldl model; without it they are refused."),
          table: dict = None, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Train one network, save it (.npz + .json) and print its train / test accuracy.

    A table (.csv, .tsv, .parquet) is split into train and test rows (or --test FILE), its numeric
    columns standardized and its text columns one-hot encoded on the training rows; that
    preprocessing is saved with the model, so predict takes raw rows. Warnings say when the result
    is no better than guessing the most frequent class, when the label column looks continuous, and
    when unstandardized features differ wildly in scale.

    Examples:

      practicaldl train --dataset circles --init he --max-iter 15000 --seed 3 --model he

      practicaldl train -d penguins.csv --target species --impute median --lr 0.1 --max-iter 2000 --model penguins

      practicaldl train -d course_moons --hidden 5,2 --optimizer adam --lr 0.0007 --batch-size 64 --max-iter 2000 --seed 3

      practicaldl train -d course_moons --hidden 5,2 --optimizer momentum --lr 0.1 --decay-rate 1 --decay-interval 1000 --batch-size 64 --max-iter 2000

      practicaldl train -d wine_data.csv --no-header --skip-rows 1 --target -1 --model wine --json
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .diagnostics.fit import majority_baseline
        from .diagnostics.inputs import SubnormalInputWarning
        from .estimator import NeuralNetClassifier
        from .io.files import check_writable_folder
        from .io.models import check_replaceable_model, model_paths, save_model

        clf = NeuralNetClassifier(parse_hidden(hidden), activation=activation, init=init, init_scale=init_scale,
                                  learning_rate=learning_rate, optimizer=optimizer, max_iter=max_iter,
                                  batch_size=batch_size, l2=l2, keep_prob=keep_prob, random_state=seed,
                                  **_optimizer_settings(beta, beta1, beta2, epsilon, decay_rate, decay_interval))
        clf._check_params()
        if model.exists() and model.is_dir():
            raise UsageProblem(f"invalid value for --model: it must be a file name stem, got the folder {str(model)!r}")
        check_writable_folder(model_paths(model)[0].parent, "--model")
        check_replaceable_model(model, force=force)
        data = _load_data(dataset, table)
        info = data.info
        o.message(f"Training {clf.hidden_layer_sizes} on {data.name}: {len(data.y_train)} train / "
                  f"{len(data.y_test)} test rows ({info['split']['description']}), {data.X_train.shape[1]} features, "
                  f"{max_iter} iterations ...")
        warnings = list(info["warnings"])
        _show_warnings(o, warnings)
        with catch_warnings():  # a label column that looks continuous, subnormal inputs: in our own warnings above
            filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            filterwarnings("ignore", category=SubnormalInputWarning)
            clf.fit(data.X_train, data.y_train)
        test_accuracy = float(clf.score(data.X_test, data.y_test))
        baseline = majority_baseline(data.y_test, test_accuracy)
        if baseline is not None:
            warnings.append(f"{baseline.message}; try: {baseline.suggestion}")
            _show_warnings(o, warnings[-1:])
        result = {"dataset": data.name, "split": info["split"]["description"],
                  "train_rows": int(len(data.y_train)), "test_rows": int(len(data.y_test)),
                  "train_accuracy": float(clf.score(data.X_train, data.y_train)), "test_accuracy": test_accuracy,
                  "final_cost": float(clf.cost_history_[-1]), "n_iter": int(clf.n_iter_),
                  "optimizer": clf.optimizer_.describe(), "final_learning_rate": float(clf.learning_rate_history_[-1])}
        if info.get("kind") == "table":
            result.update(target=info["target"], features=info["features"], classes=clf.classes_.tolist())
        npz_path, json_path = save_model(clf, model, data=data, force=force)
        result.update(model=str(npz_path), metadata=str(json_path), warnings=warnings)
        shown = {**result, "optimizer": _optimizer_line(clf.optimizer_)}
        o.show(_table({"title": f"practicaldl train: {data.name}", "columns": ["quantity", "value"],
                       "rows": [[k, _short(v)] for k, v in shown.items() if k not in ("warnings", "features")]}))
        o.message(f"Model saved: {npz_path} + {json_path.name}")
        o.json(result)


def _show_warnings(o: Output, warnings: list) -> None:
    from rich.markup import escape

    for text in warnings:
        o.message(f"[yellow]Warning:[/yellow] {escape(text)}")


def _optimizer_line(optimizer) -> str:
    """``"adam (beta1 0.9, beta2 0.999, epsilon 1e-08), decay lr0 / (1 + 1 floor(epoch / 1000))"``."""
    from .report.document import optimizer_text

    text = optimizer_text(optimizer.name, optimizer.describe())
    schedule = optimizer.schedule
    if schedule is not None:
        text += ", decay " + (schedule.describe() if hasattr(schedule, "describe") else repr(schedule))
    return text


def _short(v):
    if isinstance(v, float):
        return f"{v:.4f}"
    return ", ".join(str(x) for x in v) if isinstance(v, list) else v


# -- compare ---------------------------------------------------------------------------------------
@app.command(cls=_Command)
@with_table_options
def compare(config: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE.toml",
                                                  help="A study in a TOML file (flags given here override it)."),
            dataset: Optional[str] = typer.Option(None, "--dataset", "-d", metavar="NAME|FILE", help=DATASET_HELP),
            hidden: Optional[str] = typer.Option(None, "--hidden", metavar="SIZES",
                                                 help="Hidden layer sizes, comma-separated (default 10,5)."),
            activation: Optional[str] = typer.Option(None, "--activation", metavar="NAME",
                                                     help="Hidden activation: relu (default), tanh or sigmoid."),
            init: Optional[List[str]] = typer.Option(None, "--init", metavar="NAME",
                                                     help="Grid axis; repeat: --init zeros --init he (default he)."),
            init_scale: Optional[float] = typer.Option(None, "--init-scale", metavar="SCALE",
                                                       help="Multiplies the initial weights' std (default 1)."),
            l2: Optional[List[float]] = typer.Option(None, "--l2", metavar="L2",
                                                     help="Grid axis; repeat: --l2 0 --l2 0.7 (default 0)."),
            keep_prob: Optional[List[float]] = typer.Option(None, "--keep-prob", metavar="P",
                                                            help="Grid axis, dropout keep probability; repeat "
                                                                 "(default 1: no dropout)."),
            learning_rate: Optional[List[float]] = typer.Option(None, "--learning-rate", "--lr", metavar="RATE",
                                                                help="Grid axis; repeat (default 0.01)."),
            optimizer: Optional[List[str]] = typer.Option(None, "--optimizer", metavar="NAME",
                                                          rich_help_panel=OPTIMIZER_PANEL,
                                                          help=f"Grid axis; repeat: --optimizer gd --optimizer adam. "
                                                               f"{OPTIMIZER_NAMES} (default gd)."),
            beta: Optional[float] = BETA_OPT, beta1: Optional[float] = BETA1_OPT, beta2: Optional[float] = BETA2_OPT,
            epsilon: Optional[float] = ADAM_EPSILON_OPT, decay_rate: Optional[float] = DECAY_RATE_OPT,
            decay_interval: Optional[int] = DECAY_INTERVAL_OPT,
            seed: Optional[List[int]] = typer.Option(None, "--seed", metavar="SEED",
                                                     help="Seeds; repeat (default 0, 1, 2)."),
            max_iter: Optional[int] = typer.Option(None, "--max-iter", metavar="N", help="Iterations (default 1000)."),
            batch_size: Optional[int] = typer.Option(None, "--batch-size", metavar="N",
                                                     help="Minibatch size (default: full batch)."),
            name: Optional[str] = typer.Option(None, "--name", metavar="NAME",
                                               help="The study's name (figure file names)."),
            target_error: Optional[float] = typer.Option(None, "--target-error", metavar="ERROR",
                                                         help="Human-level (or Bayes) error for the bias / variance "
                                                              "column (default 0)."),
            scheduler: Optional[str] = SCHEDULER_OPT, jobs: Optional[int] = JOBS_OPT, retries: int = RETRIES_OPT,
            yes: bool = YES_OPT, force: bool = FORCE_OPT,
            out: Path = typer.Option(Path("practicaldl-compare"), "--out", "-o", metavar="DIR",
                                     help="The study folder: one record per run as it finishes, the models, the "
                                          "report. Run the same command again to resume an interrupted study."),
            resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR",
                                                  help="Resume the study recorded in this folder (its configuration "
                                                       "is read from there; no study options)."),
            table: dict = None, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Run a study (a grid init x l2 x keep_prob x learning rate x optimizer, over seeds) and write a report.

    The study comes from flags or from a TOML file (--config) whose keys are StudyConfig's fields
    (name, dataset, hidden_layer_sizes, init, l2, keep_prob, learning_rate, optimizer, beta, beta1,
    beta2, epsilon, decay_rate, decay_interval, seeds, max_iter, configurations, ...)
    and, for a table, a \\[table] section with the table options (target, features, drop, impute, ...).
    The report names the data (file, rows, columns, target, preprocessing, split), the network and
    every hyperparameter. The runs go to local processes (--jobs), a local Dask cluster (--scheduler
    local) or a Dask cluster (--scheduler tcp://HOST:PORT); the records are the same. Each finished
    run is written to --out at once: after Ctrl-C (exit 130) or a lost scheduler, the same command
    does only the runs that are missing. A run that fails is recorded and reported apart; exit 1
    when every run failed.

    Examples:

      practicaldl compare --dataset circles --init zeros --init he --max-iter 2000 --seed 1 --seed 2

      practicaldl compare --dataset noisy --hidden 20,3 --init lecun --lr 0.3 --l2 0 --l2 0.7 --keep-prob 1 --keep-prob 0.86 --target-error 0.15

      practicaldl compare -d penguins.csv --target species --impute median --lr 0.1 --l2 0 --l2 1

      practicaldl compare -d course_moons --hidden 5,2 --batch-size 64 --lr 0.0007 --optimizer gd --optimizer momentum --optimizer adam --max-iter 2000

      practicaldl compare --config study.toml --jobs 2 --out report

      practicaldl compare --config study.toml --scheduler tcp://10.0.0.5:8786 --out report

      practicaldl compare --resume report --scheduler local --jobs 4
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .studies.config import StudyConfig

        flags = {"dataset": dataset, "hidden_layer_sizes": parse_hidden(hidden) if hidden else None,
                 "activation": activation, "init": init, "init_scale": init_scale, "l2": l2, "keep_prob": keep_prob,
                 "learning_rate": learning_rate, "seeds": seed, "max_iter": max_iter, "batch_size": batch_size,
                 "name": name, "target_error": target_error, "optimizer": optimizer,
                 **_optimizer_settings(beta, beta1, beta2, epsilon, decay_rate, decay_interval)}
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in flags.items() if v not in (None, [], ())}
        options = {**given, **({"config": config} if config else {}), **({"table": table} if table else {})}
        out, recorded = _study_options(resume, out, "study", options)
        _check_out_dir(out)
        _claim_study_folder(out, force)
        if recorded is not None:
            study = StudyConfig.from_dict(recorded)
        else:
            if config is not None:
                if not config.is_file():
                    raise UsageProblem(f"invalid value for --config: the file {str(config)!r} does not exist")
                base = StudyConfig.from_toml(config).to_dict()
            else:
                base = {"name": "compare", "seeds": (0, 1, 2)}
            if table:
                given["table"] = {**(base.get("table") or {}), **table}
            study = StudyConfig.from_dict({**base, **given})
        section, runs = _run_folder("study", study, out=out, scheduler=scheduler, jobs=jobs, retries=retries,
                                    force=force, yes=yes, o=o)
        _finish_study(o, section, out, runs)


# -- search ----------------------------------------------------------------------------------------
@app.command(cls=_Command)
@with_table_options
def search(config: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE.toml",
                                                 help="A search in a TOML file: its space and settings "
                                                      "(see examples/search.toml)."),
           trials: Optional[int] = typer.Option(None, "--trials", "-n", metavar="N",
                                                help="Number of trials (overrides the file's)."),
           seed: Optional[int] = typer.Option(None, "--seed", metavar="SEED",
                                              help="The seed that draws the trials and the validation split "
                                                   "(overrides the file's)."),
           dataset: Optional[str] = typer.Option(None, "--dataset", "-d", metavar="NAME|FILE", help=DATASET_HELP),
           scheduler: Optional[str] = SCHEDULER_OPT, jobs: Optional[int] = JOBS_OPT, retries: int = RETRIES_OPT,
           yes: bool = YES_OPT, force: bool = FORCE_OPT,
           out: Path = typer.Option(Path("practicaldl-search"), "--out", "-o", metavar="DIR",
                                    help="The search folder (records, models, report); run again to resume, or "
                                         "with more --trials to extend the search."),
           resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR",
                                                 help="Resume the search recorded in this folder."),
           table: dict = None, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Random search: hyperparameters drawn at random (log-uniform learning rate and l2, ...), and a report.

    The TOML file gives the space: learning_rate = [1e-4, 1.0] (log-uniform), l2 = [1e-3, 10.0]
    (log-uniform), keep_prob = [0.8, 0.9, 1.0] (a choice), hidden_layer_sizes = [[4, 64], [2, 32]]
    (integer widths), init = ["he", "lecun"], or any distribution by name: {uniform = \\[a, b]},
    {loguniform = \\[a, b]}, {one_minus_loguniform = [0.9, 0.999]}, {int = \\[a, b]}, {log_int = \\[a, b]},
    {choice = [...]}. A table's options go on the command line or in a \\[table] section. The same seed gives the same trials; each trial is scored on a validation
    split of the training set. The report: the best trials, and validation accuracy against each
    hyperparameter. Runs locally or on Dask, and resumes, as compare does.

    Examples:

      practicaldl search --config examples/search.toml --trials 30

      practicaldl search --config examples/search.toml --trials 200 --scheduler tcp://10.0.0.5:8786

      practicaldl search --config examples/search.toml --trials 60 --out practicaldl-search
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .studies.search import SearchConfig

        given = {k: v for k, v in {"trials": trials, "seed": seed, "dataset": dataset}.items() if v is not None}
        options = {**({"config": config} if config else {}), **({"table": table} if table else {})}
        out, recorded = _study_options(resume, out, "search", options)
        _check_out_dir(out)
        _claim_study_folder(out, force)
        if recorded is not None:
            settings = {**recorded, **given}
        elif config is not None:
            if not config.is_file():
                raise UsageProblem(f"invalid value for --config: the file {str(config)!r} does not exist")
            settings = {**SearchConfig.from_toml(config).to_dict(), **given}
            if table:
                settings["table"] = {**(settings.get("table") or {}), **table}
        else:
            raise UsageProblem("give --config FILE (a search TOML, such as examples/search.toml) or --resume DIR")
        section, runs = _run_folder("search", SearchConfig.from_dict(settings), out=out, scheduler=scheduler, jobs=jobs,
                                    retries=retries, force=force, yes=yes, o=o)
        _finish_study(o, section, out, runs)


# -- gradcheck -------------------------------------------------------------------------------------
@app.command(cls=_Command, epilog=TORCH_FILES_HELP)
@with_table_options
def gradcheck(ctx: typer.Context, model: Optional[Path] = MODEL_OPT, dataset: str = DATASET_OPT,
              hidden: str = FRESH_HIDDEN_OPT,
              activation: str = FRESH_ACTIVATION_OPT, init: str = FRESH_INIT_OPT,
              l2: float = typer.Option(0.0, "--l2", metavar="L2", help="L2 strength in the checked cost."),
              keep_prob: float = typer.Option(1.0, "--keep-prob", metavar="P",
                                              help="Dropout during the check (masks replayed)."),
              seed: int = typer.Option(1, "--seed", metavar="SEED",
                                       help="Seed of a fresh network's weights and biases and of the dropout masks."),
              max_samples: int = typer.Option(64, "--max-samples", metavar="N", help="Examples used (the first ones)."),
              epsilon: float = typer.Option(1e-7, "--epsilon", metavar="EPS",
                                            help="The gradient check's finite-difference step: (J(theta + EPS) - "
                                                 "J(theta - EPS)) / (2 EPS), at the first look."),
              plant_bug: Optional[str] = typer.Option(None, "--plant-bug", metavar="GRADIENT",
                                                      help="Double one gradient (e.g. dW2) to see the check catch it."),
              code: Optional[Path] = typer.Option(None, "--code", metavar="FILE.py",
                                                  help="Your own backprop: a Python file defining `parameters` and "
                                                       "`cost_and_gradients`, or the course's pair (see above)."),
              torch_file: Optional[Path] = TORCH_OPT,
              method: Optional[str] = typer.Option(None, "--method", metavar="METHOD",
                                                   help="structured (the default for practicaldl's network: every "
                                                        "entry, fast), loop (every entry; the default with --code and "
                                                        "--torch) or directional (random directions, then one verdict "
                                                        "per parameter; for large models)."),
              table: dict = None, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Check backprop against centred differences: one line per parameter, a verdict.

    The network is a saved model (--model), a fresh one (--hidden, --init, ...;
    biases 0.1 N(0, 1), so that no unit sits exactly at a ReLU kink), your own
    code (--code FILE.py) or a PyTorch model (--torch FILE.py). The cost's
    rounding noise is measured, not assumed, and a parameter that fails at
    --epsilon gets a second look at a step suited to the noise before any
    failing verdict.

    Verdicts: right, inconclusive (the check cannot tell; the cause and a remedy
    are printed), look closer, bug. Exit code 0 when every parameter is right, 1
    when the check fails or is inconclusive (the message says which), 2 for bad
    usage or a file that does not define the names it must.

    --code FILE.py must define `parameters` (a dict of named arrays: W1, b1, ...
    or any names) and `cost_and_gradients(parameters)` returning (cost, grads),
    grads keyed "d" + name (dW1 for W1); or, the course's way, `parameters`,
    `X`, `Y`, `forward_propagation_n(X, Y, parameters)` returning (cost, cache)
    and `backward_propagation_n(X, Y, cache)` returning grads
    (`forward_propagation` / `backward_propagation` work too). Your own cost
    function is the one perturbed.

    With --torch FILE.py: a PyTorch model's gradients by parameter name
    (0.weight, fc1.bias, ...), in float64. Dropout draws the same masks in every
    evaluation; --epsilon defaults to 1e-6; FILE.py: see TORCH FILES below.

    Examples:

      practicaldl gradcheck --hidden 5,3 --l2 0.7 --keep-prob 0.8

      practicaldl gradcheck --plant-bug dW2

      practicaldl gradcheck --code examples/gradcheck_course.py

      practicaldl gradcheck --model he --dataset circles --json

      practicaldl gradcheck --torch examples/torch_custom_function_bug.py

      practicaldl gradcheck --torch big_model.py --method directional
    """
    o = Output(json_out, quiet)
    if torch_file is not None:
        return _torch_gradcheck(ctx, o, torch_file, method)
    with _Guard():
        from . import gradcheck as gc

        if max_samples <= 0:
            raise UsageProblem(f"invalid value for --max-samples: it must be a positive integer, got {max_samples}")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise UsageProblem(f"invalid value for --epsilon: it must be a positive finite number, got {epsilon}")
        if method is not None and method not in gc.METHODS:
            raise UsageProblem(f"invalid value for --method: it must be one of {list(gc.METHODS)}, got {method!r}")
        if code is not None:
            report, source = _code_gradcheck(ctx, gc, code, epsilon, method or "loop")
        elif model is not None:
            if plant_bug:
                raise UsageProblem("--plant-bug works on a fresh network, not with --model")
            from .io.models import load_saved

            saved = load_saved(model)
            clf, data = saved.estimator, _data_for_model(dataset, table, saved)
            if data.X_train.shape[1] != clf.n_features_in_:
                raise UsageProblem(f"invalid value for --dataset: the model expects {clf.n_features_in_} features, "
                                   f"{data.name} has {data.X_train.shape[1]}")
            report = gc.check_classifier_gradients(clf, data.X_train, data.y_train, epsilon=epsilon,
                                                   max_samples=max_samples, method=method or "structured")
            source = {"model": str(model), "dataset": data.name}
        else:
            data = _load_data(dataset, table)
            report, source = _fresh_gradcheck(gc, data, parse_hidden(hidden), activation, init, l2, keep_prob, seed,
                                              max_samples, epsilon, plant_bug, method or "structured")
        _gradcheck_result(o, report, source)


def _gradcheck_result(o: Output, report, source: dict) -> None:
    """Show the report; exit 1 when it did not pass, the message saying failed or inconclusive, and why."""
    o.show(report)
    o.json({"source": source, **report.to_dict()})
    if report.passed:
        o.message(f"[green]Gradient check passed[/green]: difference {report.difference:.3g}")
        return
    if report.verdict == "inconclusive":  # "inconclusive: b2 (cause; remedy)"
        o.message(f"[red]Gradient check inconclusive[/red]: {report.message.split(': ', 1)[1]}")
    else:
        o.message(f"[red]Gradient check failed[/red]: {report.message}")
    raise typer.Exit(EXIT_FAILED_CHECK)


def _code_gradcheck(ctx, gc, code: Path, epsilon, method):
    given = [p.opts[0] for p in ctx.command.params
             if p.name not in ("code", "method", "epsilon", "json_out", "quiet") and _given(ctx, p.name)]
    if given:
        raise UsageProblem(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply with --code "
                           "(the file defines the parameters and the cost)")
    if method == "structured":
        raise UsageProblem("invalid value for --method: structured checks practicaldl's own network; with --code "
                           "use loop or directional")
    from .gradcheck.usercode import load_module, user_problem

    problem = user_problem(load_module(code), code.name)
    check = gc.directional_check if method == "directional" else gc.gradient_check
    report = check(problem.cost_fn, problem.parameters, problem.grads, epsilon)
    return report, {"code": str(code), "style": problem.style, "method": method}


def _fresh_gradcheck(gc, data, sizes, activation, init, l2, keep_prob, seed, max_samples, epsilon, plant_bug,
                     method="structured"):
    from sklearn.preprocessing import LabelBinarizer

    from .core.network import backward_propagation, initialize_parameters

    X = data.X_train[:max_samples].T.astype(np.float64)  # (n_x, m)
    classes = np.unique(data.y_train)
    Y = LabelBinarizer().fit(classes).transform(data.y_train[:max_samples]).T.astype(np.float64)  # (n_L, m)
    output = "sigmoid" if len(classes) == 2 else "softmax"
    _check_fresh_network(sizes, data)
    rng = np.random.RandomState(seed)
    params = initialize_parameters([X.shape[0], *sizes, Y.shape[0]], init=init, rng=rng)
    for k in params:  # zero biases would put units exactly at a ReLU kink (an example whose inputs dropout removed)
        if k[0] == "b":
            params[k] = 0.1 * rng.standard_normal(params[k].shape)
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
                               activation=activation, output=output, backward=backward, method=method)
    source = {"dataset": data.name, "layer_dims": [X.shape[0], *sizes, Y.shape[0]], "init": init, "l2": l2,
              "keep_prob": keep_prob, "seed": seed, "m": X.shape[1], "plant_bug": plant_bug, "method": method}
    return report, source


def _check_fresh_network(sizes: tuple, data) -> None:
    """Refuse a fresh network too large for this machine's memory before it is drawn."""
    from .estimator import check_network_memory

    n_classes = len(np.unique(data.y_train))
    check_network_memory([data.X_train.shape[1], *sizes, 1 if n_classes <= 2 else n_classes], len(data.y_train))


# -- diagnose --------------------------------------------------------------------------------------
@app.command(cls=_Command, epilog=TORCH_FILES_HELP)
@with_table_options
def diagnose(ctx: typer.Context, model: Optional[Path] = MODEL_OPT, dataset: str = DATASET_OPT,
             hidden: str = FRESH_HIDDEN_OPT,
             activation: str = FRESH_ACTIVATION_OPT, init: str = FRESH_INIT_OPT,
             init_scale: float = typer.Option(1.0, "--init-scale", metavar="SCALE",
                                              help="Multiplies a fresh network's initial weights' std."),
             seed: int = typer.Option(0, "--seed", metavar="SEED", help="Seed of a fresh network's weights."),
             target_error: float = typer.Option(0.0, "--target-error", min=0.0, max=1.0, metavar="ERROR",
                                                help="Human-level (or Bayes) error the model is measured against "
                                                     "for avoidable bias, e.g. 0.15 for data with 15% label noise."),
             torch_file: Optional[Path] = TORCH_OPT,
             plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE.png",
                                                 help="Also draw each layer's activation histogram to this .png file."),
             table: dict = None, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Diagnose a network: symmetry, dead units, saturation, vanishing / exploding signals, bias / variance.

    A saved model is diagnosed as trained (with its train / test accuracy on --dataset); without --model,
    a fresh network as it would start training. Exit code 1 when there is an error-severity finding.

    With --torch FILE.py: a PyTorch model, through hooks on its Linear and Conv layers, with the same findings.
    The gradient findings need targets in the file; FILE.py: see TORCH FILES below.

    Examples:

      practicaldl diagnose --init zeros

      practicaldl diagnose --init random --init-scale 10 --json

      practicaldl diagnose --model he --dataset circles

      practicaldl diagnose --model overfit --dataset noisy --target-error 0.15

      practicaldl diagnose --torch examples/torch_deep_tanh.py --plot tanh.png
    """
    o = Output(json_out, quiet)
    if plot is not None and plot.suffix.lower() != ".png":
        _fail(f"invalid value for --plot: it must end in .png, got {str(plot)!r}")
    if plot is not None:
        with _Guard():
            _check_out_dir(plot.parent, option="--plot")
    if torch_file is not None:
        return _torch_diagnose(ctx, o, torch_file, plot)
    with _Guard():
        from .diagnostics.probes import diagnose as run_diagnose

        if model is not None:
            from .io.models import load_saved

            saved = load_saved(model)
            clf, data = saved.estimator, _data_for_model(dataset, table, saved)
            if data.X_train.shape[1] != clf.n_features_in_:
                raise UsageProblem(f"invalid value for --dataset: the model expects {clf.n_features_in_} features, "
                                   f"{data.name} has {data.X_train.shape[1]}")
            report = run_diagnose(clf, data.X_train, data.y_train, train_score=float(clf.score(data.X_train, data.y_train)),
                                  test_score=float(clf.score(data.X_test, data.y_test)), target_error=target_error)
            source = {"model": str(model), "dataset": data.name, "target_error": target_error}
        else:
            from .estimator import NeuralNetClassifier

            data = _load_data(dataset, table)
            _check_fresh_network(parse_hidden(hidden), data)
            clf = NeuralNetClassifier(parse_hidden(hidden), activation=activation, init=init, init_scale=init_scale,
                                      random_state=seed)
            report = run_diagnose(clf, data.X_train, data.y_train)
            source = {"dataset": data.name, "hidden_layer_sizes": list(clf.hidden_layer_sizes), "init": init,
                      "init_scale": init_scale, "seed": seed, "at": "initialization"}
        _diagnosis_done(o, report, source, plot)


def _diagnosis_done(o: Output, report, source: dict, plot: Optional[Path]) -> None:
    """Show the report (table or JSON), draw --plot, exit 1 on an error-severity finding."""
    if plot is not None:
        from .diagnostics.plots import plot_activation_histograms

        plot_activation_histograms(report, plot)
        o.message(f"Activation histograms written: {plot}")
    o.show(report)
    o.json({"source": source, **report.to_dict()})
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        o.message(f"[red]{len(errors)} error-severity finding(s)[/red]: {', '.join(f.kind for f in errors)}")
        raise typer.Exit(EXIT_FAILED_CHECK)
    o.message("[green]No error-severity finding.[/green]")


# -- PyTorch models (--torch FILE.py) ---------------------------------------------------------------
def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not left at its default)."""
    return getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"


def _torch_only(ctx: typer.Context, allowed: set) -> None:
    """Refuse options of the NumPy network given on the command line together with --torch."""
    for param in ctx.command.params:
        if param.name not in allowed and _given(ctx, param.name):
            raise UsageProblem(f"{param.opts[0]} does not apply with --torch "
                               "(the file defines the model and the batch)")


def _load_torch(path: Path, required: tuple) -> dict:
    try:
        from .torch import require_torch

        require_torch()
    except ImportError as exc:
        raise UsageProblem(f"--torch needs PyTorch: {exc}") from None
    from .torch.files import load_torch_file

    return load_torch_file(path, required)


def _torch_gradcheck(ctx: typer.Context, o: Output, path: Path, method: Optional[str]) -> None:
    with _Guard():
        _torch_only(ctx, {"torch_file", "method", "epsilon", "json_out", "quiet"})
        if method is not None and method not in ("loop", "directional"):
            raise UsageProblem(f"invalid value for --method: it must be one of ['directional', 'loop'], got {method!r}")
        epsilon = ctx.params["epsilon"] if _given(ctx, "epsilon") else 1e-6
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise UsageProblem(f"invalid value for --epsilon: it must be a positive finite number, got {epsilon}")
        f = _load_torch(path, ("model", "inputs", "targets", "loss_fn"))
        from .torch.check import BackwardError, check_module

        n = sum(p.numel() for p in f["model"].parameters() if p.requires_grad)
        method = method or "loop"
        with o.progress() as progress:
            task = progress.add_task(f"checking {n} parameters ({method})",
                                     total=2 * n + 1 if method == "loop" else None)
            try:
                report = check_module(f["model"], f["loss_fn"], f["inputs"], f["targets"], epsilon=epsilon,
                                      method=method, progress=lambda k: progress.update(task, completed=k))
            except BackwardError as exc:
                _fail(str(exc), EXIT_FAILED_CHECK)
        source = {"torch": str(path), "model": type(f["model"]).__name__, "n_parameters": n, "method": method}
        _gradcheck_result(o, report, source)


def _torch_diagnose(ctx: typer.Context, o: Output, path: Path, plot: Optional[Path]) -> None:
    with _Guard():
        _torch_only(ctx, {"torch_file", "plot", "json_out", "quiet"})
        f = _load_torch(path, ("model", "inputs"))
        from .torch.check import BackwardError
        from .torch.diagnose import diagnose_module

        try:
            report = diagnose_module(f["model"], f["inputs"], f["targets"], loss_fn=f["loss_fn"])
        except BackwardError as exc:
            _fail(str(exc), EXIT_FAILED_CHECK)
        source = {"torch": str(path), "model": type(f["model"]).__name__, "targets": f["targets"] is not None}
        _diagnosis_done(o, report, source, plot)


# -- report ----------------------------------------------------------------------------------------
@app.command(cls=_Command)
def report(source: Path = typer.Argument(..., metavar="SOURCE",
                                         help="A report folder (with results.json), a results.json file, or a study "
                                              "folder (finished or not)."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR",
                                              help="Where to write (default: next to results.json)."),
           force: bool = FORCE_OPT, json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Re-render a report (figures, index.html, summary.md) from results.json, without retraining.

    In a study folder (compare / search --out), the report is made from the runs recorded there,
    at any time: on a study that is still running or was interrupted it says it is partial.

    Examples:

      practicaldl report practicaldl-report

      practicaldl report practicaldl-report/results.json --out /tmp/copy

      practicaldl report practicaldl-compare
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .report import load_results, tables, write_report

        if not source.exists():
            raise UsageProblem(f"invalid value for SOURCE: {str(source)!r} does not exist")
        own = source if source.is_dir() else source.parent
        target = out if out is not None else own
        _check_out_dir(target, study=None if _same_folder(target, own) else False)
        doc = load_results(source)
        written = write_report(doc, target, force=force, source=source)
        partial = next((s["partial"] for s in doc["sections"] if s.get("partial")), None)
        if partial:
            o.message(f"[yellow]Partial report[/yellow]: {partial['recorded']} of {partial['total']} runs are "
                      "recorded so far.")
        _finish(o, doc, target, written, tables(doc), partial=partial)


def _same_folder(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.resolve() == b.resolve()


# -- predict ---------------------------------------------------------------------------------------
@app.command(cls=_Command)
def predict(model: Path = typer.Argument(..., metavar="MODEL", help="The saved model (MODEL, MODEL.npz or MODEL.json)."),
            data: Path = typer.Argument(..., metavar="DATA",
                                        help="The rows to predict: for a model trained on a table, a table with "
                                             "the same column names (.csv, .tsv, .parquet; other columns, the label "
                                             "among them, are ignored); else numeric features in the model's order "
                                             "(.csv, .npy, or .npz with X)."),
            proba: bool = typer.Option(False, "--proba",
                                       help="Also print each class's probability, under a header of class names."),
            sep: Optional[str] = typer.Option(None, "--sep", metavar="CHAR",
                                              help="Field separator of DATA (default: sniffed from the file)."),
            header: Optional[bool] = typer.Option(None, "--header/--no-header",
                                                  help="Whether DATA's first line names the columns (default: as the "
                                                       "training table). Without a header, columns are taken by "
                                                       "position: the training table's, or the features alone."),
            skip_rows: int = typer.Option(0, "--skip-rows", metavar="N", help="Lines of DATA to skip first."),
            unknown_categories: str = typer.Option("error", "--unknown-categories", metavar="ACTION",
                                                   help="A category the model never saw: error (refuse, naming it), "
                                                        "or ignore (encode it as all zeros)."),
            json_out: bool = JSON_OPT, quiet: bool = QUIET_OPT):
    """Predict labels with a saved model, one per line, as the training labels were written (or a JSON document).

    A model trained on a table applies its saved preprocessing to raw rows: the same columns by
    name, standardized with the training means and scales, categories one-hot encoded, missing values
    filled when the model was trained with --impute (refused otherwise). With --proba a header line
    names the columns: prediction, then one probability per class.

    Examples:

      practicaldl predict he points.csv

      practicaldl predict penguins new_penguins.csv --proba

      practicaldl predict he.npz points.npy --proba --json
    """
    o = Output(json_out, quiet)
    with _Guard():
        from .io.models import load_saved

        if unknown_categories not in ("error", "ignore"):
            raise UsageProblem(f"invalid value for --unknown-categories: it must be error or ignore, "
                               f"got {unknown_categories!r}")
        saved = load_saved(model)
        clf = saved.estimator
        if saved.preprocessing is not None:
            X = _read_table_rows(data, saved, sep, header, skip_rows, unknown_categories)
        else:
            if sep is not None or header is not None or skip_rows:
                raise UsageProblem("--sep, --header and --skip-rows read tables for models trained on a table; "
                                   "this model takes numeric features")
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
        elif probabilities is None:
            sys.stdout.write("".join(f"{v}\n" for v in labels.tolist()))
        else:
            lines = ["\t".join(["prediction", *(str(c) for c in clf.classes_.tolist())])]
            lines += [f"{v}\t" + "\t".join(f"{p:.6f}" for p in row) for v, row in zip(labels.tolist(), probabilities)]
            sys.stdout.write("\n".join(lines) + "\n")


def _read_table_rows(path: Path, saved, sep, header, skip_rows: int, unknown: str) -> np.ndarray:
    """The features of a table's rows through the model's saved preprocessing."""
    from .io.tables import read_rows_for_model

    if not path.is_file():
        raise UsageProblem(f"invalid value for DATA: the file {str(path)!r} does not exist")
    table = read_rows_for_model(path, saved.table, sep=sep, header=header, skip_rows=skip_rows)
    return saved.preprocessing.transform(table.frame, unknown=unknown, lines=table.lines, source=table.name)


def _read_features(path: Path) -> np.ndarray:
    from .core.validation import check_array_2d
    from .io.arrays import read_npy, read_npz

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
            X = read_npy(path)
        elif suffix == ".npz":
            arrays = read_npz(path)
            if "X" not in arrays:
                raise UsageProblem(f"invalid value for DATA: {path} must hold an array X, has {sorted(arrays)}")
            X = arrays["X"]
        else:
            raise UsageProblem(f"invalid value for DATA: it must end in .csv, .npy or .npz, got {path.name!r}")
    except (UsageProblem, OSError, MemoryError):
        raise
    except Exception as exc:
        raise UsageProblem(f"invalid value for DATA: {path} could not be read: {exc}") from exc
    try:
        return check_array_2d("DATA", X)
    except ValueError as exc:
        raise UsageProblem(f"invalid value for {exc}") from exc


def main() -> None:
    """Console-script entry point: run the typer app (exits with the command's code)."""
    app(prog_name="practicaldl")
