"""Figures: observed vs predicted (regression) and calibration curves (binary).

Pure functions from arrays to PNG files (matplotlib, Agg backend, no display needed).
Axis labels carry units; every figure has a title saying what it shows, names model
families by their display names (``labels``, e.g. "Random forest") and marks the champion,
and defines every statistic it prints. Figures use matplotlib's constrained layout (no
clipped titles or labels) and are saved at :data:`DPI` (sharp in print).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DPI = 200
CHAMPION = "champion"  # how a figure marks the champion family


def family_name(family: str, labels: dict[str, str] | None, champion: str | None = None) -> str:
    """A family's display name, with "(champion)" for the champion."""
    name = (labels or {}).get(family) or family
    return f"{name} ({CHAMPION})" if family == champion else name


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Constrained layout makes room for titles, labels and legends (tight_layout clipped
    # long titles); every figure made through here gets it.
    matplotlib.rcParams["figure.constrained_layout.use"] = True
    return plt


def observed_vs_predicted(
    oof: pd.DataFrame,
    title: str,
    unit_label: str,
    path: Path,
    families: list[str] | None = None,
    labels: dict[str, str] | None = None,
    champion: str | None = None,
    r2: dict[str, float] | None = None,
) -> Path:
    """One panel per family: out-of-fold predicted vs observed (mean over CV repeats).

    ``r2``: each family's mean R² over the outer folds (the number the tables report),
    printed in its panel and defined under the figure.
    """
    plt = _plt()
    present = set(oof["family"].unique())
    families = [f for f in families or sorted(present) if f in present]
    n = len(families)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows + 0.6), squeeze=False)
    lo = float(oof[["observed", "predicted"]].min().min())
    hi = float(oof[["observed", "predicted"]].max().max())
    pad = 0.04 * (hi - lo or 1)
    for ax, family in zip(axes.flat, families, strict=False):
        part = (
            oof[oof["family"] == family].groupby("row", sort=True)[["observed", "predicted"]].mean()
        )
        ax.scatter(part["observed"], part["predicted"], s=9, alpha=0.5, edgecolor="none")
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=1, ls="--")
        name = family_name(family, labels, champion)
        score = (r2 or {}).get(family)
        shown = f"\nmean fold R² {score:.3f}" if score is not None else ""
        weight = "bold" if family == champion else None
        ax.set_title(_wrap(name, 34) + shown, fontsize=9, fontweight=weight)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"observed {unit_label}", fontsize=8)
        ax.set_ylabel(f"predicted {unit_label}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(_wrap(title, int(14 * 3.1 * cols)), fontsize=10)
    note = "Points: each patient's out-of-fold prediction, averaged over CV repeats; dashed: "
    note += "perfect prediction."
    if r2:
        note += " Mean fold R²: R² in each outer test fold, averaged over folds and repeats "
        note += "(as in the tables)."
    fig.supxlabel(
        _wrap(note, int(17 * 3.1 * cols)),
        fontsize=8,
        color="0.35",
    )
    return _save(fig, path)


def calibration_curve_data(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Quantile-binned calibration: mean predicted vs observed share per bin."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "p": np.asarray(prob, float)})
    k = max(2, min(bins, len(frame) // 20 or 2))
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=k, labels=False)
    return (
        frame.groupby("bin")
        .agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
        .reset_index()
    )


def calibration(
    curves: dict[str, pd.DataFrame],
    title: str,
    path: Path,
    event_label: str = "outcome",
    labels: dict[str, str] | None = None,
    champion: str | None = None,
) -> Path:
    """Calibration curves, one line per model/family (``curves`` from calibration_curve_data);
    the champion's line drawn thicker."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for family, curve in curves.items():
        lw = 2.4 if family == champion else 1.2
        name = family_name(family, labels, champion)
        ax.plot(curve["predicted"], curve["observed"], marker="o", ms=3, lw=lw, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"predicted probability of {event_label}", fontsize=8)
    ax.set_ylabel(f"observed share with {event_label}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(_wrap(title), fontsize=9)
    return _save(fig, path)


def regression_calibration(
    observed: np.ndarray, predicted: np.ndarray, title: str, label: str, path: Path
) -> Path:
    """Observed vs predicted with the ideal line, the fitted calibration line (observed
    regressed on predicted) and binned means."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    lo = float(min(observed.min(), predicted.min()))
    hi = float(max(observed.max(), predicted.max()))
    ax.scatter(predicted, observed, s=9, alpha=0.45, edgecolor="none", label="patients")
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="perfect calibration")
    if np.ptp(predicted) > 0:
        slope, intercept = np.polyfit(predicted, observed, 1)
        xs = np.array([lo, hi])
        ax.plot(
            xs,
            intercept + slope * xs,
            color="C3",
            lw=1.4,
            label=f"fitted: slope {slope:.2f}, intercept {intercept:.2f}",
        )
        bins = calibration_curve_data(observed, predicted)
        ax.plot(
            bins["predicted"], bins["observed"], "o-", color="C1", ms=4, lw=1, label="binned means"
        )
    ax.set_xlabel(f"predicted {label}", fontsize=8)
    ax.set_ylabel(f"observed {label}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(_wrap(title), fontsize=9)
    return _save(fig, path)


def smd_bars(smd: dict[str, float], labels: dict[str, str], title: str, path: Path) -> Path:
    """Horizontal bars of standardised mean differences with the usual 0.1 threshold."""
    plt = _plt()
    items = sorted(smd.items(), key=lambda kv: abs(kv[1]))
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(items) + 1.6))
    names = [labels.get(k, k) for k, _ in items]
    values = [v for _, v in items]
    colors = ["C3" if abs(v) >= 0.1 else "C0" for v in values]
    ax.barh(names, values, color=colors)
    for x in (-0.1, 0.1):
        ax.axvline(x, color="grey", lw=0.8, ls="--")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(
        "standardised mean difference (external − development)\n"
        "|SMD| ≥ 0.1 in red; dashed lines at ±0.1",
        fontsize=8,
    )
    ax.tick_params(labelsize=7)
    # A title over the whole figure: centred on the axes, it ran off the right edge
    # (the long predictor labels push the axes right).
    fig.suptitle(_wrap(title, 80), fontsize=9)
    return _save(fig, path)


def _wrap(title: str, width: int = 55) -> str:
    """A long title over several lines instead of running off the figure."""
    import textwrap

    return "\n".join(textwrap.wrap(title, width)) or title


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so identical figures give identical bytes (DVC sees no change).
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _plt().close(fig)
    return path
