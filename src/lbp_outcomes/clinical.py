"""Clinical evaluation of a set of predictions: flexible calibration curves, decision curves
(binary outcomes) and subgroup performance, for the train stage (out-of-fold predictions)
and the external stage (the final models on the external cohort).

Writes into one folder (the stage's report folder): ``calibration.json`` (curve numbers),
``decision.json`` (net benefit per threshold), ``subgroups.json``; and into the stage's
plot folder ``<target>_calibration.png`` and ``<target>_decision.png``.
"""

from __future__ import annotations

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
    """JSON-ready results of :func:`evaluate`, keyed by target."""

    calibration: dict[str, Any]
    decision: dict[str, Any]
    subgroups: dict[str, Any]


def evaluate(
    items: list[Predictions],
    cfg: DataConfig,
    names: dict[str, str],
    where: str,
    seed: int,
    n_boot: int,
    level: float,
    plot_dir: Path,
) -> Clinical:
    """All three analyses for every target in ``items``; figures into ``plot_dir``.

    ``names``: display name per family; ``where``: "cross-validation (out-of-fold)" or
    "the external cohort", for titles; ``n_boot``/``level``: subgroup bootstrap CIs.
    """
    out = Clinical({}, {}, {"settings": subgroups.settings(), "targets": {}})
    for item in items:
        binary = item.task == "binary"
        label = item.target  # display text is the report's (data config `display:`)
        champ = item.table[item.table["family"] == item.champion].sort_values("row")
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
        champion_name = names.get(item.champion, item.champion)
        calibration.figure(
            {names.get(f, f): c for f, c in curves.items()},
            champion_name,
            champ["observed"].to_numpy(),
            champ["predicted"].to_numpy(),
            f"{label}: calibration in {where}",
            "probability" if binary else label,
            plot_dir / f"{paths.slug(item.target)}_calibration.png",
            binary=binary,
        )
        out.calibration[item.target] = {
            "champion": item.champion,
            "families": {f: c.to_json() for f, c in curves.items()},
        }
        if binary:
            out.decision[item.target] = _decision(item, names, label, where, plot_dir)
        groups = subgroups.groupings(item.cohort.iloc[champ["row"].to_numpy()], cfg)
        if groups:
            results = subgroups.evaluate(
                champ["observed"].to_numpy(),
                champ["predicted"].to_numpy(),
                item.task,
                groups,
                n_boot,
                derive_seed(seed, item.target, "subgroups"),
                level,
            )
            out.subgroups["targets"][item.target] = {
                "task": item.task,
                "champion": item.champion,
                "groups": subgroups.to_json(results),
            }
    return out


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


def external_items(preds: pd.DataFrame, report: dict, ext: pd.DataFrame) -> list:
    """Predictions per evaluated target from the external stage's predictions table."""
    items = []
    for target, entry in report["targets"].items():
        part = preds[preds["target"] == target] if len(preds) else preds
        if part.empty:
            continue
        cohort = ext.loc[ext[target].notna()].reset_index(drop=True)
        table = part[["family", "row", "observed", "predicted"]].reset_index(drop=True)
        items.append(Predictions(target, entry["task"], entry["champion"], table, cohort))
    return items
