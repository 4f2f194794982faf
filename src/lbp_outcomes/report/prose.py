"""The report's prose: Jinja partials under templates/prose/, rendered into text blocks.

A partial is plain text with Jinja tags, wrapped freely: a line break (with the indentation
around it) becomes one space, and a blank line ends a block (a paragraph or a bullet). The
section builders decide which blocks go where; the wording lives in the templates.

Short texts (captions, column headers, table notes) sit together as Jinja macros in one
``phrases.j2`` per section and are rendered one at a time by :func:`phrase`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from lbp_outcomes.report.document import num, pct

PROSE = Path(__file__).parent / "templates" / "prose"
_BREAK = re.compile(r"[ \t]*\n[ \t]*")
_BLANK = re.compile(r"\n[ \t]*\n")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(PROSE)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown text; render.py escapes it for HTML
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format  # {{ value | fmt(".0%") }}: Python's format spec
    env.filters["num"] = num  # {{ value | num(3) }}: decimals, a dash when missing
    env.filters["pct"] = pct  # {{ share | pct(0) }}: a 0-1 share as a percentage
    return env


_ENV = _environment()


def blocks(partial: str, /, **values: Any) -> list[str]:
    """The blocks of ``<partial>.j2`` (e.g. "methods/analysis"), each on one line."""
    text = _ENV.get_template(f"{partial}.j2").render(**values)
    return [_BREAK.sub(" ", part.strip()) for part in _BLANK.split(text) if part.strip()]


def text(partial: str, /, **values: Any) -> str:
    """A partial that is one block (one paragraph)."""
    found = blocks(partial, **values)
    if len(found) != 1:
        raise ValueError(f"{partial}.j2: {len(found)} blocks where one paragraph was expected")
    return found[0]


def phrase(partial: str, name: str, /, **values: Any) -> str:
    """Macro ``name`` of ``<partial>.j2`` (e.g. "cv/phrases", "table_caption"), on one line.

    A macro takes only the values it declares: a misspelt or missing one is an error."""
    macro = getattr(_ENV.get_template(f"{partial}.j2").module, name)
    return _BREAK.sub(" ", str(macro(**values)).strip())
