"""Figures of the effects stage (reports/effects/*.png), for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbp_outcomes import paths
from lbp_outcomes.plots import _plt, _save, _wrap


def toc(entry: dict[str, Any], labels: dict[str, str], target: str, path: Path) -> Path:
    """TOC curve per non-reference arm with its bootstrap band: the extra benefit among the
    share of patients predicted to benefit most, over everyone's average."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm, v in entry["validation"].items():
        curve = v["toc"]
        (line,) = ax.plot(
            curve["fraction"], curve["toc"], marker="o", ms=3, label=labels.get(arm, arm)
        )
        ax.fill_between(
            curve["fraction"],
            curve["toc_low"],
            curve["toc_high"],
            alpha=0.15,
            color=line.get_color(),
        )
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("Share of patients treated, highest predicted benefit first")
    ax.set_ylabel(f"Extra benefit vs average ({entry['label']})")
    ax.set_title(_wrap(f"Targeting curve (TOC) of the predicted effects: {entry['label']}"))
    ax.legend(fontsize=7)
    return _save(fig, path)


def groups(entry: dict[str, Any], labels: dict[str, str], path: Path) -> Path:
    """Observed (DR) vs predicted effect by predicted-effect group, one panel per arm."""
    plt = _plt()
    arms = list(entry["validation"])
    fig, axes = plt.subplots(
        1, len(arms), figsize=(2.6 * len(arms), 3.0), sharey=True, squeeze=False
    )
    for ax, arm in zip(axes[0], arms, strict=True):
        g = entry["validation"][arm]["groups"]
        x = [r["group"] for r in g]
        obs = [r["observed"]["estimate"] for r in g]
        err = [
            [o - r["observed"]["ci_low"] for o, r in zip(obs, g, strict=True)],
            [r["observed"]["ci_high"] - o for o, r in zip(obs, g, strict=True)],
        ]
        ax.errorbar(x, obs, yerr=err, fmt="o", ms=4, label="observed (DR)")
        ax.plot(x, [r["predicted"] for r in g], "s--", ms=3, label="predicted")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(_wrap(labels.get(arm, arm), 22), fontsize=8)
        ax.set_xlabel("predicted-effect group")
    axes[0][0].set_ylabel("Effect vs reference")
    fig.suptitle(_wrap(f"Observed vs predicted effect: {entry['label']}", 90), fontsize=9)
    axes[0][0].legend(fontsize=6)
    return _save(fig, path)


def write(report: dict[str, Any], folder: Path) -> list[Path]:
    """The policy target's figures into ``folder`` (the staged reports/effects/)."""
    target = report["policy_target"]
    entry, labels = report["targets"][target], report["arms"]
    slug = paths.slug(target)
    return [
        toc(entry, labels, target, folder / f"{slug}_toc.png"),
        groups(entry, labels, folder / f"{slug}_groups.png"),
    ]
