"""Importance from SHAP values: mean |SHAP| per input column and per group, rankings,
the comparison with the published top predictors, and the long tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.explain.attribution import Attribution

TOP_N = 5  # the paper reports its five most influential predictors
DECIMALS = 6


def _round(value: float) -> float:
    return round(float(value), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _ranking(importance: dict[str, float], order: list[str]) -> list[str]:
    """Names by importance (rounded, as reported), ties in ``order``."""
    return sorted(importance, key=lambda k: (-importance[k], order.index(k)))


def summarise(
    attribution: Attribution,
    columns: list[str],
    groups: dict[str, list[str]],
    reference: list[str] | None,
) -> dict[str, Any]:
    """Mean |SHAP| per input column and per group, rankings, and the reference comparison."""
    values = attribution.values
    features = {c: _round(np.mean(np.abs(values[:, j]))) for j, c in enumerate(columns)}
    ranking = _ranking(features, columns)
    position = {c: j for j, c in enumerate(columns)}
    group_importance = {}
    for name, members in groups.items():
        summed = values[:, [position[m] for m in members]].sum(axis=1)
        group_importance[name] = _round(np.mean(np.abs(summed)))
    group_ranking = _ranking(group_importance, list(groups))
    out: dict[str, Any] = {
        "shap_unit": attribution.unit,
        "explainer": attribution.kind,
        "base_value": _round(attribution.base_value),
        "n_explained": int(values.shape[0]),
        "n_background": attribution.n_background,
        "features": features,
        "ranking": ranking,
        "groups": {
            name: {"members": members, "importance": group_importance[name]}
            for name, members in groups.items()
        },
        "group_ranking": group_ranking,
    }
    if reference:
        out["reference"] = compare(reference, ranking, group_ranking, groups, columns)
    return out


def compare(
    reference: list[str],
    ranking: list[str],
    group_ranking: list[str],
    groups: dict[str, list[str]],
    columns: list[str],
) -> dict[str, Any]:
    """Our top five inputs (and groups) against the paper's top predictors.

    ``shared``: reference predictors among our top five inputs. ``group_shared``: reference
    predictors whose group is among our top five groups (fit type found through LL, say).
    ``not_inputs``: reference names that are no input column here (never found).
    """
    top = ranking[:TOP_N]
    top_groups = group_ranking[:TOP_N]
    group_of = {m: name for name, members in groups.items() for m in members}
    shared = [r for r in reference if r in top]
    group_shared = [r for r in reference if group_of.get(r) in top_groups]
    return {
        "top_predictors": list(reference),
        "top5": top,
        "shared": shared,
        "overlap": len(shared),
        "top5_groups": top_groups,
        "group_shared": group_shared,
        "group_overlap": len(group_shared),
        "not_inputs": [r for r in reference if r not in columns],
    }


def feature_table(report: dict[str, Any], cfg: DataConfig) -> pd.DataFrame:
    """Long table: one row per target and input column, by rank."""
    rows = [
        {
            "target": target,
            "feature": feature,
            "mean_abs_shap": entry["features"][feature],
            "rank": rank,
            "shap_unit": entry["shap_unit"],
        }
        for target, entry in report.items()
        for rank, feature in enumerate(entry["ranking"], start=1)
    ]
    return pd.DataFrame(rows)


def group_table(report: dict[str, Any]) -> pd.DataFrame:
    """Long table: one row per target and group, by rank (members joined by ';')."""
    rows = [
        {
            "target": target,
            "group": group,
            "members": ";".join(entry["groups"][group]["members"]),
            "mean_abs_shap": entry["groups"][group]["importance"],
            "rank": rank,
            "shap_unit": entry["shap_unit"],
        }
        for target, entry in report.items()
        for rank, group in enumerate(entry["group_ranking"], start=1)
    ]
    return pd.DataFrame(rows)
