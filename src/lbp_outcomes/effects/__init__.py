"""Which treatment, for whom: the effects stage (``lbp-outcomes effects``).

For a cohort whose data config has a ``treatment`` block (docs/treatment.md): per arm vs
the reference and per target, the doubly robust (AIPW) average effect with its CI beside
the plain randomised difference; per-patient effects with intervals (the DR-learner on
cross-fitted AIPW scores, nuisances from a project model family; final stage linear, or
an EconML honest causal forest); the recommended
arm per patient; and the validation of all that on held-out folds (heterogeneity test,
observed vs predicted effects by predicted-benefit group, TOC/Qini, policy value) and,
for a synthetic trial, against the generator's truth.

Modules: ``settings`` (config), ``data`` (arms, outcomes, encoded effect modifiers),
``nuisance`` (cross-fitted DR scores), ``estimate`` (averages, per-patient effects),
``linear`` (the linear final stage), ``analysis`` (one target), ``plots``, ``predict``,
``validate`` (tests and policy values), ``truth`` (synthetic truth), ``stage`` (outputs,
MLflow). This module stays light: config.py imports ``settings`` from it.
"""

from __future__ import annotations

from typing import Any


def run(params: Any, root: Any) -> dict[str, Any]:
    from lbp_outcomes.effects.stage import run as run_stage

    return run_stage(params, root)
