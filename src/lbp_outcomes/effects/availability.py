"""Whether the effects stage has anything to estimate, and where it writes: light (no
estimation stack), for the package's run() and for the stage."""

from __future__ import annotations

from typing import Any

from lbp_outcomes import paths

OUT_DIR = paths.REPORTS / "effects"
RESULTS = OUT_DIR / "effects.json"


def unavailable(params: Any) -> str | None:
    """Why there is nothing to estimate, or None."""
    if params.effects is None or not params.effects.enabled:
        return "effects are switched off (effects=none)"
    if getattr(params.data, "treatment", None) is None:  # as data.Arms.from_config
        return "the data config has no treatment block"
    return None


def not_available(reason: str) -> dict[str, Any]:
    """effects.json's content when there is nothing to estimate."""
    print(f"effects: {reason}; nothing to estimate")
    return {"available": False, "reason": reason}
