"""Figures: observed vs predicted (regression) and calibration curves (binary).

Pure functions from arrays to PNG files (matplotlib, Agg backend, no display needed).
Axis labels carry units; every figure has a title saying what it shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DPI = 110


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def observed_vs_predicted(
    oof: pd.DataFrame, title: str, unit_label: str, path: Path, families: list[str] | None = None
) -> Path:
    """One panel per family: out-of-fold predicted vs observed (mean over CV repeats)."""
    plt = _plt()
    families = families or sorted(oof["family"].unique())
    n = len(families)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    lo = float(oof[["observed", "predicted"]].min().min())
    hi = float(oof[["observed", "predicted"]].max().max())
    pad = 0.04 * (hi - lo or 1)
    for ax, family in zip(axes.flat, families, strict=False):
        part = (
            oof[oof["family"] == family].groupby("row", sort=True)[["observed", "predicted"]].mean()
        )
        ax.scatter(part["observed"], part["predicted"], s=9, alpha=0.5, edgecolor="none")
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=1, ls="--")
        ss_res = float(((part["observed"] - part["predicted"]) ** 2).sum())
        ss_tot = float(((part["observed"] - part["observed"].mean()) ** 2).sum()) or 1.0
        ax.set_title(f"{family}  (pooled R² {1 - ss_res / ss_tot:.2f})", fontsize=9)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"observed {unit_label}", fontsize=8)
        ax.set_ylabel(f"predicted {unit_label}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
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
    curves: dict[str, pd.DataFrame], title: str, path: Path, event_label: str = "outcome"
) -> Path:
    """Calibration curves, one line per model/family (``curves`` from calibration_curve_data)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(curve["predicted"], curve["observed"], marker="o", ms=3, lw=1.2, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"predicted probability of {event_label}", fontsize=8)
    ax.set_ylabel(f"observed share with {event_label}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
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
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def smd_bars(smd: dict[str, float], labels: dict[str, str], title: str, path: Path) -> Path:
    """Horizontal bars of standardised mean differences with the usual 0.1 threshold."""
    plt = _plt()
    items = sorted(smd.items(), key=lambda kv: abs(kv[1]))
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(items) + 1.2))
    names = [labels.get(k, k) for k, _ in items]
    values = [v for _, v in items]
    colors = ["C3" if abs(v) >= 0.1 else "C0" for v in values]
    ax.barh(names, values, color=colors)
    for x in (-0.1, 0.1):
        ax.axvline(x, color="grey", lw=0.8, ls="--")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(
        "standardised mean difference (external - development); |SMD| >= 0.1 in red", fontsize=8
    )
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so identical figures give identical bytes (DVC sees no change).
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _plt().close(fig)
    return path
