"""Loading and validating the pipeline's parameters.

Hydra composes conf/ (plus any ``-S`` overrides) into params.yaml; DVC does that on every
``dvc exp run``, and ``lbp-outcomes compose`` does it by hand. Every stage reads
params.yaml through :func:`load_params`, which validates *all* of it against the models
below before the stage does any work: a typo in a key, a wrong type or an impossible value
stops every stage with one line naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lbp_outcomes.dataconfig import DataConfig
from lbp_outcomes.errors import UserError, did_you_mean, format_validation_error

PARAMS_FILE = "params.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingConfig(_Strict):
    """MLflow tracking. Relative paths resolve against the real project root."""

    enabled: bool = True
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: str = "mlruns/artifacts"
    experiment: str


class Params(_Strict):
    """Everything in params.yaml. Sections for later stages are added as they exist."""

    seed: int
    data: DataConfig
    tracking: TrackingConfig
    # Stage groups not validated here yet are kept as plain mappings.
    model_config = ConfigDict(extra="allow", frozen=True)


# -- locations ---------------------------------------------------------------------------
def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding dvc.yaml and conf/, searched upwards from ``start`` (cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "config.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    raise UserError(f"{here}: not inside an lbp-outcomes project (no dvc.yaml and conf/ found)")


def store_root(root: Path | None = None) -> Path:
    """Where shared state (the MLflow store) lives: the real project root.

    ``dvc exp run --temp/--queue`` runs stages in a temporary copy under
    .dvc/tmp/exps/; DVC then sets DVC_ROOT to the parent repository, and results must land
    there, not in the copy that DVC deletes afterwards.
    """
    root = root or project_root()
    env_root = os.environ.get("DVC_ROOT")
    if env_root and (Path(env_root) / "dvc.yaml").is_file():
        return Path(env_root).resolve()
    parts = root.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


# -- params ------------------------------------------------------------------------------
def read_params(root: Path | None = None) -> dict[str, Any]:
    root = root or project_root()
    path = root / PARAMS_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; run `lbp-outcomes compose` or `dvc exp run`")
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of parameters")
    return raw


def validate_params(raw: dict[str, Any], source: str = PARAMS_FILE) -> Params:
    """Validate a composed parameter mapping; one-line :class:`UserError` on failure."""
    data = raw.get("data")
    if isinstance(data, dict):
        name = data.get("name", "?")
        try:
            DataConfig.model_validate(data)
        except ValidationError as exc:
            source = f"data config conf/data/{name}.yaml"
            raise UserError(format_validation_error(source, exc)) from None
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(format_validation_error(source, exc)) from None


def load_params(root: Path | None = None) -> Params:
    root = root or project_root()
    return validate_params(read_params(root), source=str(root / PARAMS_FILE))


def compose(overrides: list[str] | None = None, root: Path | None = None) -> dict[str, Any]:
    """Compose conf/ with Hydra overrides, resolved, as DVC's Hydra integration does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    root = root or project_root()
    try:
        with initialize_config_dir(str(root / "conf"), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides or []))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"conf/ with overrides {list(overrides or [])}: {exc}") from None
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]


def write_params(params: dict[str, Any], root: Path | None = None) -> Path:
    """Write params.yaml in the same layout DVC's Hydra integration writes."""
    from omegaconf import OmegaConf

    from lbp_outcomes.atomic import write_text

    root = root or project_root()
    path = root / PARAMS_FILE
    write_text(path, OmegaConf.to_yaml(OmegaConf.create(params)))
    return path


def group_options(group: str, root: Path | None = None) -> list[str]:
    """Config names available in a conf/ group (for messages and tests)."""
    root = root or project_root()
    return sorted(p.stem for p in (root / "conf" / group).glob("*.yaml"))


def check_choice(group: str, name: str, root: Path | None = None) -> None:
    options = group_options(group, root)
    if name not in options:
        raise UserError(
            f"conf/{group}/{name}.yaml: no such config{did_you_mean(name, options)}; "
            f"options: {', '.join(options)}"
        )


Kind = Literal["development", "external"]
COHORTS: tuple[Kind, Kind] = ("development", "external")
