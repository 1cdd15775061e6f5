"""Reports: valid PNGs, a self-contained HTML page that references them, re-render gives the same tables."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from practicaldl.report.document import ReportError, gradcheck_ok, load_results, make_results, study_table, tables
from practicaldl.report.pages import markdown_table, render_report, write_report
from practicaldl.studies import StudyConfig, run_study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _gradcheck_section(bug_passes=False):
    def report(passed, difference, failing):
        return {"difference": difference, "passed": passed, "verdict": "right" if passed else "bug",
                "failing": failing, "per_parameter": {
                    "W1": {"difference": 1e-9, "verdict": "right", "passed": True},
                    "W2": {"difference": difference, "verdict": "right" if passed else "bug", "passed": passed}}}

    return {"kind": "gradcheck", "title": "Gradient checking", "description": "planted bug",
            "checks": [{"label": "correct", "expected": "pass", "report": report(True, 1e-9, [])},
                       {"label": "bug in dW2", "expected": "fail",
                        "report": report(bug_passes, 1e-9 if bug_passes else 0.3, [] if bug_passes else ["W2"])}]}


@pytest.fixture(scope="module")
def doc():
    study = StudyConfig(name="inits", dataset="circles", hidden_layer_sizes=(4, 3), max_iter=60, learning_rate=0.05,
                        init=("zeros", "he"), seeds=(0, 1), grid_points=15)
    return make_results([run_study(study), _gradcheck_section()], title="test report", notes=["a note"])


@pytest.fixture(scope="module")
def report_dir(doc, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    write_report(doc, out)
    return out


def test_report_folder_holds_valid_pngs_and_the_documents(report_dir):
    import matplotlib.image as mpimg

    names = sorted(p.name for p in (report_dir / "figures").iterdir())
    assert names == ["gradcheck-differences.png", "inits-accuracy.png", "inits-activations-init.png",
                     "inits-activations.png", "inits-boundaries.png", "inits-cost.png", "inits-weights.png"]
    for name in names:
        data = (report_dir / "figures" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        image = mpimg.imread(report_dir / "figures" / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 0  # not a blank canvas
    assert {p.name for p in report_dir.iterdir()} == {"figures", "results.json", "summary.md", "index.html"}
    assert not list(report_dir.rglob("*.tmp"))


def test_html_is_self_contained_and_references_every_figure(report_dir):
    page = (report_dir / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing to fetch: readable offline
    embedded = re.findall(r'<a href="(figures/[^"]+\.png)"><img src="data:image/png;base64,([^"]+)"', page)
    assert sorted(path for path, _ in embedded) == sorted(f"figures/{p.name}" for p in (report_dir / "figures").iterdir())
    for path, data in embedded:
        assert base64.b64decode(data) == (report_dir / path).read_bytes()
    assert "zeros" in page and "he" in page and "±" in page and "a note" in page


def test_markdown_summary_has_the_tables_and_links(report_dir, doc):
    summary = (report_dir / "summary.md").read_text()
    for table in tables(doc):
        assert markdown_table(table) in summary
    assert "](figures/inits-cost.png)" in summary


def test_rerender_gives_the_same_tables_and_results(report_dir, tmp_path, doc):
    copy = tmp_path / "copy"
    shutil.copytree(report_dir, copy)
    (copy / "index.html").unlink()
    shutil.rmtree(copy / "figures")
    render_report(copy)
    assert tables(load_results(copy)) == tables(doc)
    assert (copy / "results.json").read_bytes() == (report_dir / "results.json").read_bytes()
    assert (copy / "summary.md").read_text() == (report_dir / "summary.md").read_text()
    assert sorted(p.name for p in (copy / "figures").iterdir()) == sorted(p.name for p in (report_dir / "figures").iterdir())
    assert (copy / "index.html").is_file()


def test_study_table_formats_mean_and_std_over_seeds(doc):
    table = study_table(doc["sections"][0])
    records = [r for r in doc["sections"][0]["records"] if r["configuration"] == "he"]
    accs = np.array([r["test_accuracy"] for r in records])
    row = next(r for r in table["rows"] if r[0] == "he")
    assert row[table["columns"].index("test accuracy")] == f"{accs.mean():.3f} ± {accs.std():.3f}"
    assert row[table["columns"].index("seeds")] == "2"



def test_bias_column_is_judged_against_the_study_target_error(doc):
    """A 60-iteration zeros net (train accuracy 0.5) has high avoidable bias against a target of 0,
    none against a target error of 0.5; the column reads the study's target_error."""
    section = doc["sections"][0]
    col = study_table(section)["columns"].index("bias / variance")
    zeros = next(r for r in study_table(section)["rows"] if r[0] == "zeros")
    assert "high_bias" in zeros[col]
    lenient = {**section, "config": {**section["config"], "target_error": 0.5}}
    zeros = next(r for r in study_table(lenient)["rows"] if r[0] == "zeros")
    assert "high_bias" not in zeros[col]
    with pytest.raises(ValueError, match=r"target_error must be a number in \[0, 1\), got 1.5"):
        StudyConfig(name="x", target_error=1.5)

def test_gradcheck_tables_and_the_planted_bug_flag(doc):
    overview, detail = tables(doc)[1:]
    assert [row[0] for row in overview["rows"]] == ["correct", "bug in dW2"]
    assert overview["rows"][1][-1] == "W2" and overview["rows"][1][-2] == "yes"
    assert ["bug in dW2", "W2", "0.3", "bug", "no", "-"] in detail["rows"]
    assert gradcheck_ok(doc)
    # a checker that lets the planted bug pass is flagged
    assert not gradcheck_ok(make_results([_gradcheck_section(bug_passes=True)]))


def test_an_inconclusive_check_renders_with_its_cause_and_is_no_catch(tmp_path):
    section = _gradcheck_section()
    bug = section["checks"][1]["report"]
    bug.update(verdict="inconclusive", failing=["W2"])
    bug["per_parameter"]["W2"].update(verdict="inconclusive", difference=None, second_look=True, step=1e-4,
                                      cause="every entry of W2 is at a kink")
    doc = make_results([section])
    overview, detail = tables(doc)
    assert overview["rows"][1][3:5] == ["inconclusive", "NO"]  # a planted bug must be caught, not inconclusive
    assert ["bug in dW2", "W2", "-", "inconclusive", "no",
            "every entry of W2 is at a kink; second look at step 1.0e-04"] in detail["rows"]
    assert not gradcheck_ok(doc)
    written = write_report(doc, tmp_path / "rep")
    assert "every entry of W2 is at a kink" in (tmp_path / "rep" / "index.html").read_text()
    assert (tmp_path / "rep" / "figures" / "gradcheck-differences.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "summary.md" in written


def test_bad_results_are_refused(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ReportError, match="format"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps(make_results([{"kind": "poem"}])))
    with pytest.raises(ReportError, match="kind 'study', 'search' or 'gradcheck'"):
        render_report(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # nothing written


def test_non_2d_data_has_no_boundary_figure(tmp_path):
    study = StudyConfig(name="bc", dataset="breast_cancer", hidden_layer_sizes=(3,), max_iter=20, seeds=(0,),
                        diagnose=False)
    write_report(make_results([run_study(study)]), tmp_path)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["bc-accuracy.png", "bc-cost.png"]


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # two chromium start-ups, ~10 s
@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed")
def test_index_html_renders_headless(report_dir, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", f"--screenshot={shot}",
                    "--window-size=1200,2000", (report_dir / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=60)
    dom = subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom",
                          (report_dir / "index.html").as_uri()], check=True, capture_output=True, timeout=60,
                         text=True).stdout
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    assert dom.count("<img") == len(list((report_dir / "figures").iterdir())) and "test report" in dom


# -- reports that stand alone --------------------------------------------------------------------------
def test_the_page_names_the_data_the_network_and_every_hyperparameter(report_dir, doc):
    from practicaldl.report.document import data_table, hyperparameter_table

    section = doc["sections"][0]
    data = dict(data_table(section)["rows"])
    assert data["data set"] == "circles" and data["rows"] == "400" and data["features"] == "2"
    assert data["network"] == "layer sizes [2, 4, 3, 1], relu hidden layers, sigmoid output (2 classes)"
    assert data["train / test"].startswith("300 / 100 rows")
    hyper = hyperparameter_table(section)
    assert hyper["columns"] == ["configuration", "init", "init_scale", "learning_rate", "max_iter", "batch_size", "l2",
                                "keep_prob", "optimizer", "learning-rate decay", "seeds"]
    assert hyper["rows"] == [["zeros", "zeros", "1.0", "0.05", "60", "full batch", "0.0", "1.0", "gd", "none", "0, 1"],
                             ["he", "he", "1.0", "0.05", "60", "full batch", "0.0", "1.0", "gd", "none", "0, 1"]]
    page, summary = (report_dir / "index.html").read_text(), (report_dir / "summary.md").read_text()
    for text in ("Data and network", "Hyperparameters (every configuration)",
                 "high_bias = avoidable bias (train error - target error) above 5% (warning)", "fit_ok = neither"):
        assert text in page and text in summary, text


def test_tables_wrap_instead_of_widening_the_page(report_dir):
    page = (report_dir / "index.html").read_text()
    assert "overflow-wrap:break-word" in page and "div.table{max-width:100%;overflow-x:auto}" in page
    assert "<th>learning_<wbr>rate</th>" in page and '<div class="table"><table>' in page


def _penguins_2d_section(penguins_csv, l2s=(0.0, 3.0)):
    study = StudyConfig(name="pen", dataset=str(penguins_csv), hidden_layer_sizes=(5,), max_iter=150,
                        learning_rate=0.1, l2=l2s, seeds=(0,), grid_points=20,
                        table={"target": "species", "features": ["bill_length_mm", "bill_depth_mm"],
                               "drop_missing": True})
    return run_study(study)


def test_decision_boundaries_have_a_class_legend_and_a_colour_bar(doc, penguins_csv):
    from practicaldl.report.figures import decision_boundaries_figure

    two = decision_boundaries_figure(doc["sections"][0])  # circles: P(y = 1)
    assert len(two.axes) == 3 and two.axes[-1].get_ylabel() == "P(y = 1)"  # 2 panels and the colour bar
    assert [t.get_text() for t in two.legends[0].get_texts()] == ["class 0: train", "class 0: test", "class 1: train",
                                                                  "class 1: test"]
    three = decision_boundaries_figure(_penguins_2d_section(penguins_csv))  # 3 classes: the predicted class
    bar = three.axes[-1]
    assert bar.get_ylabel() == "predicted class"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["Adelie", "Chinstrap", "Gentoo"]
    assert three.axes[0].get_xlabel() == "bill_length_mm (standardized)"
    assert len(three.legends[0].get_texts()) == 6


def test_titles_fit_inside_their_figures(doc):
    """Long study titles are wrapped: every title's box lies within the figure's."""
    from practicaldl.report.figures import decision_boundaries_figure

    long = {**doc["sections"][0], "config": {**doc["sections"][0]["config"],
                                             "title": "A study with a rather long title " * 4}}
    fig = decision_boundaries_figure({**long, "records": [r for r in long["records"] if r["configuration"] == "he"]})
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = fig.bbox
    for text in [fig._suptitle, *(ax.title for ax in fig.axes)]:
        if text is not None and text.get_text():
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and extent.y1 <= box.y1, text.get_text()


def test_the_regularization_study_shows_weights_and_activations_after_training(penguins_csv, tmp_path):
    """At initialization every configuration of a study with one init is the same; after training
    L2 has shrunk the weights: the figures show the trained network, and the at-init figure is left out."""
    section = _penguins_2d_section(penguins_csv, l2s=(0.0, 30.0))
    norms = {r["configuration"]: [layer["weight_norm"] for layer in r["diagnostics"]["layers"]]
             for r in section["records"]}
    assert norms["l2=30"][0] < 0.5 * norms["l2=0"][0]  # L2 shrinks W1
    written = write_report(make_results([section]), tmp_path)
    assert {"figures/pen-weights.png", "figures/pen-activations.png"} <= set(written)
    assert "figures/pen-activations-init.png" not in written  # its rows would all be the same


def test_histograms_count_and_have_a_legend(doc):
    from practicaldl.diagnostics.plots import activation_histograms_figure

    reports = {r["configuration"]: r["diagnostics"] for r in doc["sections"][0]["records"] if r.get("diagnostics")}
    for quantity in ("a", "w"):
        fig = activation_histograms_figure(reports, quantity=quantity)
        assert fig.axes[0].get_ylabel().endswith("count") and len(fig.axes[0].get_yticks()) > 1
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels[0].startswith({"a": "A_l = g(Z_l): entries per bin", "w": "weights W_l: entries per bin"}[quantity])
    zeros = activation_histograms_figure(reports, quantity="a")  # zero init: symmetry, a flagged layer in red
    assert "a layer with a warning or an error" in [t.get_text() for t in zeros.legends[0].get_texts()]
