"""What every section builder needs: the parameters, the loaded inputs, and how to name
things (outcome labels with units, model-family labels, figure paths)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lbp_outcomes import paths
from lbp_outcomes.catalog import ExternalTarget, TargetCV
from lbp_outcomes.config import Params
from lbp_outcomes.report.document import Figure
from lbp_outcomes.report.inputs import Inputs


@dataclass
class Context:
    params: Params
    inputs: Inputs

    @property
    def cfg(self):
        return self.params.data

    @property
    def reference(self):
        return self.params.reference

    @property
    def synthetic(self) -> bool:
        return self.cfg.source.synthetic is not None or self.inputs.synthetic is not None

    # -- names -------------------------------------------------------------------------------
    def label(self, column: str) -> str:
        """A column's label with its unit (from the data config)."""
        return self.cfg.label(column)

    def unit(self, target: str) -> str:
        return self.cfg.unit(target)

    def unit_text(self, target: str) -> str:
        """The unit for a sentence ("points on NRS 0-10"), or "outcome units"."""
        return self.unit(target) or "outcome units"

    def family(self, name: str) -> str:
        """A model family's label ("Random forest"): from `display.families`, else (a
        published result for a family not named there) from the reference's names."""
        if name in self.params.display.families:
            return self.params.display.family(name)
        published = self.reference.families if self.reference is not None else {}
        return published.get(name, name)

    def task(self, target: str) -> str:
        """The data config says; for a target no longer in it, the metrics in cv.json."""
        try:
            return self.cfg.target_kind(target)
        except KeyError:
            return self.inputs.task(target) or "regression"

    @property
    def targets(self) -> list[str]:
        """The cross-validated targets, in reading order (see :meth:`ordered`)."""
        return self.ordered(self.inputs.targets)

    def ordered(self, targets: Any) -> list[str]:
        """Targets in the data config's order (regression outcomes, then responders), any
        the config no longer declares after them, sorted."""
        known = [t for t in self.cfg.all_targets if t in targets]
        return known + sorted(t for t in targets if t not in known)

    def family_order(self, families: list[str]) -> list[str]:
        """Families in the config's order (the order people chose), unknown ones after."""
        known = [f for f in self.params.model if f in families]
        return known + sorted(f for f in families if f not in known)

    # -- files -------------------------------------------------------------------------------
    def figure(self, rel: str, caption: str, alt: str) -> Figure:
        """A figure from reports/<rel> (the path the Markdown twin links)."""
        exists = (self.inputs.root / paths.REPORTS / rel).is_file()
        return Figure(rel, caption, alt, exists=exists)

    # -- numbers from the frames ----------------------------------------------------------
    def events(self, target: str) -> tuple[int, int] | None:
        """(patients with the event, patients with the outcome) in the development cohort."""
        frame = self.inputs.development
        if frame is None or target not in frame.columns:
            return None
        values = frame[target].dropna()
        return int((values == 1).sum()), len(values)

    def cv_entry(self, target: str) -> TargetCV | None:
        return (self.inputs.cv or {}).get(target)

    def external_entry(self, target: str) -> ExternalTarget | None:
        if self.inputs.external is None or not self.inputs.external.available:
            return None
        return self.inputs.external.targets.get(target)


def slug(name: str) -> str:
    return paths.slug(name)
