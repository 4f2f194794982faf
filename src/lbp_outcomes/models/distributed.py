"""Distributed boosting: XGBoost and LightGBM trained across a Dask cluster, as
scikit-learn estimators that sit in the same Pipeline as every other model.

:class:`DistributedRegressor` / :class:`DistributedClassifier` wrap an unfitted
``xgboost.XGBRegressor`` / ``XGBClassifier`` (also the random-forest variants) or
``lightgbm.LGBMRegressor`` / ``LGBMClassifier``. ``fit(X, y)`` takes the Pipeline's
preprocessed X, a float array (n_patients, n_encoded_columns), and y (n_patients,), cuts
the rows into one contiguous block per worker, sends each block to its worker, and trains
the library's own Dask estimator (``xgboost.dask.DaskXGB*``, ``lightgbm.dask.DaskLGBM*``)
with the wrapped estimator's hyperparameters on the driver's active Client. The fitted
model is then kept as ``estimator_``: a plain in-memory estimator of the wrapped class, so
predicting, pickling, skops, SHAP and MLflow logging treat it like any other booster;
:func:`in_memory` swaps it into a fitted Pipeline in place of the wrapper.

Preprocessing is fitted by the Pipeline on the training rows only (no leakage), exactly
as in memory. Threads are explicit: XGBoost uses the wrapped estimator's ``n_jobs`` on
each worker; lightgbm.dask always uses each worker's thread count
(``executor.dask.threads_per_worker`` for a cluster started to match it).

Not bit-for-bit equal to in-memory training: the histogram bins are built from sketches
merged across workers, and row subsampling draws per worker. Repeat runs: XGBoost assigns
ranks by worker name and repeats exactly on the same cluster; LightGBM ranks follow
where Dask places each block, which varies between runs (README, "Executors").
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

# In-memory estimator class -> its Dask counterpart (import paths: nothing imported until a
# distributed fit, so the rest of the project never needs dask.distributed loaded).
DASK_COUNTERPARTS = {
    "xgboost.sklearn.XGBRegressor": "xgboost.dask.DaskXGBRegressor",
    "xgboost.sklearn.XGBClassifier": "xgboost.dask.DaskXGBClassifier",
    "xgboost.sklearn.XGBRFRegressor": "xgboost.dask.DaskXGBRFRegressor",
    "xgboost.sklearn.XGBRFClassifier": "xgboost.dask.DaskXGBRFClassifier",
    "lightgbm.sklearn.LGBMRegressor": "lightgbm.dask.DaskLGBMRegressor",
    "lightgbm.sklearn.LGBMClassifier": "lightgbm.dask.DaskLGBMClassifier",
}


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def supports(cls: type) -> bool:
    """Whether estimators of class ``cls`` can train distributed (XGBoost, LightGBM)."""
    return _path(cls) in DASK_COUNTERPARTS


def wrap(estimator: Any, task: str) -> DistributedRegressor | DistributedClassifier:
    """The distributed wrapper for an unfitted XGBoost/LightGBM estimator."""
    if not supports(type(estimator)):
        raise ValueError(f"{_path(type(estimator))} has no Dask counterpart to train with")
    cls = DistributedClassifier if task == "binary" else DistributedRegressor
    return cls(estimator)


def in_memory(model: Any) -> Any:
    """A fitted Pipeline with a distributed last step replaced by its in-memory estimator
    (what gets saved, logged and explained); any other model is returned as it is."""
    if isinstance(model, Pipeline) and isinstance(model.steps[-1][1], _Distributed):
        name, step = model.steps[-1]
        model.steps[-1] = (name, step.estimator_)
    return model


def partition(client: Any, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Dask arrays of X (n, p) and y (n,): one contiguous block of rows per worker.

    Workers are taken in name order (a LocalCluster names them 0, 1, ...) and block i is
    sent to worker i, so where the data sits does not depend on scheduling.
    """
    import dask.array as da

    info = client.scheduler_info(n_workers=-1)["workers"]
    workers = sorted(info, key=lambda address: (str(info[address].get("name")), address))
    n_blocks = max(1, min(len(workers), len(y)))
    bounds = np.linspace(0, len(y), n_blocks + 1).round().astype(int)
    xs, ys = [], []
    for worker, start, stop in zip(workers, bounds[:-1], bounds[1:], strict=False):
        x_part = client.scatter(X[start:stop], workers=[worker], hash=False)
        y_part = client.scatter(y[start:stop], workers=[worker], hash=False)
        xs.append(da.from_delayed(x_part, shape=(stop - start, X.shape[1]), dtype=X.dtype))
        ys.append(da.from_delayed(y_part, shape=(stop - start,), dtype=y.dtype))
    return da.concatenate(xs), da.concatenate(ys)


def _driver_client() -> Any:
    """The driver's current Client; refuses to run inside a Dask task (that would nest a
    cluster-wide job inside one worker's task, which can deadlock the cluster)."""
    from dask.distributed import default_client, get_worker

    try:
        get_worker()
    except ValueError:
        pass
    else:
        raise RuntimeError("distributed boosting must be started from the driver, not a Dask task")
    try:
        return default_client()
    except ValueError:
        raise RuntimeError(
            "distributed boosting needs an active dask.distributed Client "
            "(executor=dask with executor.dask.address)"
        ) from None


class _Distributed(BaseEstimator):
    """Shared fit logic; see the module docstring."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> _Distributed:
        from hydra.utils import get_class

        X, y = validate_data(
            self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", y_numeric=True
        )
        if isinstance(self, ClassifierMixin):
            check_classification_targets(y)
            self.classes_ = np.unique(y)
        client = _driver_client()
        path = _path(type(self.estimator))
        if path not in DASK_COUNTERPARTS:
            raise ValueError(f"{path} has no Dask counterpart to train with")
        params = self.estimator.get_params()
        dask_cls = get_class(DASK_COUNTERPARTS[path])
        X_parts, y_parts = partition(client, X, y)
        if path.startswith("lightgbm."):
            model = dask_cls(**_lightgbm_params(params), client=client)
            with warnings.catch_warnings():
                # lightgbm.dask always says it ignores n_jobs: it uses each worker's threads
                warnings.filterwarnings("ignore", message="Parameter .* will be ignored")
                model.fit(X_parts, y_parts)
            local = model.to_local()
            # Predicting in memory uses the wrapped estimator's own thread setting, as an
            # in-memory fit would.
            local.set_params(n_jobs=params.get("n_jobs"))
        else:
            model = dask_cls(**params)
            model.client = client
            model.fit(X_parts, y_parts, verbose=False)
            local = clone(self.estimator)
            local.load_model(bytearray(model.get_booster().save_raw("ubj")))
        self.estimator_ = local
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # boosters split on missing values natively
        return tags


class DistributedRegressor(RegressorMixin, _Distributed):
    """An XGBoost/LightGBM regressor trained across the active Dask cluster.

    ``predict(X)`` -> (n_patients,) predictions of the in-memory ``estimator_``.
    """


class DistributedClassifier(ClassifierMixin, _Distributed):
    """An XGBoost/LightGBM classifier trained across the active Dask cluster.

    ``predict_proba(X)`` -> (n_patients, n_classes) probabilities of ``estimator_``.
    """

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


def _lightgbm_params(params: dict[str, Any]) -> dict[str, Any]:
    """LightGBM constructor params minus the thread count, which lightgbm.dask sets from
    each worker (it would otherwise warn that the value is ignored)."""
    # num_threads and its documented aliases (LightGBM "Parameters": num_threads)
    threads = {"num_threads", "num_thread", "nthread", "nthreads", "n_jobs"}
    return {k: v for k, v in params.items() if k not in threads}
