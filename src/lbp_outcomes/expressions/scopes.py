"""Which columns each kind of data-config expression may read, and the check run when a
data config is validated (every expression parsed before any data is read).

- an inclusion criterion (``include``): features, other ``columns``, the site, and
  regression targets read from the file;
- a derived target (``targets.<name>.expr``): the same, plus derived targets declared
  before it;
- a derived feature (``derived.<name>.expr``): features, other ``columns`` and derived
  features declared before it, never a target (that would leak the outcome into the
  inputs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lbp_outcomes.expressions.grammar import ExpressionError, Kind, parse

if TYPE_CHECKING:
    from lbp_outcomes.dataconfig import DataConfig


def kinds(specs: dict[str, Any]) -> dict[str, Kind]:
    """{column: kind} for features, other columns, targets or derived features."""
    out: dict[str, Kind] = {}
    for name, spec in specs.items():
        declared = getattr(spec, "type", None) or getattr(spec, "kind", "")
        if declared == "date":
            out[name] = "date"
        elif declared in ("numeric", "regression"):
            out[name] = "number"
        elif declared == "binary":
            out[name] = "flag"
        else:
            out[name] = "text"
    return out


def include_scope(cfg: DataConfig) -> dict[str, Kind]:
    site: dict[str, Kind] = {cfg.site_column: "text"} if cfg.site_column else {}
    read = {n: t for n, t in cfg.targets.items() if t.expr is None and t.kind == "regression"}
    return {**kinds(cfg.features), **kinds(cfg.columns), **site, **kinds(read)}


def target_scope(cfg: DataConfig, target: str) -> dict[str, Kind]:
    names = list(cfg.targets)
    earlier = {n: cfg.targets[n] for n in names[: names.index(target)]}
    derived = {n: t for n, t in earlier.items() if t.expr is not None}
    return {**include_scope(cfg), **kinds(derived)}


def derived_scope(cfg: DataConfig, feature: str) -> dict[str, Kind]:
    names = list(cfg.derived)
    earlier = {n: cfg.derived[n] for n in names[: names.index(feature)]}
    return {**kinds(cfg.features), **kinds(cfg.columns), **kinds(earlier)}


def check_config(cfg: DataConfig) -> None:
    """Parse every expression of ``cfg`` against what it may read; a ``ValueError`` names
    the config key (e.g. ``derived.ratio.expr: '@' is not allowed ...``)."""
    checks = [(f"include.{n}", text, include_scope(cfg), "flag") for n, text in cfg.include.items()]
    for name, spec in cfg.targets.items():
        if spec.expr is not None:
            want = "number" if spec.kind == "regression" else "flag"
            checks.append((f"targets.{name}.expr", spec.expr, target_scope(cfg, name), want))
    for name, spec in cfg.derived.items():
        if spec.expr is not None:
            want = "number" if spec.type == "numeric" else "text"
            checks.append((f"derived.{name}.expr", spec.expr, derived_scope(cfg, name), want))
    for key, text, scope, want in checks:
        try:
            kind = parse(text, scope).kind
        except ExpressionError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if not (kind == want or (kind, want) == ("flag", "number")):
            need = "a condition (comparison)" if want == "flag" else f"a {want}"
            raise ValueError(f"{key}: gives a {kind} value, {need} is needed here")


def derived_inputs(cfg: DataConfig) -> list[str]:
    """The other ``columns`` that derived features read (e.g. the dates of an interval)."""
    used = {
        c
        for n, d in cfg.derived.items()
        if d.expr is not None
        for c in parse(d.expr, derived_scope(cfg, n)).columns
    }
    return [c for c in cfg.columns if c in used]
