"""The report as data: sections of paragraphs, tables, figures and notes.

The section builders (:mod:`lbp_outcomes.report.sections`) produce one :class:`Report`;
the renderers (:mod:`lbp_outcomes.report.render`) turn that same object into HTML and
Markdown, so the two files cannot drift apart in content. Text fields may use three bits
of inline markup, valid Markdown as they stand and converted for HTML: ``**bold**``,
```code``` and ``[text](#anchor)`` (links inside the report only).

Also here: number formatting shared by every table, so a metric looks the same wherever it
appears (R2 and AUROC with 3 decimals, errors in the outcome's unit with 2, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lbp_outcomes.metricinfo import METRICS, TASK_METRICS, Metric

DASH = "–"  # a value that is not available


# -- blocks ----------------------------------------------------------------------------------
@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Note:
    """A one-line remark set apart from the text; ``tone`` "info" or "warning"."""

    text: str
    tone: str = "info"
    kind: str = "note"


@dataclass
class Bullets:
    items: list[str]
    kind: str = "bullets"


@dataclass
class KeyValues:
    """Label/value pairs (run metadata, settings): a definition list, not a numbered table."""

    items: list[tuple[str, str]]
    kind: str = "keyvalues"


@dataclass
class Table:
    """A numbered table. ``classes`` gives each row a style ("champion", "group", "level");
    ``numeric`` marks right-aligned columns; ``notes`` print under the table."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)
    number: int = 0
    kind: str = "table"

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = [""] * len(self.rows)
        if not self.numeric:
            self.numeric = [False] + [True] * (len(self.header) - 1)


@dataclass
class Figure:
    """A numbered figure: a PNG produced by an earlier stage. ``path`` is relative to
    reports/ (where report.md lives), so the Markdown twin links the file itself."""

    path: str
    caption: str
    alt: str
    exists: bool = True
    number: int = 0
    kind: str = "figure"


@dataclass
class FlowCohort:
    """One column of the participant-flow diagram."""

    title: str
    source: str
    received: int | None
    excluded: list[tuple[str, int]]
    excluded_total: int | None
    analysed: int | None
    outcomes: list[tuple[str, str]]  # (outcome label, count text)
    outcomes_title: str = "Outcome recorded"


@dataclass
class Flow:
    """A CONSORT-style flow diagram (drawn in HTML/CSS; as text in Markdown)."""

    cohorts: list[FlowCohort]
    caption: str
    number: int = 0
    kind: str = "flow"


Block = Paragraph | Note | Bullets | KeyValues | Table | Figure | Flow


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    number: str = ""

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def sub(self, id: str, title: str) -> Section:
        child = Section(id, title)
        self.subsections.append(child)
        return child


@dataclass
class Report:
    title: str
    subtitle: str
    author: str
    meta: KeyValues
    banner: list[Note]
    sections: list[Section]
    footer: list[str] = field(default_factory=list)

    def number(self) -> Report:
        """Number sections (1, 1.1, ...), tables and figures in reading order."""
        counts = {"table": 0, "figure": 0}

        def visit(section: Section) -> None:
            for block in section.blocks:
                if isinstance(block, Table):
                    counts["table"] += 1
                    block.number = counts["table"]
                elif isinstance(block, Figure | Flow):
                    counts["figure"] += 1
                    block.number = counts["figure"]
            for i, child in enumerate(section.subsections, 1):
                child.number = f"{section.number}.{i}"
                visit(child)

        for i, section in enumerate(self.sections, 1):
            section.number = str(i)
            visit(section)
        return self

    def headings(self) -> list[tuple[int, str, str]]:
        """(level, number, title) of every section, in order (for tests and the TOC)."""
        out: list[tuple[int, str, str]] = []

        def visit(section: Section, level: int) -> None:
            out.append((level, section.number, section.title))
            for child in section.subsections:
                visit(child, level + 1)

        for section in self.sections:
            visit(section, 2)
        return out


# -- numbers -----------------------------------------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; a dash when missing or not finite. Never "-0.00"."""
    if not is_number(value):
        return DASH
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def sig(value: Any, digits: int = 3) -> str:
    """Significant digits, for quantities of unknown scale (mean |SHAP| of a probability)."""
    return f"{value:.{digits}g}" if is_number(value) else DASH


def pct(value: Any, digits: int = 1) -> str:
    """A share (0-1) as a percentage."""
    return f"{num(100 * value, digits)}%" if is_number(value) else DASH


#: At most this many extra decimals to keep a value off a landmark it does not equal.
EXTRA_DIGITS = 2


def honest_digits(values: list[Any], digits: int, landmarks: tuple[float, ...]) -> int:
    """``digits``, or more (up to ``digits + EXTRA_DIGITS``) while a value would round onto
    a landmark it does not equal: an upper limit 0.998 of a calibration slope printed as
    "1.00" would say the interval reaches 1 when it does not."""
    finite = [float(v) for v in values if is_number(v)]
    for extra in range(EXTRA_DIGITS + 1):
        shown = digits + extra
        if not any(round(v, shown) == m and v != m for v in finite for m in landmarks):
            return shown
    return digits + EXTRA_DIGITS


def interval(
    estimate: Any,
    low: Any,
    high: Any,
    digits: int,
    bounds: tuple[float | None, float | None] | None = None,
    landmarks: tuple[float, ...] = (),
) -> str:
    """``estimate [low, high]``. CI limits beyond the metric's possible range (a corrected
    t-interval is symmetric, so an R2 near 1 can get an upper limit above 1) are shown at
    that range's edge; the raw limits stay in the metrics files. ``landmarks``: values a
    reader compares against (1 for a slope, 0 for an intercept, the range's edges); no CI
    limit is rounded onto one it does not equal (see :func:`honest_digits`): "[0.83, 0.998]"
    excludes 1, "[0.83, 1.00]" would not. The estimate gets the limits' decimals."""
    if not is_number(estimate):
        return DASH
    if not (is_number(low) and is_number(high)):
        return num(estimate, honest_digits([estimate], digits, landmarks))
    if bounds is not None:
        lo_bound, hi_bound = bounds
        if lo_bound is not None:
            low, high = max(low, lo_bound), max(high, lo_bound)
        if hi_bound is not None:
            low, high = min(low, hi_bound), min(high, hi_bound)
    digits = honest_digits([low, high], digits, landmarks)  # the limits carry the statement
    return f"{num(estimate, digits)} [{num(low, digits)}, {num(high, digits)}]"


def metric_order(task: str, present: set[str] | list[str]) -> list[str]:
    """The known metrics of ``task`` that are present, then any others (sorted): a metrics
    file that gains a key still shows it."""
    known = [m for m in TASK_METRICS.get(task, []) if m in present]
    return known + sorted(m for m in present if m not in known and m not in METRICS)


def metric_header(name: str, task: str, unit: str) -> str:
    spec = METRICS.get(name)
    if spec is None:
        return name.replace("_", " ")
    if task == "regression" and (spec.unit or name == "calibration_intercept") and unit:
        return f"{spec.label} ({unit})"
    if task == "binary" and name == "calibration_intercept":
        # with the slope fixed at 1: calibration-in-the-large on the log-odds scale
        return "Calibration-in-the-large (log-odds)"
    return spec.label


def metric_value(name: str, stats: Any, estimate_key: str = "mean") -> str:
    """One metric's cell: estimate [CI] from a {mean|estimate, ci_low, ci_high} mapping, or a
    bare number."""
    spec = METRICS.get(name, Metric(name, 3))
    if hasattr(stats, "model_dump"):  # a stage-output model (catalog.CVStats, .Estimate)
        stats = stats.model_dump()
    if isinstance(stats, dict):
        return interval(
            stats.get(estimate_key),
            stats.get("ci_low"),
            stats.get("ci_high"),
            spec.digits,
            spec.bounds,
            spec.landmarks,
        )
    return num(stats, honest_digits([stats], spec.digits, spec.landmarks))
