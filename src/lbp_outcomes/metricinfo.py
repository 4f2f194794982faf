"""What each performance metric is called, how it is printed and which direction is better:
one table (metrics.yaml beside this module), read by the train stage (champions), the
summary, predict and the report. Standard library and PyYAML only: no scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import yaml


@dataclass(frozen=True)
class Metric:
    """How a metric is named and printed. ``unit``: printed in the outcome's unit (regression);
    ``bounds``: the possible range, for truncating CI limits; ``higher_is_better``: None for
    calibration measures (neither direction is better: a target value is)."""

    label: str
    digits: int
    bounds: tuple[float | None, float | None] | None = None
    unit: bool = False
    meaning: str = ""
    landmarks: tuple[float, ...] = ()  # values no estimate or CI limit may be rounded onto
    higher_is_better: bool | None = None


def _load() -> tuple[dict[str, Metric], dict[str, list[str]]]:
    table = yaml.safe_load(files("lbp_outcomes").joinpath("metrics.yaml").read_text("utf-8"))
    metrics = {}
    for name, spec in table["metrics"].items():
        bounds = spec.pop("bounds", None)
        landmarks = spec.pop("landmarks", ())
        metrics[name] = Metric(
            **spec,
            bounds=tuple(bounds) if bounds is not None else None,
            landmarks=tuple(landmarks),
        )
    return metrics, {task: list(names) for task, names in table["tasks"].items()}


METRICS, TASK_METRICS = _load()
#: The first metric of each task (R2, AUROC): champions are chosen on it.
PRIMARY = {task: names[0] for task, names in TASK_METRICS.items()}
#: Metrics with a better direction (scores and losses; not calibration measures).
HIGHER_IS_BETTER = {
    name: m.higher_is_better for name, m in METRICS.items() if m.higher_is_better is not None
}
