"""Fitted pipelines as MLflow logged models: skops format (the project's own estimator
types declared trusted), signature, a made-up typical patient as input example, and pinned
pip requirements."""

from __future__ import annotations

from typing import Any


def pip_requirements() -> list[str]:
    """What the logged models need, pinned to the versions that trained them (no slow
    requirement inference by MLflow)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    dists = ("scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "catboost", "pandas", "numpy")
    for dist in (*dists, "skops"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out


_TRUSTED: dict[tuple[str, ...], list[str]] = {}


def _trusted_types(model: Any, sio: Any) -> list[str]:
    """The types skops must be told to trust when loading ``model`` (XGBoost, LightGBM,
    the project's wrappers). Finding them means serialising the model once more, so the
    answer is kept per pipeline structure (the classes of every step and parameter):
    models of one family and task share it."""

    def name(obj: Any) -> str:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    structure = (name(model), *sorted({name(v) for v in model.get_params(deep=True).values()}))
    if structure not in _TRUSTED:
        _TRUSTED[structure] = sio.get_untrusted_types(data=sio.dumps(model))
    return _TRUSTED[structure]


def log_sklearn_model(
    model: Any, input_example: Any, name: str = "model", run_id: str | None = None
) -> Any:
    """Log a fitted Pipeline with signature and input example (skops format, with the
    project's own estimator types declared trusted) as the logged model ``name`` of run
    ``run_id`` (default: the active run). Returns MLflow's ModelInfo (``model_uri``,
    ``model_id``)."""
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature

    trusted = _trusted_types(model, sio)
    if hasattr(model, "predict_proba"):
        output = model.predict_proba(input_example)[:, 1]
    else:
        output = model.predict(input_example)
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=infer_signature(input_example, output),
        input_example=input_example,
        pip_requirements=pip_requirements(),
        skops_trusted_types=trusted,
        pyfunc_predict_fn="predict_proba" if hasattr(model, "predict_proba") else "predict",
        run_id=run_id,
    )
