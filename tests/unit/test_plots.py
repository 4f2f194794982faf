"""Figures that print: no text outside the canvas, >= 200 dpi, display names, the champion
marked, every printed statistic defined. Each plot function is drawn with the longest
labels the report meets (long outcome labels, long family names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lbp_outcomes import plots

LABELS = {"random_forest": "Random forest", "linear": "Linear / logistic regression (elastic net)"}
LONG = "ODI improved by ≥ 12 percentage points (6 raw points)"


@pytest.fixture
def figures(monkeypatch):
    """Keep each figure open after saving, to inspect where its text landed."""
    kept = []
    save = plots._save

    def keep(fig, path):
        kept.append(fig)
        fig.savefig(path, dpi=plots.DPI, metadata={"Software": None})
        return path

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    monkeypatch.setattr(plots, "_save", save)


def _outside(fig) -> list[str]:
    """What the drawn figure puts outside its canvas (clipped in the PNG): the overhang of
    the tight box of everything drawn (titles, labels, tick labels in view, legends), and
    the texts that cause it."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    drawn = fig.get_tightbbox(renderer)  # inches
    tol = 1 / fig.dpi
    if (drawn.x0 >= -tol and drawn.y0 >= -tol and drawn.x1 <= width + tol
            and drawn.y1 <= height + tol):  # fmt: skip
        return []
    box = fig.bbox
    return [
        t.get_text() or "?"
        for t in fig.findobj(Text)
        if t.get_visible()
        and t.get_text().strip()
        and t.axes is None
        and not box.contains(*t.get_window_extent(renderer).p0)  # fmt: skip
    ] or [f"drawn area {drawn.bounds} beyond {width:.2f} x {height:.2f} in"]


def _oof(rng) -> pd.DataFrame:
    rows = []
    for family in ("random_forest", "linear"):
        y = rng.normal(25, 5, 80)
        rows.append(pd.DataFrame({"family": family, "row": np.arange(80), "observed": y,
                                  "predicted": y + rng.normal(0, 2, 80)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_every_figure_keeps_its_text_inside_and_prints_at_200_dpi(figures, tmp_path):
    rng = np.random.default_rng(0)
    oof = _oof(rng)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.5 + rng.uniform(0, 0.5, 300), 0, 1)
    curve = plots.calibration_curve_data(y, p)
    title = f"{LONG}: calibration of out-of-fold predictions in the external cohort"
    plots.observed_vs_predicted(
        oof, f"Lumbar lordosis after treatment (degrees): {title}", "(degrees)",
        tmp_path / "a.png", families=["random_forest", "linear"], labels=LABELS,
        champion="linear", r2={"random_forest": 0.61, "linear": 0.7},
    )  # fmt: skip
    plots.calibration({"random_forest": curve, "linear": curve}, title, tmp_path / "b.png",
                      LONG, LABELS, "random_forest")  # fmt: skip
    plots.regression_calibration(oof["observed"].to_numpy(), oof["predicted"].to_numpy(),
                                 title, LONG, tmp_path / "c.png")  # fmt: skip
    smd = {f"predictor {i} with a long label (unit)": (i - 7) / 20 for i in range(15)}
    plots.smd_bars(smd, {}, "Case mix: external vs development (standardised mean difference)",
                   tmp_path / "d.png")  # fmt: skip

    assert len(figures) == 4
    for fig in figures:
        assert _outside(fig) == []
    for name in "abcd":
        with Image.open(tmp_path / f"{name}.png") as image:
            assert round(image.info["dpi"][0]) >= 200


def test_figures_name_families_by_display_name_and_mark_the_champion(figures, tmp_path):
    from matplotlib.text import Text

    oof = _oof(np.random.default_rng(1))
    plots.observed_vs_predicted(
        oof, "Pain", "(NRS)", tmp_path / "a.png", labels=LABELS, champion="random_forest",
        r2={"random_forest": 0.612, "linear": 0.5},
    )  # fmt: skip
    texts = " | ".join(" ".join(t.get_text().split()) for t in figures[0].findobj(Text))
    assert "random_forest" not in texts
    assert "Random forest (champion) mean fold R² 0.612" in texts
    assert LABELS["linear"] + " mean fold R² 0.500" in texts
    # the statistic in the panels is defined on the figure itself
    assert "Mean fold R²: R² in each outer test fold, averaged over folds and repeats" in texts
    assert "pooled" not in texts

    curve = plots.calibration_curve_data(np.array([0, 1] * 50), np.linspace(0.01, 0.99, 100))
    plots.calibration({"random_forest": curve, "linear": curve}, "t", tmp_path / "b.png",
                      "event", LABELS, "linear")  # fmt: skip
    legend = [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()]
    assert legend == ["perfect calibration", "Random forest", f"{LABELS['linear']} (champion)"]
