"""Groups of related input columns: a derived feature together with its source columns."""

from __future__ import annotations

from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.expressions import parse
from lbp_outcomes.expressions.scopes import derived_scope


def derived_sources(cfg: DataConfig, name: str) -> list[str]:
    """The columns a derived feature is computed from: its ``args`` (function) or the
    columns its ``expr`` reads that are feature or derived columns."""
    spec = cfg.derived[name]
    known = set(cfg.features) | set(cfg.derived)
    if spec.expr is None:
        return [c for c in spec.args.values() if c in known]
    used = parse(spec.expr, derived_scope(cfg, name)).columns  # checked at validation
    return [c for c in used if c in known and c != name]


def feature_groups(cfg: DataConfig, columns: list[str]) -> dict[str, list[str]]:
    """Groups of related input columns, {group name: members}.

    Each derived feature is linked to its sources; linked columns form one group
    (connected components, so groups sharing a column merge); an unlinked column is a group
    of its own. Members are listed sources first, then derived features, each in config
    order; a group's name is its member list (a lone column keeps its name).
    """
    parent = {c: c for c in columns}

    def root(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for name in cfg.derived:
        if name not in parent:
            continue
        for source in derived_sources(cfg, name):
            if source in parent:
                parent[root(source)] = root(name)

    order = [c for c in cfg.model_features if c in parent]
    order += [c for c in columns if c not in order]
    members: dict[str, list[str]] = {}
    for c in order:
        members.setdefault(root(c), []).append(c)
    groups = {}
    for group in members.values():
        ordered = [c for c in group if c not in cfg.derived] + [
            c for c in group if c in cfg.derived
        ]
        groups[", ".join(ordered)] = ordered
    return groups
