"""Save and load fitted models as ``name.npz`` (parameters) + ``name.json`` (metadata); never pickle.

A model saved to ``model`` (or ``model.npz`` / ``model.json``) is two files side by side:

- ``model.npz``: the arrays ``W1, b1, ..., WL, bL`` in the course's layout (``W_l`` is
  (n_l, n_{l-1}), ``b_l`` is (n_l, 1)), float32 or float64, written with ``np.savez``.
- ``model.json``: ``format`` and ``format_version``; ``config`` (the estimator's ``get_params()``,
  JSON values only); ``classes`` (``{"dtype": "<i8", "kind": "i", "values": [...]}``, so int, bool,
  float and string labels come back with their kind); ``layer_dims``; ``output`` ("sigmoid" or
  "softmax"); ``n_features_in_``; ``versions`` (practicaldl, numpy, scikit-learn); and
  ``parameters_sha256``, the SHA-256 of the exact ``.npz`` bytes.

Loading reads the ``.npz`` with ``allow_pickle=False`` and refuses, with ``ModelFileError``, a
missing file, unreadable JSON, a digest that does not match the bytes (truncated or tampered),
missing or extra arrays, wrong shapes, non-float or non-finite values. Every write is atomic
(``io.files``).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes, atomic_write_text, read_json_file

FORMAT = "practicaldl-model"
FORMAT_VERSION = 1


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
    try:
        if kind == "O":
            return np.array(spec["values"], dtype=object)
        if kind in "biufUS":
            return np.array(spec["values"], dtype=np.dtype(spec["dtype"]))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"classes could not be restored with dtype {spec['dtype']!r}: {exc}") from exc
    raise ModelFileError(f"classes.kind must be one of b, i, u, f, U, S, O, got {kind!r}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict:
    import sklearn

    from .. import __version__

    return {"practicaldl": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


# -- save / load ----------------------------------------------------------------------------
def save_model(clf, path) -> tuple[Path, Path]:
    """Save a fitted ``NeuralNetClassifier`` to ``path.npz`` + ``path.json``; return both paths.

    The ``.npz`` is written first, its digest goes into the ``.json``, which is written last, so
    a crash between the two leaves a pair that ``load_model`` refuses rather than a wrong model.
    """
    if not hasattr(clf, "parameters_"):
        raise ValueError("the model must be fitted before it is saved (it has no parameters_)")
    params = clf.parameters_
    L = len(params) // 2
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.ascontiguousarray(params[k]) for k in _param_keys(L)})
    data = buffer.getvalue()
    config = {k: _jsonable(v) for k, v in clf.get_params(deep=False).items()}
    if callable(clf.init) and not isinstance(clf.init, str):
        config["init"] = getattr(clf.init, "__name__", "callable")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(clf).__name__,
        "config": config,
        "classes": encode_classes(clf.classes_),
        "layer_dims": [int(params["W1"].shape[1])] + [int(params[f"W{l}"].shape[0]) for l in range(1, L + 1)],
        "output": clf.output_,
        "activation": clf.activation,
        "n_features_in_": int(clf.n_features_in_),
        "dtype": str(params["W1"].dtype),
        "n_iter_": _jsonable(getattr(clf, "n_iter_", None)),
        "versions": _versions(),
        "parameters_file": None,
        "parameters_sha256": _sha256(data),
    }
    npz_path, json_path = model_paths(path)
    meta["parameters_file"] = npz_path.name
    atomic_write_bytes(npz_path, data)
    atomic_write_text(json_path, json.dumps(meta, indent=2) + "\n")
    return npz_path, json_path


def _param_keys(L: int) -> list[str]:
    return [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]


def read_metadata(path) -> dict:
    """The checked ``.json`` metadata of a saved model (the ``.npz`` is not read)."""
    _, json_path = model_paths(path)
    meta = read_json_file(json_path, "model metadata", ModelFileError)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{json_path.name} is not a practicaldl model file (format must be {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{json_path.name} has format_version {meta.get('format_version')!r}; this practicaldl reads {FORMAT_VERSION}"
        )
    for key in ("config", "classes", "layer_dims", "output", "n_features_in_", "parameters_sha256"):
        if key not in meta:
            raise ModelFileError(f"{json_path.name} is missing the key {key!r}")
    return meta


def load_parameters(path, meta: dict | None = None) -> dict:
    """The checked parameter arrays of a saved model (digest, keys, shapes, dtype, finiteness)."""
    npz_path, json_path = model_paths(path)
    meta = read_metadata(path) if meta is None else meta
    if not npz_path.is_file():
        raise ModelFileError(f"model parameters file {str(npz_path)!r} does not exist")
    data = npz_path.read_bytes()
    if _sha256(data) != meta["parameters_sha256"]:
        raise ModelFileError(
            f"{npz_path.name} does not match the SHA-256 recorded in {json_path.name}: "
            "the file was truncated, corrupted or modified after saving; refusing to load it"
        )
    dims = meta["layer_dims"]
    if not isinstance(dims, list) or len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise ModelFileError(f"layer_dims must be a list of at least 2 positive ints, got {dims!r}")
    L = len(dims) - 1
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            files = set(npz.files)
            expected = set(_param_keys(L))
            if files != expected:
                raise ModelFileError(f"{npz_path.name} must hold exactly {sorted(expected)}, got {sorted(files)}")
            params = {k: npz[k] for k in _param_keys(L)}
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError (object arrays), OSError
        raise ModelFileError(f"{npz_path.name} is not a readable .npz of plain arrays: {exc}") from exc
    for l in range(1, L + 1):
        for key, shape in ((f"W{l}", (dims[l], dims[l - 1])), (f"b{l}", (dims[l], 1))):
            arr = params[key]
            if arr.shape != shape:
                raise ModelFileError(f"{key} in {npz_path.name} must have shape {shape}, got {arr.shape}")
            if arr.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"{key} in {npz_path.name} must be float32 or float64, got {arr.dtype}")
            if not np.isfinite(arr).all():
                raise ModelFileError(f"{key} in {npz_path.name} holds NaN or inf")
    return params


def load_model(path):
    """A fitted ``NeuralNetClassifier`` from ``path.npz`` + ``path.json`` (see the module docstring)."""
    from sklearn.preprocessing import LabelBinarizer

    from ..core.activations import get_activation
    from ..estimator import NeuralNetClassifier

    meta = read_metadata(path)
    params = load_parameters(path, meta)
    classes = decode_classes(meta["classes"])
    output = meta["output"]
    n_out = 1 if len(classes) == 2 else len(classes)
    if output not in ("sigmoid", "softmax") or (output == "sigmoid") != (len(classes) == 2):
        raise ModelFileError(f"output {output!r} does not fit {len(classes)} classes")
    if meta["layer_dims"][-1] != n_out or meta["layer_dims"][0] != meta["n_features_in_"]:
        raise ModelFileError(
            f"layer_dims {meta['layer_dims']} do not fit {meta['n_features_in_']} features and {len(classes)} classes"
        )
    config = dict(meta["config"])
    valid = NeuralNetClassifier().get_params(deep=False)
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ModelFileError(f"config has unknown estimator parameters {unknown}")
    if isinstance(config.get("hidden_layer_sizes"), list):
        config["hidden_layer_sizes"] = tuple(config["hidden_layer_sizes"])
    if list(config.get("hidden_layer_sizes") or ()) != meta["layer_dims"][1:-1]:
        raise ModelFileError(
            f"config hidden_layer_sizes {config.get('hidden_layer_sizes')!r} do not match layer_dims {meta['layer_dims']}"
        )
    if isinstance(config.get("keep_prob"), list):
        config["keep_prob"] = tuple(config["keep_prob"])
    try:
        clf = NeuralNetClassifier(**config)
    except TypeError as exc:
        raise ModelFileError(f"config cannot build a NeuralNetClassifier: {exc}") from exc
    try:
        get_activation(clf.activation)
    except ValueError as exc:  # a registered activation lives in the process that registered it
        raise ModelFileError(f"{exc}: register it (practicaldl.register_activation) before loading this model") \
            from exc
    clf.parameters_ = params
    clf.classes_ = classes
    clf.output_ = output
    clf.n_features_in_ = int(meta["n_features_in_"])
    clf.n_iter_ = meta.get("n_iter_")
    clf._binarizer = LabelBinarizer().fit(classes)
    return clf
