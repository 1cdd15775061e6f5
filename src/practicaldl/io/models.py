"""Save and load fitted models as ``name.npz`` (arrays) + ``name.json`` (metadata); never pickle.

A model saved to ``model`` (or ``model.npz`` / ``model.json``) is two files side by side:

- ``model.npz``: the parameters ``W1, b1, ..., WL, bL`` in the course's layout (``W_l`` is
  (n_l, n_{l-1}), ``b_l`` is (n_l, 1)), float32 or float64; with table preprocessing also
  ``preprocessing.numeric_mean``, ``preprocessing.numeric_scale``, ``preprocessing.numeric_fill``
  (float64, one value per numeric column; those in use). Written with ``np.savez``.
- ``model.json``: ``format`` ("practicaldl-model"), ``format_version`` (2), ``estimator``,
  ``config`` (the estimator's ``get_params()``, JSON values only; an ``Optimizer`` instance as
  its registry name and its settings in the estimator's parameters), ``optimizer`` (the
  optimizer that trained: ``Optimizer.describe()``, its name, learning rate, hyperparameters and
  schedule), ``classes``
  (``{"dtype": "<i8", "kind": "i", "values": [...]}``, so int, bool, float and string labels come
  back with their kind), ``layer_dims``, ``output`` ("sigmoid" or "softmax"), ``activation``,
  ``n_features_in_``, ``feature_names_in_`` (a list, or null), ``dtype``, ``n_iter_``,
  ``preprocessing`` (null, or the JSON part of ``io.preprocessing.Preprocessing.to_saved``:
  columns, categories, fill values), ``table`` (null, or how the training table was read and
  which columns it had: ``file``, ``rows``, ``sep``, ``header``, ``skip_rows``, ``columns``,
  ``target``, ``features``, and the ``io.tables.TableOptions`` it was loaded with, ``options``), ``versions``, ``arrays_file``, ``arrays_sha256`` (the SHA-256 of the
  exact ``.npz`` bytes) and ``sha256``.

``sha256`` is the checksum of everything the model is: the SHA-256 of the canonical JSON
(``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=True)``) of every other
key of the metadata, ``arrays_sha256`` included, so it covers the metadata and, through
``arrays_sha256``, every array. ``load_model`` verifies both before it uses anything, and refuses
(``ModelFileError``) an edited ``.json`` (a class, the activation, a category, a mean), a
modified or truncated ``.npz``, a missing file, unreadable JSON, missing or extra arrays, wrong
shapes, non-float or non-finite values and inconsistent metadata. The checksum detects edits and
corruption; it is not a signature (whoever can write the files can recompute it). Reformatting
the JSON without changing a value does not change the checksum. The ``.npz`` is read with
``allow_pickle=False`` and every write is atomic (``io.files``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from .arrays import ArrayFileError, read_npz
from .files import has_format, inside, read_json_file, replace_together

FORMAT = "practicaldl-model"
FORMAT_VERSION = 2
PREPROCESSING_PREFIX = "preprocessing."


class ModelFileError(ValueError):
    """A model file that is missing, corrupt, truncated, tampered with or inconsistent."""


# -- paths and JSON helpers -------------------------------------------------------------------
def model_paths(path) -> tuple[Path, Path]:
    """``(model.npz, model.json)`` for ``model``, ``model.npz`` or ``model.json``."""
    path = Path(path)
    if path.suffix.lower() in (".npz", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".npz"), path.with_name(path.name + ".json")


def _jsonable(value):
    """A JSON value for ``value``, or ``None`` when it has none (a callable init, a generator)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (tuple, list)):
        items = [_jsonable(v) for v in value]
        return None if any(i is None and v is not None for i, v in zip(items, value)) else items
    return None


def encode_classes(classes: np.ndarray) -> dict:
    """``classes_`` as JSON: dtype string, kind letter and the values (strings for text labels)."""
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind in "biuf":
        values = classes.tolist()
    elif kind in "USO":
        values = [str(c) for c in classes.tolist()]
    else:
        raise ValueError(f"classes_ must be numbers or strings to be saved, got dtype {classes.dtype}")
    return {"dtype": classes.dtype.str if kind != "O" else "object", "kind": kind, "values": values}


def decode_classes(spec) -> np.ndarray:
    """Inverse of ``encode_classes``."""
    if not isinstance(spec, dict) or not {"dtype", "kind", "values"} <= set(spec):
        raise ModelFileError(f"classes must be an object with dtype, kind and values, got {spec!r}")
    if not isinstance(spec["values"], list) or len(spec["values"]) < 2:
        raise ModelFileError(f"classes.values must list at least 2 classes, got {spec['values']!r}")
    kind = spec["kind"]
    if not isinstance(kind, str) or kind not in ("b", "i", "u", "f", "U", "S", "O"):
        raise ModelFileError(f"classes.kind must be one of b, i, u, f, U, S, O, got {kind!r}")
    try:
        classes = np.array(spec["values"], dtype=object if kind == "O" else np.dtype(spec["dtype"]))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"classes could not be restored with dtype {spec['dtype']!r}: {exc}") from exc
    if classes.dtype.kind != kind or classes.ndim != 1 or len(set(classes.tolist())) != len(classes):
        raise ModelFileError(f"classes must be distinct values of kind {kind!r}, got {spec['values']!r}"[:300])
    return classes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict:
    import sklearn

    from .. import __version__

    return {"practicaldl": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def metadata_sha256(meta: dict) -> str:
    """The model's checksum: SHA-256 of the canonical JSON of every metadata key but ``sha256``."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return _sha256(text.encode("ascii"))


class SavedModel(NamedTuple):
    """What ``load_saved`` returns: the fitted estimator, its table preprocessing (or None), the
    ``table`` metadata (how its training table was read, or None) and the whole checked metadata."""

    estimator: object
    preprocessing: Optional[object]
    table: Optional[dict]
    metadata: dict


# -- save / load ----------------------------------------------------------------------------
def encode_model(clf, name: str, *, data=None) -> tuple[bytes, bytes]:
    """The two files of a fitted ``NeuralNetClassifier`` as bytes: ``(name.npz, name.json)``.

    ``data``: the ``io.datasets.Dataset`` it was trained on; for a table, its fitted
    preprocessing (which turns table rows into the estimator's features) and how the table was
    read are saved with the model, so that ``predict`` takes raw rows. ``name`` is the stem the
    ``.json`` refers to. ``save_model`` writes the two; a study encodes a model where it was
    fitted (a Dask worker, say) and writes it in its own process.
    """
    if not hasattr(clf, "parameters_"):
        raise ValueError("the model must be fitted before it is saved (it has no parameters_)")
    params = clf.parameters_
    L = len(params) // 2
    arrays = {k: np.ascontiguousarray(params[k]) for k in _param_keys(L)}
    preprocessing = None if data is None else data.preprocessing
    table = None if preprocessing is None else table_metadata(data.info)
    pre_spec = None
    if preprocessing is not None:
        pre_spec, pre_arrays = preprocessing.to_saved()
        if len(preprocessing.feature_names_out) != clf.n_features_in_:
            raise ValueError(f"preprocessing gives {len(preprocessing.feature_names_out)} features, the model "
                             f"expects {clf.n_features_in_}")
        arrays.update({PREPROCESSING_PREFIX + k: v for k, v in pre_arrays.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz_bytes = buffer.getvalue()
    config = {k: _jsonable(v) for k, v in clf.get_params(deep=False).items()}
    if callable(clf.init) and not isinstance(clf.init, str):
        config["init"] = getattr(clf.init, "__name__", "callable")
    optimizer = (getattr(clf, "optimizer_", None) or clf._make_optimizer()).describe()
    if not isinstance(clf.optimizer, str):  # an instance: what the estimator's parameters can say of it
        config.update({k: v for k, v in _optimizer_params(optimizer).items() if k in config})
    names = getattr(clf, "feature_names_in_", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(clf).__name__,
        "config": config,
        "classes": encode_classes(clf.classes_),
        "layer_dims": [int(params["W1"].shape[1])] + [int(params[f"W{l}"].shape[0]) for l in range(1, L + 1)],
        "optimizer": optimizer,
        "output": clf.output_,
        "activation": clf.activation,
        "n_features_in_": int(clf.n_features_in_),
        "feature_names_in_": None if names is None else [str(n) for n in names],
        "dtype": str(params["W1"].dtype),
        "n_iter_": _jsonable(getattr(clf, "n_iter_", None)),
        "preprocessing": pre_spec,
        "table": table,
        "versions": _versions(),
        "arrays_file": f"{name}.npz",
        "arrays_sha256": _sha256(npz_bytes),
    }
    meta = json.loads(json.dumps(meta, allow_nan=False))  # exactly what a reader will parse
    meta["sha256"] = metadata_sha256(meta)
    return npz_bytes, (json.dumps(meta, indent=2) + "\n").encode("utf-8")


def _optimizer_params(described: dict) -> dict:
    """The estimator's parameters of an ``Optimizer.describe()``: its name, learning rate and
    hyperparameters, and the decay when its schedule is the course's (else none is recorded there;
    the ``optimizer`` entry keeps its repr)."""
    params = {k: v for k, v in described.items() if k != "schedule"}
    params["optimizer"] = params.pop("name")
    schedule = described["schedule"]
    inverse_time = isinstance(schedule, dict) and schedule.get("name") == "InverseTimeDecay"
    params["decay_rate"] = schedule["decay_rate"] if inverse_time else None
    params["decay_interval"] = schedule["decay_interval"] if inverse_time else None
    return {k: _jsonable(v) for k, v in params.items()}


def write_model_files(path, npz: bytes, meta: bytes, *, root=None) -> tuple[Path, Path]:
    """Write ``encode_model``'s bytes as ``path.npz`` and ``path.json``, as a pair
    (``io.files.replace_together``: both written to temporary files, then moved into place with
    interrupts held back); a crash between the two moves leaves a pair that ``load_model``
    refuses rather than a wrong model. With ``root`` (a study's ``models/``), ``path`` is relative
    to it and must land inside it (``io.files.inside``)."""
    if root is not None:
        path = inside(root, path)
    npz_path, json_path = model_paths(path)
    replace_together({npz_path: npz, json_path: meta})
    return npz_path, json_path


def save_model(clf, path, *, data=None, force: bool = False) -> tuple[Path, Path]:
    """Save a fitted ``NeuralNetClassifier`` to ``path.npz`` + ``path.json``; return both paths
    (``encode_model``, then ``write_model_files``; ``data`` as for ``encode_model``). Files there
    that are not a practicaldl model are refused (``check_replaceable_model``) unless ``force``."""
    npz_path, _ = model_paths(path)
    check_replaceable_model(path, force=force)
    return write_model_files(path, *encode_model(clf, npz_path.stem, data=data))


def check_replaceable_model(path, *, force: bool = False) -> None:
    """Refuse (``FolderNotOurs``) to overwrite ``path.npz`` / ``path.json`` when they exist and
    ``path.json`` is not a practicaldl model's metadata, unless ``force``."""
    from .folders import FolderNotOurs

    npz_path, json_path = model_paths(path)
    present = [p.name for p in (npz_path, json_path) if os.path.lexists(p)]
    if present and not force and not has_format(json_path, FORMAT):
        raise FolderNotOurs(f"{', '.join(present)} in {str(npz_path.parent)!r} are not a practicaldl model; choose "
                            "another name, or replace them with --force")


def table_metadata(info: dict) -> dict:
    """The model's ``table`` entry from a table dataset's ``info``: how to read rows to predict."""
    reading = info["reading"]
    return {"file": info["file"], "rows": info["rows"], "sep": reading["sep"], "header": reading["header"],
            "skip_rows": reading["skip_rows"], "columns": list(info["columns"]), "target": info["target"],
            "features": list(info["features"]), "options": info["options"]}


def _param_keys(L: int) -> list[str]:
    return [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]


REQUIRED_KEYS = ("config", "classes", "layer_dims", "output", "activation", "n_features_in_", "feature_names_in_",
                 "preprocessing", "table", "arrays_sha256", "sha256")


def read_metadata(path) -> dict:
    """The ``.json`` metadata of a saved model, its checksum verified (the ``.npz`` is not read)."""
    _, json_path = model_paths(path)
    meta = read_json_file(json_path, "model metadata", ModelFileError)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{json_path.name} is not a practicaldl model file (format must be {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{json_path.name} has format_version {meta.get('format_version')!r}; this practicaldl reads "
            f"{FORMAT_VERSION} (version 1 files have no checksum over their metadata: train the model again)")
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise ModelFileError(f"{json_path.name} is missing the key {key!r}")
    try:
        digest = metadata_sha256(meta)
    except ValueError as exc:  # NaN or infinity in the JSON
        raise ModelFileError(f"{json_path.name} holds values that are not plain JSON: {exc}") from exc
    if digest != meta["sha256"]:
        raise ModelFileError(
            f"{json_path.name} does not match its SHA-256: the metadata (classes, activation, configuration, "
            "preprocessing, ...) was edited or corrupted after saving; refusing to load it")
    return meta


def load_arrays(path, meta: dict) -> tuple[dict, dict]:
    """``(parameters, preprocessing arrays)`` of a saved model, checked (digest, keys, shapes, dtype, finiteness)."""
    npz_path, json_path = model_paths(path)
    if not npz_path.is_file():
        raise ModelFileError(f"model parameters file {str(npz_path)!r} does not exist")
    data = npz_path.read_bytes()
    if _sha256(data) != meta["arrays_sha256"]:
        raise ModelFileError(
            f"{npz_path.name} does not match the SHA-256 recorded in {json_path.name}: "
            "the file was truncated, corrupted or modified after saving; refusing to load it"
        )
    dims = meta["layer_dims"]
    if not isinstance(dims, list) or len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise ModelFileError(f"layer_dims must be a list of at least 2 positive ints, got {dims!r}")
    L = len(dims) - 1
    pre = meta["preprocessing"]
    pre_keys = [PREPROCESSING_PREFIX + k for k in (pre.get("arrays") or [])] if isinstance(pre, dict) else []
    if not isinstance(pre_keys, list) or not all(isinstance(k, str) for k in pre_keys):
        raise ModelFileError("preprocessing.arrays must be a list of array names")
    try:
        arrays = read_npz(data, str(npz_path))
    except ArrayFileError as exc:
        raise ModelFileError(str(exc)) from exc
    expected = set(_param_keys(L)) | set(pre_keys)
    if set(arrays) != expected:
        raise ModelFileError(f"{npz_path.name} must hold exactly {sorted(expected)}, got {sorted(arrays)}")
    params = {k: arrays[k] for k in _param_keys(L)}
    pre_arrays = {k[len(PREPROCESSING_PREFIX):]: arrays[k] for k in pre_keys}
    for l in range(1, L + 1):
        for key, shape in ((f"W{l}", (dims[l], dims[l - 1])), (f"b{l}", (dims[l], 1))):
            arr = params[key]
            if arr.shape != shape:
                raise ModelFileError(f"{key} in {npz_path.name} must have shape {shape}, got {arr.shape}")
            if arr.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"{key} in {npz_path.name} must be float32 or float64, got {arr.dtype}")
            if not np.isfinite(arr).all():
                raise ModelFileError(f"{key} in {npz_path.name} holds NaN or inf")
    return params, pre_arrays


def load_model(path):
    """A fitted ``NeuralNetClassifier`` from ``path.npz`` + ``path.json`` (see the module docstring)."""
    return load_saved(path).estimator


def load_saved(path) -> SavedModel:
    """The estimator, its preprocessing and table metadata from ``path.npz`` + ``path.json``, all checked."""
    from sklearn.preprocessing import LabelBinarizer

    from ..core.activations import get_activation
    from ..estimator import NeuralNetClassifier
    from .preprocessing import Preprocessing

    meta = read_metadata(path)
    params, pre_arrays = load_arrays(path, meta)
    classes = decode_classes(meta["classes"])
    output = meta["output"]
    n_out = 1 if len(classes) == 2 else len(classes)
    if output not in ("sigmoid", "softmax") or (output == "sigmoid") != (len(classes) == 2):
        raise ModelFileError(f"output {output!r} does not fit {len(classes)} classes")
    if meta["layer_dims"][-1] != n_out or meta["layer_dims"][0] != meta["n_features_in_"]:
        raise ModelFileError(
            f"layer_dims {meta['layer_dims']} do not fit {meta['n_features_in_']} features and {len(classes)} classes"
        )
    config = meta["config"]
    if not isinstance(config, dict):
        raise ModelFileError(f"config must be an object, got {type(config).__name__}")
    optimizer = meta.get("optimizer")  # optional: config names the optimizer too
    if optimizer is not None and (not isinstance(optimizer, dict) or not isinstance(optimizer.get("name"), str)):
        raise ModelFileError(f"optimizer must be an object with a name, got {optimizer!r}"[:300])
    config = dict(config)
    valid = NeuralNetClassifier().get_params(deep=False)
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ModelFileError(f"config has unknown estimator parameters {unknown}")
    try:
        get_activation(meta["activation"])
    except ValueError as exc:  # a registered activation lives in the process that registered it
        raise ModelFileError(f"{exc}: register it (practicaldl.register_activation) before loading this model") \
            from exc
    if config.get("activation", meta["activation"]) != meta["activation"]:
        raise ModelFileError(f"activation {meta['activation']!r} differs from config's {config.get('activation')!r}")
    if isinstance(config.get("hidden_layer_sizes"), list):
        config["hidden_layer_sizes"] = tuple(config["hidden_layer_sizes"])
    sizes = config.get("hidden_layer_sizes")
    sizes = (sizes,) if isinstance(sizes, int) else sizes
    if list(sizes or ()) != meta["layer_dims"][1:-1]:
        raise ModelFileError(
            f"config hidden_layer_sizes {config.get('hidden_layer_sizes')!r} do not match layer_dims {meta['layer_dims']}"
        )
    if isinstance(config.get("keep_prob"), list):
        config["keep_prob"] = tuple(config["keep_prob"])
    try:
        clf = NeuralNetClassifier(**config)
    except TypeError as exc:
        raise ModelFileError(f"config cannot build a NeuralNetClassifier: {exc}") from exc
    names = meta["feature_names_in_"]
    if names is not None and (not isinstance(names, list) or len(names) != meta["n_features_in_"]
                              or not all(isinstance(n, str) for n in names)):
        raise ModelFileError(f"feature_names_in_ must be null or {meta['n_features_in_']} strings")
    preprocessing = None
    if meta["preprocessing"] is not None:
        try:
            preprocessing = Preprocessing.from_saved(meta["preprocessing"], pre_arrays)
        except ValueError as exc:
            raise ModelFileError(f"preprocessing is inconsistent: {exc}") from exc
        if len(preprocessing.feature_names_out) != meta["n_features_in_"]:
            raise ModelFileError(f"preprocessing gives {len(preprocessing.feature_names_out)} features, "
                                 f"the network takes {meta['n_features_in_']}")
    table = meta["table"]
    if table is not None and not _table_ok(table, preprocessing):
        raise ModelFileError("table must describe the training table: header, columns, target, features")
    clf.parameters_ = params
    clf.classes_ = classes
    clf.output_ = output
    clf.n_features_in_ = int(meta["n_features_in_"])
    if names is not None:
        clf.feature_names_in_ = np.asarray(names, dtype=object)
    clf.n_iter_ = meta.get("n_iter_")
    clf._binarizer = LabelBinarizer().fit(classes)
    return SavedModel(clf, preprocessing, table, meta)


def _table_ok(table, preprocessing) -> bool:
    if not isinstance(table, dict) or preprocessing is None or not isinstance(table.get("header"), bool) \
            or not isinstance(table.get("options"), dict):
        return False
    columns, features = table.get("columns"), table.get("features")
    if not (isinstance(columns, list) and isinstance(features, list) and all(isinstance(c, str) for c in columns)):
        return False
    return sorted(features) == sorted(preprocessing.columns) and set(features) <= set(columns) \
        and table.get("target") in columns
