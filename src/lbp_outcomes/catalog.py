"""Stage outputs, each declared once: its path (relative to the project root) and its model.

Like a kedro catalog: a stage writes an output through its entry
(``catalog.CV_METRICS.write(out, root, value)``, validated on the way out) and a later stage
reads it back as a typed object (``catalog.CV_METRICS.read(root)``). A renamed or missing
field is then a validation error naming the file, not a silent ``.get(key, default)``.
JSON outputs have a pydantic model; folders, tables and figures are declared by path only.
dvc.yaml lists the same paths as stage outputs. Nothing here imports scikit-learn, so every
stage (and the report) can load it cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from lbp_outcomes import paths
from lbp_outcomes.atomic import to_json_text
from lbp_outcomes.errors import UserError

Task = Literal["regression", "binary"]


class Contract(BaseModel):
    """A stage output's JSON. A missing or mistyped field is an error when read; an unknown
    key is kept when read (a newer writer may add one; readers use the fields they know)
    and refused when written (:meth:`JsonOutput.dump`: a misspelt field fails loudly)."""

    model_config = ConfigDict(extra="allow")


class Open(BaseModel):
    """A JSON output whose detail belongs to one stage's own logic (kept, not checked)."""

    model_config = ConfigDict(extra="allow")


# -- train: models/manifest.json -------------------------------------------------------------
class FamilyModel(Contract):
    """One family's final pipeline: ``file`` relative to models/, its tuned parameters."""

    file: str
    params: dict[str, Any]
    distributed: bool


class ConformalModel(Contract):
    """A regression champion's cross-conformal interval model (``file`` under models/)."""

    file: str
    level: float
    method: str
    folds: int


class ManifestTarget(Contract):
    task: Task
    champion: str
    n: int  # patients with this outcome (development cohort)
    families: dict[str, FamilyModel]
    conformal: ConformalModel | None = None


class Manifest(Contract):
    """What the train stage fitted: the input columns (in order) and, per target, the final
    model of every family and the champion."""

    features: list[str]
    targets: dict[str, ManifestTarget]


# -- train: reports/metrics/cv.json, reports/cv/notes.json -------------------------------
class CVStats(Contract):
    """One metric over the outer CV folds: mean, SD and the corrected CI (None: undefined)."""

    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None


class SelectedCV(Contract):
    """The selection-included (honest) CV estimate: in each outer fold the family chosen on
    inner CV, scored on that fold (lbp_outcomes.selection). ``folds``: one score per outer
    fold in (repeat, fold) order; ``families``: the family chosen there."""

    metric: str
    mean: float | None
    ci: list[float | None]
    folds: list[float | None]
    families: list[str]


class TargetCV(Contract):
    """One target's CV results. On disk the families sit beside ``champion`` and ``n``
    (``{"champion": ..., "n": ..., "<family>": {"<metric>": stats}}``)."""

    champion: str
    n: int
    families: dict[str, dict[str, CVStats]]
    selected: SelectedCV | None = None  # absent in cv.json written before honest selection

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        if isinstance(data, dict) and "families" not in data:
            reserved = {"champion", "n", "selected"}
            families = {k: v for k, v in data.items() if k not in reserved}
            return {**{k: data[k] for k in reserved if k in data}, "families": families}
        return data

    @model_serializer(mode="plain")
    def _flat(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "n": self.n,
            **({"selected": self.selected.model_dump()} if self.selected else {}),
            **{
                family: {m: s.model_dump() for m, s in stats.items()}
                for family, stats in self.families.items()
            },
        }

    @property
    def task(self) -> Task | None:
        """From the metrics present: R2 means regression, AUROC binary."""
        for stats in self.families.values():
            if "r2" in stats:
                return "regression"
            if "auroc" in stats:
                return "binary"
        return None


class CVNotes(Contract):
    """Targets skipped (and why), tuning notes per ``target/family``, and the training-set
    size each subsampled family used."""

    skipped_targets: dict[str, str]
    tuning: dict[str, list[str]]
    subsampled: dict[str, int]


# -- external: reports/metrics/external.json ----------------------------------------------
class Estimate(Contract):
    """A point estimate in the external cohort with its bootstrap CI (None: undefined)."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None


class Interval(Contract):
    level: float
    coverage: float | None
    mean_width: float | None


class ExternalTarget(Contract):
    task: Task
    n: int
    champion: str
    families: dict[str, dict[str, Estimate]]
    note: str | None = None  # why the target was not evaluated
    # {"original"|"intercept"|"intercept_slope": {metric: mean}, "splits": n, "fit_fraction": f}
    recalibration: dict[str, Any] | None = None
    interval: Interval | None = None


class CaseMix(Contract):
    smd: dict[str, float | None] = {}  # standardised mean difference per input column
    membership_auroc: Estimate


class ExternalMetrics(Contract):
    available: bool
    reason: str | None = None  # why not available
    n: int | None = None
    case_mix: CaseMix | None = None
    targets: dict[str, ExternalTarget] = {}


# -- explain: reports/shap/importance.json ------------------------------------------------
class ImportanceGroup(Contract):
    members: list[str]
    importance: float


class TargetImportance(Contract):
    """Mean |SHAP| per input column and group of one target's champion (``family``)."""

    family: str
    shap_unit: str
    explainer: str
    base_value: float
    n_explained: int
    n_background: int | None  # None: the explainer needs no background data (trees)
    features: dict[str, float]
    ranking: list[str]
    groups: dict[str, ImportanceGroup]
    group_ranking: list[str]
    reference: dict[str, Any] | None = None  # comparison with the published top predictors


# -- tracking: reports/tracking.json (not a DVC output: run ids differ by design) ----------
class TrackingInfo(Contract):
    enabled: bool
    experiment_id: str | None = None
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    runs: dict[str, dict[str, str]] = {}  # {target: {family: child run id}}
    registered: dict[str, str | None] = {}  # {target: registered champion version}
    #: {target: wall seconds of its outer-fold CV tasks, all families} (timing, so here and
    #: not in cv.json: DVC outputs must be byte-stable; bench/ reads it)
    cv_seconds: dict[str, float] = {}


# -- cohort / clean: read by later stages -------------------------------------------------
class CleaningFlow(Contract):
    """One cohort's flow in reports/cleaning.json (clean.py): patients received, excluded
    per reason, analysed; missing values per column and patients per outcome, after
    cleaning. ``source``: the file shown to the reader; ``id``: the id column or row number."""

    source: str | None = None
    id: str | None = None
    rows_in: int | None = None
    excluded: dict[str, int] = {}
    excluded_total: int | None = None
    rows_out: int | None = None
    missing: dict[str, int] = {}
    targets_available: dict[str, int] = {}


class RawManifest(Open):
    """data/raw/manifest.json: where each cohort came from; generator settings if synthetic."""

    cohorts: dict[str, dict[str, Any]]
    synthetic: dict[str, Any] | None = None


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class JsonOutput(Generic[M]):
    """A JSON stage output: where it lives, which stage writes it, and its model."""

    path: Path
    stage: str
    model: type[M] | None = None  # None: a mapping of ``item`` models, one per key
    item: type[BaseModel] | None = None

    def file(self, root: Path) -> Path:
        return root / self.path

    def exists(self, root: Path) -> bool:
        return self.file(root).is_file()

    def parse(self, data: Any) -> Any:
        """Validate ``data`` (parsed JSON or a model) into this output's model."""
        if self.model is not None:
            return data if isinstance(data, self.model) else self.model.model_validate(data)
        assert self.item is not None
        # one adapter for the whole mapping: an error's location starts with the key
        return TypeAdapter(dict[str, self.item]).validate_python(data)

    def read(self, root: Path) -> Any:
        """The typed content; a missing or malformed file is one clear error."""
        file = self.file(root)
        if not file.is_file():
            raise UserError(f"{self.path}: not found; run the {self.stage} stage first")
        try:
            return self.parse(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            raise UserError(
                f"{self.path}: {_one_line(exc)}; run the {self.stage} stage again"
            ) from None

    def read_optional(self, root: Path) -> Any | None:
        """The typed content, or None when absent or unreadable (the report says so)."""
        try:
            return self.read(root) if self.exists(root) else None
        except UserError:
            return None

    def dump(self, value: Any) -> Any:
        """``value`` validated, as plain JSON data (fields never set are left out); a key
        the model does not declare is an error here, where the file is written."""
        parsed = self.parse(value)
        unknown = _extras(parsed)
        if unknown:
            raise ValueError(f"{self.path}: undeclared field(s) {', '.join(unknown)}")
        if isinstance(parsed, BaseModel):
            return parsed.model_dump(mode="json", exclude_unset=True)
        return {k: v.model_dump(mode="json", exclude_unset=True) for k, v in parsed.items()}

    def write(self, out: Any, root: Path, value: Any) -> None:
        """Stage ``value`` through an :class:`lbp_outcomes.atomic.Outputs`."""
        out.write_json(self.file(root), self.dump(value))

    def save(self, path: Path, value: Any) -> None:
        """Write ``value`` to ``path``: inside a folder a stage has staged whole."""
        path.write_text(to_json_text(self.dump(value)), encoding="utf-8")


def _extras(value: Any, where: str = "") -> list[str]:
    """Keys of ``value`` (a model, or mappings and lists of them) that no model declares."""
    if isinstance(value, Open):
        return []
    if isinstance(value, BaseModel):
        found = [f"{where}{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{where}{name}.")
        return found
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _extras(item, f"{where}{key}.")]
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _extras(item, f"{where}{i}.")]
    return []


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
    return str(exc).splitlines()[0]


# -- the catalog ------------------------------------------------------------------------------
RAW_MANIFEST = JsonOutput(paths.RAW / paths.MANIFEST, "cohort", RawManifest)
CLEANING = JsonOutput(paths.REPORTS / "cleaning.json", "clean", item=CleaningFlow)
MANIFEST = JsonOutput(paths.MODELS / paths.MANIFEST, "train", Manifest)
CV_METRICS = JsonOutput(paths.METRICS / "cv.json", "train", item=TargetCV)
CV_DIR = paths.REPORTS / "cv"  # folds.csv, oof.parquet, notes.json, clinical tables
CV_NOTES = JsonOutput(CV_DIR / "notes.json", "train", CVNotes)
CV_PLOTS = paths.PLOTS / "cv"
EXTERNAL_METRICS = JsonOutput(paths.METRICS / "external.json", "external", ExternalMetrics)
EXTERNAL_DIR = paths.REPORTS / "external"  # predictions, clinical tables
EXTERNAL_PLOTS = paths.PLOTS / "external"
SHAP_DIR = paths.REPORTS / "shap"
IMPORTANCE = JsonOutput(SHAP_DIR / "importance.json", "explain", item=TargetImportance)
SUMMARY = JsonOutput(paths.METRICS / "summary.json", "summary", item=Open)
TRACKING = JsonOutput(Path("reports/tracking.json"), "train", TrackingInfo)
REPORT_MD = paths.REPORTS / "report.md"
REPORT_HTML = paths.REPORTS / "report.html"
#: The clinical-usefulness tables train (under CV_DIR) and external (EXTERNAL_DIR) write.
CLINICAL = ("calibration", "decision", "subgroups")
