"""One target's external validation, the external stage's task per target (run on the
stage's process pool, so it imports the model libraries there, not in the stage process):
every family's final model scored with bootstrap CIs, the champion's model updating
(Steyerberg, Clinical Prediction Models, ch. 20) and conformal-interval coverage, the
calibration figure, and the clinical-usefulness analyses (:mod:`lbp_outcomes.clinical`).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from lbp_outcomes import clinical, intervals, metrics, paths, plots
from lbp_outcomes.catalog import ManifestTarget
from lbp_outcomes.config import Params
from lbp_outcomes.models.families import predict
from lbp_outcomes.seeds import derive_seed


@dataclass
class TargetValidation:
    """One target's results: its external.json ``entry``; its ``predictions`` (one row per
    patient and family: target, family, row, observed, predicted; None if not evaluated);
    ``clinical``: :func:`clinical.one`'s result (None if not evaluated); ``figure``: the
    calibration PNG as (file name, bytes), or None."""

    entry: dict[str, Any]
    predictions: pd.DataFrame | None = None
    clinical: Any = None
    figure: tuple[str, bytes] | None = None


def validate_target(
    params: Params,
    root: Path,
    target: str,
    info: ManifestTarget,
    cohort: pd.DataFrame,
    columns: list[str],
) -> TargetValidation:
    """``cohort``: the external patients with this outcome (shape (n, ...), index 0..n-1);
    ``columns``: the model inputs, in the trained order."""
    xcfg = params.external
    y = cohort[target].to_numpy(dtype=float)
    X = cohort[columns]
    entry: dict[str, Any] = {"task": info.task, "n": int(len(y)), "champion": info.champion}
    entry["families"] = {}
    if len(y) < 10 or (info.task == "binary" and len(np.unique(y)) < 2):
        entry["note"] = (
            f"{len(y)} external patients with this outcome (both classes needed): not evaluated"
        )
        return TargetValidation(entry)
    frames = []
    for family, spec_f in info.families.items():
        pred = predict(joblib.load(root / paths.MODELS / spec_f.file), X, info.task)
        stats = metrics.bootstrap_ci(
            y,
            pred,
            info.task,
            n_boot=xcfg.n_boot,
            seed=derive_seed(params.seed, target, family, "boot"),
            level=xcfg.ci_level,
            stratify=info.task == "binary",
        )
        entry["families"][family] = {
            m: {k: metrics.finite_or_none(v) for k, v in s.items()} for m, s in stats.items()
        }
        rows = np.arange(len(y))
        frames.append(
            pd.DataFrame(
                {"target": target, "family": family, "row": rows, "observed": y, "predicted": pred}
            )
        )
        if family == info.champion:
            entry["recalibration"] = updating(
                info.task,
                y,
                pred,
                xcfg.recalibration.fit_fraction,
                xcfg.recalibration.repeats,
                derive_seed(params.seed, target, "recalibration"),
            )
    if info.conformal is not None:
        lower, upper = intervals.predict_interval(
            intervals.load(root / paths.MODELS / info.conformal.file), X
        )
        inside = (y >= lower) & (y <= upper)
        entry["interval"] = {
            "level": info.conformal.level,
            "coverage": metrics.finite_or_none(float(inside.mean())),
            "mean_width": metrics.finite_or_none(float(np.mean(upper - lower))),
        }
    preds = pd.concat(frames, ignore_index=True)
    return TargetValidation(
        entry,
        preds,
        _clinical(params, target, entry, preds, cohort),
        _figure(target, entry, preds, params),
    )


def _clinical(
    params: Params, target: str, entry: dict[str, Any], preds: pd.DataFrame, cohort: pd.DataFrame
) -> Any:
    table = preds[["family", "row", "observed", "predicted"]]
    item = clinical.Predictions(target, entry["task"], entry["champion"], table, cohort)
    settings = clinical.Settings(
        params.data,
        {f: f for f in params.model},  # by key: display names are the report's
        "the external cohort",
        derive_seed(params.seed, "external"),
        params.external.n_boot,
        params.external.ci_level,
    )
    return clinical.one(item, settings)


def _figure(
    target: str, entry: dict[str, Any], preds: pd.DataFrame, params: Params
) -> tuple[str, bytes]:
    """Calibration in the external cohort: every family's curve (binary) or the champion's
    observed vs predicted (regression). Targets go by name: display labels are the report's."""
    labels = {f: f for f in params.model}
    champion = entry["champion"]
    with tempfile.TemporaryDirectory(prefix="lbp-external-") as tmp:
        png = Path(tmp) / f"{paths.slug(target)}.png"
        if entry["task"] == "binary":
            curves = {
                f: plots.calibration_curve_data(g["observed"], g["predicted"])
                for f, g in preds.groupby("family", sort=False)
            }
            title = f"{target}: calibration in the external cohort"
            plots.calibration(curves, title, png, target, labels, champion)
        else:
            part = preds[preds["family"] == champion]
            plots.regression_calibration(
                part["observed"].to_numpy(),
                part["predicted"].to_numpy(),
                f"{target}: {plots.family_name(champion, labels)} in the external cohort",
                target,
                png,
            )
        return png.name, png.read_bytes()


# -- model updating ---------------------------------------------------------------------------
def recalibrate(task: str, pred_fit: np.ndarray, y_fit: np.ndarray, how: str):
    """Return f(pred) -> updated prediction, fitted on (pred_fit, y_fit).

    ``how``: "intercept" (shift) or "intercept_slope" (shift and scale); for binary targets
    on the logit scale (logistic recalibration).
    """
    if task == "regression":
        if how == "intercept":
            shift = float(np.mean(y_fit - pred_fit))
            return lambda p: p + shift
        slope, intercept = np.polyfit(pred_fit, y_fit, 1)
        return lambda p: intercept + slope * p
    lp = metrics.logit(pred_fit)
    if how == "intercept":
        (a,) = metrics._logistic_fit(y_fit, None, offset=lp)
        return lambda p: 1 / (1 + np.exp(-(a + metrics.logit(p))))
    a, b = metrics._logistic_fit(y_fit, lp, offset=np.zeros_like(lp))
    return lambda p: 1 / (1 + np.exp(-(a + b * metrics.logit(p))))


def updating(
    task: str, y: np.ndarray, pred: np.ndarray, fit_fraction: float, repeats: int, seed: int
) -> dict[str, dict[str, float]]:
    """Mean performance on the held-back part, before and after each kind of update."""
    rng = np.random.default_rng(seed)
    # every split's held-back part has the same size: score them all in one vectorised call
    batch = metrics.regression_batch if task == "regression" else metrics.binary_batch
    observed: list[np.ndarray] = []
    results: dict[str, list[np.ndarray]] = {"original": [], "intercept": [], "intercept_slope": []}
    n = len(y)
    n_fit = max(2, int(round(fit_fraction * n)))
    done = 0
    for _ in range(repeats * 5):  # binary: skip splits with one class on either side
        if done == repeats:
            break
        order = rng.permutation(n)
        fit, evaluate = order[:n_fit], order[n_fit:]
        if task == "binary" and (len(np.unique(y[fit])) < 2 or len(np.unique(y[evaluate])) < 2):
            continue
        observed.append(y[evaluate])
        results["original"].append(pred[evaluate])
        for how in ("intercept", "intercept_slope"):
            update = recalibrate(task, pred[fit], y[fit], how)
            results[how].append(update(pred[evaluate]))
        done += 1
    out: dict[str, Any] = {}
    for how, rows in results.items():
        if not rows:
            out[how] = {}
            continue
        scores = batch(np.stack(observed), np.stack(rows))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN metric: undefined
            out[how] = {k: metrics.finite_or_none(float(np.nanmean(v))) for k, v in scores.items()}
    out["splits"] = done
    out["fit_fraction"] = fit_fraction
    return out
