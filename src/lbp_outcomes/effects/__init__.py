"""Which treatment, for whom: the effects stage (``lbp-outcomes effects``).

For a cohort whose data config has a ``treatment`` block (docs/treatment.md): per arm vs
the reference and per target, the doubly robust (AIPW) average effect with its CI beside
the plain randomised difference; per-patient effects with intervals (the DR-learner on
cross-fitted AIPW scores, nuisances from a project model family; final stage linear, or
an EconML honest causal forest); the recommended
arm per patient; and the validation of all that on held-out folds (heterogeneity test,
observed vs predicted effects by predicted-benefit group, TOC/Qini, policy value) and,
for a synthetic trial, against the generator's truth.

Modules: ``settings`` (config), ``availability`` (anything to estimate?), ``data`` (arms,
outcomes, encoded effect modifiers),
``nuisance`` (cross-fitted DR scores), ``estimate`` (averages, per-patient effects),
``linear`` (the linear final stage), ``analysis`` (one target), ``plots``, ``predict``,
``validate`` (tests and policy values), ``truth`` (synthetic truth), ``stage``
(outputs). No MLflow: the report stage logs a child run per target
(:mod:`lbp_outcomes.tracking.outputs`). This module stays light: config.py imports
``settings`` from it, and a run with nothing to estimate (the default cohort) ends here,
without the estimation stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbp_outcomes.atomic import Outputs, write_json
from lbp_outcomes.effects.availability import (
    OUT_DIR,
    RESULTS,
    not_available,
    unavailable,
)


def run(params: Any, root: Path) -> dict[str, Any]:
    reason = unavailable(params)
    if reason is None:
        from lbp_outcomes.effects.stage import run as run_stage

        return run_stage(params, root)
    # Only effects.json: nothing for MLflow either (the report stage logs effects)
    report = not_available(reason)
    with Outputs() as out:
        write_json(out.directory(root / OUT_DIR) / RESULTS.name, report)
    return report
