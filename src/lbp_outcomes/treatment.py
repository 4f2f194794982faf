"""The optional ``treatment`` block of a data config, and the checks on a cohort's arms.

A cohort with a treatment block has one column saying which treatment (arm) each patient
received. The block names that column, its arms as their values appear in the data (with
display labels), the reference arm, and how the arms were assigned (randomised, with
optional allocation probabilities, or observational). The arm column travels from the raw
cohort to data/features as canonical text, but it is never a prognostic model input (it
is not a feature). See docs/treatment.md.

:func:`check_arms` validates a cleaned cohort's arm column; each failure is one
:class:`~lbp_outcomes.errors.UserError` line naming the file, the column and the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lbp_outcomes.categories import as_text
from lbp_outcomes.errors import UserError, plural, rows_text

if TYPE_CHECKING:  # pandas only for the data checks: config.py imports this module
    import pandas as pd

#: Allocation probabilities must sum to 1 within this tolerance.
SUM_TOLERANCE = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    """One arm: its ``value`` in the data, a display ``label`` and, for a randomised trial,
    optionally its allocation ``probability`` (share of patients allocated to it)."""

    value: str | int | float | bool
    label: str = ""
    probability: float | None = Field(default=None, gt=0, lt=1)


class Treatment(_Strict):
    """Which column holds the arm, the arms, the reference arm and how arms were assigned.

    ``min_per_arm``: an arm with fewer patients in the development cohort (after cleaning)
    is an error, as is a cohort where only one arm occurs.
    """

    column: str = Field(min_length=1)
    arms: list[Arm] = Field(min_length=2)
    reference: str | int | float | bool
    assignment: Literal["randomized", "observational"]
    min_per_arm: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Treatment:
        texts = self.arm_values
        duplicates = sorted({t for t in texts if texts.count(t) > 1})
        if duplicates:
            raise ValueError(f"arms: value {duplicates[0]!r} is listed more than once")
        if self.reference_text not in texts:
            raise ValueError(
                f"reference: {self.reference_text!r} is not one of the arms ({', '.join(texts)})"
            )
        given = [a for a in self.arms if a.probability is not None]
        if given and self.assignment == "observational":
            raise ValueError(
                "arms: probability is for randomized assignment only (observational "
                "propensities are estimated from the data)"
            )
        if given and len(given) != len(self.arms):
            missing = [as_text(a.value) for a in self.arms if a.probability is None]
            raise ValueError(
                f"arms: give probability for every arm or for none (missing for {missing})"
            )
        if given:
            total = sum(a.probability for a in given)  # type: ignore[misc]
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise ValueError(f"arms: allocation probabilities sum to {total:g}, not 1")
        return self

    @property
    def arm_values(self) -> list[str]:
        """Every arm as canonical text, in config order (the reference included)."""
        return [as_text(a.value) for a in self.arms]

    @property
    def reference_text(self) -> str:
        return as_text(self.reference)

    @property
    def others(self) -> list[str]:
        """The arms compared with the reference, in config order."""
        return [a for a in self.arm_values if a != self.reference_text]

    @property
    def probabilities(self) -> dict[str, float] | None:
        """``{arm: allocation probability}`` when the config gives them, else None."""
        if self.arms[0].probability is None:
            return None
        return {as_text(a.value): float(a.probability or 0.0) for a in self.arms}

    def label(self, arm: str) -> str:
        """Display label of an arm (its value when the config gives none)."""
        for a in self.arms:
            if as_text(a.value) == arm:
                return a.label or arm
        return arm


# -- data checks ---------------------------------------------------------------------------
def unknown_arms(arms: pd.Series, treatment: Treatment, shown: str) -> None:
    """Every row names a declared arm (``arms`` as canonical text, index = source rows)."""
    known = set(treatment.arm_values)
    bad = arms.isna() | ~arms.isin(known)
    if not bad.any():
        return
    rows = list(arms.index[bad])
    import pandas as pd

    values = ["(blank)" if pd.isna(v) else v for v in arms[bad]]
    raise UserError(
        f"{shown}: column {treatment.column!r} (treatment.column): "
        f"{plural(len(rows), 'value')} not one of the declared arms "
        f"{treatment.arm_values} ({rows_text(rows, values)})"
    )


def arm_counts(arms: pd.Series, treatment: Treatment, shown: str) -> dict[str, int]:
    """Patients per arm in the development cohort; refuses a single-arm cohort and arms
    below ``min_per_arm``. Returns ``{arm: count}`` in config order."""
    counts = {arm: int((arms == arm).sum()) for arm in treatment.arm_values}
    present = [arm for arm, n in counts.items() if n > 0]
    if len(present) < 2:
        only = present[0] if present else "none"
        raise UserError(
            f"{shown}: column {treatment.column!r} (treatment.column): every patient is in "
            f"arm {only!r}; comparing treatments needs at least two arms"
        )
    small = [(arm, n) for arm, n in counts.items() if n < treatment.min_per_arm]
    if small:
        text = ", ".join(f"{arm!r} ({plural(n, 'patient')})" for arm, n in small)
        raise UserError(
            f"{shown}: column {treatment.column!r} (treatment.column): too few patients in "
            f"arm{'s' if len(small) > 1 else ''} {text}; treatment.min_per_arm is "
            f"{treatment.min_per_arm}"
        )
    return counts
