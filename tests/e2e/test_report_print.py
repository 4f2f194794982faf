"""The report on paper: rendered HTML printed to PDF in headless Chromium, with no table or
figure wider than the A4 page column (scripts/check_report_print.py does the measuring).
In the e2e tier because it needs a browser: `tasks.py test` installs Chromium only for a
selection that reaches tests/e2e, so CI (unit + integration + the smoke run) needs none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from lbp_outcomes.report import render
from lbp_outcomes.report.document import (
    Figure,
    KeyValues,
    Note,
    Paragraph,
    Report,
    Section,
    Table,
    metric_value,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def _checker():
    spec = importlib.util.spec_from_file_location(
        "check_report_print", REPO / "scripts" / "check_report_print.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _wide_report(reports: Path) -> Report:
    """Wider than the report's widest shapes (8 columns today: the champion table; 7 with
    a CI in every cell and units in the headers: external validation per family): 9
    columns of estimates with CIs under long unit headers, long text, a wide figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(16, 4))
    ax.plot([0, 1], [0, 1])
    (reports / "plots").mkdir(parents=True)
    fig.savefig(reports / "plots" / "wide.png", dpi=200)
    plt.close(fig)

    stats = {"mean": 0.7342, "ci_low": 0.7011, "ci_high": 0.9981}
    header = ["Model family"] + [f"Calibration-in-the-large {i} (ODI raw /50)" for i in range(1, 9)]
    rows = [[f"Family {k}", *[metric_value("r2", stats)] * 8] for k in range(6)]
    section = Section("results", "Results").add(
        Paragraph("Text " * 200),
        Table("A wide table", header, rows, notes=["A note."]),
        Figure("plots/wide.png", "A wide figure", "wide"),
        Note("A note " * 30, "warning"),
    )
    meta = KeyValues([("Data config", "x" * 150), ("Commit", "0123456789abcdef" * 3)])
    return Report("Title", "Subtitle", "Author", meta, [], [section]).number()


def test_wide_tables_and_figures_fit_the_printed_page(tmp_path):
    checker = _checker()
    reports = tmp_path / "reports"
    html = reports / "report.html"
    report = _wide_report(reports)
    html.write_text(render.html(report, reports), encoding="utf-8")
    pdf = tmp_path / "report.pdf"

    too_wide = checker.check(html, pdf)

    assert too_wide == []
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    measured = {b.kind for b in checker.measure(html)}
    assert {"table", "img", "dl"} <= measured  # the blocks were really found and measured


def test_the_check_finds_a_table_that_does_not_fit(tmp_path):
    """The measuring can fail: a table forced wider than the page is reported by name."""
    checker = _checker()
    reports = tmp_path / "reports"
    html = reports / "report.html"
    text = render.html(_wide_report(reports), reports)
    html.write_text(text.replace("</style>", "table { min-width: 1200px; }</style>"))

    too_wide = checker.check(html)

    assert [b.what for b in too_wide if b.kind == "table"] == ["Table 1."]
