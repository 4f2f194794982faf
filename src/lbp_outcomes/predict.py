"""Per-patient prediction: ``lbp-outcomes predict --input patients.csv``.

For each patient and outcome of the data config: the champion's point prediction with its
conformal prediction interval (regression targets), or the probability of the event
(binary targets, e.g. reaching each MCIC). Champions come from the project's own MLflow
registry (``models:/lbp-outcomes.<data>.<target>@champion``; no network), and refuse to
load from anywhere else.

Input: a CSV/Parquet file, a JSON file, or one patient as a JSON object on the command
line (``--input '{"age": 41, ...}'``). It is validated with the training schema: every
declared feature must be present, typed and in range; a bad value is an error naming the
patient row (1 = first patient), the column and the value. Output: CSV or JSON on standard
output or ``--output`` (format from the extension or ``--format``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lbp_outcomes import intervals, schema
from lbp_outcomes.config import Params, load_params
from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError, did_you_mean
from lbp_outcomes.features import add_derived
from lbp_outcomes.models.preprocess import FeatureSpec


# -- input -------------------------------------------------------------------------------
def read_patients(source: str, root: Path) -> tuple[pd.DataFrame, str]:
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
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _from_json(path.read_text(encoding="utf-8"), shown), shown
    if suffix in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
    else:
        try:
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=["", "NA", "N/A", "NaN", "nan", "."],
                skipinitialspace=True,
            )
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise UserError(f"{shown}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise UserError(f"{shown}: no patients (header only)")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, shown


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
    every problem is an error naming the patient row. Returns the typed feature frame."""
    missing = [c for c in cfg.prediction_inputs if c not in frame.columns]
    if missing:
        hints = "; ".join(f"{c!r}{did_you_mean(c, frame.columns)}" for c in missing)
        raise UserError(f"{shown}: missing feature column{'s' if len(missing) > 1 else ''} {hints}")
    columns = cfg.prediction_inputs
    data = frame[columns].copy()
    data.index = pd.RangeIndex(1, len(data) + 1)  # patient rows, 1-based
    for name in schema.numeric_columns(cfg):
        if name in columns and not pd.api.types.is_numeric_dtype(data[name]):
            text = data[name].astype("string").str.strip()
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
    absent = typed.isna()
    if absent.any().any():
        row = int(absent.any(axis=1).idxmax())
        cols = [c for c in columns if absent.loc[row, c]]
        raise UserError(
            f"{shown}: patient row {row}: missing value for {', '.join(repr(c) for c in cols)} "
            "(every feature is required to predict)"
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
        from lbp_outcomes.tracking import registered_name, tracking_uri

        if not params.tracking.enabled:
            raise UserError(
                "tracking is disabled in params.yaml: no model registry to predict from"
            )
        import mlflow

        self.uri = tracking_uri(params.tracking, root)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = mlflow.MlflowClient(self.uri, self.uri)
        self.params = params
        self.root = root
        self.names = {t: registered_name(params.data.name, t) for t in params.data.all_targets}

    def _version(self, target: str):
        try:
            return self.client.get_model_version_by_alias(self.names[target], "champion")
        except Exception:
            return None

    def load(self, target: str) -> tuple[Any, Any, dict[str, Any]] | None:
        """(pipeline, interval model or None, info) for ``target``; None if not registered."""
        import mlflow

        from lbp_outcomes.config import store_root

        version = self._version(target)
        if version is None:
            return None
        location = self.client.get_model_version_download_uri(self.names[target], version.version)
        local = local_artifact_path(location)
        if local is None or not local.is_relative_to(store_root(self.root).resolve()):
            raise UserError(
                f"model {self.names[target]} v{version.version} lives outside this project's "
                f"store ({location}); refusing to load it"
            )
        os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # our own store, checked above
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        pipeline = mlflow.sklearn.load_model(f"models:/{self.names[target]}@champion")
        interval = None
        if version.run_id:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=version.run_id, artifact_path=f"conformal/{intervals.FILE}"
                )
                interval = intervals.load(Path(path))
            except Exception:  # no interval model logged (binary target or intervals off)
                interval = None
        return pipeline, interval, {"version": version.version, "run_id": version.run_id}


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


def predict_frame(patients: pd.DataFrame, params: Params, champions: Champions) -> pd.DataFrame:
    """One row per patient: point, lower, upper per regression target; probability per
    binary target. Columns are ``<target>``, ``<target>_lower``, ``<target>_upper``,
    ``<target>_probability``."""
    cfg = params.data
    spec = FeatureSpec.from_config(cfg)
    X = add_derived(patients, cfg)[spec.columns]
    out = pd.DataFrame(index=patients.index)
    found = 0
    for target in cfg.all_targets:
        loaded = champions.load(target)
        if loaded is None:
            continue
        found += 1
        pipeline, interval, _ = loaded
        if cfg.target_kind(target) == "binary":
            out[f"{target}_probability"] = pipeline.predict_proba(X)[:, 1]
        else:
            out[target] = pipeline.predict(X)
            if interval is not None:
                lower, upper = intervals.predict_interval(interval, X)
                out[f"{target}_lower"] = lower
                out[f"{target}_upper"] = upper
    if not found:
        raise UserError(
            f"no champion models registered for data config {cfg.name!r} in {champions.uri}; "
            "run the pipeline (dvc repro) first"
        )
    return out


# -- command ----------------------------------------------------------------------------------
def main(args, root: Path) -> int:
    params = load_params(root)
    frame, shown = read_patients(args.input, root)
    patients = validate_patients(frame, params.data, shown)
    champions = Champions(params, root)
    result = predict_frame(patients, params, champions).round(4)
    result.insert(0, "row", np.arange(1, len(result) + 1))
    if params.data.id_column in frame.columns:
        result.insert(1, params.data.id_column, frame[params.data.id_column].astype(str).to_numpy())
    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "csv")
    if fmt not in {"csv", "json"}:
        raise UserError(f"--output {args.output}: use a .csv or .json file, or --format")
    text = result.to_csv(index=False) if fmt == "csv" else _as_json(result, params)
    if args.output:
        from lbp_outcomes.atomic import write_text

        write_text(args.output, text)
        print(f"wrote {len(result)} patients to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _as_json(result: pd.DataFrame, params: Params) -> str:
    cfg = params.data
    records = []
    for _, row in result.iterrows():
        item: dict[str, Any] = {"row": int(row["row"])}
        if cfg.id_column in row:
            item[cfg.id_column] = row[cfg.id_column]
        outcomes = {}
        for target in cfg.all_targets:
            if f"{target}_probability" in row:
                outcomes[target] = {
                    "probability": _num(row[f"{target}_probability"]),
                    "label": cfg.label(target),
                }
            elif target in row:
                entry = {"prediction": _num(row[target]), "label": cfg.label(target)}
                if f"{target}_lower" in row:
                    entry.update(
                        lower=_num(row[f"{target}_lower"]),
                        upper=_num(row[f"{target}_upper"]),
                        level=params.conformal.level,
                    )
                outcomes[target] = entry
        item["outcomes"] = outcomes
        records.append(item)
    return json.dumps(records, indent=2) + "\n"


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
