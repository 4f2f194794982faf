"""Loading and validating the pipeline's parameters.

Hydra composes conf/ (plus any ``-S`` overrides) into params.yaml; DVC does that on every
``dvc exp run``, and ``lbp-outcomes compose`` does it by hand. Every stage reads
params.yaml through :func:`load_params`, which validates *all* of it against the models
below before the stage does any work: a typo in a key, a wrong type or an impossible value
stops every stage with one line naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from lbp_outcomes.dataconfig import MAX_SEED, DataConfig, Reference
from lbp_outcomes.effects.settings import EffectsSettings
from lbp_outcomes.errors import UserError, format_validation_error

PARAMS_FILE = "params.yaml"

# Data-config keys conf/config.yaml sets to null only so that DVC finds every parameter
# dvc.yaml lists; a null there means the data config left the key out.
NOT_GIVEN = ("name", "source", "id_column", "features")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingConfig(_Strict):
    """MLflow tracking. Relative paths resolve against the real project root.

    Here and in the other root sections (cv, conformal, external, explain, report) no field
    has a default: conf/config.yaml states each default once."""

    enabled: bool
    uri: str
    artifact_root: str
    experiment: str


class SearchDim(_Strict):
    """One hyperparameter's search range for Optuna."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> SearchDim:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical search dimension needs `choices`")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError("a numeric search dimension needs `low` < `high`")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scaled search dimension needs `low` > 0")
        return self


class FamilyConfig(_Strict):
    """A model family: one estimator class per task, fixed params, a search space.

    ``regression`` / ``binary`` are Hydra ``_target_`` mappings (class plus task-specific
    arguments); ``params`` are shared by both tasks; ``search_space`` is either shared or
    split into ``regression`` / ``binary`` sub-spaces.
    """

    preprocessing: Literal["trees", "dense"]
    regression: dict[str, Any]
    binary: dict[str, Any]
    seed_param: str | None = None
    threads_param: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, Any] = Field(default_factory=dict)
    # Above this many training patients, each fit (tuning, CV fold, final refit, conformal)
    # uses a seeded random sample of this size: for families whose cost grows faster than
    # the data (forests, MLP) on registry-sized cohorts. null: always every patient.
    max_train_rows: int | None = Field(default=None, ge=50)

    @model_validator(mode="before")
    @classmethod
    def _label_moved(cls, data: Any) -> Any:
        """Refuse the old inline display name with one line that says where it goes now."""
        if isinstance(data, dict) and "label" in data:
            raise ValueError(
                "`label` moved to `display.families.<family key>` (conf/config.yaml) so that "
                "a relabel reruns only the report"
            )
        return data

    @model_validator(mode="after")
    def _targets(self) -> FamilyConfig:
        for task in ("regression", "binary"):
            if "_target_" not in getattr(self, task):
                raise ValueError(f"`{task}` needs `_target_` (the estimator class)")
            space = self.search_space
            if set(space) & {"regression", "binary"}:
                space = space.get(task) or {}
            for name, dim in space.items():
                try:
                    SearchDim.model_validate(dim)
                except ValidationError as exc:
                    first = exc.errors()[0]["msg"].removeprefix("Value error, ")
                    raise ValueError(f"search_space.{name}: {first}") from None
                except Exception as exc:
                    raise ValueError(f"search_space.{name}: {exc}") from None
        return self

    def space(self, task: str) -> dict[str, SearchDim]:
        """The search space for ``task`` ("regression" or "binary")."""
        space = self.search_space
        if set(space) & {"regression", "binary"}:
            space = space.get(task) or {}
        return {name: SearchDim.model_validate(dim) for name, dim in space.items()}


class CVConfig(_Strict):
    folds: int = Field(ge=2)
    repeats: int = Field(ge=1)
    ci_level: float = Field(gt=0, lt=1)


class TuningMetric(_Strict):
    regression: Literal["r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"] = "r2"
    binary: Literal["roc_auc", "average_precision", "neg_brier_score", "neg_log_loss"] = "roc_auc"


class TuningConfig(_Strict):
    enabled: bool = True
    n_trials: int = Field(ge=0)
    inner_folds: int = Field(default=3, ge=2)
    sampler: Literal["tpe", "random"] = "tpe"
    metric: TuningMetric = TuningMetric()
    #: How the ensemble's inner score, which per-fold selection compares with the families'
    #: inner scores, is measured (lbp_outcomes.ensembling.inner_blend).
    ensemble_score: Literal["in_sample", "cross_fitted"] = "in_sample"

    @model_validator(mode="after")
    def _budget(self) -> TuningConfig:
        if self.enabled and self.n_trials < 1:
            raise ValueError(
                "tuning is enabled but n_trials < 1 (use `tuning=none` to switch it off)"
            )
        return self


class CalibrationConfig(_Strict):
    """Recalibration of binary models inside each training fold (conf/calibration/).

    ``method``: "logistic" (logistic recalibration: logit P = a + b logit(score), by maximum
    likelihood; smooth, never exactly 0 or 1, suited to a few hundred patients) or
    "isotonic" (monotone steps; needs more patients). The map is fitted on out-of-fold
    scores of the training rows: the tuning's inner CV when there is tuning, otherwise a
    ``folds``-part stratified CV (lbp_outcomes.models.calibrated).
    """

    enabled: bool = True
    method: Literal["logistic", "isotonic"] = "logistic"
    folds: int = Field(default=3, ge=2)


class DaskConfig(_Strict):
    """A dask.distributed cluster (``executor.kind: dask``); see conf/executor/dask.yaml.

    ``n_workers``, ``threads_per_worker`` and ``memory_limit`` shape the LocalCluster
    started when ``address`` is None (a real cluster is shaped by whoever started it).
    """

    address: str | None = None  # a running scheduler ("tcp://host:8786"); None = LocalCluster
    n_workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    memory_limit: str = "auto"  # per worker: "4GiB", or "auto" (machine memory / n_workers)
    connect_timeout: float = Field(default=10.0, gt=0)  # seconds to reach `address`
    # Targets with at least this many patients train XGBoost/LightGBM with xgboost.dask /
    # lightgbm.dask on data partitioned over the workers (needs `address`: see README).
    distributed_min_rows: int = Field(default=200_000, ge=1)
    # Opt-in: distributed boosting on the LocalCluster too (its workers then listen on every
    # network interface of this machine while a booster trains).
    local_distributed_boosting: bool = False

    @model_validator(mode="after")
    def _address(self) -> DaskConfig:
        if self.address is not None and not self.address.strip():
            raise ValueError("address is empty (use null for a LocalCluster)")
        return self


class ExecutorConfig(_Strict):
    kind: Literal["local", "dask"] = "local"
    n_jobs: int = Field(default=2, ge=1)
    dask: DaskConfig = DaskConfig()


class ConformalConfig(_Strict):
    """Prediction intervals for regression champions (MAPIE cross-conformal, CV+)."""

    enabled: bool
    level: float = Field(gt=0, lt=1)  # nominal coverage of the interval
    folds: int = Field(ge=2)


class RecalibrationConfig(_Strict):
    fit_fraction: float = Field(gt=0, lt=1)  # share of the external cohort
    repeats: int = Field(ge=1)  # random fit/evaluate splits, averaged


class ExternalConfig(_Strict):
    """External validation: bootstrap CIs, case-mix diagnostics, model updating."""

    n_boot: int = Field(ge=10)
    ci_level: float = Field(gt=0, lt=1)
    membership_folds: int = Field(ge=2)
    recalibration: RecalibrationConfig


class ExplainConfig(_Strict):
    """SHAP explanations of each target's champion."""

    max_rows: int = Field(ge=10)  # patients explained (a seeded sample if more)
    background_rows: int = Field(ge=10)  # background for linear and model-agnostic explainers
    top_k: int = Field(ge=1)  # features shown in plots


class DisplayConfig(_Strict):
    """Display text outside the data config: read by the report and predict's output only
    (dvc.yaml lists it for the report alone), so that a relabel reruns only the report."""

    # {family key: display name}, e.g. {"random_forest": "Random forest"}; a family left
    # out is shown by its key
    families: dict[str, str] = Field(default_factory=dict)

    def family(self, key: str) -> str:
        return self.families.get(key) or key


class ReportConfig(_Strict):
    # "": from the data config, e.g. "Treatment outcomes in let_synthetic: reproduction
    # report" ("reproduction" only when it has a published `reference`)
    title: str
    author: str


class Params(_Strict):
    """Everything in params.yaml (the composed Hydra config)."""

    # pydantic reserves the `model_` prefix; our Hydra group is called `model`.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    seed: int = Field(ge=0, le=MAX_SEED)
    data: DataConfig
    # Published results the data config selects (conf/reference/); None: no comparison.
    reference: Reference | None = None
    model: dict[str, FamilyConfig] = Field(min_length=1)
    cv: CVConfig
    tuning: TuningConfig
    calibration: CalibrationConfig
    conformal: ConformalConfig
    external: ExternalConfig
    explain: ExplainConfig
    report: ReportConfig
    display: DisplayConfig = DisplayConfig()
    executor: ExecutorConfig = ExecutorConfig()
    tracking: TrackingConfig
    # Per-patient treatment effects (conf/effects/); None: the stage writes "not available".
    effects: EffectsSettings | None = None

    @model_validator(mode="after")
    def _sizes(self) -> Params:
        if self.effects is not None and self.effects.nuisance:
            # the nuisance learner is a model family: checked now, not mid-stage
            FamilyConfig.model_validate(next(iter(self.effects.nuisance.values())))
        synthetic = self.data.source.synthetic
        if synthetic is not None:
            fold_limits(self, synthetic.n, f"data.source.synthetic.n={synthetic.n} patients")
        return self


def fold_limits(params: Params, n: int, what: str) -> None:
    """Fold counts must leave each fold at least 2 of ``n`` patients (``what`` says where
    ``n`` comes from, for the message); raises ValueError naming the key to change."""
    checks = [("cv.folds", params.cv.folds, n)]
    if params.tuning.enabled:  # inner folds split one outer training fold
        smallest_train = n - -(-n // params.cv.folds)  # n minus the largest test fold
        checks.append(("tuning.inner_folds", params.tuning.inner_folds, smallest_train))
    if params.conformal.enabled:
        checks.append(("conformal.folds", params.conformal.folds, n))
    for key, folds, rows in checks:
        if 2 * folds > rows:
            raise ValueError(
                f"{key}={folds} is too many for {what} "
                f"({rows} to split; at most {rows // 2} folds of 2 or more)"
            )


# -- locations ---------------------------------------------------------------------------
def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding dvc.yaml and conf/, searched upwards from ``start`` (cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "config.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    raise UserError(f"{here}: not inside an lbp-outcomes project (no dvc.yaml and conf/ found)")


def store_root(root: Path | None = None) -> Path:
    """Where shared state (the MLflow store) lives: the real project root.

    ``dvc exp run --temp/--queue`` runs stages in a temporary copy under
    .dvc/tmp/exps/; DVC then sets DVC_ROOT to the parent repository, and results must land
    there, not in the copy that DVC deletes afterwards.
    """
    root = root or project_root()
    env_root = os.environ.get("DVC_ROOT")
    if env_root and (Path(env_root) / "dvc.yaml").is_file():
        return Path(env_root).resolve()
    parts = root.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


# -- params ------------------------------------------------------------------------------
# yaml.safe_load's rules with LibYAML's parser where PyYAML has it: the same values, in
# 3 ms instead of 25 for params.yaml (every stage reads it).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_params(root: Path | None = None) -> dict[str, Any]:
    root = root or project_root()
    path = root / PARAMS_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; run `lbp-outcomes compose` or `dvc exp run`")
    with path.open(encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=SAFE_LOADER)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of parameters")
    return raw


def validate_params(raw: dict[str, Any], source: str = PARAMS_FILE) -> Params:
    """Validate a composed parameter mapping; one-line :class:`UserError` on failure.

    The top-level seed goes first: data configs interpolate it (``seed: ${seed}``), and a
    bad value must be blamed on ``seed``, not on the data config that copied it."""
    seed = Params.model_fields["seed"]
    try:
        TypeAdapter(Annotated[int, *seed.metadata]).validate_python(raw.get("seed"))
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"]
        raise UserError(f"{source}: seed: {detail} (got {raw.get('seed')!r})") from None
    data = raw.get("data")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not (v is None and k in NOT_GIVEN)}
        raw = {**raw, "data": data}
        name = data.get("name")
        try:
            DataConfig.model_validate(data)
        except ValidationError as exc:
            source = (
                f"data config conf/data/{name}.yaml"
                if isinstance(name, str) and name
                else "data config (the conf/data/ file given as data=...)"
            )
            raise UserError(format_validation_error(source, exc)) from None
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(format_validation_error(source, exc)) from None


def load_params(root: Path | None = None) -> Params:
    root = root or project_root()
    return validate_params(read_params(root), source=str(root / PARAMS_FILE))


def compose(overrides: list[str] | None = None, root: Path | None = None) -> dict[str, Any]:
    """Compose conf/ with Hydra overrides, resolved, as DVC's Hydra integration does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    root = root or project_root()
    try:
        with initialize_config_dir(str(root / "conf"), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides or []))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"conf/ with overrides {list(overrides or [])}: {exc}") from None
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]


def write_params(params: dict[str, Any], root: Path | None = None) -> Path:
    """Write params.yaml in the same layout DVC's Hydra integration writes."""
    from omegaconf import OmegaConf

    from lbp_outcomes.atomic import write_text

    root = root or project_root()
    path = root / PARAMS_FILE
    write_text(path, OmegaConf.to_yaml(OmegaConf.create(params)))
    return path


def group_options(group: str, root: Path | None = None) -> list[str]:
    """Config names available in a conf/ group (for messages and tests)."""
    root = root or project_root()
    return sorted(p.stem for p in (root / "conf" / group).glob("*.yaml"))


Kind = Literal["development", "external"]
COHORTS: tuple[Kind, Kind] = ("development", "external")
