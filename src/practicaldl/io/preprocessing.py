"""Column preprocessing that travels with a model: fitted by scikit-learn, saved as numbers, applied by NumPy.

A table's feature columns are numeric (standardised) or categorical (one-hot encoded)::

    numeric  x_j:  x_j <- fill_j where x_j is missing        (SimpleImputer, with ``impute``)
                   z_j = (x_j - mean_j) / scale_j            (StandardScaler, with ``standardize``)
    categorical c: c <- fill_c where c is missing            (SimpleImputer "most_frequent", with ``impute``)
                   one column per category k of c: [c == k] (OneHotEncoder, categories sorted)

Output columns: the numeric ones in their order, then each categorical column's indicators, named
``column=category`` (the order of scikit-learn's ``ColumnTransformer`` with those two parts).
``scale_j`` is the training standard deviation (ddof=0), 1 where it is 0, as StandardScaler sets it.
Categorical columns are filled with their most frequent value whatever ``impute`` says: a mean or
a median of text does not exist.

``fit_preprocessing`` fits scikit-learn's transformers on the training rows and keeps only their
fitted numbers (``Preprocessing``); ``Preprocessing.transform`` applies those numbers with NumPy,
the same arithmetic as StandardScaler (``(x - mean) / scale``), so its output equals the
ColumnTransformer's bit for bit. A model file stores them without pickle (``to_saved``): the means,
scales and numeric fill values as float64 arrays in the ``.npz``, the column names, categories and
categorical fill values as JSON, all under the model's checksum (``io.models``).

A category that training never saw is refused (``unknown="error"``: the column, the values and
their lines), or encoded as all zeros (``unknown="ignore"``: the indicator columns of that feature
contribute nothing, as OneHotEncoder's ``handle_unknown="ignore"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

IMPUTE_STRATEGIES = ("mean", "median", "most_frequent")
UNKNOWN_CATEGORIES = ("error", "ignore")
ARRAY_KEYS = ("numeric_mean", "numeric_scale", "numeric_fill")  # names in the model's .npz


class PreprocessingError(ValueError):
    """Rows that the fitted preprocessing cannot turn into features (a missing column, value or category)."""


@dataclass(frozen=True)
class Preprocessing:
    """The fitted numbers of a table's preprocessing (see the module docstring).

    ``numeric`` / ``categorical``: input column names; ``mean``, ``scale`` (n_numeric,) float64 or
    None when not standardising; ``numeric_fill`` (n_numeric,) or None without imputation;
    ``categories``: one sorted list of strings per categorical column; ``categorical_fill``: one
    string per categorical column, or None without imputation.
    """

    numeric: tuple
    categorical: tuple
    standardize: bool
    impute: Optional[str]
    mean: Optional[np.ndarray]
    scale: Optional[np.ndarray]
    numeric_fill: Optional[np.ndarray]
    categories: tuple
    categorical_fill: Optional[tuple]

    @property
    def columns(self) -> list[str]:
        """The input columns, numeric first."""
        return [*self.numeric, *self.categorical]

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output columns: numeric names, then ``column=category``."""
        return [*self.numeric, *(f"{c}={k}" for c, cats in zip(self.categorical, self.categories) for k in cats)]

    def describe(self) -> dict:
        """A JSON summary for reports: what is done to which columns."""
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "standardize": self.standardize, "impute": self.impute,
                "categories": {c: list(k) for c, k in zip(self.categorical, self.categories)},
                "features_out": self.feature_names_out, "n_features_out": len(self.feature_names_out)}

    # -- applying ---------------------------------------------------------------------------
    def transform(self, frame, *, unknown: str = "error", lines=None, source: str = "the rows") -> np.ndarray:
        """Features (n_rows, n_features_out) float64 from a DataFrame with (at least) ``columns``.

        ``lines``: the file line of each row, ``source`` the file's name, for messages. Raises ``PreprocessingError`` for a
        missing column, a missing value without a fill value, a non-numeric entry in a numeric
        column, or (``unknown="error"``) a category not seen in training.
        """
        if unknown not in UNKNOWN_CATEGORIES:
            raise ValueError(f"unknown must be one of {list(UNKNOWN_CATEGORIES)}, got {unknown!r}")
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            raise PreprocessingError(
                f"{source}: no column(s) {absent}; the model was trained on the columns {self.columns} "
                f"(found {[str(c) for c in frame.columns][:30]})")
        lines = np.arange(1, len(frame) + 1) if lines is None else np.asarray(lines)
        blocks = [self._numeric_block(frame, lines, source)]
        blocks += [self._one_hot(frame[column], j, unknown, lines, source) for j, column in enumerate(self.categorical)]
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))

    def _numeric_block(self, frame, lines, source) -> np.ndarray:
        import pandas as pd

        X = np.empty((len(frame), len(self.numeric)))  # (m, n_numeric)
        for j, column in enumerate(self.numeric):
            values = frame[column]
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna().to_numpy() & values.notna().to_numpy()
            if bad.any():
                raise PreprocessingError(
                    f"{source}: column {column!r} must be numeric, as in training; it holds "
                    f"{_examples(values.to_numpy()[bad], lines[bad])}")
            X[:, j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(X)
        if missing.any():
            if self.numeric_fill is None:
                raise PreprocessingError(_missing_message(self.numeric, missing, lines, source))
            X = np.where(missing, self.numeric_fill, X)
        if not np.isfinite(X).all():
            column = self.numeric[int(np.argwhere(~np.isfinite(X))[0, 1])]
            raise PreprocessingError(f"{source}: column {column!r} holds infinite values")
        if self.standardize:
            X -= self.mean  # the operations of StandardScaler.transform, in its order
            X /= self.scale
        return X

    def _one_hot(self, values, j: int, unknown: str, lines, source) -> np.ndarray:
        column, categories = self.categorical[j], self.categories[j]
        text = as_text(values)
        missing = text.isna().to_numpy()
        if missing.any():
            if self.categorical_fill is None:
                raise PreprocessingError(_missing_message([column], missing[:, None], lines, source))
            text = text.where(~missing, self.categorical_fill[j])
        import pandas as pd

        codes = pd.Index(categories).get_indexer(text.to_numpy())  # (m,), -1 where unseen
        unseen = codes < 0
        if unseen.any() and unknown == "error":
            raise PreprocessingError(
                f"{source}: column {column!r} has categories the model never saw in training: "
                f"{_examples(text.to_numpy()[unseen], lines[unseen])}; known: {list(categories)}. "
                "Fix the values, or encode unseen categories as all zeros with --unknown-categories ignore")
        out = np.zeros((len(codes), len(categories)))  # (m, n_categories)
        rows = np.flatnonzero(~unseen)
        out[rows, codes[rows]] = 1.0
        return out

    def unseen_categories(self, frame) -> dict:
        """``{column: sorted unseen values}`` of ``frame``'s categorical columns (for warnings)."""
        found = {}
        for column, categories in zip(self.categorical, self.categories):
            values = set(as_text(frame[column]).dropna()) - set(categories)
            if values:
                found[column] = sorted(values)
        return found

    # -- saving -----------------------------------------------------------------------------
    def to_saved(self) -> tuple[dict, dict]:
        """``(json_part, arrays)``: the JSON values and the float64 arrays a model file stores."""
        arrays = {}
        if self.standardize:
            arrays["numeric_mean"], arrays["numeric_scale"] = self.mean, self.scale
        if self.numeric_fill is not None:
            arrays["numeric_fill"] = self.numeric_fill
        spec = {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "standardize": self.standardize, "impute": self.impute,
                "categories": [list(k) for k in self.categories],
                "categorical_fill": None if self.categorical_fill is None else list(self.categorical_fill),
                "arrays": sorted(arrays)}
        return spec, {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}

    @classmethod
    def from_saved(cls, spec, arrays: dict) -> "Preprocessing":
        """Inverse of ``to_saved``; ``ValueError`` naming what is inconsistent."""
        if not isinstance(spec, dict):
            raise ValueError(f"preprocessing must be an object, got {type(spec).__name__}")
        keys = {"numeric", "categorical", "standardize", "impute", "categories", "categorical_fill", "arrays"}
        if set(spec) != keys:
            raise ValueError(f"preprocessing must have exactly the keys {sorted(keys)}, got {sorted(spec)}")
        numeric, categorical = _names(spec["numeric"], "numeric"), _names(spec["categorical"], "categorical")
        if not numeric and not categorical or set(numeric) & set(categorical) \
                or len(set(numeric) | set(categorical)) != len(numeric) + len(categorical):
            raise ValueError("preprocessing must name distinct numeric and categorical columns, at least one")
        if not isinstance(spec["standardize"], bool):
            raise ValueError(f"preprocessing.standardize must be true or false, got {spec['standardize']!r}")
        impute = spec["impute"]
        if impute is not None and impute not in IMPUTE_STRATEGIES:
            raise ValueError(f"preprocessing.impute must be null or one of {list(IMPUTE_STRATEGIES)}, got {impute!r}")
        expected = sorted((["numeric_mean", "numeric_scale"] if spec["standardize"] else [])
                          + (["numeric_fill"] if impute else []))
        if spec["arrays"] != expected or sorted(arrays) != expected:
            raise ValueError(f"preprocessing arrays must be {expected}, got {spec['arrays']} listed and "
                             f"{sorted(arrays)} stored")
        for key, arr in arrays.items():
            if arr.dtype != np.float64 or arr.shape != (len(numeric),) or not np.isfinite(arr).all():
                raise ValueError(f"{key} must be {len(numeric)} finite float64 values, got {arr.dtype} {arr.shape}")
        if spec["standardize"] and not (arrays["numeric_scale"] > 0).all():
            raise ValueError("numeric_scale must be positive")
        categories = spec["categories"]
        if not isinstance(categories, list) or len(categories) != len(categorical):
            raise ValueError(f"preprocessing.categories must hold one list per categorical column ({len(categorical)})")
        categories = tuple(tuple(_names(k, f"categories of {c!r}")) for c, k in zip(categorical, categories))
        if any(not k or list(k) != sorted(set(k)) for k in categories):
            raise ValueError("each column's categories must be a non-empty sorted list of distinct strings")
        fill = spec["categorical_fill"]
        if (fill is None) != (impute is None):
            raise ValueError("preprocessing.categorical_fill must be given exactly when impute is")
        if fill is not None:
            fill = tuple(_names(fill, "categorical_fill"))
            if len(fill) != len(categorical) or any(f not in k for f, k in zip(fill, categories)):
                raise ValueError("preprocessing.categorical_fill must be one known category per categorical column")
        return cls(tuple(numeric), tuple(categorical), spec["standardize"], impute,
                   arrays.get("numeric_mean"), arrays.get("numeric_scale"), arrays.get("numeric_fill"),
                   categories, fill)


def _names(values, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"preprocessing {what} must be a list of strings, got {values!r}"[:300])
    return values


def as_text(values):
    """A pandas Series of ``str`` values, missing entries NaN: how categorical values are compared."""
    text = values.astype(object).map(str, na_action="ignore")
    return text.where(values.notna(), np.nan)


def _examples(values, lines, limit: int = 5) -> str:
    shown = ", ".join(f"{v!r} (line {int(n)})" for v, n in zip(np.asarray(values)[:limit].tolist(), lines[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _missing_message(columns, missing: np.ndarray, lines, source: str) -> str:
    """``source has missing values: col (count, lines ...), ...`` for a (m, n_columns) mask."""
    parts = []
    for j, column in enumerate(columns):
        rows = np.flatnonzero(missing[:, j])
        if len(rows):
            where = ", ".join(str(int(lines[r])) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            parts.append(f"{column} {len(rows)} (line{'s' if len(rows) > 1 else ''} {where})")
    return (f"{source}: missing values, and the model has no fill values for them (it was trained without "
            f"--impute): {'; '.join(parts)}; fill them in, or leave those rows out")


def build_transformer(numeric, categorical, *, standardize: bool = True, impute: Optional[str] = None):
    """The scikit-learn ``ColumnTransformer`` that ``fit_preprocessing`` fits (unfitted)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps = ([("impute", SimpleImputer(strategy=impute))] if impute else []) \
        + ([("scale", StandardScaler())] if standardize else [])
    categorical_steps = ([("impute", SimpleImputer(strategy="most_frequent"))] if impute else []) \
        + [("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]
    parts = []
    if numeric:
        parts.append(("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough", list(numeric)))
    if categorical:
        parts.append(("categorical", Pipeline(categorical_steps), list(categorical)))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def fit_preprocessing(frame, numeric, categorical, *, standardize: bool = True,
                      impute: Optional[str] = None) -> Preprocessing:
    """Fit scikit-learn's transformers on ``frame``'s training rows; keep their fitted numbers.

    ``frame``: numeric columns as numbers, categorical columns as text (``as_text``), missing
    entries NaN. Without ``impute`` they must have none (``io.tables`` checks first).
    """
    if impute is not None and impute not in IMPUTE_STRATEGIES:
        raise ValueError(f"impute must be None or one of {list(IMPUTE_STRATEGIES)}, got {impute!r}")
    numeric, categorical = list(numeric), list(categorical)
    prepared = frame[numeric + categorical].copy()
    for column in numeric:
        prepared[column] = prepared[column].astype(np.float64)
    for column in categorical:
        prepared[column] = as_text(prepared[column])
    fitted = build_transformer(numeric, categorical, standardize=standardize, impute=impute).fit(prepared)
    empty = np.empty(0)
    steps = fitted.named_transformers_["numeric"].named_steps if numeric and (standardize or impute) else {}
    mean = (steps["scale"].mean_ if numeric else empty) if standardize else None
    scale = (steps["scale"].scale_ if numeric else empty) if standardize else None
    numeric_fill = (steps["impute"].statistics_ if numeric else empty) if impute else None
    categories, categorical_fill = (), (() if impute else None)
    if categorical:
        steps = fitted.named_transformers_["categorical"].named_steps
        categories = tuple(tuple(str(k) for k in cats) for cats in steps["one_hot"].categories_)
        if impute:
            categorical_fill = tuple(str(v) for v in steps["impute"].statistics_)
    mean, scale, numeric_fill = (None if a is None else np.asarray(a, dtype=np.float64) for a in (mean, scale, numeric_fill))
    return Preprocessing(tuple(numeric), tuple(categorical), bool(standardize), impute, mean, scale, numeric_fill,
                         categories, categorical_fill)
