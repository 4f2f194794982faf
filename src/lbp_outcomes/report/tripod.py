"""The TRIPOD+AI checklist: which reporting items this report covers, and where.

Items and their numbers follow the TRIPOD+AI statement (Collins et al., BMJ
2024;385:e078378). The checklist is data (tripod.yaml beside this module); this module
evaluates each item's status and comment against what this run produced (no external
cohort: items on external evaluation are not covered).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import Note, Paragraph, Section, Table

YES, PARTLY, NO = "yes", "partly", "no"
CHECKLIST = Path(__file__).with_name("tripod.yaml")


@dataclass
class Item:
    number: str
    topic: str
    status: str
    where: list[str]
    comment: str


@functools.cache
def _checklist() -> dict[str, Any]:
    return yaml.safe_load(CHECKLIST.read_text(encoding="utf-8"))


def where_titles() -> dict[str, str]:
    """Section ids -> titles, for the "where" column (links inside the report)."""
    return _checklist()["sections"]


def facts(ctx: Context, present: set[str]) -> dict[str, Any]:
    """What the checklist's conditions may ask about this run."""
    return {
        "ext": ctx.inputs.external_available,
        "synthetic": ctx.synthetic,
        "reference": ctx.reference is not None,
        "cv_done": "cv" in present and bool(ctx.inputs.cv),
        "has": present.__contains__,
    }


def evaluate(entry: dict[str, Any], known: dict[str, Any]) -> Item:
    """One checklist entry with its templates filled in from ``known`` (see :func:`facts`)."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

    def fill(text: str) -> str:
        return env.from_string(str(text)).render(**known)

    status = fill(entry["status"])
    if status not in (YES, PARTLY, NO):
        raise ValueError(f"{CHECKLIST.name}: item {entry['number']}: status {status!r}")
    present = known["has"]
    where = [i for i in entry["where"] if present(i)]
    if not where:
        where = [i for i in entry.get("where_else", []) if present(i)]
    return Item(str(entry["number"]), entry["topic"], status, where, fill(entry["comment"]))


def items(ctx: Context, present: set[str]) -> list[Item]:
    """The checklist for this run; ``present``: ids of the sections the report contains."""
    known = facts(ctx, present)
    return [evaluate(entry, known) for entry in _checklist()["items"]]


def checklist(ctx: Context, present: set[str]) -> Section:
    section = Section("tripod", "TRIPOD+AI checklist")
    section.add(
        Paragraph(
            "Which items of the TRIPOD+AI reporting guideline (Collins et al., BMJ 2024;"
            "385:e078378) this generated report covers. *Yes*: fully covered here; *partly*: "
            "some of the item's elements; *no*: not covered (most of these only the study's "
            "authors can supply)."
        )
    )
    rows, classes = [], []
    for item in items(ctx, present):
        titles = where_titles()
        links = ", ".join(f"[{titles.get(i, i)}](#{i})" for i in item.where) or "–"
        rows.append([item.number, item.topic, item.status, links, item.comment])
        classes.append(f"status-{item.status}")
    counts = {s: sum(r[2] == s for r in rows) for s in (YES, PARTLY, NO)}
    section.add(
        Table(
            "TRIPOD+AI items covered by this report",
            ["Item", "Topic", "Covered", "Where in this report", "Comment"],
            rows,
            classes=classes,
            numeric=[False] * 5,
            notes=[
                f"{counts[YES]} items covered, {counts[PARTLY]} partly, {counts[NO]} not "
                f"covered, of {len(rows)}."
            ],
        )
    )
    if not ctx.inputs.external_available:
        section.add(Note("Without external data, items 16 and 24 cannot be covered."))
    return section
