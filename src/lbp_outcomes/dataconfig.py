"""The data-config format: one YAML file in conf/data/ describes one cohort.

A data config says where the cohort's files are (or that it is synthetic), which column
holds the patient id (optional) and the site, every feature with its type and valid values,
every target with its kind (read from the file, or derived by an expression), other columns
that only feed expressions (dates, follow-up scores), inclusion criteria on rows, optional
MCIC (minimal clinically important change) definitions that derive binary responder
targets, and optional row-wise derived features. It is validated strictly (unknown keys are
errors, so a typo never silently does nothing) and every expression is parsed and checked
(:mod:`lbp_outcomes.expressions`) before any stage reads data. See the README section
"Bring your own cohort" for a worked example.
"""

from __future__ import annotations

import codecs
import posixpath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lbp_outcomes.expressions import scopes
from lbp_outcomes.treatment import Treatment

# NumPy's legacy RandomState and scikit-learn's random_state take 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1

#: Target kinds people declare for censored outcomes; refused with one clear line.
CENSORED_KINDS = {"survival", "time_to_event", "time-to-event", "censored", "cox"}
CENSORED_KEYS = {"event", "censored", "censoring", "status", "time"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conversion(_Strict):
    """Unit harmonisation applied on read: ``value * factor + offset``.

    Example: ODI recorded in percent but modelled as the raw score /50 needs
    ``convert: {factor: 0.5, from_unit: "%"}``. Ranges in the config are in the converted
    (modelling) unit.
    """

    factor: float = 1.0
    offset: float = 0.0
    from_unit: str = ""


class Column(_Strict):
    """Rules shared by features and targets."""

    range: tuple[float, float] | None = None
    integer: bool = False
    convert: Conversion | None = None
    # What a value outside `range` (or a category outside `values`) does to its row:
    # "error" stops cleaning, "drop" excludes the row and counts it in the cleaning report.
    on_out_of_range: Literal["error", "drop"] = "error"
    values: list[Any] | None = None

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(value)}")
        return value


class Feature(Column):
    """A model input. numeric: a number, optionally range-checked; categorical: one of
    ``values`` (unordered); ordinal: one of ``values``, listed lowest to highest."""

    type: Literal["numeric", "categorical", "ordinal"]

    @model_validator(mode="before")
    @classmethod
    def _no_dates(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "date" and cls is Feature:
            raise ValueError(
                "a date is not a model input: declare it under `columns:` (type: date) and "
                "derive an interval from it in `derived:`, e.g. days_between(start, end)"
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.type == "numeric":
            if self.values is not None:
                raise ValueError("a numeric feature takes `range`, not `values`")
        else:
            if not self.values:
                raise ValueError(f"a {self.type} feature needs `values` (the allowed categories)")
            if self.range is not None or self.convert is not None or self.integer:
                raise ValueError(f"a {self.type} feature takes `values` only, not range/convert")
            if len(set(map(str, self.values))) != len(self.values):
                raise ValueError("`values` has duplicates")
        return self


class OtherColumn(Feature):
    """A column read and checked but neither a model input nor a target: it only feeds
    expressions (derived features and targets, inclusion criteria). ``date``: parsed with
    ``format`` (strftime codes, or ``ISO8601``), used through ``days_between``."""

    type: Literal["numeric", "categorical", "ordinal", "date"]  # type: ignore[assignment]
    format: str = "ISO8601"

    @model_validator(mode="after")
    def _consistent(self) -> OtherColumn:
        if self.type != "date":
            if self.format != "ISO8601":
                raise ValueError("`format` is for date columns only")
            return Feature._consistent(self)  # type: ignore[arg-type, return-value]
        if self.values is not None or self.range is not None or self.convert or self.integer:
            raise ValueError("a date column takes `format` only, not values/range/convert")
        return self


class Target(Column):
    """An outcome to predict. regression: a number; binary: two values, ``positive`` is the
    event (stored as 1 after cleaning, the other value as 0). With ``expr`` the target is
    derived row by row from other columns instead of read from the file: a number for a
    regression target (e.g. a change score), a condition for a binary one (true = event)."""

    kind: Literal["regression", "binary"]
    positive: Any = 1
    expr: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_censored(cls, data: Any) -> Any:
        if isinstance(data, dict) and (
            str(data.get("kind", "")).lower() in CENSORED_KINDS or CENSORED_KEYS & set(data)
        ):
            raise ValueError(
                "censored (time-to-event) outcomes are not supported yet; model the event "
                "by a fixed time as a binary target (see README, Bring your own cohort)"
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.expr is not None and (self.convert is not None or self.values is not None):
            raise ValueError("a derived target (`expr`) takes no `values` or `convert`")
        if self.kind == "binary":
            if self.range is not None or self.convert is not None:
                raise ValueError("a binary target takes `values` and `positive`, not range/convert")
            values = self.values if self.values is not None else [0, 1]
            if len(values) != 2:
                raise ValueError(f"a binary target needs exactly two `values`, got {values}")
            if str(self.positive) not in map(str, values):
                raise ValueError(f"`positive` ({self.positive!r}) is not one of `values` {values}")
        elif self.values is not None:
            raise ValueError("a regression target takes `range`, not `values`")
        return self

    @property
    def levels(self) -> list[Any]:
        """The two raw values of a binary target (defaults to 0/1)."""
        return list(self.values) if self.values is not None else [0, 1]


class Mcic(_Strict):
    """A responder target: reached when the outcome improved on the baseline by at least
    ``min_improvement`` (in the outcome's unit); ``direction`` says which way is better."""

    baseline: str
    outcome: str
    min_improvement: float = Field(gt=0)
    direction: Literal["decrease", "increase"]


class Derived(_Strict):
    """A row-wise derived feature: ``expr`` (an expression over features, other columns and
    earlier derived features, e.g. ``frequency * duration``; grammar in
    :mod:`lbp_outcomes.expressions`) or ``function`` (a name in
    lbp_outcomes.derived.FUNCTIONS) with ``args`` mapping its parameters to column names and
    ``options`` holding its other keyword arguments."""

    expr: str | None = None
    function: str | None = None
    args: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    type: Literal["numeric", "categorical", "ordinal"] = "numeric"
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Derived:
        if (self.expr is None) == (self.function is None):
            raise ValueError("give exactly one of `expr` or `function`")
        if self.type != "numeric" and not self.values:
            raise ValueError(f"a {self.type} derived feature needs `values`")
        return self


class ShiftFrequency(_Strict):
    sessions: list[int]
    weights: list[float]

    @model_validator(mode="after")
    def _pmf(self) -> ShiftFrequency:
        if len(self.sessions) != len(self.weights) or not self.sessions:
            raise ValueError("sessions and weights must be non-empty and of equal length")
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-6:
            raise ValueError(f"weights must be >= 0 and sum to 1, got {self.weights}")
        return self


class CaseMixShiftConfig(_Strict):
    enabled: bool = False
    age: float = 0.0
    bmi: float = 0.0
    compliance: float = 0.0
    frequency: ShiftFrequency | None = None


class OutcomeShiftConfig(_Strict):
    enabled: bool = False
    response_scale: float = Field(default=1.0, gt=0)


class SyntheticExternal(_Strict):
    n: int = Field(gt=0)
    seed_offset: int = 1000
    site: str = "external"
    case_mix_shift: CaseMixShiftConfig = CaseMixShiftConfig()
    outcome_shift: OutcomeShiftConfig = OutcomeShiftConfig()


class TrialSettings(_Strict):
    """The ``let_trial`` generator (docs/treatment.md): its development sites, and whether
    the arms' effects differ between patients (``heterogeneity: false`` is the null
    setting: the same average effects for everyone)."""

    sites: list[str] = Field(min_length=1)
    heterogeneity: bool = True


class SyntheticSource(_Strict):
    """``let``: the LET cohort (one site, ``site``); ``let_trial``: the multi-arm trial,
    configured under ``trial`` (its sites replace ``site``)."""

    generator: Literal["let", "let_trial"] = "let"
    n: int = Field(gt=0)
    seed: int = Field(ge=0, le=MAX_SEED)
    site: str = "development"
    external: SyntheticExternal | None = None
    trial: TrialSettings | None = None

    @model_validator(mode="after")
    def _trial(self) -> SyntheticSource:
        if (self.generator == "let_trial") != (self.trial is not None):
            raise ValueError("`trial` settings go with generator let_trial, and only with it")
        if self.trial is not None and self.external and self.external.outcome_shift.enabled:
            raise ValueError("external.outcome_shift is not supported by generator let_trial")
        return self

    @model_validator(mode="after")
    def _external_seed(self) -> SyntheticSource:
        if self.external is not None and not 0 <= self.seed + self.external.seed_offset <= MAX_SEED:
            raise ValueError(
                f"external.seed_offset: seed {self.seed} + seed_offset "
                f"{self.external.seed_offset} is outside 0..{MAX_SEED}"
            )
        return self


class CsvOptions(_Strict):
    """How a CSV file is read. ``na_values`` replaces the default list (it does not add to
    it); a cell is missing when, with surrounding spaces removed, it equals one of them."""

    # One character each: pandas reads a longer separator as a regular expression.
    sep: str = Field(default=",", min_length=1, max_length=1)
    decimal: str = Field(default=".", min_length=1, max_length=1)
    encoding: str = "utf-8"
    na_values: list[str] = Field(default_factory=lambda: ["", "NA", "N/A", "NaN", "nan", "."])

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, utf-16, cp1252, latin-1)"
            ) from None
        return value


OUTSIDE = (
    "give a path relative to the project root; to use a file kept elsewhere, link it "
    "(ln -s /path/to/file.csv data/source/file.csv) and give data/source/file.csv"
)


class Source(_Strict):
    """Where the cohort comes from: ``synthetic`` (generated), or files. Files: a
    ``development`` file plus either an ``external`` file or ``external_sites`` (values of
    the site column whose rows form the external cohort), or neither (no external
    validation). Paths are relative to the project root; keep them under data/ so DVC tracks
    them as dependencies of the cohort stage."""

    synthetic: SyntheticSource | None = None
    development: str | None = None
    external: str | None = None
    external_sites: list[str] = Field(default_factory=list)
    format: Literal["auto", "csv", "parquet"] = "auto"
    csv: CsvOptions = CsvOptions()

    @field_validator("external_sites", mode="before")
    @classmethod
    def _site_text(cls, value: Any) -> Any:
        """Site codes may be numbers (``[1, 2]``): compared as text, 1 and 1.0 as "1"."""
        if not isinstance(value, list):
            return value
        return [
            str(int(v)) if isinstance(v, int | float) and float(v).is_integer() else str(v)
            for v in value
        ]

    @field_validator("development", "external")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        """Paths stay in the project (checked again on the real file system at read time)."""
        if value is None:
            return value
        if "\x00" in value or not value.strip():
            raise ValueError("not a usable path")
        if value.startswith(("/", "\\", "~")) or (len(value) > 1 and value[1] == ":"):
            raise ValueError(f"{value!r} is outside the project: {OUTSIDE}")
        if posixpath.normpath(value.replace("\\", "/")).split("/")[0] == "..":
            raise ValueError(f"{value!r} is outside the project: {OUTSIDE}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Source:
        if (self.synthetic is None) == (self.development is None):
            raise ValueError("give exactly one of `synthetic` or `development` (a file path)")
        if self.external and self.external_sites:
            raise ValueError("give `external` (a file) or `external_sites`, not both")
        if self.synthetic is not None and (self.external or self.external_sites):
            raise ValueError("a synthetic source configures its external cohort under `synthetic`")
        return self


class Descriptive(_Strict):
    mean: float
    sd: float
    q1: float
    median: float
    q3: float
    min: float
    max: float


class Reference(_Strict):
    """Published results about this cohort (conf/reference/), for published-vs-reproduced
    comparisons. Every number is the paper's; none lives in code."""

    study: str
    doi: str = ""
    n: int | None = None
    validation: str = ""
    r2: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    # How the paper's model families are named in print ({family: label}): a published
    # family this run does not train still gets its name in the report.
    families: dict[str, str] = Field(default_factory=dict)
    top_predictors: list[str] = Field(default_factory=list)
    descriptives: dict[str, Descriptive] = Field(default_factory=dict)
    mcic_share: dict[str, float] = Field(default_factory=dict)
    fit_type_counts: dict[str, int] = Field(default_factory=dict)

    def best_r2(self, target: str) -> tuple[str, float] | None:
        """(family, R2) of the best published model for ``target``."""
        given = {f: v for f, v in self.r2.get(target, {}).items() if v is not None}
        return max(given.items(), key=lambda kv: kv[1]) if given else None


class Prediction(_Strict):
    """How the report words this cohort's prediction task. Left out, the wording is neutral:
    "outcomes", and no claim about when predictors or outcomes are known."""

    outcomes: str = "outcomes"  # what the targets are, plural: "treatment outcomes"
    predictors_known: str = ""  # when every predictor is known: "before treatment"
    outcomes_measured: str = ""  # when the outcomes are recorded: "after treatment"


class Subgroup(_Strict):
    """A column whose groups get their own performance (subgroups stage outputs).

    A categorical column needs nothing; a numeric one is cut into bands at ``cuts`` (each
    cut starts a band: ``[50, 65]`` gives < 50, 50 to < 65, >= 65)."""

    cuts: list[float] | None = Field(default=None, min_length=1)

    @field_validator("cuts")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"cuts must increase: {value}")
        return value


class Display(_Strict):
    """How the report (and predict's output) names one column: display text only. Kept apart
    from the modelling keys so that a relabel reruns only the report stage: no other stage
    reads it (dvc.yaml lists each stage's keys; tests/unit/test_display.py checks the code)."""

    label: str = ""  # "Pain after treatment"; empty: the column name
    unit: str = ""  # "NRS 0-10": shown after the label and in metric headers
    description: str = ""


#: Sections of a data config whose entries held display text before `display:` existed.
DISPLAY_KEYS = ("label", "unit", "description")
COLUMN_GROUPS = ("features", "targets", "columns", "mcic", "derived", "subgroups")


def _display_inline(data: Any) -> None:
    """Refuse the old layout (label/unit/description inside a column's entry) with one line
    that says where they go now."""
    if not isinstance(data, dict):
        return
    for group in COLUMN_GROUPS:
        entries = data.get(group)
        for name, spec in (entries or {}).items() if isinstance(entries, dict) else ():
            found = [k for k in DISPLAY_KEYS if isinstance(spec, dict) and k in spec]
            if found:
                raise ValueError(
                    f"{group}.{name}: {'/'.join(found)} moved to the `display:` section "
                    f"(display: {{{name}: {{label: ..., unit: ...}}}}) so that a relabel "
                    "reruns only the report; see README, Bring your own cohort"
                )


class Cleaning(_Strict):
    max_dropped_fraction: float = Field(default=0.1, ge=0, le=1)


class DataConfig(_Strict):
    """One cohort. Feature, target, column, MCIC and derived names must be distinct.

    ``id_column`` is optional: without one, each row is a patient and is known by its row
    number in the source file. ``include`` holds inclusion criteria ({name: condition});
    a row stays only where every condition is true, and the cleaning report counts the
    rows each one excludes.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    source: Source
    id_column: str | None = None
    site_column: str | None = None
    features: dict[str, Feature] = Field(min_length=1)
    targets: dict[str, Target] = Field(default_factory=dict)
    columns: dict[str, OtherColumn] = Field(default_factory=dict)
    include: dict[str, str] = Field(default_factory=dict)
    mcic: dict[str, Mcic] = Field(default_factory=dict)
    derived: dict[str, Derived] = Field(default_factory=dict)
    subgroups: dict[str, Subgroup] = Field(default_factory=dict)
    cleaning: Cleaning = Cleaning()
    # Which treatment each patient received (docs/treatment.md); None: no arms.
    treatment: Treatment | None = None
    # -- display text: read by the report and predict's output only ---------------------
    prediction: Prediction = Prediction()
    display: dict[str, Display] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _old_layout(cls, data: Any) -> Any:
        _display_inline(data)
        return data

    @model_validator(mode="after")
    def _names(self) -> DataConfig:
        groups = {
            "id_column": [self.id_column] if self.id_column else [],
            "site_column": [self.site_column] if self.site_column else [],
            "features": list(self.features),
            "targets": list(self.targets),
            "columns": list(self.columns),
            "mcic": list(self.mcic),
            "derived": list(self.derived),
            "treatment.column": [self.treatment.column] if self.treatment else [],
        }
        seen: dict[str, str] = {}
        for group, names in groups.items():
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"column name {name!r} is used in both {seen[name]} and {group}"
                    )
                seen[name] = group
        if not self.targets and not self.mcic:
            raise ValueError("declare at least one target (or an mcic definition)")
        if self.source.external_sites and not self.site_column:
            raise ValueError("`source.external_sites` needs `site_column`")
        for name, m in self.mcic.items():
            for role in ("baseline", "outcome"):
                column = getattr(m, role)
                pool = self.features if role == "baseline" else self.targets
                if column not in pool:
                    where = "features" if role == "baseline" else "targets"
                    raise ValueError(
                        f"mcic.{name}.{role}: {column!r} is not one of the declared {where} "
                        f"({', '.join(pool) or 'none'})"
                    )
            if self.targets[m.outcome].kind != "regression":
                raise ValueError(f"mcic.{name}.outcome: {m.outcome!r} must be a regression target")
        unknown = set(self.display) - set(seen)
        if unknown:
            raise ValueError(
                f"display: {', '.join(sorted(unknown))} is not a declared column "
                f"({', '.join(seen)})"
            )
        known = set(self.features) | set(self.derived)
        for name, d in self.derived.items():
            for column in d.args.values():
                if column not in known:
                    raise ValueError(f"derived.{name}.args: {column!r} is not a feature")
        scopes.check_config(self)
        for name, sub in self.subgroups.items():
            spec = self.model_features.get(name)
            if spec is None:
                raise ValueError(
                    f"subgroups.{name}: not a declared feature or derived feature "
                    f"({', '.join(self.model_features)})"
                )
            numeric = spec.type == "numeric"
            if numeric and sub.cuts is None:
                raise ValueError(f"subgroups.{name}: a numeric column needs `cuts`")
            if not numeric and sub.cuts is not None:
                raise ValueError(f"subgroups.{name}: `cuts` apply to numeric columns only")
        return self

    @property
    def read_targets(self) -> list[str]:
        """Targets read from the source file (not derived by ``expr``)."""
        return [t for t, spec in self.targets.items() if spec.expr is None]

    @property
    def prediction_inputs(self) -> list[str]:
        """Columns a new patient needs: the features, and the other columns that derived
        features read (e.g. the dates of a date interval)."""
        return list(self.features) + scopes.derived_inputs(self)

    @property
    def date_formats(self) -> dict[str, str]:
        return {n: c.format for n, c in self.columns.items() if c.type == "date"}

    # -- what later stages need ---------------------------------------------------------
    @property
    def regression_targets(self) -> list[str]:
        return [t for t, spec in self.targets.items() if spec.kind == "regression"]

    @property
    def binary_targets(self) -> list[str]:
        """Declared binary targets followed by the MCIC responder targets."""
        return [t for t, spec in self.targets.items() if spec.kind == "binary"] + list(self.mcic)

    @property
    def all_targets(self) -> list[str]:
        return self.regression_targets + self.binary_targets

    def target_kind(self, name: str) -> Literal["regression", "binary"]:
        return "binary" if name in self.mcic else self.targets[name].kind

    @property
    def model_features(self) -> dict[str, Feature | Derived]:
        """Every model input: declared features then derived ones, in config order."""
        return {**self.features, **self.derived}

    def label(self, column: str) -> str:
        """Human-readable name with unit, for the report and predict's output (``display``)."""
        shown = self.display.get(column)
        if shown is None:
            return column
        text = shown.label or column
        unit = shown.unit
        return f"{text} ({unit})" if unit and unit not in text else text

    def unit(self, column: str) -> str:
        """A column's unit from ``display`` ("" when none is given)."""
        shown = self.display.get(column)
        return shown.unit if shown is not None else ""
