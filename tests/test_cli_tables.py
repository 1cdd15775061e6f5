"""Tables on the command line, as a new user meets them: real tables nobody here wrote (the Palmer
penguins, scikit-learn's bundled CSVs), and tables derived from them by moving a column or
changing the delimiter. Train, predict, compare; the saved preprocessing; the warnings."""

import json

import numpy as np
import pandas as pd
import pytest

from practicaldl.io.models import load_saved, model_paths

FAST = ["--hidden", "8", "--max-iter", "400", "--lr", "0.1"]
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _error(result):
    """The one-line error of a bad-input exit."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture
def penguins(tmp_path, penguins_csv):
    return pd.read_csv(penguins_csv)


@pytest.fixture
def iris(sklearn_csv):
    """scikit-learn's iris.csv with names: 4 measurements, then the integer class 0 / 1 / 2."""
    return pd.read_csv(sklearn_csv("iris.csv"), skiprows=1, header=None, names=[*IRIS, "species"])


# -- the penguins, end to end ----------------------------------------------------------------------
def test_penguins_species_trained_and_predicted(cli, tmp_path, penguins_csv, penguins):
    out = _json(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "median", *FAST,
                    "--model", "pen", "--json"))
    assert out["classes"] == ["Adelie", "Chinstrap", "Gentoo"] and out["target"] == "species"
    assert out["split"] == "stratified split of penguins.csv: 75% train / 25% test, split seed 0"
    assert (out["train_rows"], out["test_rows"]) == (258, 86) and out["test_accuracy"] > 0.95
    plain = cli("predict", "pen", penguins_csv)  # raw rows, the label column among them (ignored)
    assert plain.exit_code == 0, plain.stderr
    predicted = plain.stdout.split()
    assert len(predicted) == 344 and set(predicted) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert np.mean(np.array(predicted) == penguins["species"].to_numpy()) > 0.95
    proba = cli("predict", "pen", penguins_csv, "--proba").stdout.splitlines()
    assert proba[0] == "prediction\tAdelie\tChinstrap\tGentoo"
    first = proba[1].split("\t")
    assert first[0] == predicted[0] and abs(sum(float(p) for p in first[1:]) - 1) < 1e-5


def test_saved_preprocessing_gives_the_pipelines_predictions(cli, tmp_path, penguins_csv, penguins):
    """predict on raw rows == NeuralNetClassifier in a scikit-learn Pipeline on the same data."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import practicaldl as pdl

    _json(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "median", *FAST, "--seed", "4",
              "--model", "pen", "--json"))
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    prep = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ["island", "sex"])])
    pipe = make_pipeline(prep, pdl.NeuralNetClassifier((8,), max_iter=400, learning_rate=0.1, random_state=4))
    train, test = train_test_split(np.arange(len(penguins)), test_size=0.25, random_state=0,
                                   stratify=penguins["species"])
    X = penguins.drop(columns="species")
    pipe.fit(X.iloc[np.sort(train)], penguins["species"].iloc[np.sort(train)])  # the file's row order
    penguins.iloc[test].to_csv(tmp_path / "test_rows.csv", index=False)  # raw rows, NA included
    result = _json(cli("predict", "pen", "test_rows.csv", "--proba", "--json"))
    assert result["predictions"] == pipe.predict(X.iloc[test]).tolist()
    np.testing.assert_allclose(result["probabilities"], pipe.predict_proba(X.iloc[test]), rtol=0, atol=1e-12)


# -- header, delimiters ----------------------------------------------------------------------------------
def test_a_first_line_that_is_not_a_header(cli, sklearn_csv):
    """scikit-learn's wine_data.csv starts with "178,13,class_0,class_1,class_2"."""
    line = _error(cli("train", "-d", sklearn_csv("wine_data.csv"), *FAST))
    assert "wine_data.csv, line 2: 14 fields, but the header (line 1) has 5 names" in line and "--no-header" in line
    out = _json(cli("train", "-d", sklearn_csv("wine_data.csv"), "--no-header", "--skip-rows", "1", *FAST, "--json"))
    assert out["target"] == "13" and out["classes"] == [0, 1, 2] and out["test_accuracy"] > 0.9


def test_other_delimiters_sniffed_or_given(cli, tmp_path, penguins_csv, penguins):
    reference = _json(cli("train", "-d", penguins_csv, "--target", "species", "--drop-missing", *FAST, "--json",
                          "--model", "a"))
    for name, sep, flags in (("semi.csv", ";", []), ("tabs.tsv", "\t", []), ("pipes.csv", "|", ["--sep", "|"]),
                             ("semi2.csv", ";", ["--sep", "semicolon"])):
        penguins.to_csv(tmp_path / name, sep=sep, index=False)
        out = _json(cli("train", "-d", name, "--target", "species", "--drop-missing", *flags, *FAST, "--json",
                        "--model", "b"))
        assert out["test_accuracy"] == reference["test_accuracy"] and out["final_cost"] == reference["final_cost"]
    line = _error(cli("train", "-d", "semi.csv", "--sep", ",", "--target", "species"))
    assert "semi.csv must have at least a feature column and a label column" in line and "--sep" in line


# -- the label column ----------------------------------------------------------------------------------
def test_label_first_middle_last_or_by_name_trains_the_same_network(cli, tmp_path, sklearn_csv, iris):
    last = _json(cli("train", "-d", sklearn_csv("iris.csv"), "--no-header", "--skip-rows", "1", *FAST, "--json"))
    results = []
    for name, order, target in (("first.csv", ["species", *IRIS], "0"), ("middle.csv", [*IRIS[:2], "species", *IRIS[2:]], "2"),
                                ("named.csv", [*IRIS, "species"], "species"), ("negative.csv", [*IRIS, "species"], "-1")):
        iris[order].to_csv(tmp_path / name, index=False)
        out = _json(cli("train", "-d", name, "--target", target, *FAST, "--json"))
        assert out["target"] == "species" and out["features"] == IRIS
        results.append(out)
    for out in results:
        assert (out["test_accuracy"], out["final_cost"]) == (last["test_accuracy"], last["final_cost"])
    assert last["test_accuracy"] > 0.9
    line = _error(cli("train", "-d", "first.csv", *FAST))  # the label first, no --target: the last column is a measurement
    assert "target column 'petal_width' of first.csv holds numbers with fractions" in line and "--target" in line


def test_a_label_column_that_looks_continuous_is_named(cli, tmp_path, sklearn_csv):
    wine = pd.read_csv(sklearn_csv("wine_data.csv"), skiprows=1, header=None)
    wine[[13, *range(13)]].to_csv(tmp_path / "wine_first.csv", index=False, header=False)  # the class first, proline last
    result = cli("train", "-d", "wine_first.csv", "--no-header", *FAST, "--json")
    warnings = _json(result)["warnings"]
    assert any("the target column '13' has" in w and "looks continuous" in w and "--target" in w for w in warnings)
    assert "Warning: the target column '13'" in result.stderr and "UserWarning" not in result.stderr
    good = _json(cli("train", "-d", "wine_first.csv", "--no-header", "--target", "0", *FAST, "--json"))
    assert good["test_accuracy"] > 0.9 and not any("continuous" in w for w in good["warnings"])


@pytest.mark.parametrize("kind", ["string", "boolean", "integer"])
def test_string_boolean_and_integer_labels_come_back_as_written(cli, tmp_path, iris, kind):
    labels = {"string": np.array(["setosa", "versicolor", "virginica"])[iris["species"]],
              "boolean": (iris["species"] == 0).to_numpy(), "integer": iris["species"].to_numpy()}[kind]
    iris.assign(species=labels).to_csv(tmp_path / "iris.csv", index=False)
    out = _json(cli("train", "-d", "iris.csv", "--target", "species", *FAST, "--model", "m", "--json"))
    assert out["test_accuracy"] > 0.9
    saved = load_saved(tmp_path / "m")
    assert saved.estimator.classes_.dtype.kind == {"string": "U", "boolean": "b", "integer": "i"}[kind]
    written = pd.read_csv(tmp_path / "iris.csv", dtype=str)["species"]
    predicted = cli("predict", "m", "iris.csv").stdout.split()
    assert set(predicted) <= set(written) and np.mean(np.array(predicted) == written.to_numpy()) > 0.9


# -- categorical features, missing values, unseen categories ------------------------------------------------
def test_categorical_features_are_one_hot_encoded(cli, tmp_path, penguins_csv):
    _json(cli("train", "-d", penguins_csv, "--target", "sex", "--drop-missing", *FAST, "--model", "m", "--json"))
    meta = json.loads(model_paths(tmp_path / "m")[1].read_text())
    assert meta["preprocessing"]["categorical"] == ["species", "island"]
    assert meta["preprocessing"]["categories"] == [["Adelie", "Chinstrap", "Gentoo"], ["Biscoe", "Dream", "Torgersen"]]
    assert meta["n_features_in_"] == 5 + 3 + 3 and meta["table"]["target"] == "sex"


def test_missing_values_refused_imputed_or_dropped(cli, penguins_csv):
    line = _error(cli("train", "-d", penguins_csv, "--target", "species", *FAST))
    assert "penguins.csv has missing values in 5 column(s)" in line and "sex 11 (lines 5, 10, 11, ...)" in line
    assert "--impute" in line and "--drop-missing" in line
    imputed = _json(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "mean", *FAST, "--json"))
    dropped = _json(cli("train", "-d", penguins_csv, "--target", "species", "--drop-missing", *FAST, "--json"))
    assert imputed["train_rows"] + imputed["test_rows"] == 344 and dropped["train_rows"] + dropped["test_rows"] == 333
    line = _error(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "mode"))
    assert line == ("Error: invalid value for --impute: impute must be one of ['mean', 'median', 'most_frequent'], "
                    "got 'mode'")


def test_predict_on_rows_with_missing_values_unseen_categories_or_columns(cli, tmp_path, penguins_csv, penguins):
    _json(cli("train", "-d", penguins_csv, "--target", "species", "--drop-missing", *FAST, "--model", "m", "--json"))
    rows = penguins.dropna().head(4).copy()
    rows.to_csv(tmp_path / "ok.csv", index=False)
    assert cli("predict", "m", "ok.csv").stdout.split() == rows["species"].tolist()
    rows.assign(island=["Biscoe", "Atlantis", "Dream", "Dream"]).to_csv(tmp_path / "odd.csv", index=False)
    line = _error(cli("predict", "m", "odd.csv"))
    assert "odd.csv: column 'island' has categories the model never saw in training: 'Atlantis' (line 3)" in line
    assert "--unknown-categories ignore" in line
    ignored = cli("predict", "m", "odd.csv", "--unknown-categories", "ignore")
    assert ignored.exit_code == 0 and len(ignored.stdout.split()) == 4
    penguins.head(4).to_csv(tmp_path / "holes.csv", index=False)  # line 5 is all NA; the model has no fill values
    line = _error(cli("predict", "m", "holes.csv"))
    assert "holes.csv: missing values, and the model has no fill values" in line and "body_mass_g 1 (line 5)" in line
    rows.drop(columns=["sex"]).to_csv(tmp_path / "short.csv", index=False)
    assert "short.csv: no column(s) ['sex']" in _error(cli("predict", "m", "short.csv"))


def test_a_table_without_header_predicts_by_position(cli, tmp_path, sklearn_csv, iris):
    _json(cli("train", "-d", sklearn_csv("iris.csv"), "--no-header", "--skip-rows", "1", *FAST, "--model", "m",
              "--json"))
    iris.head(5).to_csv(tmp_path / "full.csv", index=False, header=False)  # the training layout, label included
    iris[IRIS].head(5).to_csv(tmp_path / "features.csv", index=False, header=False)  # the features alone
    assert cli("predict", "m", "full.csv").stdout == cli("predict", "m", "features.csv").stdout
    assert cli("predict", "m", "full.csv").stdout.split() == ["0"] * 5
    iris[IRIS[:3]].head(5).to_csv(tmp_path / "three.csv", index=False, header=False)
    assert "three.csv has 3 columns and no header" in _error(cli("predict", "m", "three.csv"))


# -- the model file ------------------------------------------------------------------------------------
@pytest.mark.parametrize("tamper", ["categories", "classes", "mean array"])
def test_tampered_preprocessing_or_classes_are_refused(cli, tmp_path, penguins_csv, tamper):
    _json(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "median", *FAST, "--model", "m",
              "--json"))
    npz, js = model_paths(tmp_path / "m")
    meta = json.loads(js.read_text())
    if tamper == "categories":
        meta["preprocessing"]["categories"][0] = ["Biscoe", "Dream", "Torgersen2"]
        js.write_text(json.dumps(meta, indent=2))
    elif tamper == "classes":
        meta["classes"]["values"] = ["Gentoo", "Adelie", "Chinstrap"]
        js.write_text(json.dumps(meta, indent=2))
    else:
        arrays = dict(np.load(npz))
        arrays["preprocessing.numeric_mean"] = arrays["preprocessing.numeric_mean"] + 1.0
        np.savez(npz, **arrays)
    line = _error(cli("predict", "m", penguins_csv))
    assert "SHA-256" in line and ("edited" in line or "modified" in line)


# -- split options ------------------------------------------------------------------------------------------
def test_a_separate_test_file(cli, tmp_path, penguins):
    penguins.iloc[::4].to_csv(tmp_path / "test.csv", index=False)
    penguins.drop(index=penguins.index[::4]).to_csv(tmp_path / "train.csv", index=False)
    out = _json(cli("train", "-d", "train.csv", "--test", "test.csv", "--target", "species", "--impute", "median",
                    *FAST, "--json"))
    assert out["split"] == "test set from test.csv" and (out["train_rows"], out["test_rows"]) == (258, 86)
    assert out["test_accuracy"] > 0.9
    line = _error(cli("train", "-d", "train.csv", "--test", "test.csv", "--test-size", "0.3", "--target", "species"))
    assert "--test and --test-size exclude each other" in line
    other = _json(cli("train", "-d", "train.csv", "--test-size", "0.5", "--target", "species", "--impute", "median",
                      *FAST, "--json"))
    assert other["test_rows"] == 129 and "50% train / 50% test" in other["split"]


# -- warnings ------------------------------------------------------------------------------------------------
def test_accuracy_at_the_majority_rate_is_flagged(cli, penguins_csv):
    """Zero weights never break symmetry: the network predicts one class, the training majority."""
    out = _json(cli("train", "-d", penguins_csv, "--target", "sex", "--drop-missing", "--init", "zeros", *FAST,
                    "--json"))
    assert any("no better than always predicting the most frequent class" in w for w in out["warnings"])
    good = _json(cli("train", "-d", penguins_csv, "--target", "sex", "--drop-missing", *FAST, "--json"))
    assert good["test_accuracy"] > 0.85 and not any("most frequent class" in w for w in good["warnings"])


def test_unstandardized_features_on_different_scales_are_flagged(cli, penguins_csv):
    result = cli("train", "-d", penguins_csv, "--target", "species", "--drop-missing", "--no-standardize",
                 "--max-iter", "3", "--lr", "1e-9")
    assert result.exit_code == 0, result.stderr
    assert "Warning: the features are on very different scales" in result.stderr and "body_mass_g" in result.stderr
    standardized = cli("train", "-d", penguins_csv, "--target", "species", "--drop-missing", "--max-iter", "3")
    assert "different scales" not in standardized.stderr


# -- scikit-learn's breast cancer table against the built-in set ------------------------------------
def test_the_breast_cancer_csv_scores_as_the_builtin_set(cli, sklearn_csv):
    builtin_scores = []
    for seed in ("0", "1", "2"):
        flags = ["--hidden", "10,5", "--max-iter", "1500", "--lr", "0.05", "--seed", seed, "--json"]
        table = _json(cli("train", "-d", sklearn_csv("breast_cancer.csv"), "--no-header", "--skip-rows", "1", *flags))
        builtin = _json(cli("train", "-d", "breast_cancer", *flags))
        assert abs(table["test_accuracy"] - builtin["test_accuracy"]) <= 0.01
        builtin_scores.append(builtin["test_accuracy"])
    assert np.mean(builtin_scores) > 0.95


# -- compare on a table ---------------------------------------------------------------------------------------
def test_compare_on_a_table_names_the_data_and_its_models_predict_raw_rows(cli, tmp_path, penguins_csv):
    out = _json(cli("compare", "-d", penguins_csv, "--target", "species", "--impute", "median", "--drop", "year",
                    "--max-iter", "60", "--lr", "0.1", "--l2", "0", "--l2", "1", "--seed", "0", "--out", "rep", "--json"))
    assert [row[0] for row in out["tables"][0]["rows"]] == ["l2=0", "l2=1"]
    section = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][0]
    assert section["dataset"]["target"] == "species" and section["config"]["table"]["impute"] == "median"
    assert "year" not in section["dataset"]["features"]
    page = (tmp_path / "rep" / "index.html").read_text()
    for text in ("penguins.csv", "species", "numeric columns standardized", "one-hot encoded", "impute (median)",
                 "stratified split", "learning_<wbr>rate", "high_bias = avoidable bias"):
        assert text in page, text
    model = tmp_path / "rep" / section["records"][0]["model_path"]
    predicted = cli("predict", model, penguins_csv)
    assert predicted.exit_code == 0 and len(predicted.stdout.split()) == 344


def test_compare_from_the_example_study_file(cli, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "penguins-study.toml"
    out = _json(cli("compare", "--config", example, "--max-iter", "30", "--seed", "0", "--out", "rep", "--json"))
    assert len(out["tables"][0]["rows"]) == 4
    section = json.loads((tmp_path / "rep" / "results.json").read_text())["sections"][0]
    assert section["dataset"]["file"] == str(example.parent / "penguins.csv")  # relative to the study file
    assert section["dataset"]["target"] == "species"


def test_table_options_with_a_builtin_dataset_are_refused(cli):
    line = _error(cli("train", "-d", "circles", "--target", "x"))
    assert "apply to table files" in line
    line = _error(cli("compare", "-d", "circles", "--impute", "mean", "--out", "rep"))
    assert "apply to table files" in line


def test_diagnose_and_gradcheck_a_table_model(cli, penguins_csv):
    _json(cli("train", "-d", penguins_csv, "--target", "species", "--impute", "median", *FAST, "--model", "m",
              "--json"))
    diagnosis = cli("diagnose", "--model", "m", "-d", penguins_csv, "--json")
    assert diagnosis.exit_code in (0, 1), diagnosis.stderr
    assert json.loads(diagnosis.stdout)["n_samples"] > 0
    check = cli("gradcheck", "--model", "m", "-d", penguins_csv, "--max-samples", "16", "--json")
    assert check.exit_code == 0, check.stderr
