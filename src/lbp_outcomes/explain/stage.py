"""The explain stage (``lbp-outcomes explain``): each target's champion explained on its
patients; reports/shap/ written as a whole (the report stage logs it to MLflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import catalog, paths
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.catalog import Manifest, ManifestTarget
from lbp_outcomes.config import Params
from lbp_outcomes.errors import UserError
from lbp_outcomes.explain.attribution import Attribution
from lbp_outcomes.explain.engines import explain_pipeline, explainer_kind
from lbp_outcomes.explain.groups import feature_groups
from lbp_outcomes.explain.importance import TOP_N, feature_table, group_table, summarise
from lbp_outcomes.explain.plots import figures
from lbp_outcomes.models.calibrated import base_estimator
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.seeds import derive_seed


def _load_manifest(root: Path, spec: FeatureSpec) -> Manifest:
    manifest: Manifest = catalog.MANIFEST.read(root)
    if manifest.features != spec.columns:
        raise UserError(
            f"{catalog.MANIFEST.path}: the models were trained on inputs "
            f"{manifest.features} but the data config now gives {spec.columns}; "
            "run the train stage again"
        )
    return manifest


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted row positions: all ``n`` rows, or a seeded sample of ``size`` of them."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


# A regression target's SHAP values are in its unit; the unit is display text (data config
# `display:`), read by the report only, so that a relabel does not rerun this stage.
OUTCOME_UNITS = "outcome units"


def explain_target(
    params: Params,
    root: Path,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    target: str,
    entry: ManifestTarget,
) -> tuple[Attribution, str]:
    """SHAP values of one target's champion on its (sampled) patients; also the family."""
    import joblib

    family = entry.champion
    model_file = root / paths.MODELS / entry.families[family].file
    if not model_file.is_file():
        raise UserError(f"{model_file.relative_to(root)}: not found; run the train stage again")
    pipeline = joblib.load(model_file)
    model = pipeline[-1]
    inner = base_estimator(model)
    if "n_jobs" in inner.get_params(deep=False):
        # TreeExplainer on XGBoost/LightGBM runs the booster's own threads: one, as in train
        inner.set_params(n_jobs=1)
    rows = frame[target].notna().to_numpy()
    X = frame.loc[rows, spec.columns].reset_index(drop=True)
    cfg = params.explain
    explained = X.iloc[_sample(len(X), cfg.max_rows, derive_seed(params.seed, "explain", target))]
    background = X.iloc[
        _sample(len(X), cfg.background_rows, derive_seed(params.seed, "background", target))
    ]
    kind = explainer_kind(model, params.model.get(family))
    attribution = explain_pipeline(
        pipeline,
        explained.reset_index(drop=True),
        background.reset_index(drop=True),
        entry.task,
        spec,
        kind,
        derive_seed(params.seed, "permutation", target),
        OUTCOME_UNITS,
    )
    return attribution, family


def run(params: Params, root: Path) -> dict[str, Any]:
    cfg = params.data
    spec = FeatureSpec.from_config(cfg)
    manifest = _load_manifest(root, spec)
    data_file = paths.cohort_file(root / paths.FEATURES, "development")
    if not data_file.is_file():
        raise UserError(f"{paths.FEATURES}/development.parquet: not found; run features first")
    frame = pd.read_parquet(data_file)
    groups = feature_groups(cfg, spec.columns)
    reference = list(params.reference.top_predictors) if params.reference is not None else []

    report: dict[str, Any] = {}
    attributions: dict[str, Attribution] = {}
    for target, entry in manifest.targets.items():
        attribution, family = explain_target(params, root, frame, spec, target, entry)
        attributions[target] = attribution
        report[target] = {
            "family": family,
            **summarise(attribution, spec.columns, groups, reference),
        }
    unknown = [r for r in reference if r not in spec.columns]
    if unknown:
        print(f"warning: the reference's top predictors {unknown} are no input column here")

    with Outputs() as out:
        folder = out.directory(root / catalog.SHAP_DIR)
        catalog.IMPORTANCE.save(folder / catalog.IMPORTANCE.path.name, report)
        feature_table(report, cfg).to_csv(folder / "importance.csv", index=False)
        group_table(report).to_csv(folder / "groups.csv", index=False)
        figures(folder, report, attributions, params, manifest)

    for target, entry in report.items():
        line = f"explain: {target} ({entry['family']}, {entry['explainer']}): top {TOP_N} "
        line += ", ".join(entry["ranking"][:TOP_N])
        if "reference" in entry:
            ref = entry["reference"]
            n_ref = len(ref["top_predictors"])
            line += f"; paper's top predictors found {ref['overlap']}/{n_ref}"
            line += f" (by group {ref['group_overlap']}/{n_ref})"
        print(line)
    return {
        target: {
            "family": entry["family"],
            "top5": entry["ranking"][:TOP_N],
            **({"overlap": entry["reference"]["overlap"]} if "reference" in entry else {}),
        }
        for target, entry in report.items()
    }
