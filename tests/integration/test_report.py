"""The report stage: one self-contained HTML file and its Markdown twin, built from what the
other stages wrote, deterministic, with no patient ids and only the sections that apply."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import Project, pipeline_params, small_config, toy_cohort, write_params
from lbp_outcomes.cli import main
from lbp_outcomes.report.document import interval, metric_order, metric_value, num

FAST = [
    "cv.folds=3",
    "cv.repeats=1",
    "tuning=none",
    "model=[random_forest,linear]",
    "external.n_boot=20",
    "external.recalibration.repeats=3",
    "explain.max_rows=40",
    "explain.background_rows=20",
]

# Published numbers for the toy cohort, shaped like conf/reference/let_2026.yaml.
REFERENCE = {
    "study": "A toy study of pain after treatment",
    "doi": "10.0000/toy.0001",
    "n": 120,
    "validation": "held-out 20%; no external validation",
    "r2": {"pain_post": {"random_forest": 0.555, "xgboost": 0.444, "mlp": None}},
    "top_predictors": ["grade", "age", "bmi"],
    "descriptives": {
        "age": {"mean": 49.5, "sd": 17.2, "q1": 35, "median": 50, "q3": 64, "min": 20, "max": 79},
        "pain_post": {
            "mean": 4.9,
            "sd": 1.6,
            "q1": 3.8,
            "median": 4.8,
            "q3": 6.0,
            "min": 1.2,
            "max": 9.4,
        },
    },
    "fit_type_counts": {"mild": 40, "moderate": 40, "severe": 40},
}

# The toy cohort with an external site and the reference; pain in NRS points (units shown).
FULL = {
    "source.external_sites": ["B"],
    "reference": REFERENCE,
    "display.pain_post.unit": "NRS 0-10",
}

SECTIONS_WITH_EXTERNAL = [
    "Summary",
    "Methods in brief",
    "Cohort and data flow",
    "Patient characteristics (Table 1)",
    "Cross-validated performance",
    "Published vs reproduced",
    "External validation",
    "Calibration curves, decision curves and subgroups",
    "Explanations (SHAP)",
    "TRIPOD+AI checklist",
    "Limitations",
]


def build(
    root: Path, data: dict, stages=("external", "explain", "report"), overrides=FAST
) -> Project:
    project = Project(root)
    project.root.joinpath("data/source").mkdir(parents=True)
    toy_cohort(n=100, seed=3).to_csv(project.root / "data/source/small.csv", index=False)
    write_params(project, pipeline_params(data, overrides))
    for stage in ("cohort", "clean", "features", "train", *stages):
        assert main(["-C", str(project.root), stage]) == 0, stage
    return project


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Project:
    """External cohort (site B) and a published reference."""
    return build(tmp_path_factory.mktemp("report") / "full", small_config(**FULL))


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Project:
    """No external cohort, no reference; one family (what is left out does not depend on it)."""
    linear = [o if not o.startswith("model=") else "model=linear" for o in FAST]
    return build(tmp_path_factory.mktemp("report") / "plain", small_config(), overrides=linear)


def read(project: Project) -> tuple[str, str]:
    reports = project.root / "reports"
    return (reports / "report.html").read_text(), (reports / "report.md").read_text()


def rerun(project: Project) -> tuple[str, str]:
    assert main(["-C", str(project.root), "report"]) == 0
    return read(project)


class Structure(HTMLParser):
    """Tag balance, ids, links and images of an HTML document."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.tags: set[str] = set()
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.tags.add(tag)
        if "id" in found:
            self.ids.append(found["id"])
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])
        if tag == "img":
            self.images.append(found)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def structure(text: str) -> Structure:
    parser = Structure()
    parser.feed(text)
    parser.close()
    return parser


def html_headings(text: str) -> list[str]:
    found = re.findall(r"<h([23])>(.*?)</h\1>", text)
    return [
        f"{'#' * int(level)} {html.unescape(re.sub(r'<[^>]+>', '', body))}" for level, body in found
    ]


def md_headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"#{2,3} ", line)]


# -- the document ------------------------------------------------------------------------------
def test_html_is_self_contained_and_well_formed(full):
    text, _ = read(full)
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    parsed = structure(text)
    assert parsed.doctype.lower() == "doctype html"
    assert parsed.errors == [] and parsed.stack == []
    assert len(parsed.ids) == len(set(parsed.ids)), "duplicate ids"
    # nothing outside the file: no URL, no script, no stylesheet link, no font import
    assert "http://" not in text and "https://" not in text
    assert not {"script", "link", "iframe", "object"} & parsed.tags
    assert "@import" not in text and "url(" not in text
    # every image embedded, and every figure the stages drew is there
    assert parsed.images, "no figures"
    assert all(img["src"].startswith("data:image/png;base64,") for img in parsed.images)
    assert all(img.get("alt") for img in parsed.images)
    pngs = [
        *full.root.glob("reports/plots/cv/*.png"),
        *full.root.glob("reports/plots/external/*.png"),
        *full.root.glob("reports/shap/*.png"),
    ]
    assert len(parsed.images) == len(pngs)
    assert not re.search(r'src="(?!data:)', text)
    # internal links all lead somewhere
    for href in parsed.links:
        assert href.startswith("#") and href[1:] in parsed.ids, href


def test_sections_in_order_and_the_markdown_twin_has_the_same_headings(full):
    text, md = read(full)
    headings = html_headings(text)
    top = [h.split(". ", 1)[1] for h in headings if h.startswith("## ")]
    assert top == SECTIONS_WITH_EXTERNAL
    assert md_headings(md) == headings
    for sub in ("Discrimination and accuracy", "Calibration", "Case mix", "Model updating"):
        assert any(sub in h for h in headings), sub
    assert "Prediction intervals" in " ".join(headings)  # the regression champion's interval
    # numbering: tables and figures counted the same way in both files
    for pattern in (r"Table (\d+)\.", r"Figure (\d+)\."):
        in_html = re.findall(pattern, re.sub(r"<[^>]+>", "", text))
        in_md = re.findall(pattern, md.replace("**", ""))
        assert in_html == in_md and in_html == [str(i) for i in range(1, len(in_html) + 1)]
    # the Markdown links the PNGs where they are (report.md lives in reports/)
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (full.root / "reports" / path).is_file(), path
        assert not path.startswith(("/", "http"))


def test_numbers_shown_are_the_cv_json_numbers(full):
    text, md = read(full)
    cv = json.loads((full.root / "reports/metrics/cv.json").read_text())
    for target, metric in (("pain_post", "r2"), ("responder", "auroc")):
        champion = cv[target]["champion"]
        stats = cv[target][champion][metric]
        assert f"{stats['mean']:.3f}" in md and f"{stats['mean']:.3f}" in text
        expected = metric_value(metric, stats)
        assert expected in md and html.escape(expected) in text
        for family in ("random_forest", "linear"):  # every family's row, with its CI
            assert metric_value(metric, cv[target][family][metric]) in md
    # the champion row is marked, and the errors carry the outcome's unit
    label = {"random_forest": "Random forest", "linear": "Linear (elastic net)"}
    assert f"{label[cv['pain_post']['champion']]} (champion)" in md
    # the headline honest estimate sits in the same table, named as such
    honest = cv["pain_post"]["selected"]
    stats = {"mean": honest["mean"], "ci_low": honest["ci"][0], "ci_high": honest["ci"][1]}
    row = (
        f"| Honest estimate (family chosen inside each training fold) | {metric_value('r2', stats)}"
    )
    assert row in md
    assert "| R² | MAE (NRS 0-10) | RMSE (NRS 0-10) |" in md
    mae = cv["pain_post"][cv["pain_post"]["champion"]]["mae"]["mean"]
    assert f"off by {mae:.2f} points on the NRS 0-10 scale" in md


def test_external_section_reports_the_external_json(full):
    _, md = read(full)
    external = json.loads((full.root / "reports/metrics/external.json").read_text())
    assert external["available"]
    entry = external["targets"]["pain_post"]
    stats = entry["families"][entry["champion"]]["r2"]
    assert metric_value("r2", stats, "estimate") in md
    auroc = external["case_mix"]["membership_auroc"]
    assert metric_value("auroc", auroc, "estimate") in md
    coverage = entry["interval"]["coverage"]
    assert f"{100 * coverage:.1f}%" in md
    assert "Intercept and slope updated" in md


def test_clinical_section_shows_decision_curves_and_subgroups_from_their_json(full):
    _, md = read(full)
    assert "Calibration curves, decision curves and subgroups" in md
    decision = json.loads((full.root / "reports/external/decision.json").read_text())
    assert decision, "the toy cohort has a binary outcome"
    for target, entry in decision.items():
        first = entry["summary"][0]
        assert f"{first['model']:.3f}" in md  # the net benefit table shows the JSON's numbers
        assert (full.root / f"reports/plots/external/{target}_decision.png").is_file()
    groups = json.loads((full.root / "reports/cv/subgroups.json").read_text())
    assert groups["settings"] == {"min_patients": 30, "min_events": 10}
    assert "champion performance by subgroup" in md
    for target in groups["targets"]:
        assert (full.root / f"reports/plots/cv/{target}_calibration.png").is_file()


def test_published_vs_reproduced_uses_the_reference_config(full):
    _, md = read(full)
    cv = json.loads((full.root / "reports/metrics/cv.json").read_text())
    section = md.split("## 6. Published vs reproduced", 1)[1].split("\n## ", 1)[0]
    assert "0.555" in section and "0.444" in section  # published, from the config
    ours = cv["pain_post"]["random_forest"]["r2"]["mean"]
    assert num(ours - 0.555, 3) in section  # reproduced minus published
    assert "doi: 10.0000/toy.0001" in section
    assert "Published median [Q1, Q3]" in section  # descriptives vs the generated cohort
    assert "grade: patients per category" in section  # the categories' counts, found by value
    # the SHAP comparison with the paper's top predictors
    assert "the paper's top predictors and where they rank here" in md


def test_without_external_cohort_or_reference_those_parts_are_left_out(plain):
    text, md = read(plain)
    headings = html_headings(text)
    assert md_headings(md) == headings
    assert not any("Published vs reproduced" in h for h in headings)
    # no external cohort: no section, but the report still says there was none
    assert not any("External validation" in h or "Case mix" in h for h in headings)
    assert not any("Model updating" in h for h in headings)
    assert "(#external)" not in md and 'id="external"' not in text
    assert "(no external validation)" in md and "there was no external validation" in md
    assert "no published-vs-reproduced comparison" in md
    assert "| 24 | Model updating | no |" in md  # the checklist claims only what is there


def test_no_patient_id_in_either_file(full, plain):
    for project in (full, plain):
        frame = toy_cohort(n=100, seed=3)
        for text in read(project):
            for pid in frame["pid"]:
                assert pid not in text
            assert "pid" not in re.sub(r"<[^>]+>", " ", text).split()


def test_two_runs_give_identical_bytes(full, tmp_path):
    first = read(full)
    assert rerun(full) == first
    # and a copy of the project elsewhere, written from scratch, too
    copy_root = tmp_path / "copy"
    shutil.copytree(full.root, copy_root, ignore=shutil.ignore_patterns("report.*", "mlruns"))
    assert main(["-C", str(copy_root), "report"]) == 0
    assert (copy_root / "reports/report.html").read_text() == first[0]
    assert (copy_root / "reports/report.md").read_text() == first[1]


def test_each_missing_input_is_one_line_and_the_rest_still_renders(full, tmp_path):
    root = tmp_path / "partial"
    shutil.copytree(full.root, root, ignore=shutil.ignore_patterns("mlruns"))
    for rel in (
        "reports/shap/importance.json",
        "reports/metrics/external.json",
        "reports/cleaning.json",
    ):
        (root / rel).unlink()
    assert main(["-C", str(root), "report"]) == 0
    md = (root / "reports/report.md").read_text()
    for rel, stage in (
        ("reports/shap/importance.json", "explain"),
        ("reports/metrics/external.json", "external"),
        ("reports/cleaning.json", "clean"),
    ):
        assert f"Not available: `{rel}` was not found (written by the {stage} stage)." in md
    assert "## 5. Cross-validated performance" in md
    assert structure((root / "reports/report.html").read_text()).errors == []


def test_unknown_and_missing_keys_in_external_json_are_tolerated(full, tmp_path):
    root = tmp_path / "format"
    shutil.copytree(full.root, root, ignore=shutil.ignore_patterns("mlruns"))
    path = root / "reports/metrics/external.json"
    report = json.loads(path.read_text())
    changed = copy.deepcopy(report)
    changed["new_top_level"] = {"anything": 1}
    del changed["case_mix"]["smd"]
    entry = changed["targets"]["pain_post"]
    entry.pop("recalibration")
    entry.pop("interval")
    for stats in entry["families"].values():
        stats["new_metric"] = {"estimate": 0.123456, "ci_low": 0.1, "ci_high": 0.2}
        stats["r2"]["estimate"] = None  # a metric that could not be computed
    path.write_text(json.dumps(changed))
    assert main(["-C", str(root), "report"]) == 0
    md = (root / "reports/report.md").read_text()
    assert "new metric" in md and "0.123 [0.100, 0.200]" in md
    assert not any("Prediction intervals" in h for h in md_headings(md))
    assert "pain_post: champion (" not in md and "responder: champion (" in md  # updating


def test_logged_to_the_mlflow_parent_run(full, tmp_path):
    import mlflow

    root = tmp_path / "tracked"
    shutil.copytree(full.root, root, ignore=shutil.ignore_patterns("mlruns"))
    params = pipeline_params(small_config(**FULL), FAST, tracking=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["-C", str(root), "report"]) == 0
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlruns/mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].data.tags.get("stage.report") == "done"
    run_id = runs[0].info.run_id
    logged = sorted(a.path for a in client.list_artifacts(run_id, "report"))
    assert logged == ["report/report.html", "report/report.md"]
    # the report stage also logs what external and explain wrote (they compute without MLflow)
    shap = {Path(a.path).name for a in client.list_artifacts(run_id, "shap")}
    assert shap == {p.name for p in (root / "reports/shap").iterdir()}
    external = json.loads((root / "reports/metrics/external.json").read_text())
    if external["available"]:
        assert {Path(a.path).name for a in client.list_artifacts(run_id, "external")} == {
            p.name for p in (root / "reports/external").iterdir()
        }
        target, entry = next(iter(external["targets"].items()))
        metric, stats = next(iter(entry["families"][entry["champion"]].items()))
        assert runs[0].data.metrics[f"external.{target}.{metric}"] == stats["estimate"]


# -- formatting ----------------------------------------------------------------------------------
def test_number_formatting():
    assert num(-0.0001, 2) == "0.00"  # never "-0.00"
    assert num(None) == "–" and num(float("nan")) == "–"
    assert interval(0.71, 0.33, 1.09, 3, (None, 1.0)) == "0.710 [0.330, 1.000]"
    assert interval(0.9, 0.7, 1.13, 3, (0.0, 1.0)) == "0.900 [0.700, 1.000]"
    assert interval(0.5, None, 0.6, 3) == "0.500"
    assert (
        metric_value("mae", {"mean": 0.6472, "ci_low": 0.39, "ci_high": 0.9}) == "0.65 [0.39, 0.90]"
    )
    assert metric_order("regression", {"rmse", "zeta", "r2"}) == ["r2", "rmse", "zeta"]
