"""Clinical evaluation of a set of predictions: flexible calibration curves, decision curves
(binary outcomes) and subgroup performance, for the train stage (out-of-fold predictions)
and the external stage (the final models on the external cohort).

Writes into one folder (the stage's report folder): ``calibration.json`` (curve numbers),
``decision.json`` (net benefit per threshold), ``subgroups.json``; and into the stage's
plot folder ``<target>_calibration.png`` and ``<target>_decision.png``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import calibration, decision, paths, subgroups
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.seeds import derive_seed

FILES = ("calibration.json", "decision.json", "subgroups.json")


@dataclass(frozen=True)
class Predictions:
    """One target's predictions to evaluate.

    ``table``: one row per patient and family: family, row, observed, predicted (``row``:
    position in ``cohort``, the target's modelling rows, which carries the subgroup
    columns); ``champion``: the family the figures highlight and subgroups evaluate.
    """

    target: str
    task: str
    champion: str
    table: pd.DataFrame
    cohort: pd.DataFrame


@dataclass
class Clinical:
    """JSON-ready results of :func:`collect`, keyed by target."""

    calibration: dict[str, Any]
    decision: dict[str, Any]
    subgroups: dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What every target's analyses share. ``names``: display name per family; ``where``:
    "cross-validation (out-of-fold)" or "the external cohort", for titles; ``seed``: every
    random draw is derived from it and the target, so the numbers do not depend on where,
    or in which order, a target runs; ``n_boot``/``level``: subgroup bootstrap CIs."""

    cfg: DataConfig
    names: dict[str, str]
    where: str
    seed: int
    n_boot: int
    level: float


def collect(targets: list[str], results: list[Any], plot_dir: Path) -> Clinical:
    """:func:`one`'s results (one per target, in the order of ``targets``) as one
    :class:`Clinical`; the figures written into ``plot_dir``."""
    out = Clinical({}, {}, {"settings": subgroups.settings(), "targets": {}})
    for target, (part, figures) in zip(targets, results, strict=True):
        out.calibration[target] = part.calibration
        if part.decision is not None:
            out.decision[target] = part.decision
        if part.subgroups is not None:
            out.subgroups["targets"][target] = part.subgroups
        for name, png in figures.items():
            (plot_dir / name).write_bytes(png)
    return out


@dataclass
class _Target:
    """One target's results: calibration, decision (binary) and subgroups (if any)."""

    calibration: dict[str, Any]
    decision: dict[str, Any] | None
    subgroups: dict[str, Any] | None


def one(item: Predictions, settings: Settings) -> tuple[_Target, dict[str, bytes]]:
    """One target's analyses and its figures as PNG bytes by file name: an independent task
    (train runs them on its pool; a task may run in another process, or on another machine,
    so nothing is written where the caller can't see)."""
    s = settings
    with tempfile.TemporaryDirectory(prefix="lbp-clinical-") as tmp:
        plot_dir = Path(tmp)
        part = _Target(_calibration(item, s.names, s.where, s.seed, plot_dir), None, None)
        if item.task == "binary":
            part.decision = _decision(item, s.names, item.target, s.where, plot_dir)
        part.subgroups = _subgroups(item, s.cfg, s.seed, s.n_boot, s.level)
        return part, {png.name: png.read_bytes() for png in sorted(plot_dir.glob("*.png"))}


def _calibration(
    item: Predictions, names: dict[str, str], where: str, seed: int, plot_dir: Path
) -> dict[str, Any]:
    binary = item.task == "binary"
    label = item.target  # display text is the report's (data config `display:`)
    champ = _champion_rows(item)
    curves = {}
    for family, part in item.table.groupby("family", sort=False):
        boot = calibration.N_BOOT if family == item.champion else 0
        curves[family] = calibration.curve(
            part["observed"],
            part["predicted"],
            derive_seed(seed, item.target, family, "calibration_curve"),
            n_boot=boot,
            binary=binary,
        )
    calibration.figure(
        {names.get(f, f): c for f, c in curves.items()},
        names.get(item.champion, item.champion),
        champ["observed"].to_numpy(),
        champ["predicted"].to_numpy(),
        f"{label}: calibration in {where}",
        "probability" if binary else label,
        plot_dir / f"{paths.slug(item.target)}_calibration.png",
        binary=binary,
    )
    return {"champion": item.champion, "families": {f: c.to_json() for f, c in curves.items()}}


def _champion_rows(item: Predictions) -> pd.DataFrame:
    return item.table[item.table["family"] == item.champion].sort_values("row")


def _subgroups(
    item: Predictions, cfg: DataConfig, seed: int, n_boot: int, level: float
) -> dict[str, Any] | None:
    champ = _champion_rows(item)
    groups = subgroups.groupings(item.cohort.iloc[champ["row"].to_numpy()], cfg)
    if not groups:
        return None
    results = subgroups.evaluate(
        champ["observed"].to_numpy(),
        champ["predicted"].to_numpy(),
        item.task,
        groups,
        n_boot,
        derive_seed(seed, item.target, "subgroups"),
        level,
    )
    return {"task": item.task, "champion": item.champion, "groups": subgroups.to_json(results)}


def _decision(
    item: Predictions, names: dict[str, str], label: str, where: str, plot_dir: Path
) -> dict[str, Any]:
    wide = item.table.pivot(index="row", columns="family", values="predicted")
    observed = item.table.groupby("row")["observed"].first().loc[wide.index].to_numpy()
    predictions = {f: wide[f].to_numpy() for f in wide.columns}
    table = decision.net_benefit(observed, predictions)
    shown = table.assign(model=table["model"].map(lambda m: names.get(m, m)))
    decision.figure(
        shown,
        names.get(item.champion, item.champion),
        f"{label}: decision curves, {where}",
        plot_dir / f"{paths.slug(item.target)}_decision.png",
    )
    return {
        "champion": item.champion,
        "n": int(len(observed)),
        "prevalence": round(float(np.mean(observed)), 4),
        "thresholds": len(decision.THRESHOLDS),
        "useful": decision.useful(table, item.champion),
        "summary": decision.summary(table, item.champion),
        "curves": decision.to_json(table),
    }


def write(result: Clinical, folder: Path) -> None:
    """The three JSON files into ``folder``."""
    from lbp_outcomes.atomic import to_json_text

    folder.mkdir(parents=True, exist_ok=True)
    for name, data in zip(
        FILES, (result.calibration, result.decision, result.subgroups), strict=True
    ):
        (folder / name).write_text(to_json_text(data), encoding="utf-8")


def cv_items(
    oof: pd.DataFrame, datasets: list, frame: pd.DataFrame, champions: dict[str, str]
) -> list:
    """Predictions per target from the out-of-fold table: each patient's prediction averaged
    over the CV repeats; the cohort rows are the target's modelling rows of ``frame``;
    ``champions``: the champion family per target."""
    items = []
    for data in datasets:
        part = oof[oof["target"] == data.name]
        table = (
            part.groupby(["family", "row"], sort=False)[["observed", "predicted"]]
            .mean()
            .reset_index()
        )
        cohort = frame.loc[frame[data.name].notna()].reset_index(drop=True)
        items.append(Predictions(data.name, data.task, champions[data.name], table, cohort))
    return items
