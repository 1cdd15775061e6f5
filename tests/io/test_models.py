"""Saved models: .npz + JSON, allow_pickle=False, round trips exactly, refuses tampered files."""

import io
import json
import os

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.io.files import atomic_write_bytes
from practicaldl.io.models import (ModelFileError, decode_classes, encode_classes, load_model, metadata_sha256,
                                   model_paths, save_model)

FAST = dict(max_iter=60, learning_rate=0.1, random_state=0)


@pytest.fixture(scope="module")
def circles():
    return pdl.load_dataset("circles")


@pytest.fixture
def saved(tmp_path, circles):
    clf = pdl.NeuralNetClassifier((6, 3), l2=0.1, **FAST).fit(circles.X_train, circles.y_train)
    save_model(clf, tmp_path / "net")
    return clf, tmp_path / "net"


def test_round_trip_predicts_identically(saved, circles):
    clf, path = saved
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(circles.X_test), clf.predict_proba(circles.X_test))
    np.testing.assert_array_equal(loaded.predict(circles.X_test), clf.predict(circles.X_test))
    assert loaded.get_params() == clf.get_params()
    for k, v in clf.parameters_.items():
        assert loaded.parameters_[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded.parameters_[k], v)


def test_any_of_the_three_names_loads_the_same_pair(saved):
    _, path = saved
    npz, js = model_paths(path)
    assert (npz.name, js.name) == ("net.npz", "net.json")
    for p in (path, npz, js):
        assert load_model(p).classes_.tolist() == [0, 1]


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([10, 20, 30]), np.array([1.0, 2.0, 3.0]),
                                    np.array(["no", "yes"], dtype=object), np.array([False, True])])
def test_label_kinds_round_trip(tmp_path, labels):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 3))
    y = labels[np.arange(60) % len(labels)]
    clf = pdl.NeuralNetClassifier((4,), **FAST).fit(X, y)
    save_model(clf, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.classes_.dtype.kind == clf.classes_.dtype.kind
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_classes_codec_rejects_non_labels():
    with pytest.raises(ValueError, match="classes_ must be numbers or strings"):
        encode_classes(np.array([1 + 2j, 3j]))
    with pytest.raises(ModelFileError, match="at least 2 classes"):
        decode_classes({"dtype": "<i8", "kind": "i", "values": [1]})


def _flip_byte(path, offset_from_end):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_parameters_are_refused(saved):
    _, path = saved
    npz, _ = model_paths(path)
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the arrays
    npz.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(path)


def test_truncated_parameters_are_refused(saved):
    _, path = saved
    npz, _ = model_paths(path)
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)


def test_rehashed_pickle_payload_is_still_refused(saved):
    """An attacker who also rewrites the digest cannot make us unpickle: allow_pickle=False."""
    _, path = saved
    npz, js = model_paths(path)
    buffer = io.BytesIO()
    params = {k: v for k, v in np.load(npz).items()}
    params["W1"] = np.array([{"evil": 1}], dtype=object)
    np.savez(buffer, **params)
    npz.write_bytes(buffer.getvalue())
    meta = json.loads(js.read_text())
    import hashlib

    meta["arrays_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    _rehash(meta)
    js.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="plain arrays|Python objects|must have shape|float"):
        load_model(path)


def _rehash(meta):
    """What a writer that bypasses save_model (or an attacker) would do: recompute the checksum."""
    meta["sha256"] = metadata_sha256(meta)
    return meta


@pytest.mark.parametrize("edit", [
    lambda m: m["classes"].update(values=[5, 7]),
    lambda m: m.update(activation="tanh"),
    lambda m: m["config"].update(activation="tanh"),
    lambda m: m.update(n_iter_=1),
    lambda m: m.update(feature_names_in_=["a", "b"]),
    lambda m: m.update(arrays_sha256="0" * 64),
    lambda m: m.update(extra="anything"),
    lambda m: m["optimizer"].update(learning_rate=0.5),
    lambda m: m["config"].update(optimizer="adam"),
])
def test_any_edit_of_the_metadata_is_refused(saved, edit):
    """One checksum covers everything a model is: classes, activation, configuration, the arrays' digest."""
    _, path = saved
    _, js = model_paths(path)
    meta = json.loads(js.read_text())
    edit(meta)
    js.write_text(json.dumps(meta, indent=2))
    with pytest.raises(ModelFileError, match="does not match its SHA-256.*edited"):
        load_model(path)


def test_reformatting_the_json_keeps_the_checksum(saved, circles):
    clf, path = saved
    _, js = model_paths(path)
    js.write_text(json.dumps(json.loads(js.read_text()), indent=None, sort_keys=True))
    np.testing.assert_array_equal(load_model(path).predict(circles.X_test), clf.predict(circles.X_test))


def test_a_version_1_file_is_refused_with_the_reason(saved):
    _, path = saved
    _, js = model_paths(path)
    meta = json.loads(js.read_text())
    meta["format_version"] = 1
    js.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="format_version 1.*no checksum over their metadata"):
        load_model(path)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(layer_dims=[2, 7, 3, 1]), "shape"),
    (lambda m: m.update(format="something-else"), "not a practicaldl model"),
    (lambda m: m.pop("classes"), "missing the key 'classes'"),
    (lambda m: m["config"].update(evil=1), "unknown estimator parameters"),
    (lambda m: m.update(output="softmax"), "does not fit 2 classes"),
    (lambda m: m.update(activation="swish"), "activation must be one of"),
    (lambda m: m["classes"].update(values=[1, 1]), "classes must be distinct"),
    (lambda m: m["classes"].update(kind="M", dtype="<M8[D]"), "classes.kind must be one of"),
    (lambda m: m.update(feature_names_in_=["only one"]), "feature_names_in_ must be null or 2 strings"),
    (lambda m: m.update(optimizer="adam"), "optimizer must be an object with a name, got 'adam'"),
])
def test_inconsistent_metadata_is_refused(saved, edit, message):
    """Metadata whose checksum was recomputed is still checked for consistency."""
    _, path = saved
    _, js = model_paths(path)
    meta = json.loads(js.read_text())
    edit(meta)
    js.write_text(json.dumps(_rehash(meta)))
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_corrupt_json_and_missing_files_are_refused(saved, tmp_path):
    _, path = saved
    npz, js = model_paths(path)
    js.write_text(js.read_text()[:40])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nothing")
    js.unlink()
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(path)


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="must be fitted"):
        save_model(pdl.NeuralNetClassifier(), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no temporary file left behind


def test_the_optimizer_that_trained_is_recorded(tmp_path, circles):
    """By name (the estimator's parameters, and the settings the optimizer used), or as an instance
    (its name and settings become the parameters, so the model refits the same way)."""
    by_name = pdl.NeuralNetClassifier((6,), optimizer="adam", beta2=0.99, decay_rate=1.0, decay_interval=20,
                                      batch_size=50, **FAST).fit(circles.X_train, circles.y_train)
    save_model(by_name, tmp_path / "adam")
    meta = json.loads((tmp_path / "adam.json").read_text())
    assert meta["optimizer"] == {"name": "adam", "learning_rate": 0.1, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8,
                                 "schedule": {"name": "InverseTimeDecay", "decay_rate": 1.0, "decay_interval": 20}}
    assert {k: meta["config"][k] for k in ("optimizer", "beta2", "decay_rate", "decay_interval")} == {
        "optimizer": "adam", "beta2": 0.99, "decay_rate": 1.0, "decay_interval": 20}
    instance = pdl.Momentum(0.05, beta=0.8, schedule=pdl.InverseTimeDecay(0.5))
    by_instance = pdl.NeuralNetClassifier((6,), optimizer=instance, max_iter=60, batch_size=50, random_state=0)
    by_instance.fit(circles.X_train, circles.y_train)
    save_model(by_instance, tmp_path / "momentum")
    loaded = load_model(tmp_path / "momentum")
    assert {k: loaded.get_params()[k] for k in ("optimizer", "learning_rate", "beta", "decay_rate", "decay_interval")} \
        == {"optimizer": "momentum", "learning_rate": 0.05, "beta": 0.8, "decay_rate": 0.5, "decay_interval": None}
    refit = loaded.fit(circles.X_train, circles.y_train)  # the same settings, by name: the same bits
    assert all(np.array_equal(refit.parameters_[k], by_instance.parameters_[k]) for k in refit.parameters_)
