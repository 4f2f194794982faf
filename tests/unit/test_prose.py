"""The report's prose partials (report/templates/prose/) and the inline Markdown renderer."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from lbp_outcomes.report import prose
from lbp_outcomes.report.render import inline_html


def _limitations(**facts) -> list[str]:
    values = dict(
        synthetic=False, reference=False, n=None, predictors=5, external=False,
        subgroups=False, permutation=False, skipped=[],
    )  # fmt: skip
    return prose.blocks("limitations", **{**values, **facts})


def test_a_partial_gives_one_line_per_block_whatever_its_wrapping():
    items = _limitations(n=431, skipped=["Pain (NRS)"], permutation=True)
    assert all("\n" not in item and "  " not in item for item in items)
    assert items[0] == (
        "Sample size: 431 development patients for 5 predictors; no formal sample-size "
        "calculation was made, and CIs from few folds and repeats are wide."
    )
    assert items[-1] == "Not modelled for lack of data: Pain (NRS)."
    assert items[-2].endswith("share credit; permutation-based explanations (model-agnostic, "
                              "for the MLP) are approximate.")  # fmt: skip


def test_conditions_choose_the_sentences():
    plain = _limitations()
    assert plain[0].startswith("No external validation")
    assert not any("synthetic" in item for item in plain)
    rich = _limitations(synthetic=True, reference=True, external=True, subgroups=True)
    assert "reproduces the published pattern" in rich[0]
    assert rich[2].startswith("External validation used one external cohort")


def test_analysis_bullets_follow_the_settings():
    cv = NS(folds=5, repeats=1, ci_level=0.95)
    tuning = NS(enabled=False)
    items = prose.blocks(
        "methods/analysis", families="XGBoost", cv=cv, tuning=tuning, calibration="Cal.",
        conformal=NS(enabled=False), external=False, ext=None, explain=NS(max_rows=500),
        reference=True, cfg=None, label=str,
    )  # fmt: skip
    assert items[1].startswith("Internal validation: 5-fold cross-validation repeated 1 time ")
    assert "with a 95% CI from a t-interval" in items[1]
    assert "Tuning: none; every family used its fixed hyperparameters." in items
    assert not any(
        i.startswith(("Prediction intervals", "External", "No published")) for i in items
    )


def test_inline_markdown_is_escaped_and_links_stay_inside_the_report():
    html = inline_html("**R²** of `ODI <b>` in [Table 1](#characteristics) [x](https://e.org)")
    assert html == (
        "<strong>R²</strong> of <code>ODI &lt;b&gt;</code> in "
        '<a href="#characteristics">Table 1</a> [x](https://e.org)'
    )


def _flags(**facts) -> list[str]:
    values = dict(
        name="Pain", metric="R²", fell=False, cv=None, ext=None, slope_kind=None, slope=None,
        recalibrate=False, loss="RMSE", before=None, after=None,
    )  # fmt: skip
    return prose.blocks("summary/flags", **{**values, **facts})


def test_summary_flags_word_each_warning():
    assert _flags() == []
    assert _flags(fell=True, cv="0.710", ext="0.550") == [
        "Pain: R² fell from 0.710 in cross-validation to 0.550 in the external cohort."
    ]
    (reversed_,) = _flags(slope_kind="reversed", slope="-0.20")
    assert reversed_ == (
        "Pain: calibration slope -0.20 in the external cohort: the ranking is reversed there "
        "(patients predicted higher tend to have lower observed outcomes); the model does not "
        "transfer, and recalibration cannot fix that."
    )
    assert _flags(slope_kind="modest", slope="1.40")[0].endswith(
        "predictions are too modest there (they vary less than the outcomes do)."
    )
    assert _flags(
        slope_kind="extreme", slope="0.60", recalibrate=True, before="3.1", after="2.5"
    ) == [
        "Pain: calibration slope 0.60 in the external cohort: predictions are too extreme there "
        "(high predictions too high, low ones too low).",
        "Pain: updating the model's intercept and slope on part of the external cohort lowered "
        "the RMSE from 3.1 to 2.5: recalibrate before local use.",
    ]


def test_cohort_flow_in_words():
    line = prose.text(
        "cohort/flow_line", title="Development cohort", received=440, source="clinic_a.csv",
        excluded_total=9, excluded=[("age out of range", 6), ("unknown sex", 3)], analysed=431,
        gaps=[("BMI (kg/m2)", 4), ("Age (years)", 1)],
    )  # fmt: skip
    assert line == (
        "Development cohort: 440 records received from clinic_a.csv; 9 excluded (age out of "
        "range: 6; unknown sex: 3); 431 patients analysed. Missing values kept for imputation "
        "or per-outcome exclusion: BMI (kg/m2) 4, Age (years) 1."
    )
    none = prose.text(
        "cohort/flow_line", title="External cohort", received=250, source="x", excluded_total=0,
        excluded=[], analysed=250, gaps=[],
    )  # fmt: skip
    assert none.endswith("; 0 excluded; 250 patients analysed. No missing values.")


def test_external_shift_in_words():
    text = prose.text("external/shift", site=None, mix=False, shifts="", outcome=True, scale=0.7)
    assert text == (
        "The synthetic external cohort was generated with: same case mix as the development "
        "cohort; treatment response scaled by 0.7 (a different outcome mechanism)."
    )


def test_calibration_method_in_words():
    off = prose.text("methods/calibration", cal=NS(enabled=False))
    assert off == (
        "Probabilities (binary): as each model estimates them; reported probabilities are kept "
        "within [0.001, 0.999]."
    )
    iso = prose.text("methods/calibration", cal=NS(enabled=True, method="isotonic", folds=3))
    assert iso == (
        "Probabilities (binary): recalibrated inside every training fold (isotonic regression "
        "of the outcome on the score, fitted on out-of-fold scores of the training rows from "
        "the tuning's inner cross-validation; the model itself is fitted once on all training "
        "rows); reported probabilities are kept within [0.001, 0.999]."
    )


def test_a_phrase_is_one_line_and_takes_only_the_values_it_declares():
    caption = prose.phrase("external/phrases", "table_caption", label="Pain", n=50, ci="95%")
    assert caption == (
        "Pain: performance of every final model in the external cohort (n = 50), estimate [95% CI]"
    )
    with pytest.raises(TypeError):
        prose.phrase("external/phrases", "table_caption", label="Pain", n=50, ci="95%", x=1)


def test_table1_header_and_notes_follow_the_cohorts():
    one = prose.blocks("tables/characteristics_header", cohorts=[("Development", 431)], smd=False)
    assert one == ["Characteristic", "Development (n = 431)", "Missing"]
    two = prose.blocks(
        "tables/characteristics_header", cohorts=[("Development", 431), ("External", 80)], smd=True
    )
    assert two[-2:] == ["Missing, development / external", "SMD"]
    notes = prose.blocks("tables/characteristics_notes", skew_limit=1.0, smd=False)
    assert len(notes) == 2 and "(|skewness| > 1)" in notes[0]


def test_every_partial_compiles_and_every_phrase_used_in_the_code_exists():
    names = [
        p.relative_to(prose.PROSE).with_suffix("").as_posix() for p in prose.PROSE.rglob("*.j2")
    ]
    # a syntax error in any partial fails here, not in the one report that reaches it
    templates = {name: prose._ENV.get_template(f"{name}.j2") for name in names}
    modules = {name: t.module for name, t in templates.items() if name.endswith("phrases")}
    local = re.compile(r'^PHRASES = "([\w/]+)"', re.M)
    short = re.compile(r'(?:\bsay\(|\(PHRASES,\s*)"(\w+)"')
    explicit = re.compile(r'prose\.phrase\(\s*"([\w/]+)",\s*"(\w+)"')
    checked = 0
    for path in Path(prose.__file__).parent.rglob("*.py"):
        text = path.read_text()
        found = local.search(text)
        uses = [(found.group(1) if found else "", m) for m in short.findall(text)]
        for partial, macro in uses + explicit.findall(text):
            assert hasattr(modules[partial], macro), f"{path.name}: {partial}.j2 has no {macro}"
            checked += 1
    assert checked > 50
