"""Rendering a :class:`Report` as self-contained HTML and as Markdown.

HTML: one file, CSS inline, every figure embedded as a base64 ``data:`` URI, no script,
font or link outside the file, so it opens offline and can be e-mailed or archived as is.
Markdown: the same content; figures link the PNG files by their path relative to reports/
(where report.md lives). Both come from Jinja templates in ``templates/`` and contain
nothing that changes between two runs on the same inputs (no clock, sorted iteration).
The text's inline Markdown becomes HTML through markdown-it-py (CommonMark).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from lbp_outcomes.report.document import Figure, Flow, Report, Section

TEMPLATES = Path(__file__).parent / "templates"


# -- inline markup ------------------------------------------------------------------------------
def _inline_renderer() -> MarkdownIt:
    """CommonMark inline markup (``**bold**``, ``*italic*``, ```code```, links); raw HTML in
    the text is escaped, not passed through (labels come from user configs), and only links
    inside the report (``#anchor``) become links."""
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: url.startswith("#")  # type: ignore[method-assign]
    return md


_MARKDOWN = _inline_renderer()


def inline_html(text: str) -> Markup:
    """``text`` with the report's inline markup turned into (escaped) HTML."""
    return Markup(_MARKDOWN.renderInline(str(text)))


_BRACKETS = re.compile(r"\[([^\]]*)\]")


def num_cell(text: str) -> Markup:
    """A numeric cell for HTML: a CI keeps its limits together ("[0.71,&nbsp;0.76]"), so a
    narrow column (in print) wraps only between the estimate and its interval."""
    return inline_html(_BRACKETS.sub(lambda m: "[" + m[1].replace(" ", "\u00a0") + "]", text))


#: A table with more columns than this gets the ``wide`` class (smaller type in print).
WIDE_COLUMNS = 5


def inline_md(text: str) -> str:
    """Text for Markdown: the inline markup already is Markdown; only a ``<`` that could
    open an HTML tag is escaped (labels come from user configs)."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def md_cell(text: str) -> str:
    """A Markdown table cell: no pipes or line breaks inside."""
    return inline_md(str(text)).replace("|", "\\|").replace("\n", " ")


def md_align(numeric: bool) -> str:
    return "---:" if numeric else ":---"


# -- text flow diagram (Markdown) ---------------------------------------------------------------
def flow_text(flow: Flow, width: int = 64) -> str:
    """The participant flow as a plain-text diagram (inside a code block)."""

    def line(label: str, value: object, indent: int = 2) -> str:
        left = " " * indent + label + " "
        right = " " + str(value if value is not None else "–")
        dots = max(2, width - len(left) - len(right))
        return left + "." * dots + right

    out: list[str] = []
    for cohort in flow.cohorts:
        out.append(f"{cohort.title}: {cohort.source}" if cohort.source else cohort.title)
        out.append(line("Records received", cohort.received))
        out.append("   |")
        out.append(line("+-> Excluded", cohort.excluded_total, 3))
        for reason, n in cohort.excluded:
            out.append(line(f"    {reason}", n, 6))
        out.append("   |")
        out.append(line("Patients analysed", cohort.analysed))
        if cohort.outcomes:
            out.append(f"  {cohort.outcomes_title}:")
            for label, n in cohort.outcomes:
                out.append(line(label, n, 6))
        out.append("")
    return "\n".join(out).rstrip("\n")


# -- images -------------------------------------------------------------------------------------
def image_uris(report: Report, reports_dir: Path) -> dict[str, str]:
    """``data:`` URIs of every figure that exists, keyed by its path."""
    uris: dict[str, str] = {}

    def visit(section: Section) -> None:
        for block in section.blocks:
            if isinstance(block, Figure) and block.exists and block.path not in uris:
                data = (reports_dir / block.path).read_bytes()
                uris[block.path] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        for child in section.subsections:
            visit(child)

    for section in report.sections:
        visit(section)
    return uris


#: CSS pixels per inch: a figure drawn 5 inches wide shows 5 inches wide (at 100% zoom).
CSS_PX_PER_INCH = 96


def image_widths(report: Report, reports_dir: Path) -> dict[str, int]:
    """The width in CSS px at which each figure was designed (pixels / its dpi): a small
    calibration plot stays small instead of filling the column; wider ones shrink to fit."""
    from PIL import Image

    widths: dict[str, int] = {}

    def visit(section: Section) -> None:
        for block in section.blocks:
            if isinstance(block, Figure) and block.exists and block.path not in widths:
                with Image.open(reports_dir / block.path) as image:
                    dpi = float((image.info.get("dpi") or (CSS_PX_PER_INCH,))[0]) or 96.0
                    widths[block.path] = round(image.width / dpi * CSS_PX_PER_INCH)
        for child in section.subsections:
            visit(child)

    for section in report.sections:
        visit(section)
    return widths


# -- rendering ----------------------------------------------------------------------------------
def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        inline=inline_html, numcell=num_cell, md=inline_md, cell=md_cell, align=md_align
    )
    env.globals["wide_columns"] = WIDE_COLUMNS
    env.globals["flow_text"] = flow_text
    return env


def html(report: Report, reports_dir: Path) -> str:
    env = _environment(autoescape=True)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    text = env.get_template("report.html.j2").render(
        report=report,
        css=Markup(css),
        images=image_uris(report, reports_dir),
        widths=image_widths(report, reports_dir),
    )
    return _tidy(text)


def markdown(report: Report) -> str:
    env = _environment(autoescape=False)
    return _tidy(env.get_template("report.md.j2").render(report=report))


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"
