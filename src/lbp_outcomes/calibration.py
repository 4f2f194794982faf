"""Calibration curves as clinical-prediction papers draw them (Van Calster et al., 2016).

A flexible calibration curve: the observed outcome smoothed against the predicted value by
LOWESS (statsmodels; locally linear, tricube weights, ``FRAC`` of the patients in each
neighbourhood, no robustness iterations: with a 0/1 outcome every "outlier" is a patient),
with a pointwise 95% band from a patient bootstrap, and the distribution of predictions
underneath (a histogram of predicted risk, events above the axis and non-events below, or
of predicted values for a continuous outcome). Used for binary probabilities (observed
share with the outcome) and for continuous outcomes (mean observed value) alike.

Numbers (:func:`curve`) and the figure (:func:`figure`) are separate so the numbers can be
tested against a hand-computed case and written to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FRAC = 2 / 3  # share of patients in each local fit (R's lowess default)
GRID = 50  # points along the predicted axis where the curve is evaluated
N_BOOT = 200  # bootstrap replicates for the band
DPI = 200


@dataclass(frozen=True)
class Curve:
    """A smoothed calibration curve on a grid of predicted values.

    ``grid``, ``observed``, ``low``, ``high``: shape (GRID,); observed is the smoothed
    outcome (share with the event, or mean value) at each grid point, low/high the
    bootstrap band (NaN where too few resamples reach that far).
    """

    grid: np.ndarray
    observed: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float

    def to_json(self, digits: int = 4) -> dict[str, list[float | None]]:
        def clean(values: np.ndarray) -> list[float | None]:
            return [round(float(v), digits) if np.isfinite(v) else None for v in values]

        return {
            "predicted": clean(self.grid),
            "observed": clean(self.observed),
            "ci_low": clean(self.low),
            "ci_high": clean(self.high),
            "level": [self.level],
        }


def smooth(
    y: np.ndarray, pred: np.ndarray, at: np.ndarray, frac: float = FRAC, inside: bool = True
) -> np.ndarray:
    """LOWESS of ``y`` on ``pred`` evaluated at ``at``; NaN outside the range of ``pred``
    when ``inside`` (else the nearest local fit carries on, as for a bootstrap resample that
    happens to miss the most extreme patients).

    ``y``, ``pred``: shape (n,); ``at``: shape (m,); returns shape (m,).
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y, pred, at = (np.asarray(a, dtype=float) for a in (y, pred, at))
    if np.ptp(pred) == 0:
        return np.full(len(at), np.nan)
    fitted = lowess(y, pred, frac=frac, it=0, xvals=at)
    if not inside:
        return fitted
    return np.where((at >= pred.min()) & (at <= pred.max()), fitted, np.nan)


def curve(
    y: np.ndarray,
    pred: np.ndarray,
    seed: int,
    n_boot: int = N_BOOT,
    level: float = 0.95,
    binary: bool = True,
) -> Curve:
    """The calibration curve of predictions ``pred`` (shape (n,)) against outcomes ``y``;
    ``n_boot=0``: no band (NaN).

    The grid spans the 1st to 99th percentile of ``pred`` (the ends rest on a handful of
    patients). Binary curves are kept inside [0, 1] (a local line can overshoot).
    """
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    lo, hi = np.quantile(pred, [0.01, 0.99])
    grid = np.linspace(lo, hi, GRID) if hi > lo else np.array([lo])
    observed = smooth(y, pred, grid)
    if n_boot == 0:
        low = high = np.full(len(grid), np.nan)
        if binary:
            observed = np.clip(observed, 0, 1)
        return Curve(grid, observed, low, high, level)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(grid)))
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        draws[b] = smooth(y[idx], pred[idx], grid, inside=False)
    alpha = (1 - level) / 2
    enough = np.sum(np.isfinite(draws), axis=0) >= 0.9 * n_boot
    with np.errstate(all="ignore"):
        low = np.where(enough, np.nanquantile(draws, alpha, axis=0), np.nan)
        high = np.where(enough, np.nanquantile(draws, 1 - alpha, axis=0), np.nan)
    if binary:
        observed, low, high = (np.clip(a, 0, 1) for a in (observed, low, high))
    return Curve(grid, observed, low, high, level)


def mean_over_repeats(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: observed, and the out-of-fold prediction averaged over the CV
    repeats (each repeat predicts every patient once). Columns: row, observed, predicted."""
    return oof.groupby("row", sort=True)[["observed", "predicted"]].mean().reset_index()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(
    curves: dict[str, Curve],
    champion: str,
    y: np.ndarray,
    pred: np.ndarray,
    title: str,
    axis_label: str,
    path: Path,
    binary: bool = True,
) -> Path:
    """Calibration figure: every family's curve (the champion bold, with its band), the
    ideal diagonal, and below it a histogram of the champion's predictions ``pred``
    (binary: events above the axis, non-events below). ``curves`` maps display names to
    curves; ``champion`` is one of its keys."""
    plt = _plt()
    fig, (ax, hist) = plt.subplots(
        2,
        1,
        figsize=(5.2, 5.6),
        sharex=True,
        gridspec_kw={"height_ratios": [4, 1]},
        layout="constrained",
    )
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if binary:
        lo, hi = 0.0, 1.0
    else:
        lo = float(min(pred.min(), y.min()))
        hi = float(max(pred.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="perfect calibration")
    for i, (name, c) in enumerate(curves.items()):
        if name == champion:
            continue
        ax.plot(c.grid, c.observed, lw=1, color=f"C{i + 1}", alpha=0.8, label=name)
    best = curves[champion]
    ax.fill_between(
        best.grid,
        best.low,
        best.high,
        color="C0",
        alpha=0.2,
        lw=0,
        label=f"{best.level:.0%} bootstrap band",
    )
    ax.plot(best.grid, best.observed, lw=2.2, color="C0", label=f"{champion} (champion)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi * 1.02 if binary else hi)
    what = "observed share with the outcome" if binary else f"observed {axis_label}"
    ax.set_ylabel(f"{what} (LOWESS)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    ax.set_title(title, fontsize=9, wrap=True)
    bins = np.linspace(lo, hi, 41)
    if binary:
        hist.hist(pred[y == 1], bins=bins, color="C0", alpha=0.7, label="with the outcome")
        counts, _ = np.histogram(pred[y == 0], bins=bins)
        hist.bar(
            bins[:-1],
            -counts,
            width=np.diff(bins),
            align="edge",
            color="C3",
            alpha=0.7,
            label="without",
        )
        hist.axhline(0, color="black", lw=0.6)
        hist.legend(fontsize=6, loc="upper left", frameon=False)  # labels the two sides
    else:
        hist.hist(pred, bins=bins, color="C0", alpha=0.7)
    hist.set_ylabel("patients", fontsize=7)
    hist.set_xlabel(f"predicted {axis_label} (histogram: champion)", fontsize=8)
    hist.tick_params(labelsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})  # fixed metadata: same bytes
    plt.close(fig)
    return path
