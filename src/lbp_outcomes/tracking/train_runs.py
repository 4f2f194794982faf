"""The train stage's runs: one child run per target x family (params, CV metrics with fold
values as steps, tables, the figure, the final model), the champions registered, and the
selection-included estimates on the parent run."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbp_outcomes.metricinfo import PRIMARY
from lbp_outcomes.paths import slug
from lbp_outcomes.tracking.provenance import flatten
from lbp_outcomes.tracking.runs import Tracker

if TYPE_CHECKING:
    from lbp_outcomes.train_result import TrainResult


def log_train(
    tracker: Tracker, result: TrainResult, figures: dict[str, Path], model_dir: Path
) -> dict[str, Any]:
    """A child run per target x family; the champions registered; parent-run summaries.

    ``figures``: the train stage's PNGs by file name; ``model_dir``: where the models (and
    interval models) were saved. Returns the run ids and registered versions (for
    reports/tracking.json)."""
    runs: dict[str, dict[str, str]] = defaultdict(dict)
    registered: dict[str, str | None] = {}
    if not tracker.enabled:
        return {"runs": runs, "registered": registered}
    with tempfile.TemporaryDirectory(prefix="lbp-mlflow-train-") as tmp:
        for data in result.datasets:
            for family in result.cv[data.name].families:
                logged = _log_pair(tracker, result, data, family, figures, model_dir, Path(tmp))
                runs[data.name][family] = logged.get("run_id", "")
                if family == result.champion(data.name):
                    registered[data.name] = _register_champion(tracker, result, data, logged)
    tracker.log_metrics({**_champion_metrics(result), **_selected_metrics(result)})  # one batch
    tracker.share_view()
    return {"runs": dict(runs), "registered": registered}


def _selected_metrics(result: TrainResult) -> dict[str, float | None]:
    """The honest (selection-included) estimate per target, with its CI, for the parent run:
    ``<target>.selected_<metric>`` (+ ``_ci_low``/``_ci_high``)."""
    out: dict[str, float | None] = {}
    for target, entry in result.cv.items():
        sel = entry.selected
        if sel is not None:
            name = f"{target}.selected_{sel.metric}"
            out |= {name: sel.mean, f"{name}_ci_low": sel.ci[0], f"{name}_ci_high": sel.ci[1]}
    return out


def _champion_metrics(result: TrainResult) -> dict[str, float | None]:
    """Each champion's cross-validated primary metric, for the parent run:
    ``<target>.champion_<metric>``."""
    out: dict[str, float | None] = {}
    for data in result.datasets:
        primary = PRIMARY[data.task]
        family = result.champion(data.name)
        out[f"{data.name}.champion_{primary}"] = result.cv[data.name].families[family][primary].mean
    return out


def _log_pair(
    tracker: Tracker,
    result: TrainResult,
    data: Any,
    family: str,
    figures: dict[str, Path],
    model_dir: Path,
    tmp: Path,
) -> dict[str, str]:
    """One target x family child run: params, CV metrics (fold values as steps), tables,
    the figure, the final model (and the champion's interval model)."""
    config = tracker.params.model_dump(mode="json")
    summary = result.cv[data.name].families[family]
    final = result.final(data.name, family)
    champion = result.champion(data.name)
    pair = tmp / f"{data.name}__{family}"
    pair.mkdir()
    oof, folds = result.oof, result.folds
    oof[(oof["target"] == data.name) & (oof["family"] == family)].drop(columns="target").to_csv(
        pair / "oof_predictions.csv", index=False
    )
    fold_part = folds[(folds["target"] == data.name) & (folds["family"] == family)]
    fold_part.to_csv(pair / "fold_metrics.csv", index=False)
    run_params = {
        # Training params only (the data config is logged once, on the parent run).
        "seed": str(tracker.params.seed),
        **flatten(config["cv"], "cv."),
        **flatten(config["tuning"], "tuning."),
        **flatten(config["model"][family], f"model.{family}."),
        "target": data.name,
        "family": family,
        "task": data.task,
        **{f"final.{k}": str(v) for k, v in final.params.items()},
    }
    artifacts = {
        "cv": pair / "oof_predictions.csv",
        "": pair / "fold_metrics.csv",
        "plots": figures[f"{slug(data.name)}.png"],
    }
    conformal = result.manifest.targets[data.name].conformal
    if family == champion and conformal is not None:
        artifacts["conformal"] = model_dir / conformal.file
    return tracker.log_child(
        name=f"{data.name} | {family}",
        params=run_params,
        tags={
            "target": data.name,
            "family": family,
            "task": data.task,
            "champion": str(family == champion).lower(),
            "distributed": str(final.task.distributed).lower(),
        },
        summary={f"{m}_{k}": v for m, stats in summary.items() for k, v in stats},
        folds={
            f"{m}_fold": fold_part[fold_part["metric"] == m]
            .sort_values(["repeat", "fold"])["value"]
            .tolist()
            for m in summary
        },
        artifacts=artifacts,
        model=final.model,
        input_example=result.example,
        seconds=result.seconds(data.name, family),
        description=child_description(result, data, family),
    )


def _register_champion(
    tracker: Tracker, result: TrainResult, data: Any, logged: dict[str, str]
) -> str | None:
    """Register the champion's logged model; its CV metrics become version tags."""
    family = result.champion(data.name)
    summary = result.cv[data.name].families[family]
    primary = PRIMARY[data.task]
    version = tracker.register(
        data.name,
        logged.get("model_uri", ""),
        run_id=logged.get("run_id", ""),
        description=child_description(result, data, family),
        tags={
            "family": family,
            "task": data.task,
            "data_config": tracker.params.data.name,
            **{f"cv_{m}": f"{s.mean:.4f}" for m, s in summary.items() if s.mean is not None},
        },
    )
    label = result.labels[family]
    print(f"{data.name}: champion {label} ({primary} {summary[primary].mean:.3f})")
    return version


def child_description(result: TrainResult, data: Any, family: str) -> str:
    """One line for the MLflow run / model version: what it is and how well it did."""
    primary = PRIMARY[data.task]
    champion = result.champion(data.name)
    stats = result.cv[data.name].families[family].get(primary)
    mean, low, high = (
        (None, None, None) if stats is None else (stats.mean, stats.ci_low, stats.ci_high)
    )
    score = "n/a" if mean is None else f"{mean:.3f}"
    if low is not None and high is not None:
        score += f" [{low:.3f}, {high:.3f}]"
    role = "champion" if family == champion else f"not the champion ({champion} is)"
    return (
        f"{family} for {data.name} ({data.task}, n = {len(data.y)}): cross-validated "
        f"{primary} {score}; {role}."
    )
