"""Tables as a library: reading, columns, labels, missing values, the split, and the preprocessing
that a model file carries (equal, bit for bit, to scikit-learn's ColumnTransformer)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import practicaldl as pdl
from practicaldl.io.preprocessing import Preprocessing, PreprocessingError, fit_preprocessing
from practicaldl.io.tables import TableError, TableOptions, encode_labels, read_table, resolve_columns

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
CATEGORICAL = ["island", "sex"]


@pytest.fixture(scope="module")
def penguins(penguins_csv):
    return pd.read_csv(penguins_csv)


def _by_hand(impute, standardize=True):
    """The ColumnTransformer a scikit-learn user would write for the penguins table."""
    numeric = ([SimpleImputer(strategy=impute)] if impute else []) + ([StandardScaler()] if standardize else [])
    categorical = ([SimpleImputer(strategy="most_frequent")] if impute else []) + \
        [OneHotEncoder(handle_unknown="ignore", sparse_output=False)]
    return ColumnTransformer([("n", make_pipeline(*numeric) if numeric else "passthrough", NUMERIC),
                              ("c", make_pipeline(*categorical), CATEGORICAL)])


@pytest.mark.parametrize("impute, standardize", [("median", True), ("mean", True), ("most_frequent", False)])
def test_saved_preprocessing_equals_the_column_transformer_bit_for_bit(penguins, impute, standardize):
    train, test = train_test_split(penguins, test_size=0.25, random_state=1)
    pre = fit_preprocessing(train, NUMERIC, CATEGORICAL, standardize=standardize, impute=impute)
    reference = _by_hand(impute, standardize).fit(train)
    for rows in (train, test):
        np.testing.assert_array_equal(pre.transform(rows), reference.transform(rows))
    spec, arrays = pre.to_saved()
    again = Preprocessing.from_saved(json.loads(json.dumps(spec)), arrays)  # through JSON, as a model file
    np.testing.assert_array_equal(again.transform(test), reference.transform(test))
    assert again.feature_names_out == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year",
                                       "island=Biscoe", "island=Dream", "island=Torgersen", "sex=female", "sex=male"]


def test_by_hand_arithmetic_of_the_saved_numbers():
    # x = [1, 2, 3, NaN]: training mean 2, std sqrt(2/3); the NaN gets the median 2, so z = 0
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["b", "a", "b"]})
    pre = fit_preprocessing(frame, ["x"], ["c"], impute="median")
    assert pre.mean.tolist() == [2.0] and pre.scale.tolist() == [np.sqrt(2 / 3)]
    assert pre.categories == (("a", "b"),) and pre.categorical_fill == ("b",)
    out = pre.transform(pd.DataFrame({"x": [np.nan, 4.0], "c": [None, "a"]}))
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0], [2 / np.sqrt(2 / 3), 1.0, 0.0]])


def test_transform_refuses_what_it_cannot_encode(penguins):
    pre = fit_preprocessing(penguins.dropna(), NUMERIC, CATEGORICAL)
    rows = penguins.dropna().head(3).copy()
    with pytest.raises(PreprocessingError, match=r"new.csv: no column\(s\) \['sex'\]"):
        pre.transform(rows.drop(columns="sex"), source="new.csv")
    odd = rows.assign(island=["Biscoe", "Atlantis", "Dream"])
    with pytest.raises(PreprocessingError, match=r"column 'island' has categories the model never saw.*'Atlantis' \(line 12\)"):
        pre.transform(odd, lines=[11, 12, 13])
    zeros = pre.transform(odd, unknown="ignore")
    assert zeros[1, 5:8].tolist() == [0.0, 0.0, 0.0] and zeros[0, 5:8].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(PreprocessingError, match=r"missing values, and the model has no fill values.*body_mass_g 1 \(line 2\)"):
        pre.transform(rows.assign(body_mass_g=[1.0, np.nan, 2.0]))
    with pytest.raises(PreprocessingError, match=r"column 'year' must be numeric.*'soon' \(line 2\)"):
        pre.transform(rows.assign(year=["2007", "soon", "2008"]))


@pytest.mark.parametrize("edit, message", [
    (lambda s, a: s.update(categories=[["Dream", "Biscoe"], ["female", "male"]]), "sorted"),
    (lambda s, a: s.update(standardize="yes"), "true or false"),
    (lambda s, a: a.update(numeric_scale=np.zeros(5)), "positive"),
    (lambda s, a: a.pop("numeric_mean"), "arrays must be"),
    (lambda s, a: s.update(impute="mode"), "impute must be null or one of"),
    (lambda s, a: s.update(numeric=NUMERIC + ["island"]), "distinct"),
    (lambda s, a: s.update(evil=1), "exactly the keys"),
])
def test_from_saved_refuses_inconsistent_numbers(penguins, edit, message):
    spec, arrays = fit_preprocessing(penguins.dropna(), NUMERIC, CATEGORICAL).to_saved()
    edit(spec, arrays)
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_saved(spec, arrays)


def test_columns_by_name_or_position(penguins_csv):
    columns = read_table(penguins_csv).frame.columns
    assert resolve_columns(columns, TableOptions(), "p")[0] == "year"  # the default: the last column
    target, features = resolve_columns(columns, TableOptions(target="0", drop=("year",)), "p")
    assert target == "species" and features == ["island", *NUMERIC[:4], "sex"]
    assert resolve_columns(columns, TableOptions(target=-2, features=("1", "body_mass_g")), "p") == \
        ("sex", ["island", "body_mass_g"])
    for options, message in ((TableOptions(target="weight"), "no column 'weight'; its columns are"),
                             (TableOptions(target=8), "position 8 is outside the 8 columns"),
                             (TableOptions(target="species", features=("species",)), "must not include the target"),
                             (TableOptions(target="species", drop=("species",)), "must not include the target")):
        with pytest.raises(TableError, match=message):
            resolve_columns(columns, options, "p")


def test_labels_keep_their_kind_and_continuous_ones_are_named():
    lines = np.arange(2, 8)
    assert encode_labels(pd.Series([True, False] * 3), "t", "f", lines)[0].dtype == bool
    assert encode_labels(pd.Series([1.0, 2.0] * 3), "t", "f", lines)[0].dtype == np.int64
    assert encode_labels(pd.Series(["a", "b"] * 3, dtype="str"), "t", "f", lines)[0].dtype.kind == "U"
    with pytest.raises(TableError, match=r"holds 1e\+20 \(line 2\): whole-number labels must be below 2\*\*53"):
        encode_labels(pd.Series([1e20, 0.0] * 3), "t", "f", lines)  # not wrapped to -9223372036854775808
    assert encode_labels(pd.Series([2.0**53 - 1, 0.0] * 3), "t", "f", lines)[0].dtype == np.int64
    with pytest.raises(TableError, match=r"fractions \(5.1 on line 2.*looks continuous.*--target"):
        encode_labels(pd.Series([5.1, 4.9, 4.7, 4.6, 5.0, 5.4]), "x", "iris.csv", lines)
    with pytest.raises(TableError, match="single value"):
        encode_labels(pd.Series(["a"] * 6), "t", "f", lines)
    _, notes = encode_labels(pd.Series(np.arange(120) % 60), "t", "f", np.arange(120))
    assert "60 distinct numeric values: it looks continuous" in notes[0]


@pytest.mark.parametrize("options, message", [
    (dict(impute="mode"), r"impute must be one of \['mean', 'median', 'most_frequent'\], got 'mode'"),
    (dict(impute="mean", drop_missing=True), "exclude each other"),
    (dict(test_size=1.5), r"test_size must be a fraction in \(0, 1\), got 1.5"),
    (dict(sep=";;"), "sep must be one character"),
    (dict(skip_rows=-1), "skip_rows must be a non-negative integer"),
    (dict(test="nowhere.csv"), "test must be an existing table file"),
    (dict(split_seed=-3), "split_seed must be an integer"),
])
def test_table_options_name_the_option_the_rule_and_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        TableOptions(**options).check()
    with pytest.raises(ValueError, match=r"unknown table settings \['targets'\]"):
        TableOptions.from_dict({"targets": "x"})


def test_missing_values_refused_imputed_or_dropped(penguins_csv):
    with pytest.raises(TableError, match=r"missing values in 5 column\(s\): bill_length_mm 2 \(lines 5, 273\).*sex 11"):
        pdl.load_dataset(penguins_csv, {"target": "species"})
    imputed = pdl.load_dataset(penguins_csv, {"target": "species", "impute": "median"})
    dropped = pdl.load_dataset(penguins_csv, {"target": "species", "drop_missing": True})
    assert len(imputed.y_train) + len(imputed.y_test) == 344
    assert len(dropped.y_train) + len(dropped.y_test) == 333 and dropped.info["missing"]["rows_dropped"] == 11
    with pytest.raises(TableError, match=r"target column 'sex'.*missing labels.*sex 11.*--drop-missing"):
        pdl.load_dataset(penguins_csv, {"target": "sex", "impute": "mean"})


def test_the_split_is_stratified_seeded_and_the_same_for_every_training_seed(penguins_csv):
    a = pdl.load_dataset(penguins_csv, {"target": "species", "drop_missing": True})
    b = pdl.load_dataset(penguins_csv, {"target": "species", "drop_missing": True})
    c = pdl.load_dataset(penguins_csv, {"target": "species", "drop_missing": True, "split_seed": 1})
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    for d in (a, c):
        train_share = pd.Series(d.y_train).value_counts(normalize=True)
        test_share = pd.Series(d.y_test).value_counts(normalize=True)
        assert (train_share - test_share).abs().max() < 0.02  # stratified
    np.testing.assert_allclose(a.X_train[:, :4].mean(axis=0), 0, atol=1e-12)  # fitted on the training rows
    assert a.info["split"]["stratified"] and "stratified split of penguins.csv" in a.info["split"]["description"]


def test_delimiters_are_sniffed(penguins_csv, tmp_path):
    frame = pd.read_csv(penguins_csv)
    reference = pdl.load_dataset(penguins_csv, {"target": "species", "impute": "median"})
    for name, sep in (("semi.csv", ";"), ("tabs.tsv", "\t"), ("tabs.csv", "\t"), ("pipes.csv", "|")):
        frame.to_csv(tmp_path / name, sep=sep, index=False)
        d = pdl.load_dataset(tmp_path / name, {"target": "species", "impute": "median"})
        np.testing.assert_array_equal(d.X_train, reference.X_train)
        assert d.info["reading"]["sep"] == sep


def test_parquet_reads_the_same_table(penguins_csv, tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow (practicaldl[parquet]) is not installed")
    pd.read_csv(penguins_csv).to_parquet(tmp_path / "penguins.parquet")
    a = pdl.load_dataset(tmp_path / "penguins.parquet", {"target": "species", "impute": "median"})
    b = pdl.load_dataset(penguins_csv, {"target": "species", "impute": "median"})
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(TableError, match=r"needs pyarrow: pip install 'practicaldl\[parquet\]'"):
        read_table(tmp_path / "t.parquet")


@pytest.mark.parametrize("text, message", [
    ("a,b,c\n1,2,3\n4,5,6,7\n", r"bad.csv, line 3: 4 fields where the lines above have 3"),
    ('a,b,c\n1,"2,3\n4,5,6\n', r"bad.csv, line 2: a quoted field is never closed"),
    ("", "bad.csv is empty"),
    ("a\n1\n2\n", "at least a feature column and a label column"),
    ("a,b\n", "bad.csv has no data rows"),
    ("178,13,class_0\n1,2,3,4,5\n", r"bad.csv, line 2: 5 fields, but the header \(line 1\) has 3 names.*--no-header"),
])
def test_unreadable_tables_give_one_line_with_the_file_and_line(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(TableError, match=message) as caught:
        read_table(tmp_path / "bad.csv")
    assert "\n" not in str(caught.value)


def test_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes("a,b\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(TableError, match=r"latin.csv is not UTF-8 text.*save it as UTF-8"):
        read_table(tmp_path / "latin.csv")


def test_a_numeric_header_is_flagged(sklearn_csv):
    iris = read_table(sklearn_csv("iris.csv"))  # "150,4,setosa,versicolor,virginica" read as names
    assert iris.warnings == []  # not all numbers: a plausible header
    table = read_table(sklearn_csv("iris.csv"), header=False, skip_rows=1)
    assert list(table.frame.columns) == ["0", "1", "2", "3", "4"] and len(table.frame) == 150
    assert table.lines[0] == 2
