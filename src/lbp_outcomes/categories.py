"""Canonical text of category values, shared below the data config and the schema (both
compare category values, e.g. a site code or a treatment arm, as this text)."""

from __future__ import annotations

import re
import sys

WHOLE = re.compile(r"([+-]?\d+)\.0+")


def _is_float(value: object) -> bool:
    """A Python or NumPy float. NumPy is not imported here (config.py imports this module,
    and summary and a no-treatment effects stage need no NumPy): a NumPy value means NumPy
    is loaded already."""
    if isinstance(value, float):
        return True
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.floating)


def as_text(value: object) -> str:
    """Canonical text of a category value: 1, 1.0, "1" and "1.0" all read as "1"."""
    if isinstance(value, bool):
        return str(value).lower()
    if _is_float(value) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    # a number-coded column exported as floats ("2.0") still matches `values: [1, 2, 3]`
    return WHOLE.sub(r"\1", text) if WHOLE.fullmatch(text) else text
