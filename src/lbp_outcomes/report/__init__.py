"""Report stage: one self-contained HTML report and its Markdown twin.

Inputs (each optional; a section whose input is absent says so in one line):
data/raw/manifest.json (cohort sources; synthetic generator settings and oracle R2),
reports/cleaning.json (participant flow), data/features/*.parquet (Table 1, published-vs-
generated descriptives), reports/metrics/cv.json and reports/plots/cv/ (cross-validated
performance), reports/metrics/external.json and reports/plots/external/ (external
validation), reports/shap/ (explanations), reports/tracking.json (the MLflow parent run),
and params (settings, the data config and its published ``reference``).

Outputs: reports/report.html (CSS inline, figures embedded as data: URIs, no network
access needed to open it) and reports/report.md (same content, figures linked by relative
path), both also logged to the MLflow parent run under ``report/``, with what external, explain
and effects wrote (:mod:`lbp_outcomes.tracking.outputs`). Same inputs, same bytes:
the report carries the git commit and data hashes, never the time.

Sections: summary, methods, cohort and data flow, Table 1, cross-validated performance,
published vs reproduced (only with ``reference``), external validation (left out when
the data config has no external cohort), SHAP explanations, the TRIPOD+AI checklist,
limitations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbp_outcomes import catalog, paths
from lbp_outcomes.atomic import Outputs
from lbp_outcomes.config import Params
from lbp_outcomes.report import render
from lbp_outcomes.report.builder import build
from lbp_outcomes.report.inputs import load
from lbp_outcomes.tracking import Tracker, read_parent_run
from lbp_outcomes.tracking.outputs import log_outputs

HTML_FILE = catalog.REPORT_HTML
MD_FILE = catalog.REPORT_MD


def run(params: Params, root: Path) -> dict[str, Any]:
    inputs = load(root, params)
    report = build(params, inputs)
    html = render.html(report, root / paths.REPORTS)
    markdown = render.markdown(report)

    tracker = Tracker(params, root)
    with tracker.pipeline_run("report", resume=read_parent_run(root)), Outputs() as out:
        html_path = out.file(root / HTML_FILE)
        html_path.write_text(html, encoding="utf-8")
        md_path = out.file(root / MD_FILE)
        md_path.write_text(markdown, encoding="utf-8")
        # The staged files carry their final names, so MLflow stores report.html/report.md;
        # logging before the rename means a failed upload leaves the old report in place.
        tracker.log_artifacts({"report": html_path})
        tracker.log_artifacts({"report": md_path})
        # external, explain and effects compute without MLflow: their outputs go to the
        # parent run here, in this one MLflow session (tracking/outputs.py says why)
        log_outputs(tracker, root)

    headings = [f"{number} {title}" for level, number, title in report.headings() if level == 2]
    print(f"report: wrote {HTML_FILE} and {MD_FILE} ({len(headings)} sections)")
    return {"html": str(HTML_FILE), "markdown": str(MD_FILE), "sections": headings}
