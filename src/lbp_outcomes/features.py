"""Feature-engineering stage: row-wise derived features and MCIC responder targets.

Inputs: data/clean/{cohort}.parquet. Outputs: data/features/{cohort}.parquet with the
clean columns (less the config's other ``columns``) plus every ``derived`` feature and every
``mcic`` target of the data config.

Everything here is a function of one patient's own row (ratios, sums, intervals between
dates, the LET fit type, improvement >= threshold), so it can be computed once before cross-validation without
leaking anything between folds. Whatever is *fitted* (imputation, encoding, scaling) lives
in the model pipelines and is fitted inside the training folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lbp_outcomes import expressions, paths
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.config import COHORTS, Params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.derived import FUNCTIONS
from lbp_outcomes.errors import UserError, did_you_mean
from lbp_outcomes.expressions import scopes


def add_derived(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Append the config's derived features, in order (a later one may use an earlier)."""
    out = frame.copy()
    for name, spec in cfg.derived.items():
        where = f"conf/data/{cfg.name}.yaml: derived.{name}"
        if spec.expr is not None:
            # checked when the config was validated: this walks a whitelisted tree, no eval
            expr = expressions.parse(spec.expr, scopes.derived_scope(cfg, name))
            values = expressions.evaluate(expr, out, cfg.date_formats)
        else:
            function = FUNCTIONS.get(spec.function or "")
            if function is None:
                raise UserError(
                    f"{where}.function: unknown function {spec.function!r}"
                    f"{did_you_mean(spec.function or '', FUNCTIONS)}; known: {', '.join(FUNCTIONS)}"
                )
            kwargs = {param: out[column] for param, column in spec.args.items()}
            try:
                values = function(**kwargs, **spec.options)
            except TypeError as exc:
                raise UserError(f"{where}: {exc}") from None
        values = pd.Series(values, index=out.index) if not isinstance(values, pd.Series) else values
        if spec.type == "numeric":
            values = pd.to_numeric(values, errors="coerce").astype(float)
            values = values.replace([np.inf, -np.inf], np.nan)  # e.g. a ratio over zero
        else:
            values = values.set_axis(out.index)
            bad = values.notna() & ~values.astype(object).isin(spec.values or [])
            if bad.any():
                raise UserError(
                    f"{where}: produced values {sorted(set(values[bad]))} outside its `values` "
                    f"{spec.values}"
                )
        out[name] = (
            values.to_numpy() if spec.type == "numeric" else values.astype(object).to_numpy()
        )
    return out


def add_mcic(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Append one binary target per MCIC definition: 1.0 reached, 0.0 not, NaN unknown."""
    out = frame.copy()
    for name, m in cfg.mcic.items():
        change = out[m.baseline] - out[m.outcome]
        if m.direction == "increase":
            change = -change
        # Scores are often whole numbers computed through floats: allow rounding noise.
        reached = (change >= m.min_improvement - 1e-9).astype(float)
        out[name] = reached.where(change.notna(), np.nan)
    return out


def build(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """Model-ready cohort: the other columns (dates, follow-up scores) only feed the
    expressions and are left out, so no later stage can take them for inputs."""
    built = add_mcic(add_derived(frame, cfg), cfg)
    return built.drop(columns=[c for c in cfg.columns if c in built.columns])


def run(params: Params, root: Path) -> dict[str, int]:
    cfg = params.data
    built = {}
    for cohort in COHORTS:
        source = paths.cohort_file(root / paths.CLEAN, cohort)
        if source.exists():
            built[cohort] = build(pd.read_parquet(source), cfg)
    with Outputs() as out:
        folder = out.directory(root / paths.FEATURES)
        for cohort, frame in built.items():
            frame.to_parquet(paths.cohort_file(folder, cohort), index=False)
    return {cohort: len(frame) for cohort, frame in built.items()}
