"""The TRIPOD+AI checklist is data (report/tripod.yaml); its evaluator fills each item's
status, links and comment from what the run produced."""

from __future__ import annotations

from types import SimpleNamespace

from lbp_outcomes.report import tripod


def _items(ext: bool, present: set[str], synthetic: bool = True) -> dict[str, tripod.Item]:
    ctx = SimpleNamespace(
        inputs=SimpleNamespace(external_available=ext, cv={"pain": object()}),
        synthetic=synthetic,
        reference=None,
    )
    return {item.number: item for item in tripod.items(ctx, present)}


def test_every_item_has_a_known_status_and_links_only_to_present_sections():
    present = {"top", "summary", "cv", "limitations"}
    items = _items(True, present)
    assert len(items) == 32 and list(items)[:3] == ["1", "2", "3"]
    assert {i.status for i in items.values()} <= {"yes", "partly", "no"}
    assert all(set(i.where) <= present for i in items.values())


def test_claims_follow_what_the_run_produced():
    with_ext = _items(True, {"external-updating", "clinical-subgroups"})
    without = _items(False, {"limitations"}, synthetic=False)
    assert with_ext["24"].status == "yes" and without["24"].status == "no"
    assert without["24"].comment == "No external data to update on."
    assert with_ext["4"].comment.startswith(
        "States that models are developed and validated internally and externally;"
    )
    assert without["3"].status == "no" and "No published study" in without["3"].comment
    # fairness: the subgroup section when there is one, else the limitation stating it
    assert with_ext["14"].where == ["clinical-subgroups"] and with_ext["14"].status == "partly"
    assert without["14"].where == ["limitations"] and without["14"].status == "no"
    assert without["17"].comment == "For the authors."
