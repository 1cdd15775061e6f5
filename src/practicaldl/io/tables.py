"""Tables: CSV / TSV / Parquet files read with pandas, a label column chosen, split, and preprocessed.

**Reading** (``read_table``): ``.csv`` and ``.tsv`` with pandas' C parser. The delimiter is
``sep``, or sniffed from the first lines among ``, ; TAB |`` (a ``.tsv`` is tab-separated; a
``.csv`` that cannot be sniffed is comma-separated). ``skip_rows`` lines are skipped, then the
first line is the header, unless ``header=False``: columns are then named by position, "0", "1",
.... ``.parquet`` needs pyarrow (``pip install 'practicaldl[parquet]'``). Anything that cannot
be parsed raises ``TableError`` in one line: the file, the line, the reason.

**Columns** (``TableOptions``): ``target`` is a column name, or else a 0-based position
(negative counts from the end; default: the last column); ``features`` lists the columns to use
(default: all but the target), ``drop`` columns to leave out. Numeric columns (not boolean) are
standardised; every other column (text, booleans) is categorical and one-hot encoded
(``io.preprocessing``).

**Labels**: strings, booleans and integers are classes as they are; floats that are all whole
numbers become integers; a label column with fractions is refused (a measurement, not a class),
as is one with a whole number of 2**53 or more in magnitude (1e20 and 1e20 + 1 are one float),
and one with more than ``CONTINUOUS_LABEL_VALUES`` distinct numbers gets a warning.

**Missing values** (empty fields, NA, NaN, ...) in the columns used are refused with each column's
count and lines, unless ``impute`` ("mean", "median", "most_frequent": numeric columns by that
statistic of the training rows, categorical ones by their most frequent value; labels never) or
``drop_missing`` (rows with a missing value in a used column are dropped and counted).

**Split**: ``test_size`` of the rows (default 0.25), stratified by label, drawn with
``split_seed`` (the same split for every training seed of a study); or a separate ``test`` file
read with the same options. Preprocessing is fitted on the training rows only.

Line numbers count the file's lines from 1 and assume one line per row (no blank lines or
line breaks inside quoted fields above the row).
"""

from __future__ import annotations

import csv
import numbers
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.validation import from_settings
from .preprocessing import IMPUTE_STRATEGIES, as_text, fit_preprocessing

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
SNIFF_DELIMITERS = ",;\t|"
SNIFF_LINES = 50
CONTINUOUS_LABEL_VALUES = 50  # more distinct numeric labels than this: "looks continuous"
SCALE_RATIO_WARNING = 100.0  # largest / smallest feature standard deviation, without standardisation
IDENTIFIER_SHARE = 0.5  # a text column with more distinct values than this share of rows (and > 50)
SEP_ALIASES = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


class TableError(ValueError):
    """A table that cannot be read or used as asked: the message names the file, the line or column, the reason."""


# -- options -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableOptions:
    """How a table becomes a training set (see the module docstring for each field)."""

    target: Optional[object] = None
    features: Optional[tuple] = None
    drop: tuple = ()
    sep: Optional[str] = None
    header: bool = True
    skip_rows: int = 0
    standardize: bool = True
    impute: Optional[str] = None
    drop_missing: bool = False
    test_size: float = 0.25
    test: Optional[str] = None
    split_seed: int = 0

    def __post_init__(self):
        for name in ("features", "drop"):
            value = getattr(self, name)
            if isinstance(value, (list, str)):
                object.__setattr__(self, name, tuple(value) if isinstance(value, list) else (value,))
        if isinstance(self.sep, str):
            object.__setattr__(self, "sep", SEP_ALIASES.get(self.sep.lower(), self.sep))
        if isinstance(self.test, Path):
            object.__setattr__(self, "test", str(self.test))

    def check(self) -> "TableOptions":
        """Check every field; the message names the field, the rule and the value."""
        if self.target is not None and (isinstance(self.target, bool) or not isinstance(self.target, (str, int))):
            raise ValueError(f"target must be a column name or position, got {self.target!r}")
        for name in ("features", "drop"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, tuple) or not all(
                    isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)):
                raise ValueError(f"{name} must be a list of column names or positions, got {value!r}")
        if self.features is not None and not self.features:
            raise ValueError("features must name at least one column, got []")
        if self.sep is not None and (not isinstance(self.sep, str) or len(self.sep) != 1):
            raise ValueError(f"sep must be one character (or tab, \\t, comma, semicolon, pipe, space), got {self.sep!r}")
        for name in ("header", "standardize", "drop_missing"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, numbers.Integral) or self.skip_rows < 0:
            raise ValueError(f"skip_rows must be a non-negative integer, got {self.skip_rows!r}")
        if self.impute is not None and self.impute not in IMPUTE_STRATEGIES:
            raise ValueError(f"impute must be one of {list(IMPUTE_STRATEGIES)}, got {self.impute!r}")
        if self.impute is not None and self.drop_missing:
            raise ValueError(f"impute and drop_missing exclude each other: fill missing values ({self.impute}) "
                             "or drop their rows, not both")
        if isinstance(self.test_size, bool) or not isinstance(self.test_size, numbers.Real) \
                or not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be a fraction in (0, 1), got {self.test_size!r}")
        if self.test is not None and (not isinstance(self.test, str) or not Path(self.test).is_file()):
            raise ValueError(f"test must be an existing table file, got {self.test!r}")
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, numbers.Integral) \
                or not 0 <= self.split_seed < 2**32:
            raise ValueError(f"split_seed must be an integer in [0, 2**32), got {self.split_seed!r}")
        return self

    def reading(self) -> dict:
        """The keyword arguments of ``read_table``."""
        return {"sep": self.sep, "header": self.header, "skip_rows": int(self.skip_rows)}

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data) -> "TableOptions":
        """From a plain dict (a TOML ``[table]``); unknown keys are refused."""
        return data if isinstance(data, cls) else from_settings(cls, data, "table")


def is_table_path(dataset) -> bool:
    """True for a path ending in one of ``TABLE_SUFFIXES``."""
    return Path(str(dataset)).suffix.lower() in TABLE_SUFFIXES


# -- reading -------------------------------------------------------------------------------------
@dataclass
class Table:
    """A table as read: the DataFrame (string column names), each row's line, and notes."""

    frame: object
    lines: np.ndarray
    path: Path
    sep: Optional[str]
    header: bool
    warnings: list

    @property
    def name(self) -> str:
        return self.path.name


def read_table(path, *, sep: Optional[str] = None, header: bool = True, skip_rows: int = 0) -> Table:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"table file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableError(f"{path.name}: a table must end in {list(TABLE_SUFFIXES)}, got {suffix or 'no suffix'!r}")
    if suffix == ".parquet":
        if sep is not None or not header or skip_rows:
            raise TableError(f"{path.name}: sep, header and skip_rows apply to text tables, not to .parquet files")
        frame = _read_parquet(path)
        lines = np.arange(1, len(frame) + 1)
    else:
        sample = _sample(path, skip_rows)
        sep = sep if sep is not None else _sniff(sample, suffix)
        frame = _read_text(path, sep, header, skip_rows, sample)
        lines = np.arange(len(frame)) + skip_rows + (2 if header else 1)
    frame.columns = [str(c).strip() for c in frame.columns] if header or suffix == ".parquet" \
        else [str(i) for i in range(frame.shape[1])]
    control = next((c for c in frame.columns if any(ord(ch) < 32 or ord(ch) == 127 for ch in c)), None)
    if control is not None:
        raise TableError(f"{path.name}: the column name {control!r} holds a control character; a header names "
                         "columns in plain text (if the first line is data, add --no-header)")
    if frame.shape[1] < 2:
        raise TableError(f"{path.name} must have at least a feature column and a label column, found "
                         f"{frame.shape[1]} column(s) (separator {sep!r}; give another with --sep)")
    if len(frame) == 0:
        raise TableError(f"{path.name} has no data rows")
    notes = []
    if header and suffix != ".parquet" and all(_is_number(c) for c in frame.columns):
        notes.append(f"the header of {path.name} (line {skip_rows + 1}) is all numbers "
                     f"({', '.join(list(frame.columns)[:4])}, ...): if the file has no header, add --no-header")
    return Table(frame, lines, path, sep if suffix != ".parquet" else None, header, notes)


def _read_parquet(path: Path):
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise TableError(f"{path.name}: reading .parquet files needs pyarrow: pip install 'practicaldl[parquet]'")
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many kinds for a corrupt file
        raise TableError(f"{path.name} is not a readable Parquet file: {_first_line(exc)}") from exc


def _sample(path: Path, skip_rows: int) -> list[str]:
    """The first ``SNIFF_LINES`` lines after ``skip_rows``, decoded as UTF-8."""
    lines = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for i, line in enumerate(fh):
                if i >= skip_rows:
                    lines.append(line)
                if len(lines) >= SNIFF_LINES:
                    break
    except UnicodeDecodeError as exc:
        raise TableError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8") from exc
    return lines


def _sniff(sample: list[str], suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff("".join(sample), delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_text(path: Path, sep: str, header: bool, skip_rows: int, sample: list[str]):
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, sep=sep, header=0 if header else None, skiprows=skip_rows, index_col=False,
                               skipinitialspace=True, encoding="utf-8-sig", low_memory=False)
    except pd.errors.ParserWarning as exc:  # more fields in the rows than names in the header
        widths = [len(row) for row in csv.reader(sample[:2], delimiter=sep)]
        raise TableError(
            f"{path.name}, line {skip_rows + 2}: {widths[-1] if widths else '?'} fields, but the header "
            f"(line {skip_rows + 1}) has {widths[0] if widths else '?'} names; if the first line is not a header, "
            "add --no-header (and --skip-rows 1 if it is neither a header nor data)") from exc
    except pd.errors.EmptyDataError as exc:
        raise TableError(f"{path.name} is empty: no columns to read") from exc
    except pd.errors.ParserError as exc:
        raise TableError(_parser_message(path.name, exc, header, skip_rows)) from exc
    except UnicodeDecodeError as exc:
        raise TableError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8") from exc


def _parser_message(name: str, exc: Exception, header: bool, skip_rows: int) -> str:
    text = _first_line(exc).replace("Error tokenizing data. C error: ", "")
    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if ragged:
        expected, line, saw = ragged.groups()
        return (f"{name}, line {line}: {saw} fields where the lines above have {expected} "
                "(a stray separator, or a wrong --sep?)")
    quote = re.search(r"EOF inside string starting at row (\d+)", text)
    if quote:
        line = int(quote.group(1)) + skip_rows + 1
        return f"{name}, line {line}: a quoted field is never closed (an unmatched \")"
    return f"{name} cannot be read as a table: {text}"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- columns and labels ------------------------------------------------------------------------
def _column(spec, columns: list, option: str, source: str) -> str:
    """A column of ``columns`` by name, or else by 0-based position (negative from the end)."""
    if isinstance(spec, str) and spec in columns:
        return spec
    position = spec if isinstance(spec, int) else (int(spec) if re.fullmatch(r"-?\d+", str(spec).strip()) else None)
    if position is None:
        raise TableError(f"{option} must be a column name or position of {source}: it has no column {spec!r}; "
                         f"its columns are {_listing(columns)}")
    if not -len(columns) <= position < len(columns):
        raise TableError(f"{option} position {position} is outside the {len(columns)} columns of {source} "
                         f"(0 to {len(columns) - 1}, or negative from the end)")
    return columns[position]


def _listing(columns: list, limit: int = 25) -> str:
    shown = ", ".join(columns[:limit])
    return f"[{shown}{', ...' if len(columns) > limit else ''}]"


def resolve_columns(columns, options: TableOptions, source: str) -> tuple[str, list[str]]:
    """``(target, features)``: the label column and the feature columns, by ``options``."""
    columns = list(columns)
    target = _column(options.target if options.target is not None else -1, columns, "target", source)
    drop = [_column(c, columns, "drop", source) for c in options.drop]
    if target in drop:
        raise TableError(f"drop must not include the target column {target!r}")
    if options.features is not None:
        features = [_column(c, columns, "features", source) for c in options.features]
        if target in features:
            raise TableError(f"features must not include the target column {target!r}")
        if len(set(features)) != len(features):
            raise TableError(f"features must name each column once, got {features}")
    else:
        features = [c for c in columns if c != target]
    features = [c for c in features if c not in drop]
    if not features:
        raise TableError(f"features: no feature column is left in {source} (target {target!r}, dropped {drop})")
    return target, features


def column_kinds(frame, features) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)``: numeric dtypes (booleans excluded) are numeric, the rest categorical."""
    import pandas as pd

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def encode_labels(values, column: str, source: str, lines) -> tuple[np.ndarray, list[str]]:
    """The labels of ``column`` as a NumPy array (bool, int64, float64 or str), and warnings."""
    import pandas as pd

    notes = []
    if pd.api.types.is_bool_dtype(values):
        y = values.to_numpy(dtype=bool)
    elif pd.api.types.is_numeric_dtype(values):
        v = values.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise TableError(f"target column {column!r} of {source} holds {v[i]} (line {lines[i]}): labels must be finite")
        fraction = v != np.round(v)
        if fraction.any():
            i = int(np.flatnonzero(fraction)[0])
            raise TableError(
                f"target column {column!r} of {source} holds numbers with fractions ({v[i]:g} on line {lines[i]}, "
                f"{len(np.unique(v))} distinct values): it looks continuous, a measurement and not a class label; "
                "choose the label column with --target (default: the last column)")
        huge = np.abs(v) >= 2**53
        if huge.any():
            i = int(np.flatnonzero(huge)[0])
            raise TableError(
                f"target column {column!r} of {source} holds {v[i]:g} (line {lines[i]}): whole-number labels must be "
                "below 2**53 in magnitude, where every whole number has its own float; quote them to make them "
                "text labels")
        y = v.astype(np.int64)
        distinct = len(np.unique(y))
        if distinct > CONTINUOUS_LABEL_VALUES:
            notes.append(f"the target column {column!r} has {distinct} distinct numeric values: it looks continuous, "
                         "and each value becomes a class of its own; check --target (the label column, default the "
                         "last one), or bin the values into a few classes first")
    else:
        y = np.asarray(as_text(values).tolist(), dtype=str)
    if len(np.unique(y)) < 2:
        raise TableError(f"target column {column!r} of {source} has a single value ({y.tolist()[0]!r}): a classifier needs "
                         "at least 2 classes; choose the label column with --target")
    return y, notes


# -- missing values --------------------------------------------------------------------------------
def _missing_rows(frame, columns) -> dict:
    """``{column: row positions}`` of the missing entries, columns with none left out."""
    mask = frame[columns].isna().to_numpy()
    return {c: np.flatnonzero(mask[:, j]) for j, c in enumerate(columns) if mask[:, j].any()}


def _describe_missing(missing: dict, lines) -> str:
    parts = []
    for column, rows in missing.items():
        where = ", ".join(str(int(lines[r])) for r in rows[:3]) + (", ..." if len(rows) > 3 else "")
        parts.append(f"{column} {len(rows)} (line{'s' if len(rows) > 1 else ''} {where})")
    return "; ".join(parts)


def handle_missing(frame, lines, target: str, features: list, options: TableOptions, source: str):
    """Refuse, or drop the rows with, missing values (imputation happens in the preprocessing).

    Returns ``(frame, lines, n_dropped)``.
    """
    missing = _missing_rows(frame, [*features, target])
    if not missing:
        return frame, lines, 0
    if options.drop_missing:
        keep = ~frame[[*features, target]].isna().any(axis=1).to_numpy()
        if not keep.any():
            raise TableError(f"{source}: every row has a missing value in a used column ({_describe_missing(missing, lines)})")
        return frame[keep].reset_index(drop=True), lines[keep], int((~keep).sum())
    if target in missing:
        raise TableError(f"target column {target!r} of {source} has missing labels: {_describe_missing({target: missing[target]}, lines)}; "
                         "labels are never imputed: drop those rows with --drop-missing")
    if options.impute is None:
        raise TableError(f"{source} has missing values in {len(missing)} column(s): {_describe_missing(missing, lines)}; "
                         "fill them with --impute mean|median|most_frequent, or drop those rows with --drop-missing")
    return frame, lines, 0


# -- warnings ----------------------------------------------------------------------------------------
def scale_warning(frame, numeric: list) -> Optional[str]:
    """A warning when unstandardised numeric features differ in spread by more than ``SCALE_RATIO_WARNING``."""
    if len(numeric) < 2:
        return None
    std = frame[numeric].astype(np.float64).std(ddof=0).to_numpy()
    ok = np.isfinite(std) & (std > 0)
    if ok.sum() < 2:
        return None
    lo, hi = int(np.argmin(np.where(ok, std, np.inf))), int(np.argmax(np.where(ok, std, -np.inf)))
    ratio = std[hi] / std[lo]
    if ratio <= SCALE_RATIO_WARNING:
        return None
    return (f"the features are on very different scales (standard deviation {std[lo]:.3g} for {numeric[lo]!r}, "
            f"{std[hi]:.3g} for {numeric[hi]!r}: {ratio:.3g}x) and standardization is off (--no-standardize): "
            "gradient descent needs a learning rate small enough for the largest and then crawls along the "
            "others; drop --no-standardize")


def _identifier_warnings(frame, categorical: list) -> list[str]:
    notes = []
    for column in categorical:
        distinct = frame[column].nunique(dropna=True)
        if distinct > CONTINUOUS_LABEL_VALUES and distinct > IDENTIFIER_SHARE * len(frame):
            notes.append(f"the text column {column!r} has {distinct} distinct values in {len(frame)} rows: one-hot "
                         f"encoding gives it {distinct} columns; if it is an identifier or free text, leave it out "
                         f"with --drop {column}")
    return notes


# -- a training set from a table ---------------------------------------------------------------------
def split_rows(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(train_rows, test_rows, stratified)``: a seeded split, stratified when every class has 2 rows."""
    from sklearn.model_selection import train_test_split

    stratified = bool(np.unique(y, return_counts=True)[1].min() >= 2)
    try:
        train, test = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed,
                                       stratify=y if stratified else None)
    except ValueError as exc:
        raise TableError(f"test_size {test_size} cannot split {len(y)} rows of {len(np.unique(y))} classes: {exc}") from exc
    return np.sort(train), np.sort(test), stratified


def _split_table(frame, lines, y, target: str, features: list, options: TableOptions, name: str):
    """``((train_frame, train_lines, y_train), (test_frame, test_lines, y_test), split)``: the rows of a
    seeded split of ``frame``, or all of them and the ``options.test`` file's; ``split`` describes it."""
    if options.test is None:
        train, held, stratified = split_rows(y, options.test_size, options.split_seed)
        kind = "stratified" if stratified else "random (a class has 1 row: not stratified)"
        split = {"kind": "split", "test_size": options.test_size, "split_seed": options.split_seed,
                 "stratified": stratified, "source": f"{name} (test rows)",
                 "description": f"{kind} split of {name}: {1 - options.test_size:.0%} train / "
                                f"{options.test_size:.0%} test, split seed {options.split_seed}"}
        return ((frame.iloc[train].reset_index(drop=True), lines[train], y[train]),
                (frame.iloc[held].reset_index(drop=True), lines[held], y[held]), split)
    test = read_table(options.test, **options.reading())
    absent = [c for c in [*features, target] if c not in test.frame.columns]
    if absent:
        raise TableError(f"test file {test.name} lacks the column(s) {absent} of {name}")
    test_frame, test_lines, dropped = handle_missing(test.frame, test.lines, target, features, options, test.name)
    y_test = encode_labels(test_frame[target], target, test.name, test_lines)[0]
    split = {"kind": "file", "test_file": str(options.test), "test_rows_dropped": dropped, "source": test.name,
             "description": f"test set from {test.name}"}
    return (frame, lines, y), (test_frame, test_lines, y_test), split


def load_table(path, options: Optional[TableOptions] = None, preprocessing=None):
    """A ``datasets.Dataset`` from a table file: features preprocessed, labels as read.

    The dataset's ``info`` describes the data (file, rows, columns, target, classes, missing
    values, preprocessing, split, warnings) and ``preprocessing`` is the ``Preprocessing`` fitted
    on the training rows, or the given one (a saved model's), applied as it is.
    """
    from .datasets import Dataset

    options = (options or TableOptions()).check()
    table = read_table(path, **options.reading())
    name = table.name
    target, features = resolve_columns(table.frame.columns, options, name)
    notes = list(table.warnings)
    frame, lines, dropped = handle_missing(table.frame, table.lines, target, features, options, name)
    numeric, categorical = column_kinds(frame, features)
    y, label_notes = encode_labels(frame[target], target, name, lines)
    notes += label_notes
    train_rows, test_rows, split = _split_table(frame, lines, y, target, features, options, name)
    (train_frame, train_lines, y_train), (test_frame, test_lines, y_test) = train_rows, test_rows
    test_source = split.pop("source")
    missing_classes = sorted(set(np.unique(y_test).tolist()) - set(np.unique(y_train).tolist()))
    if missing_classes:
        notes.append(f"the test set has labels that training never saw: {missing_classes}; they are always wrong")
    if preprocessing is None:
        pre = fit_preprocessing(train_frame, numeric, categorical, standardize=options.standardize,
                                impute=options.impute)
    elif sorted(preprocessing.columns) != sorted(features):
        raise TableError(f"features of {name} ({features}) are not the model's columns ({preprocessing.columns})")
    else:
        pre = preprocessing
    X_train = pre.transform(train_frame, lines=train_lines, source=name)
    for column, values in pre.unseen_categories(test_frame).items():
        notes.append(f"{test_source}: column {column!r} has categories not in the training rows ({values[:5]}); "
                     "they are encoded as all zeros")
    X_test = pre.transform(test_frame, unknown="ignore", lines=test_lines, source=test_source)
    if not options.standardize:
        warning = scale_warning(train_frame, numeric)
        if warning:
            notes.append(warning)
    notes += _identifier_warnings(train_frame, categorical)
    split.update(train_rows=len(y_train), test_rows=len(y_test))
    classes, counts = np.unique(y_train, return_counts=True)
    info = {
        "kind": "table", "name": table.path.stem, "file": str(path), "rows": len(table.frame),
        "columns": list(table.frame.columns), "target": target, "features": features,
        "numeric": numeric, "categorical": categorical,
        "classes": {str(c): int(n) for c, n in zip(classes.tolist(), counts)},
        "missing": {"policy": ("drop rows" if options.drop_missing else
                               f"impute ({options.impute})" if options.impute else "refuse"),
                    "rows_dropped": dropped},
        "preprocessing": pre.describe(), "n_features": int(X_train.shape[1]), "split": split,
        "reading": {"sep": table.sep, "header": table.header, "skip_rows": options.skip_rows},
        "options": options.to_dict(), "warnings": notes,
    }
    return Dataset(X_train, y_train, X_test, y_test, table.path.stem, info, pre)


def read_rows_for_model(path, spec: dict, *, sep: Optional[str] = None, header: Optional[bool] = None,
                        skip_rows: int = 0) -> Table:
    """Rows to predict, read as the model's training table was (``spec``: the model's ``table``).

    With a header, columns are matched by name (extra ones, the label among them, are ignored).
    Without one, columns are matched by position: the training file's layout (label included), or
    the model's feature columns alone, in their order.
    """
    header = spec["header"] if header is None else header
    path = Path(path)
    parquet = path.suffix.lower() == ".parquet"
    table = read_table(path) if parquet else read_table(path, sep=sep, header=header, skip_rows=skip_rows)
    if not header and not parquet:
        width = table.frame.shape[1]
        if width == len(spec["columns"]):
            table.frame.columns = list(spec["columns"])
        elif width == len(spec["features"]):
            table.frame.columns = list(spec["features"])
        else:
            raise TableError(f"{path.name} has {width} columns and no header: give the training file's "
                             f"{len(spec['columns'])} columns or the model's {len(spec['features'])} feature columns, "
                             "in the training order")
    return table
