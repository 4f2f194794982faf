"""Per-patient prediction: ``lbp-outcomes predict --input patients.csv``.

For each patient and outcome of the data config: the champion's point prediction with its
conformal prediction interval (regression targets), or the probability of the event
(binary targets, e.g. reaching each MCIC). Champions come from the project's own MLflow
registry (``models:/lbp-outcomes.<data>.<target>@champion``; no network), and refuse to
load from anywhere else.

Input: a CSV/Parquet file, a JSON file, or one patient as a JSON object on the command
line (``--input '{"age": 41, ...}'``), read with the data config's CSV options. It is
validated with the training schema: every declared feature column must be present, each
value typed and in range; a bad value is an error naming the patient row (1 = first
patient), the column and the value. A missing value is imputed by the champion's fitted
pipeline, as in training, and the output says which. Output: CSV or JSON on standard
output or ``--output`` (format from the extension or ``--format``), presented by
:mod:`lbp_outcomes.predict_output`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import intervals, schema
from lbp_outcomes.cohort.ingest import read_table
from lbp_outcomes.config import Params, load_params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError, did_you_mean
from lbp_outcomes.features import add_derived
from lbp_outcomes.models.calibrated import clip
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.predict_output import (
    MISSING_VALUES,
    ModelInfo,
    Outcome,
    outcome,
    performance,
    present,
    summary_lines,
    to_csv,
    to_json,
)
from lbp_outcomes.predict_text import to_text


# -- input -------------------------------------------------------------------------------
def read_patients(source: str, cfg: DataConfig) -> tuple[pd.DataFrame, str]:
    """Patients from a file or inline JSON; returns (frame of text values, name for messages)."""
    text = source.strip()
    if text.startswith(("{", "[")):
        return _from_json(text, "--input"), "--input"
    path = Path(source)
    path = path if path.is_absolute() else Path.cwd() / path
    shown = source
    if not path.is_file():
        raise UserError(f"{shown}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{shown}: the file is empty")
    if path.suffix.lower() == ".json":
        return _from_json(path.read_text(encoding="utf-8"), shown), shown
    if path.suffix.lower() not in {".csv", ".txt", ".tsv", ".parquet", ".pq"}:
        raise UserError(f"{shown}: unknown file type {path.suffix!r}; use .csv, .parquet or .json")
    # The data config's reading options (sep, decimal, encoding, na_values), exactly as the
    # cohort stage reads training files; the format follows this file's extension.
    options = cfg.source.model_copy(update={"format": "auto"})
    frame = read_table(path, cfg.model_copy(update={"source": options}), shown)
    return frame, shown


def output_format(output: str | None) -> str:
    """From the --output extension; on standard output, text for a terminal, else CSV."""
    if output:
        suffix = Path(output).suffix.lstrip(".").lower()
        return "text" if suffix == "txt" else suffix
    return "text" if sys.stdout.isatty() else "csv"


def _from_json(text: str, shown: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{shown}: not valid JSON: {exc}") from None
    records = [data] if isinstance(data, dict) else data
    if (
        not isinstance(records, list)
        or not records
        or not all(isinstance(r, dict) for r in records)
    ):
        raise UserError(f"{shown}: expected a JSON object (one patient) or a list of objects")
    return pd.DataFrame.from_records(records)


def validate_patients(frame: pd.DataFrame, cfg: DataConfig, shown: str) -> pd.DataFrame:
    """Type and range-check the features exactly as cleaning does; no row is dropped here:
    every problem is an error naming the patient row. A missing value is no problem (the
    champion's pipeline imputes it, as in training). Returns the typed feature frame."""
    missing = [c for c in cfg.prediction_inputs if c not in frame.columns]
    if missing:
        hints = "; ".join(f"{c!r}{did_you_mean(c, frame.columns)}" for c in missing)
        raise UserError(f"{shown}: missing feature column{'s' if len(missing) > 1 else ''} {hints}")
    columns = cfg.prediction_inputs
    data = frame[columns].copy()
    data.index = pd.RangeIndex(1, len(data) + 1)  # patient rows, 1-based
    decimal = cfg.source.csv.decimal
    for name in schema.numeric_columns(cfg):
        if name in columns and not pd.api.types.is_numeric_dtype(data[name]):
            text = data[name].astype("string").str.strip()
            if decimal != ".":  # as cleaning reads a decimal comma
                text = text.str.replace(decimal, ".", regex=False)
            data[name] = text.astype(object).where(text.notna() & (text != ""), np.nan)
    for name, spec in schema.categorical_columns(cfg).items():
        if name in columns:
            data[name] = schema.category_text(data[name], spec)
    typed, fails = schema.validate(schema.type_schema(cfg, columns), data)
    if not fails:
        typed = _convert(typed, cfg)
        _, fails = schema.validate(schema.value_schema(cfg, columns, with_id=False), typed)
    if fails:
        f = min(fails, key=lambda f: f.rows[0])
        what = "is not a number" if f.rule == "type" else f.description
        value = f" value {schema_value(f.values[0])!r}" if f.values else ""
        more = f" (and {len(f.rows) - 1} more rows)" if len(f.rows) > 1 else ""
        raise UserError(
            f"{shown}: patient row {f.rows[0]}{more}: column {f.column!r}{value} {what}"
        )
    return typed.reset_index(drop=True)


def schema_value(value: Any) -> Any:
    """A failing value as the user wrote it: 400 rather than 400.0 or np.float64(400.0)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def _convert(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    for name, spec in schema.numeric_columns(cfg).items():
        if name in frame.columns and spec.convert is not None:
            frame[name] = frame[name] * spec.convert.factor + spec.convert.offset
    return frame


# -- models ---------------------------------------------------------------------------------
class Champions:
    """The registered champion of each target, loaded from this project's MLflow store."""

    def __init__(self, params: Params, root: Path) -> None:
        from lbp_outcomes.tracking import Registry, registered_name

        if not params.tracking.enabled:
            raise UserError(
                "tracking is disabled in params.yaml: no model registry to predict from"
            )
        self.registry = Registry(params.tracking, root)  # the only way to MLflow: tracking.py
        self.params = params
        self.root = root
        self.names = {t: registered_name(params.data.name, t) for t in params.data.all_targets}
        self.runs: dict[str, dict[str, str]] = {}  # target -> the champion run's tags

    def _version(self, target: str):
        return self.registry.champion_version(self.names[target])

    def load(self, target: str) -> tuple[Any, Any, ModelInfo] | None:
        """(pipeline, interval model or None, info) for ``target``; None if not registered."""
        from lbp_outcomes.config import store_root

        version = self._version(target)
        if version is None:
            return None
        location = self.registry.download_uri(self.names[target], version.version)
        local = local_artifact_path(location)
        if local is None or not local.is_relative_to(store_root(self.root).resolve()):
            raise UserError(
                f"model {self.names[target]} v{version.version} lives outside this project's "
                f"store ({location}); refusing to load it"
            )
        pipeline = self.registry.load_champion(self.names[target])  # checked above: our store
        interval = None
        if version.run_id:
            try:
                path = self.registry.download_artifact(
                    version.run_id, f"conformal/{intervals.FILE}"
                )
                interval = intervals.load(Path(path))
            except Exception:  # no interval model logged (binary target or intervals off)
                interval = None
        return pipeline, interval, self.info(target, version)

    def info(self, target: str, version) -> ModelInfo:
        """Family, registry version and performance of ``target``'s champion; the family
        and the training data come from the run's tags (what was registered, not what the
        current params.yaml says)."""
        tags = self.registry.run_tags(version.run_id) if version.run_id else {}
        family = tags.get("family", "")
        self.runs[target] = tags
        spec = self.params.model.get(family)
        return ModelInfo(
            family=family,
            family_label=self.params.display.family(family) or "unknown",
            registered_name=self.names[target],
            version=str(version.version),
            missing_values=MISSING_VALUES.get(spec.preprocessing if spec else "", "as in training"),
            performance=performance(
                self.root, target, family, self.params.data.target_kind(target)
            ),
        )

    def trained_on(self, cfg: DataConfig) -> dict[str, Any]:
        """The data behind the champions: data config, synthetic or not, cohort hash."""
        tags = next(iter(self.runs.values()), {})
        md5 = tags.get("data_md5.development", "")
        synthetic = cfg.source.synthetic is not None
        kind = "SYNTHETIC cohort, not real patients" if synthetic else "development cohort"
        text = f"{tags.get('data_config', cfg.name)} ({kind}"
        text += f", data md5 {md5[:12]})" if md5 else ")"
        return {
            "data_config": tags.get("data_config", cfg.name),
            "synthetic": synthetic,
            "description": cfg.description,
            "data_md5": md5 or None,
            "git_commit": tags.get("git_commit"),
            "text": text,
        }


def local_artifact_path(location: str) -> Path | None:
    """The absolute local path of an artifact URI (``file://...`` percent-encoded, or a
    plain absolute path); None for anything else (s3://, http://, mlflow-artifacts:/,
    relative paths), which is never a location inside this project's store."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parsed = urlparse(location)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(url2pathname(parsed.path))
    return path.resolve() if path.is_absolute() else None


def predict_frame(
    patients: pd.DataFrame, params: Params, champions: Champions
) -> tuple[pd.DataFrame, list[Outcome]]:
    """Raw model output, one row per patient: ``<target>``, ``<target>_lower``,
    ``<target>_upper`` per regression target, ``<target>_probability`` per binary target;
    and each predicted target's :class:`Outcome` (name, range, model)."""
    cfg = params.data
    spec = FeatureSpec.from_config(cfg)
    X = add_derived(patients, cfg)[spec.columns]
    out = pd.DataFrame(index=patients.index)
    outcomes: list[Outcome] = []
    for target in cfg.all_targets:
        loaded = champions.load(target)
        if loaded is None:
            continue
        pipeline, interval, info = loaded
        outcomes.append(outcome(target, cfg, info))
        if cfg.target_kind(target) == "binary":
            # the same clipped probabilities as CV and external validation score
            out[f"{target}_probability"] = clip(pipeline.predict_proba(X)[:, 1])
        else:
            out[target] = pipeline.predict(X)
            if interval is not None:
                lower, upper = intervals.predict_interval(interval, X)
                out[f"{target}_lower"] = lower
                out[f"{target}_upper"] = upper
    if not outcomes:
        raise UserError(
            f"no champion models registered for data config {cfg.name!r} in {champions.uri}; "
            "run the pipeline (dvc repro) first"
        )
    return out, outcomes


def imputed_columns(patients: pd.DataFrame, cfg: DataConfig) -> list[list[str]]:
    """Per patient, the declared features without a value (the model imputes them)."""
    absent = patients[list(cfg.features)].isna()
    return [[c for c in cfg.features if row[c]] for _, row in absent.iterrows()]


# -- command ----------------------------------------------------------------------------------
def main(args, root: Path) -> int:
    params = load_params(root)
    cfg = params.data
    frame, shown = read_patients(args.input, cfg)
    patients = validate_patients(frame, cfg, shown)
    fmt = args.format or output_format(args.output)
    if fmt not in {"csv", "json", "text"}:
        raise UserError(f"--output {args.output}: use a .csv, .json or .txt file, or --format")
    champions = Champions(params, root)
    raw, outcomes = predict_frame(patients, params, champions)
    ids = frame[cfg.id_column] if cfg.id_column and cfg.id_column in frame.columns else None
    result = present(
        raw,
        ids,
        cfg.id_column,
        imputed_columns(patients, cfg),
        outcomes,
        champions.trained_on(cfg),
        params.conformal.level,
    )
    from lbp_outcomes.effects.predict import add_to

    add_to(result, patients, params, root)  # per arm, for cohorts with a treatment block
    text = {"csv": to_csv, "json": to_json, "text": to_text}[fmt](result)
    for line in summary_lines(result):
        print(line, file=sys.stderr)
    if args.output:
        from lbp_outcomes.atomic import write_text

        write_text(args.output, text)
        print(f"wrote {len(result.table)} patients to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
