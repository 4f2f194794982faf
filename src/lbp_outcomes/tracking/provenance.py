"""What a run records about itself: flattened config params and provenance tags (git
commit, DVC-style hashes of the model-ready data, data config, seed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from lbp_outcomes.config import Params


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {"a.b.c": value as text}; lists become JSON text."""
    out: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    else:
        text = json.dumps(tree) if isinstance(tree, list | tuple) else str(tree)
        out[prefix.rstrip(".")] = text[:6000]
    return out


def run_tags(params: Params, root: Path) -> dict[str, str]:
    """Provenance: git commit, DVC hashes of the model-ready data, data config, seed."""
    tags = {
        "data_config": params.data.name,
        "seed": str(params.seed),
        # The standard tag: the UI shows and links it as the run's source version.
        "mlflow.source.git.commit": git(root, "rev-parse", "HEAD") or "unknown",
    }
    if git(root, "status", "--porcelain", "--untracked-files=no"):
        tags["git_dirty"] = "true"
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    tags.update(data_hashes(root))
    return tags


def data_hashes(root: Path) -> dict[str, str]:
    """md5 of each model-ready cohort file (data/features/*.parquet), as DVC hashes files."""
    import hashlib

    out = {}
    for path in sorted((root / "data" / "features").glob("*.parquet")):
        out[f"data_md5.{path.stem}"] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def git(root: Path, *args: str) -> str:
    """``git args`` in ``root``: its output, or "" when git fails or is absent."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def pipeline_params(params: Params) -> dict[str, str]:
    """The parent run's params: what the pipeline ran, in a dozen keys (the whole config is
    the ``config/params.yaml`` artifact)."""
    return {
        "data_config": params.data.name,
        "seed": str(params.seed),
        "families": ",".join(params.model),
        "targets": ",".join(params.data.all_targets),
        **flatten(params.cv.model_dump(mode="json"), "cv."),
        **flatten(params.tuning.model_dump(mode="json"), "tuning."),
        **flatten(params.conformal.model_dump(mode="json"), "conformal."),
    }
