"""User-facing errors: one line that says what is wrong and where.

Stages raise :class:`UserError` for anything a user can fix (a file, a column, a config
key). The CLI prints it as ``error: <message>`` on one line and exits with status 2; no
traceback, because the message already names the file, the column and example rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class UserError(Exception):
    """Bad input or configuration. ``str(exc)`` is a complete one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def rows_text(rows: Sequence[int], values: Sequence[object] | None = None, limit: int = 5) -> str:
    """``rows 3, 17: 'abc', '4o' and 2 more`` for error messages (row numbers as given)."""
    shown = list(rows[:limit])
    text = "row" + ("s " if len(rows) > 1 else " ") + ", ".join(str(r) for r in shown)
    if values:
        text += ": " + ", ".join(repr(_plain(v)) for v in values[:limit])
    if len(rows) > limit:
        text += f" and {len(rows) - limit} more"
    return text


def plural(n: int, word: str) -> str:
    """``1 value`` / ``3 values``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _plain(value: object) -> object:
    """numpy scalars print as plain Python values in messages."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'age'?)`` or an empty string."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def format_validation_error(source: str, exc: Exception) -> str:
    """One line for a pydantic ValidationError: ``source: loc: message; loc: message``."""
    parts = []
    for err in exc.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{source}: " + "; ".join(parts)
