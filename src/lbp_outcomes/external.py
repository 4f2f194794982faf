"""External-validation stage: the final models on a cohort they have never seen.

Inputs: models/ (final pipelines, interval models, manifest), data/features/ (development
and external cohorts), params.external. Outputs:

- reports/metrics/external.json (DVC metrics): for every target and family, performance
  with bootstrap 95% CIs (regression: R2, MAE, RMSE, calibration-in-the-large, calibration
  slope and intercept of observed on predicted; binary: AUROC, AUPRC, Brier, calibration
  slope and intercept); for each champion, model updating (recalibration) and, for
  regression, the empirical coverage of the conformal prediction interval; case-mix
  diagnostics (standardised mean differences, membership-model AUROC).
- reports/external/: predictions (row positions, no ids) and tables;
  reports/plots/external/: calibration plots per target and the case-mix plot.

Model updating (Steyerberg, Clinical Prediction Models, ch. 20): on a random part of the
external cohort (``recalibration.fit_fraction``) fit either a new intercept (the model's
predictions shifted; regression: by the mean residual; binary: on the logit scale) or a new
intercept and slope (observed regressed on predicted; logistic recalibration), then score
the updated predictions on the rest; repeated ``recalibration.repeats`` times and averaged.
A cohort with no external part gets ``{"available": false}`` and empty folders, so the
pipeline and the report carry on.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from lbp_outcomes import catalog, clinical, intervals, metrics, paths, plots
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.catalog import ExternalMetrics, Manifest
from lbp_outcomes.config import Params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.models.families import predict
from lbp_outcomes.models.preprocess import FeatureSpec, make_preprocessor
from lbp_outcomes.seeds import derive_seed
from lbp_outcomes.tracking import Tracker, read_parent_run, read_registered


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


# -- case mix ---------------------------------------------------------------------------------
def standardised_differences(
    dev: pd.DataFrame, ext: pd.DataFrame, spec: FeatureSpec
) -> dict[str, float]:
    """SMD per input: (mean_ext - mean_dev) / pooled SD; categorical inputs: the largest
    absolute SMD over their levels' proportions (signed)."""
    out: dict[str, float] = {}
    for name in spec.numeric:
        a, b = dev[name].astype(float), ext[name].astype(float)
        pooled = np.sqrt((a.var() + b.var()) / 2)
        out[name] = float((b.mean() - a.mean()) / pooled) if pooled > 0 else 0.0
    for name, levels in {**spec.categorical, **spec.ordinal}.items():
        best = 0.0
        for level in levels:
            p, q = (dev[name] == level).mean(), (ext[name] == level).mean()
            pooled = np.sqrt((p * (1 - p) + q * (1 - q)) / 2)
            smd = float((q - p) / pooled) if pooled > 0 else 0.0
            if abs(smd) > abs(best):
                best = smd
        out[name] = best
    return {k: round(v, 4) for k, v in out.items()}


def membership(
    dev: pd.DataFrame,
    ext: pd.DataFrame,
    spec: FeatureSpec,
    folds: int,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Cross-validated AUROC of a logistic model telling external from development patients
    (0.5: indistinguishable case mix; 1: completely different), with a bootstrap CI."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import Pipeline

    X = pd.concat([dev[spec.columns], ext[spec.columns]], ignore_index=True)
    y = np.r_[np.zeros(len(dev)), np.ones(len(ext))]
    model = Pipeline(
        [("prep", make_preprocessor("dense", spec)), ("model", LogisticRegression(max_iter=5000))]
    )
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    auroc = metrics.bootstrap_ci(
        y,
        prob,
        "binary",
        n_boot=n_boot,
        seed=seed,
        level=level,
        stratify=True,
    )["auroc"]
    return {k: round(v, 4) for k, v in auroc.items()}, y, prob


# -- the stage ----------------------------------------------------------------------------------
def evaluate(params: Params, root: Path, manifest: Manifest, dev: pd.DataFrame, ext: pd.DataFrame):
    """All external-validation numbers; returns (report dict, predictions frame, curves)."""
    cfg: DataConfig = params.data
    spec = FeatureSpec.from_config(cfg)
    xcfg = params.external
    report: dict[str, Any] = {"available": True, "n": len(ext), "targets": {}}
    smd = standardised_differences(dev, ext, spec)
    auroc, _, _ = membership(
        dev,
        ext,
        spec,
        xcfg.membership_folds,
        xcfg.n_boot,
        derive_seed(params.seed, "membership"),
        xcfg.ci_level,
    )
    report["case_mix"] = {"smd": smd, "membership_auroc": auroc}

    predictions = []
    for target, info in manifest.targets.items():
        if target not in ext.columns:
            continue
        rows = ext[target].notna().to_numpy()
        y = ext.loc[rows, target].to_numpy(dtype=float)
        X = ext.loc[rows, spec.columns].reset_index(drop=True)
        task = info.task
        entry: dict[str, Any] = {
            "task": task,
            "n": int(len(y)),
            "champion": info.champion,
            "families": {},
        }
        if len(y) < 10 or (task == "binary" and len(np.unique(y)) < 2):
            entry["note"] = (
                f"{len(y)} external patients with this outcome (both classes needed): not evaluated"
            )
            report["targets"][target] = entry
            continue
        for family, spec_f in info.families.items():
            model = joblib.load(root / paths.MODELS / spec_f.file)
            pred = predict(model, X, task)
            stats = metrics.bootstrap_ci(
                y,
                pred,
                task,
                n_boot=xcfg.n_boot,
                seed=derive_seed(params.seed, target, family, "boot"),
                level=xcfg.ci_level,
                stratify=task == "binary",
            )
            entry["families"][family] = {
                m: {k: metrics.finite_or_none(v) for k, v in s.items()} for m, s in stats.items()
            }
            predictions.append(
                pd.DataFrame(
                    {
                        "target": target,
                        "family": family,
                        "row": np.arange(len(y)),
                        "observed": y,
                        "predicted": pred,
                    }
                )
            )
            if family == info.champion:
                entry["recalibration"] = updating(
                    task,
                    y,
                    pred,
                    xcfg.recalibration.fit_fraction,
                    xcfg.recalibration.repeats,
                    derive_seed(params.seed, target, "recalibration"),
                )
        conformal = info.conformal
        if conformal is not None:
            model = intervals.load(root / paths.MODELS / conformal.file)
            lower, upper = intervals.predict_interval(model, X)
            inside = (y >= lower) & (y <= upper)
            entry["interval"] = {
                "level": conformal.level,
                "coverage": metrics.finite_or_none(float(inside.mean())),
                "mean_width": metrics.finite_or_none(float(np.mean(upper - lower))),
            }
        report["targets"][target] = entry
    frame = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame()
    return report, frame


def _figures(folder: Path, report: dict, preds: pd.DataFrame, labels: dict[str, str]) -> None:
    """Calibration per target (``labels``: the name per family: its key) and the case mix.
    Targets and columns go by name: their display labels are the report's."""
    for target, entry in report["targets"].items():
        part = preds[preds["target"] == target] if len(preds) else preds
        if part.empty:
            continue
        label = target
        if entry["task"] == "binary":
            curves = {
                f: plots.calibration_curve_data(g["observed"], g["predicted"])
                for f, g in part.groupby("family", sort=False)
            }
            plots.calibration(
                curves,
                f"{label}: calibration in the external cohort",
                folder / f"{paths.slug(target)}.png",
                label,
                labels,
                entry["champion"],
            )
        else:
            champion = part[part["family"] == entry["champion"]]
            plots.regression_calibration(
                champion["observed"].to_numpy(),
                champion["predicted"].to_numpy(),
                f"{label}: {plots.family_name(entry['champion'], labels)} in the external cohort",
                label,
                folder / f"{paths.slug(target)}.png",
            )
    plots.smd_bars(
        report["case_mix"]["smd"],
        {c: c for c in report["case_mix"]["smd"]},
        "Case mix: external vs development (standardised mean difference)",
        folder / "case_mix.png",
    )


def run(params: Params, root: Path) -> dict[str, Any]:
    manifest = catalog.MANIFEST.read(root)
    ext_path = paths.cohort_file(root / paths.FEATURES, "external")
    tracker = Tracker(params, root)
    with (
        tempfile.TemporaryDirectory(prefix="lbp-external-") as tmp,
        tracker.pipeline_run("external", resume=read_parent_run(root)),
        Outputs() as out,
    ):
        out_dir = out.directory(root / catalog.EXTERNAL_DIR)
        plot_dir = out.directory(root / catalog.EXTERNAL_PLOTS)
        if not ext_path.exists():
            report = {"available": False, "reason": "the data config defines no external cohort"}
            print("external: no external cohort in this data config; nothing to validate")
        else:
            dev = pd.read_parquet(paths.cohort_file(root / paths.FEATURES, "development"))
            ext = pd.read_parquet(ext_path)
            report, preds = evaluate(params, root, manifest, dev, ext)
            if len(preds):
                preds.to_parquet(out_dir / "predictions.parquet", index=False)
            labels = {f: f for f in params.model}  # by key: display names are the report's
            _figures(Path(tmp), report, preds, labels)
            clinical.write(
                clinical.evaluate(
                    clinical.external_items(preds, report, ext),
                    params.data,
                    labels,
                    "the external cohort",
                    derive_seed(params.seed, "external"),
                    params.external.n_boot,
                    params.external.ci_level,
                    Path(tmp),
                ),
                out_dir,
            )
            for png in sorted(Path(tmp).glob("*.png")):
                (plot_dir / png.name).write_bytes(png.read_bytes())
        typed: ExternalMetrics = catalog.EXTERNAL_METRICS.parse(report)
        if typed.available:
            _print_summary(typed)
        catalog.EXTERNAL_METRICS.write(out, root, typed)
        tracker.log_artifacts({"external": out_dir, "plots/external": plot_dir})
        tracker.log_metrics(_flat_metrics(typed))
        _tag_champions(tracker, root, typed)
    return report


def _flat_metrics(report: ExternalMetrics) -> dict[str, float | None]:
    """Champion external metrics for the MLflow parent run (external.<target>.<metric>)."""
    flat: dict[str, float | None] = {}
    if not report.available or report.case_mix is None:
        return flat
    flat["external.membership_auroc"] = report.case_mix.membership_auroc.estimate
    for target, entry in report.targets.items():
        for metric, stats in entry.families.get(entry.champion, {}).items():
            flat[f"external.{target}.{metric}"] = stats.estimate
        if entry.interval is not None:
            flat[f"external.{target}.interval_coverage"] = entry.interval.coverage
    return flat


def _tag_champions(tracker: Tracker, root: Path, report: ExternalMetrics) -> None:
    """External estimates as tags of each champion's registered version (ext_<metric>)."""
    versions = read_registered(root)
    for target, entry in report.targets.items() if report.available else []:
        fam = entry.families.get(entry.champion, {})
        tags = {f"ext_{m}": f"{s.estimate:.4f}" for m, s in fam.items() if s.estimate is not None}
        tracker.tag_version(target, versions.get(target), tags)


def _print_summary(report: ExternalMetrics) -> None:
    assert report.case_mix is not None  # an available report has its case mix
    auroc = report.case_mix.membership_auroc
    print(
        f"external: {report.n} patients; membership AUROC {auroc.estimate:.2f} "
        f"[{auroc.ci_low:.2f}, {auroc.ci_high:.2f}]"
    )
    for target, entry in report.targets.items():
        fam = entry.families.get(entry.champion)
        if not fam:
            continue
        key = "r2" if entry.task == "regression" else "auroc"
        line = (
            f"  {target} ({entry.champion}): {key} {fam[key].estimate:.3f}, "
            f"calibration slope {fam['calibration_slope'].estimate:.2f}"
        )
        if entry.interval is not None:
            line += f", {entry.interval.level:.0%} interval coverage {entry.interval.coverage:.1%}"
        print(line)
