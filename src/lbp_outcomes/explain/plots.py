"""The explain stage's figures: a bar chart of mean |SHAP| and shap's beeswarm per target."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from lbp_outcomes import paths
from lbp_outcomes.catalog import Manifest
from lbp_outcomes.config import Params
from lbp_outcomes.explain.attribution import Attribution, global_numpy_seed
from lbp_outcomes.models.preprocess import FeatureSpec
from lbp_outcomes.seeds import derive_seed

DPI = 200  # sharp in print (the report checks >= 200)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def unit_caption(unit: str, task: str, outcome: str) -> str:
    """What a SHAP value measures, for axis labels and titles (``outcome``: its label,
    which carries the unit of a regression target)."""
    if task == "binary":
        return f"change in {unit} of {outcome}"
    return f"change in predicted {outcome}"


def _wrap(text: str, width: int = 88) -> str:
    return "\n".join(textwrap.wrap(text, width))


def bar_plot(
    entry: dict[str, Any], labels: dict[str, str], title: str, caption: str, top_k: int, path: Path
) -> None:
    """Horizontal bars of mean |SHAP| for the ``top_k`` input columns, most important on
    top, each with its value (3 significant digits: probabilities are small numbers)."""
    plt = _plt()
    shown = entry["ranking"][:top_k]
    values = [entry["features"][c] for c in shown]
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(shown) + 1.8))
    ys = np.arange(len(shown))[::-1]
    ax.barh(ys, values, color="#1E88E5", height=0.7)
    ax.set_yticks(ys, [labels[c] for c in shown], fontsize=9)
    for y, value in zip(ys, values, strict=True):
        ax.text(value, y, f" {value:.3g}", va="center", fontsize=8)
    ax.set_xlim(0, 1.15 * max(values) if max(values) > 0 else 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(_wrap(f"mean |SHAP value| over patients: {caption}"), fontsize=9)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def beeswarm_plot(
    attribution: Attribution,
    labels: list[str],
    title: str,
    caption: str,
    top_k: int,
    seed: int,
    path: Path,
) -> None:
    """shap's beeswarm: one dot per patient and input column (``top_k`` columns, the rest
    summed in one row), coloured by the input's value (categories by their position in the
    data config's ``values``; missing values grey)."""
    import shap

    plt = _plt()
    explanation = shap.Explanation(
        values=attribution.values,
        base_values=np.full(len(attribution.values), attribution.base_value),
        data=attribution.data,
        feature_names=labels,
    )
    shown = min(top_k, len(labels))
    rows = shown + (shown < len(labels))  # shap sums the columns not shown in one extra row
    fig, ax = plt.subplots(figsize=(8, 0.42 * rows + 2.0))
    # the beeswarm jitters dots with NumPy's global RNG: seed it for identical bytes
    with global_numpy_seed(seed):
        shap.plots.beeswarm(explanation, max_display=rows, ax=ax, show=False, plot_size=None)
    ax.tick_params(axis="y", labelsize=9)
    ax.set_xlabel(
        _wrap(f"SHAP value: {caption}") + "\ncolour: the input's value "
        "(categories in the data config's order; missing in grey)",
        fontsize=9,
    )
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    # bbox "tight": long labels and the colour bar are never cut off; fixed metadata so
    # identical figures give identical bytes (DVC sees no change)
    fig.savefig(path, dpi=DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    _plt().close(fig)


def figures(
    folder: Path,
    report: dict[str, Any],
    attributions: dict[str, Attribution],
    params: Params,
    manifest: Manifest,
) -> None:
    """<target>_bar.png and <target>_beeswarm.png for every explained target."""
    cfg = params.data
    columns = FeatureSpec.from_config(cfg).columns
    labels = list(columns)  # by name: display labels are the report's
    for target, attribution in attributions.items():
        entry = report[target]
        family = entry["family"]
        family_label = family  # by key: display names are the report's
        outcome = target
        caption = unit_caption(attribution.unit, manifest.targets[target].task, outcome)
        title = _wrap(
            f"{outcome}: SHAP values of the {family_label} champion, in {attribution.unit}"
        )
        top_k = params.explain.top_k
        bar_plot(
            entry,
            dict(zip(columns, labels, strict=True)),
            title,
            caption,
            top_k,
            folder / f"{paths.slug(target)}_bar.png",
        )
        beeswarm_plot(
            attribution,
            labels,
            title,
            caption,
            top_k,
            derive_seed(params.seed, "plot", target),
            folder / f"{paths.slug(target)}_beeswarm.png",
        )
