"""Read a team's own cohort files (CSV or Parquet) as the data config describes them.

Only the columns the config declares are kept (id, site, features, targets): a file with
150 columns of which the config uses a dozen brings a dozen into the pipeline, and columns
that may identify a patient (names, dates of birth) never leave the source file. CSV
values are kept as text here; typing and range checks are the cleaning stage's job, which
then can name the exact rows a value could not be read from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lbp_outcomes.cohort import checks
from lbp_outcomes.dataconfig import OUTSIDE, DataConfig
from lbp_outcomes.errors import UserError, did_you_mean
from lbp_outcomes.schema import to_text

ROW = "_row"  # 1-based data-row number in the source file (the header is not counted)


def required_columns(cfg: DataConfig) -> list[str]:
    """Columns a source file must have, in config order (derived targets are computed);
    the treatment column after the id and site."""
    columns = [cfg.id_column] if cfg.id_column else []
    if cfg.site_column:
        columns.append(cfg.site_column)
    arm = [cfg.treatment.column] if cfg.treatment else []
    return columns + arm + list(cfg.features) + cfg.read_targets + list(cfg.columns)


def inside_project(root: Path, shown: str, key: str) -> Path:
    """``root / shown`` if its folder is really inside the project (symlinked folders are
    resolved; the file itself may be a symlink: the documented way to use files kept
    elsewhere). Anything else is a :class:`UserError` naming the config key."""
    path = root / shown
    if not path.parent.resolve().is_relative_to(root.resolve()):
        raise UserError(f"source.{key}: {shown!r} is outside the project: {OUTSIDE}")
    return path


def file_format(path: Path, cfg: DataConfig, shown: str) -> str:
    """ "csv" or "parquet": ``source.format``, or (auto) from the file's suffix."""
    fmt = cfg.source.format
    if fmt == "auto":
        suffix = path.suffix.lower()
        fmt = {
            ".csv": "csv",
            ".txt": "csv",
            ".tsv": "csv",
            ".parquet": "parquet",
            ".pq": "parquet",
        }.get(suffix, "")
        if not fmt:
            raise UserError(
                f"{shown}: unknown file type {suffix!r}; use .csv or .parquet or set source.format"
            )
    return fmt


def read_table(path: Path, cfg: DataConfig, shown: str) -> pd.DataFrame:
    """Read one source file; ``shown`` is how messages name it (path relative to root)."""
    if not path.is_file():
        raise UserError(f"{shown}: file not found (data config conf/data/{cfg.name}.yaml)")
    if path.stat().st_size == 0:
        raise UserError(f"{shown}: the file is empty")
    fmt = file_format(path, cfg, shown)
    config = f"conf/data/{cfg.name}.yaml"
    opts = cfg.source.csv
    if fmt == "csv":
        checks.check_encoding(path, opts, shown, config)
        checks.check_separator(path, opts, shown, config)
    try:
        if fmt == "csv":
            frame = pd.read_csv(
                path,
                sep=opts.sep,
                decimal=opts.decimal,
                encoding=opts.encoding,
                dtype=str,
                keep_default_na=False,
                na_values=opts.na_values,
                skipinitialspace=True,
            )
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise UserError(f"{shown}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = checks.decode_hint(opts, config) if isinstance(exc, UnicodeDecodeError) else ""
        raise UserError(f"{shown}: cannot be read as {fmt.upper()}: {first}{hint}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise UserError(f"{shown}: the file has a header but no data rows")
    if fmt == "csv":
        checks.check_last_row(path, opts, frame, shown, config)
    return frame


def select_columns(frame: pd.DataFrame, cfg: DataConfig, shown: str) -> pd.DataFrame:
    """Keep the declared columns (plus the row number); error if any is missing."""
    present = list(frame.columns)
    missing = [c for c in required_columns(cfg) if c not in present]
    if missing:
        hints = "; ".join(f"{c!r}{did_you_mean(c, present)}" for c in missing[:5])
        raise UserError(
            f"{shown}: missing column{'s' if len(missing) > 1 else ''} {hints} "
            f"declared in conf/data/{cfg.name}.yaml"
        )
    out = frame[required_columns(cfg)].copy()
    out.insert(0, ROW, range(1, len(out) + 1))
    return out.reset_index(drop=True)


def missing_codes(frame: pd.DataFrame, cfg: DataConfig, fmt: str) -> pd.DataFrame:
    """Declared text cells that are blank, or (CSV) equal one of ``source.csv.na_values``
    once surrounding spaces are removed, become missing: pandas matches the codes exactly,
    so "NA " or a cell of spaces would otherwise reach cleaning as a value."""
    codes = {""} | (set(cfg.source.csv.na_values) if fmt == "csv" else set())
    for name in required_columns(cfg):
        column = frame[name]
        if pd.api.types.is_string_dtype(column) or column.dtype == object:
            is_code = column.astype("string").str.strip().isin(codes).fillna(False)
            frame[name] = column.where(~is_code.to_numpy(dtype=bool), None)
    return frame


def load(root: Path, rel: str, cfg: DataConfig, key: str) -> pd.DataFrame:
    """One source file (``rel``: its path from the project root, given as ``source.<key>``),
    declared columns only."""
    path = inside_project(root, rel, key)
    frame = select_columns(read_table(path, cfg, rel), cfg, rel)
    return missing_codes(frame, cfg, file_format(path, cfg, rel))


def ingest(cfg: DataConfig, root: Path) -> dict[str, tuple[pd.DataFrame, str]]:
    """Read the configured files. Returns ``{cohort: (frame, source file as shown)}`` with
    an "external" entry only when the config defines an external cohort."""
    src = cfg.source
    assert src.development is not None
    shown = src.development
    development = load(root, shown, cfg, "development")
    cohorts = {"development": (development, shown)}
    if src.external:
        ext = load(root, src.external, cfg, "external")
        cohorts["external"] = (ext, src.external)
    elif src.external_sites:
        site = to_text(development[cfg.site_column])
        found = sorted(site.dropna().unique(), key=str)
        unknown = [s for s in src.external_sites if s not in found]
        if unknown:
            raise UserError(
                f"{shown}: source.external_sites {unknown} not found in column "
                f"{cfg.site_column!r} (sites in the file: {', '.join(found)})"
            )
        is_external = site.isin(src.external_sites).fillna(False).to_numpy()
        if is_external.all():
            raise UserError(
                f"{shown}: every row belongs to source.external_sites {src.external_sites}; "
                "no development rows are left"
            )
        cohorts["development"] = (development[~is_external].reset_index(drop=True), shown)
        cohorts["external"] = (development[is_external].reset_index(drop=True), shown)
    for name, (frame, shown) in cohorts.items():
        checks.check_empty_features(frame, cfg, shown, name)
    return cohorts
