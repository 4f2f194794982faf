"""Display text (labels, units) lives in the data config's `display:` section, and the model
families' names in the top-level `display.families`, apart from the modelling keys; only the
report and predict's output read them: a relabel reruns only the report (tests/e2e/test_relabel.py checks that with DVC)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from conftest import REPO, small_config
from lbp_outcomes.config import compose, validate_params
from lbp_outcomes.dataconfig import COLUMN_GROUPS, DISPLAY_KEYS, DataConfig
from lbp_outcomes.errors import UserError

PACKAGE = REPO / "src" / "lbp_outcomes"
# Who may read display text: the report, predict's output, and the data config itself.
READERS = ("report/", "predict", "dataconfig.py")
# An arm's label sits in the treatment block, which the stages that read it list
# (dvc.yaml: data.treatment), so `treatment.label(...)` is a declared read.
READS_DISPLAY = re.compile(r"(?<!treatment)\.(label|unit)\(|\.display\b|\.prediction\b")


def test_label_and_unit_come_from_display():
    cfg = DataConfig.model_validate(
        small_config(**{"display.pain_post": {"label": "Pain after treatment", "unit": "NRS"}})
    )
    assert cfg.label("pain_post") == "Pain after treatment (NRS)"
    assert cfg.unit("pain_post") == "NRS"
    assert cfg.label("age") == "age" and cfg.unit("age") == ""


def test_display_of_an_unknown_column_is_refused():
    with pytest.raises(ValidationError, match="display: pian_post is not a declared column"):
        DataConfig.model_validate(small_config(**{"display.pian_post": {"label": "Pain"}}))


@pytest.mark.parametrize("key", ["targets.pain_post.label", "features.age.unit"])
def test_the_old_inline_layout_says_where_labels_went(key):
    with pytest.raises(ValidationError, match=r"moved to the `display:` section"):
        DataConfig.model_validate(small_config(**{key: "text"}))


def test_every_shipped_data_config_uses_display():
    for path in sorted((REPO / "conf" / "data").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        inline = [
            f"{group}.{name}"
            for group in COLUMN_GROUPS
            for name, spec in (raw.get(group) or {}).items()
            if set(spec or {}) & set(DISPLAY_KEYS)
        ]
        inherits = any(d != "_self_" for d in raw.get("defaults") or [] if isinstance(d, str))
        assert (raw.get("display") or inherits) and not inline, (path.name, inline)


def test_only_the_report_and_predict_read_display_text():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE)).startswith(READERS)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if READS_DISPLAY.search(line)
    ]
    assert not offenders, "stage code reads display text (dvc.yaml does not list it):\n" + (
        "\n".join(offenders)
    )


def test_no_stage_but_report_lists_the_whole_data_config():
    stages = yaml.safe_load(Path(REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    whole = [name for name, stage in stages.items() if "data" in stage.get("params", [])]
    assert whole == ["report"]


def test_family_names_come_from_the_display_section():
    params = validate_params(compose(root=REPO))
    assert params.display.family("random_forest") == "Random forest"
    assert params.display.family("not_listed") == "not_listed"  # shown by its key


def test_an_inline_family_label_says_where_it_went():
    raw = compose(["model=linear"], root=REPO)
    raw["model"]["linear"]["label"] = "Elastic net"
    with pytest.raises(UserError, match=r"model\.linear: `label` moved to `display\.families"):
        validate_params(raw)


def test_no_shipped_model_family_carries_a_label():
    for path in sorted((REPO / "conf" / "model").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not [k for k, v in raw.items() if isinstance(v, dict) and "label" in v], path
