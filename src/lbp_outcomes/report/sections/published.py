"""Published vs reproduced: the reference's R², descriptives, MCIC shares and category
counts beside this run's."""

from __future__ import annotations

from lbp_outcomes.report import prose, tables
from lbp_outcomes.report.context import Context
from lbp_outcomes.report.document import (
    DASH,
    Note,
    Paragraph,
    Section,
    Table,
    is_number,
    metric_value,
    num,
    pct,
)
from lbp_outcomes.report.sections.common import ci_level, missing_input

PHRASES = "published/phrases"


def say(name: str, /, **values: object) -> str:
    return prose.phrase(PHRASES, name, **values)


def published(ctx: Context) -> Section | None:
    ref = ctx.reference
    if ref is None:
        return None
    section = Section("published", "Published vs reproduced")
    section.add(Paragraph(prose.text("published/intro", ref=ref)))
    section.add(_r2_table(ctx) if ref.r2 else Note(say("no_r2")))
    if ref.descriptives:
        table = _descriptives_table(ctx)
        section.add(
            table if table else missing_input("data/features/development.parquet", "features")
        )
    for table in (_mcic_table(ctx) if ref.mcic_share else None, _fit_type_table(ctx)):
        if table:
            section.add(table)
    return section


def _ours(ctx: Context) -> str:
    return say("ours", synthetic=ctx.synthetic)


def _r2_table(ctx: Context) -> Table:
    ref = ctx.reference
    rows, classes = [], []
    for target, published_r2 in ref.r2.items():
        entry = ctx.cv_entry(target)
        ours = ctx.inputs.families(target)
        families = list(published_r2) + [f for f in ctx.family_order(ours) if f not in published_r2]
        best = ref.best_r2(target)
        for i, family in enumerate(families):
            value = published_r2.get(family)
            stats = entry.families[family].get("r2") if entry and family in ours else None
            mean = stats.mean if stats else None
            reproduced = metric_value("r2", stats) if stats else say("not_run", target=bool(entry))
            diff = num(mean - value, 3) if is_number(mean) and is_number(value) else DASH
            paper_best = best is not None and family == best[0]
            name = say(
                "family",
                name=ctx.family(family),
                best=paper_best,
                champion=bool(entry) and family == entry.champion,
            )
            rows.append(
                [ctx.label(target) if i == 0 else "", name, num(value, 3), reproduced, diff]
            )
            classes.append("highlight" if paper_best else "")
        champion = entry.champion if entry else ""
        champ_r2 = entry.families.get(champion, {}).get("r2") if entry else None
        champ_mean = champ_r2.mean if champ_r2 else None
        if best is not None and is_number(champ_mean):
            rows.append(
                [
                    "",
                    say("best_vs_best"),
                    say("paren", value=num(best[1], 3), detail=ctx.family(best[0])),
                    say("paren", value=metric_value("r2", champ_r2), detail=ctx.family(champion)),
                    num(champ_mean - best[1], 3),
                ]
            )
            classes.append("summary")
    given = {}
    if ctx.synthetic:
        oracle = {t: ctx.inputs.oracle_r2("development", t) for t in ref.r2}
        given = {ctx.label(t): num(v, 3) for t, v in oracle.items() if v is not None}
    notes = prose.blocks("published/r2_notes", ci_level=ci_level(ctx), oracle=given)
    return Table(
        say("r2_caption"),
        prose.blocks("published/r2_header", ci_level=ci_level(ctx)),
        rows,
        notes=notes,
        classes=classes,
        numeric=[False, False, True, True, True],
    )


def _descriptives_table(ctx: Context) -> Table | None:
    frame = ctx.inputs.development
    if frame is None:
        return None
    rows, absent = [], []
    for column, pub in ctx.reference.descriptives.items():
        if column not in frame.columns:
            absent.append(column)
            continue
        ours = tables.describe(frame[column])
        # Our numbers at the paper's precision (so they compare at a glance), never coarser
        # than one decimal for a continuous measure.
        moments = max(1, _decimals(pub.mean, pub.sd))
        whole = _is_integer(ctx, column)
        spread = max(0 if whole else 1, _decimals(pub.q1, pub.median, pub.q3, pub.min, pub.max))
        theirs, mine = (_describe(s, moments, spread) for s in (pub.model_dump(), ours))
        pairs = zip(theirs, mine, strict=True)  # published beside ours, statistic by statistic
        rows.append([ctx.label(column), *(cell for pair in pairs for cell in pair)])
    if not rows:
        return None
    ours_name = _ours(ctx)
    notes = prose.blocks(
        "published/descriptives_notes",
        n_published=ctx.reference.n,
        ours=ours_name,
        n=len(frame),
        absent=absent,
    )
    return Table(
        say("descriptives_caption", ours=ours_name),
        prose.blocks("published/descriptives_header", ours=ours_name),
        rows,
        notes=notes,
    )


def _describe(stats: dict[str, float], moments: int, spread: int) -> list[str]:
    """["mean (SD)", "median [Q1, Q3]", "min to max"] at the given decimals."""
    mean, sd = (num(stats.get(k), moments) for k in ("mean", "sd"))
    median, q1, q3, low, high = (
        num(stats.get(k), spread) for k in ("median", "q1", "q3", "min", "max")
    )
    return [
        say("mean_sd", mean=mean, sd=sd),
        say("median_iqr", median=median, q1=q1, q3=q3),
        say("range", low=low, high=high),
    ]


def _decimals(*values: float) -> int:
    """Decimals the paper printed (at most 2): 11.5 -> 1, 3.31 -> 2, 8 -> 0."""
    out = 0
    for value in values:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        out = max(out, len(text.split(".")[1]) if "." in text else 0)
    return out


def _is_integer(ctx: Context, column: str) -> bool:
    spec = (ctx.cfg.features | ctx.cfg.targets).get(column)
    return bool(spec is not None and getattr(spec, "integer", False))


def _mcic_table(ctx: Context) -> Table | None:
    frame = ctx.inputs.development
    rows = []
    for target, share in ctx.reference.mcic_share.items():
        ours = DASH
        if frame is not None and target in frame.columns:
            values = frame[target].dropna()
            if len(values):
                count = say("count", n=int(values.sum()), of=len(values))
                ours = say("paren", value=pct(float(values.mean())), detail=count)
        rows.append([ctx.label(target), pct(share), ours])
    if not rows:
        return None
    return Table(
        say("mcic_caption"),
        prose.blocks("published/mcic_header", ours=_ours(ctx)),
        rows,
    )


def _fit_type_table(ctx: Context) -> Table | None:
    counts = ctx.reference.fit_type_counts
    if not counts:
        return None
    column = _category_column(ctx, set(counts))
    frame = ctx.inputs.development
    if column is None or frame is None or column not in frame.columns:
        return None
    ours = frame[column].dropna().astype(str).value_counts()
    total_pub = sum(counts.values())
    total_ours = int(ours.sum())
    rows = []
    for level, n in counts.items():
        mine = int(ours.get(level, 0))
        rows.append(
            [
                str(level),
                say("paren", value=n, detail=pct(n / total_pub)) if total_pub else str(n),
                say("paren", value=mine, detail=pct(mine / total_ours)) if total_ours else DASH,
            ]
        )
    ours_name = _ours(ctx)
    return Table(
        say("fit_type_caption", label=ctx.label(column), ours=ours_name),
        prose.blocks("published/fit_type_header", ours=ours_name),
        rows,
    )


def _category_column(ctx: Context, levels: set[str]) -> str | None:
    """The categorical column whose categories are the reference's fit-type levels (the
    derived `fit_type` in the LET config), found by its values rather than a fixed name."""
    candidates = [
        name
        for name, spec in ctx.cfg.model_features.items()
        if spec.type != "numeric" and levels <= {str(v) for v in spec.values or []}
    ]
    candidates.sort(key=lambda name: (name != "fit_type", name))
    return candidates[0] if candidates else None
