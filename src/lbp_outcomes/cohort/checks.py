"""Checks on a source file that pandas reads without complaint but reads wrong.

A CSV export with another separator, encoding or a cut-off last row is parsed "successfully"
into one column, mojibake headers or a half row of missing values; a declared feature can be
empty in every row. Each check here turns one such case into a one-line :class:`UserError`
naming the file and the ``source.csv`` option (or row, or column) to look at.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import pandas as pd

from lbp_outcomes.dataconfig import CsvOptions, DataConfig
from lbp_outcomes.errors import UserError

SEPARATORS = [",", ";", "\t", "|"]  # what spreadsheet and statistics exports use
HEAD_BYTES = 64 * 1024  # enough for a header line of any real export
# byte-order mark -> (encodings that read it correctly, the one to suggest); longest
# first, as UTF-32-LE's mark starts with UTF-16-LE's. A UTF-8 mark with plain utf-8 is
# fine (pandas drops it); any other encoding makes it part of the first column's name.
BOMS = {
    codecs.BOM_UTF32_LE: ({"utf-32"}, "utf-32"),
    codecs.BOM_UTF32_BE: ({"utf-32"}, "utf-32"),
    codecs.BOM_UTF8: ({"utf-8", "utf-8-sig"}, "utf-8-sig"),
    codecs.BOM_UTF16_LE: ({"utf-16"}, "utf-16"),
    codecs.BOM_UTF16_BE: ({"utf-16"}, "utf-16"),
}


def _yaml(value: str) -> str:
    """How a separator is written in the YAML data config."""
    return '"\\t"' if value == "\t" else f"'{value}'"


def _codec(encoding: str) -> str:
    return codecs.lookup(encoding).name  # "UTF8", "utf_8" -> "utf-8"


def check_encoding(path: Path, opts: CsvOptions, shown: str, config: str) -> None:
    """A byte-order mark, or UTF-16 text, that ``source.csv.encoding`` does not match."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    codec = _codec(opts.encoding)
    for bom, (accepted, wanted) in BOMS.items():
        if head.startswith(bom):
            if codec in accepted:
                return
            kind = wanted.removesuffix("-sig").upper()
            raise UserError(
                f"{shown}: the file starts with a {kind} byte-order mark but "
                f"source.csv.encoding is {opts.encoding!r}: set source.csv.encoding: "
                f"{wanted} in {config}"
            )
    if b"\x00" in head[:4096] and not codec.startswith(("utf-16", "utf-32")):
        # ASCII text in UTF-16 without a mark: every other byte is zero
        order = "le" if head[1:2] == b"\x00" else "be"
        raise UserError(
            f"{shown}: the file holds zero bytes, as UTF-16 text does, but "
            f"source.csv.encoding is {opts.encoding!r}: set source.csv.encoding: "
            f"utf-16-{order} in {config}"
        )


def check_separator(path: Path, opts: CsvOptions, shown: str, config: str) -> None:
    """A header line without ``source.csv.sep`` but with another usual separator."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES).decode(opts.encoding, errors="replace")
    lines = head.splitlines()
    header = lines[0] if lines else ""
    if opts.sep in header:
        return
    counts = {s: header.count(s) for s in SEPARATORS if s != opts.sep}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    if n == 0:
        return
    hint = f"source.csv.sep: {_yaml(sep)}"
    body = "\n".join(lines[1:20])
    if sep != "," and opts.decimal != "," and re.search(r"\d,\d", body):
        hint += " and source.csv.decimal: ','"  # 2,5 between other separators
    raise UserError(
        f"{shown}: the header has no {_yaml(opts.sep)} (source.csv.sep) but {n} "
        f"{_yaml(sep)}, so every row would read as one column: set {hint} in {config}"
    )


def decode_hint(opts: CsvOptions, config: str) -> str:
    """Appended to a decoding error: which option to change."""
    return (
        f"; set source.csv.encoding in {config} to the file's encoding "
        f"(now {opts.encoding!r}; Excel exports are often 'cp1252' or 'latin-1')"
    )


def check_last_row(
    path: Path, opts: CsvOptions, frame: pd.DataFrame, shown: str, config: str
) -> None:
    """A file that ends mid-row: no line end after the last row, and fewer fields than the
    header. (A last row that has every field but no line end is accepted: many writers
    leave the final newline out, and nothing shows such a row is incomplete.)

    ``frame`` is the parsed file (all columns, one row per data row).
    """
    size = path.stat().st_size
    wide = _codec(opts.encoding).startswith(("utf-16", "utf-32"))
    with path.open("rb") as fh:
        if not wide:  # a one-byte-aligned tail is safe to decode from any offset
            fh.seek(max(0, size - HEAD_BYTES))
        tail = fh.read().decode(opts.encoding, errors="replace")
    if not tail or tail[-1] in "\r\n":
        return
    last = tail.splitlines()[-1]
    if not last.strip():  # trailing spaces after the last line end: pandas skips them
        return
    if last.count('"') % 2:  # inside a quoted field that spans lines: cannot tell here
        return
    fields = next(csv.reader([last], delimiter=opts.sep, quotechar='"'), [])
    width = len(frame.columns)
    if len(fields) < width:
        raise UserError(
            f"{shown}: the last row (row {len(frame)}) has {len(fields)} of {width} fields "
            f"and no line end: the file looks cut off mid-row; export it again"
        )


def check_empty_features(frame: pd.DataFrame, cfg: DataConfig, shown: str, cohort: str) -> None:
    """Every declared feature has at least one value (an error, not a warning that drops
    it: the config declares the feature, so the model, predict and the report expect it)."""
    for name in cfg.features:
        text = frame[name].astype("string").str.strip()
        if (text.isna() | (text == "")).all():
            raise UserError(
                f"{shown}: feature column {name!r} is empty in all {len(frame)} rows of the "
                f"{cohort} cohort (blank "
                f"or a missing-value code); fill it, or remove {name!r} from features in "
                f"conf/data/{cfg.name}.yaml"
            )
