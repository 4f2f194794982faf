"""predict, per arm: for cohorts with a treatment block, each new patient's predicted
outcome under every arm with the effect's interval, the recommended arm and its expected
gain over the reference with its interval (reports/effects/model.pkl, the effects stage).

Where the heterogeneity test found nothing, the recommendation is the best arm on average
for everyone, and the output says so."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes.config import Params
from lbp_outcomes.effects import nuisance
from lbp_outcomes.effects.data import encode
from lbp_outcomes.effects.validate import recommend

MODEL = Path("reports/effects/model.pkl")


def load(root: Path) -> dict[str, Any] | None:
    """The effects stage's fitted models, or None (no treatment block / stage not run)."""
    path = root / MODEL
    if not path.is_file():
        return None
    return pickle.loads(path.read_bytes())  # written by this project's effects stage


def per_arm(patients: pd.DataFrame, params: Params, bundle: dict[str, Any]) -> pd.DataFrame:
    """One row per patient: ``<target>@<arm>`` (predicted outcome; binary: probability of
    success), ``_low``/``_high`` for the other arms (the interval of the arm's effect added
    to the reference prediction), ``recommended``, ``gain`` (over the reference, policy target's units)
    with ``gain_low``/``gain_high``, and ``basis`` (personalised or best on average)."""
    from lbp_outcomes.features import add_derived

    arms, level = bundle["arms"], bundle["level"]
    X = encode(add_derived(patients, params.data), params.data)[bundle["columns"]]
    out = pd.DataFrame(index=patients.index)
    effects = {}
    for target, (cate, reference) in bundle["models"].items():
        kind = bundle["outcomes"][target].kind
        base = nuisance.outcome_prediction(reference, X, kind)
        tau, low, high = cate.effects(X.to_numpy(float), level)
        effects[target] = (tau, low, high)
        for a, arm in enumerate(arms.values):
            shift = (tau[:, a - 1], low[:, a - 1], high[:, a - 1]) if a else (0.0, 0.0, 0.0)
            values = [base + s for s in shift]
            if kind == "binary":
                values = [np.clip(v, 0, 1) for v in values]
            out[f"{target}@{arm}"] = values[0]
            if a:  # the reference's own prediction carries no effect interval
                out[f"{target}@{arm}_low"], out[f"{target}@{arm}_high"] = values[1:]
    target = bundle["policy_target"]
    tau, low, high = effects[target]
    if bundle["mode"] == "personalised":
        pick = recommend(tau, bundle["outcomes"][target].better)
    else:
        pick = np.full(len(X), arms.values.index(bundle["best_on_average"]))
    out["recommended"] = [arms.labels[i] for i in pick]
    rows = np.arange(len(X))
    for name, src in (("gain", tau), ("gain_low", low), ("gain_high", high)):
        full = np.hstack([np.zeros((len(X), 1)), src])
        out[name] = full[rows, pick]
    out["basis"] = (
        "personalised (heterogeneity test positive)"
        if bundle["mode"] == "personalised"
        else "best on average: no evidence that the best treatment differs between patients"
    )
    return out


def add_to(result: Any, patients: pd.DataFrame, params: Params, root: Path) -> None:
    """Append the per-arm columns to predict's presented table (in place); nothing for
    a cohort without a treatment block or before the effects stage ran."""
    if getattr(params.data, "treatment", None) is None:
        return
    bundle = load(root)
    if bundle is None:
        return
    extra = per_arm(patients, params, bundle).round(4)
    labels = dict(zip(bundle["arms"].values, bundle["arms"].labels, strict=True))
    policy = bundle["outcomes"][bundle["policy_target"]].label
    for col in extra.columns:
        result.table[col] = extra[col].to_numpy()
        name, _, arm = col.partition("@")
        if arm:
            what = "predicted"
            for suffix, text in (("_low", "interval lower"), ("_high", "interval upper")):
                if col.endswith(suffix):
                    arm, what = arm.removesuffix(suffix), text
            head = f"{bundle['outcomes'][name].label} under {labels.get(arm, arm)}: {what}"
        else:
            head = {
                "recommended": "recommended treatment",
                "basis": "basis of recommendation",
                "gain": f"{policy}: expected gain over the reference",
                "gain_low": f"{policy}: gain interval lower",
                "gain_high": f"{policy}: gain interval upper",
            }[col]
        result.columns[col] = head
