"""Explanation stage: SHAP values for each target's champion model.

Inputs: models/manifest.json and models/<target>/<champion>.joblib (train stage),
data/features/development.parquet (features stage), params.explain, params.seed and
params.data (features, derived features) and params.reference (the published results).
Output: one folder,
reports/shap/, replaced as a whole:

- importance.json: per target, the champion family, the explainer, the unit of the SHAP
  values, mean |SHAP| per input column and the ranking, the same for *groups* of related
  columns (a derived feature together with its source columns), and, when the data config
  has a published reference, our top five compared with the paper's top predictors.
- importance.csv and groups.csv: the same rankings as long tables.
- <target>_bar.png and <target>_beeswarm.png: the ``explain.top_k`` most important inputs.

Nothing with patient ids is written. The patients explained are those the champion was
fitted on (outcome known), a seeded sample of ``explain.max_rows`` when there are more.

Explainers, all in the model's own output units:

- tree ensembles (random forest, XGBoost, LightGBM): ``shap.TreeExplainer``, exact
  (path-dependent) and fast. Binary: log-odds for boosters, probability for random forests.
- linear models: ``shap.LinearExplainer`` with a background sample (exact for a linear
  model under feature independence). Binary: log-odds.
- anything else (the MLP): ``shap.PermutationExplainer`` on the pipeline's prediction, with
  the *input columns* as players and a background sample as the masker. Binary: probability.
- a recalibrated binary model (conf/calibration/): the explainer of the model inside, on
  that model's own score (the unit then says "before recalibration"); the recalibration is
  an increasing function of that score (see :func:`explain_pipeline`).

Every input column gets one SHAP value per patient. Tree pipelines encode each input as one
column, so values map one to one. Dense pipelines expand an input into several columns
(one-hot levels, a missing-value indicator); their SHAP values are summed per patient, which
for a linear model *is* the input's Shapley value (it is additive over columns). The
permutation explainer masks whole input columns, so one-hot levels never take impossible
combinations and no summing is needed.

Cost on 431 patients x 15 inputs: tree and linear explainers well under a second per
target; the permutation explainer about 1.2 s per target, plus a one-off ~6 s while numba
compiles shap's masking code (once per process, only when a champion needs it).

Modules: ``stage`` (the stage: sampling, outputs), ``engines`` (which explainer;
tree, linear, ensemble), ``permutation`` (the model-agnostic explainer), ``attribution``
(the SHAP values per input column), ``groups`` (related columns), ``importance`` (rankings,
the reference comparison, tables), ``plots``.
"""

from lbp_outcomes.explain.attribution import (
    BEFORE_RECALIBRATION,
    Attribution,
    input_matrix,
    to_inputs,
)
from lbp_outcomes.explain.engines import explain_pipeline, explainer_kind
from lbp_outcomes.explain.groups import derived_sources, feature_groups
from lbp_outcomes.explain.importance import TOP_N, compare, summarise
from lbp_outcomes.explain.stage import explain_target, run

__all__ = [
    "BEFORE_RECALIBRATION",
    "TOP_N",
    "Attribution",
    "compare",
    "derived_sources",
    "explain_pipeline",
    "explain_target",
    "explainer_kind",
    "feature_groups",
    "input_matrix",
    "run",
    "summarise",
    "to_inputs",
]
