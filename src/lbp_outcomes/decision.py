"""Decision curves: is acting on the model's predictions better than treating everyone or
no one? (Vickers & Elkin, 2006.)

At a threshold probability pt (the risk at which a clinician would act; it encodes how
harms and benefits are weighed), a patient is "test positive" when the predicted
probability is at least pt, and

    net benefit = TP/n - FP/n * pt / (1 - pt)

in true positives per patient. "Treat all" calls everyone positive; "treat none" has net
benefit 0. A model helps at pt where its curve lies above both. Net benefit comes from
dcurves (the maintained Python port of the MSKCC decision-curve code); the figure is ours.

Thresholds: ``THRESHOLDS`` (1% to 99% in 1% steps) are computed and written; the figure
shows the range where treat-all is not far below zero.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)  # threshold probabilities pt
SUMMARY_AT = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # thresholds in the report table
DPI = 200


def net_benefit(
    y: np.ndarray, predictions: dict[str, np.ndarray], thresholds: np.ndarray = THRESHOLDS
) -> pd.DataFrame:
    """Net benefit of each model in ``predictions`` (name -> probabilities, shape (n,)),
    and of treat-all ("all") and treat-none ("none"), at each threshold.

    ``y``: outcomes 0/1, shape (n,). Returns a long table: model, threshold, net_benefit,
    test_pos_rate, tp_rate, fp_rate (rates per patient).
    """
    import dcurves

    names = list(predictions)
    columns = {f"m{i}": np.asarray(p, dtype=float) for i, p in enumerate(predictions.values())}
    data = pd.DataFrame({"outcome": np.asarray(y, dtype=int), **columns})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation notes from inside dcurves
        table = dcurves.dca(
            data=data, outcome="outcome", modelnames=list(columns), thresholds=list(thresholds)
        )
    rename = {f"m{i}": name for i, name in enumerate(names)}
    table = table.assign(model=table["model"].map(lambda m: rename.get(m, m)))
    keep = ["model", "threshold", "net_benefit", "test_pos_rate", "tp_rate", "fp_rate"]
    out = table[keep].astype({c: float for c in keep[1:]})
    return out.reset_index(drop=True)


def useful(table: pd.DataFrame, model: str) -> dict[str, float | int] | None:
    """Where ``model`` beats both treat-all and treat-none (by more than 0.001 true
    positives per patient): {"from", "to": lowest and highest such threshold, "count": how
    many of the thresholds}; None where it never does."""
    wide = table.pivot(index="threshold", columns="model", values="net_benefit")
    best_default = np.maximum(wide["all"], wide["none"])
    better = wide.index[(wide[model] - best_default) > 1e-3]
    if not len(better):
        return None
    return {"from": float(better.min()), "to": float(better.max()), "count": len(better)}


def to_json(table: pd.DataFrame, digits: int = 4) -> dict[str, dict[str, list[float]]]:
    """{model: {threshold: [...], net_benefit: [...]}} for metrics files and MLflow."""
    out: dict[str, dict[str, list[float]]] = {}
    for model, part in table.groupby("model", sort=False):
        out[str(model)] = {
            "threshold": [round(float(t), 2) for t in part["threshold"]],
            "net_benefit": [round(float(v), digits) for v in part["net_benefit"]],
        }
    return out


def summary(
    table: pd.DataFrame, model: str, at: tuple[float, ...] = SUMMARY_AT
) -> list[dict[str, float]]:
    """Net benefit of ``model``, treat-all and treat-none at a few thresholds (report table)."""
    wide = table.pivot(index="threshold", columns="model", values="net_benefit")
    rows = []
    for t in at:
        if t not in wide.index:
            continue
        rows.append(
            {
                "threshold": t,
                "model": round(float(wide.loc[t, model]), 4),
                "treat_all": round(float(wide.loc[t, "all"]), 4),
                "treat_none": 0.0,
            }
        )
    return rows


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(table: pd.DataFrame, champion: str, title: str, path: Path) -> Path:
    """Net benefit against threshold probability: every model (champion bold), treat all,
    treat none. The y axis runs from a little below 0 to a little above the prevalence
    (treat-all's net benefit at pt = 0), where decision curves are read."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.4, 4.0), layout="constrained")
    wide = table.pivot(index="threshold", columns="model", values="net_benefit")
    top = float(np.nanmax(wide.to_numpy()))  # about the prevalence (treat all at pt near 0)
    ax.plot(wide.index, wide["none"], color="black", lw=1, label="treat none")
    ax.plot(wide.index, wide["all"], color="grey", lw=1.2, ls="--", label="treat all")
    others = [m for m in wide.columns if m not in ("all", "none", champion)]
    for i, model in enumerate(others):
        ax.plot(wide.index, wide[model], lw=1, color=f"C{i + 1}", alpha=0.8, label=model)
    ax.plot(wide.index, wide[champion], lw=2.2, color="C0", label=f"{champion} (champion)")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05 * max(top, 0.1), top * 1.08)
    ax.set_xlabel("threshold probability (risk at which one would act)", fontsize=8)
    ax.set_ylabel("net benefit (true positives per patient)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    ax.set_title(title, fontsize=9, wrap=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})  # fixed metadata: same bytes
    plt.close(fig)
    return path
