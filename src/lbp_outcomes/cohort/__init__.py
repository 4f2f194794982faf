"""Cohort stage: produce the raw development and external cohorts under data/raw/.

Either the synthetic LET generator (:mod:`lbp_outcomes.cohort.synthetic`) or the team's own
CSV/Parquet files (:mod:`lbp_outcomes.cohort.ingest`), as the data config's ``source`` says.
Writes data/raw/{development,external}.parquet (external only if the config has one) and
data/raw/manifest.json (where each cohort came from; for the synthetic cohort also the
generator settings and each outcome's oracle R2, the ceiling no model can beat). The
synthetic trial also writes its counterfactual truth under data/raw/truth/ (evaluation
only; docs/treatment.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lbp_outcomes import paths
from lbp_outcomes.atomic import Outputs, to_json_text
from lbp_outcomes.config import Params


def run(params: Params, root: Path) -> dict[str, Any]:
    cfg = params.data
    truths: dict[str, Any] = {}
    if cfg.source.synthetic is not None and cfg.source.synthetic.generator == "let_trial":
        from lbp_outcomes.cohort.generate import trial_cohorts

        frames, manifest, truths = trial_cohorts(cfg.source.synthetic)
    elif cfg.source.synthetic is not None:
        from lbp_outcomes.cohort.generate import synthetic_cohorts

        frames, manifest = synthetic_cohorts(cfg.source.synthetic)
    else:
        from lbp_outcomes.cohort.ingest import ingest

        cohorts = ingest(cfg, root)
        frames = {name: frame for name, (frame, _) in cohorts.items()}
        manifest = {"cohorts": {}}
        for name, (frame, shown) in cohorts.items():
            manifest["cohorts"][name] = {"source": shown, "rows": len(frame)}
    return _write(root, frames, manifest, truths)


def _write(
    root: Path,
    frames: dict[str, pd.DataFrame],
    manifest: dict[str, Any],
    truths: dict[str, Any],
) -> dict[str, Any]:
    """All of data/raw at once; ``truths``: per cohort (Trial, population) of a synthetic
    trial, written under data/raw/truth/<cohort>/ (evaluation only, docs/treatment.md)."""
    with Outputs() as out:
        folder = out.directory(root / paths.RAW)
        for name, frame in frames.items():
            frame.to_parquet(paths.cohort_file(folder, name), index=False)
        if truths:
            from lbp_outcomes.cohort import truth

            manifest["truth"] = {}
            for cohort, (made, population) in truths.items():
                files = truth.write(folder / truth.TRUTH / cohort, made, population)
                where = paths.RAW / truth.TRUTH / cohort
                manifest["truth"][cohort] = {k: str(where / f) for k, f in files.items()}
        (folder / paths.MANIFEST).write_text(to_json_text(manifest), encoding="utf-8")
    return manifest
