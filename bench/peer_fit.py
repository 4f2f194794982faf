"""One AutoML peer on the project's outer folds, inside the peers' own venv (bench/.venv-peers).

    bench/.venv-peers/bin/python bench/peer_fit.py FOLDER --library autogluon \
        --preset best_quality --seconds-per-fold 18.0 --n-jobs 2 --out predictions.json

FOLDER holds what bench/peers.py wrote from the project's venv: ``inputs.csv`` (the 15 model
inputs and the outcome ``y`` of one target, rows in the project's order, no patient ids) and
``folds.json`` (task, categorical columns, and every outer fold as row positions). For each
fold the peer fits on the training rows within ``--seconds-per-fold`` and predicts the test
rows. Writes the predictions (regression: the outcome; binary: P(y = 1)) per fold; the
project's side scores them with its own metrics, so both are scored by one definition.

Imports nothing from the project: AutoGluon and FLAML pin an older pandas than the project's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

# FLAML's default estimators less CatBoost: CatBoost is installed here for AutoGluon, and
# FLAML with it importable spends small budgets on CatBoost's first configurations and
# collapses to R2 0.45-0.50 (issue 14); without it FLAML searches as in the project's venv.
FLAML_ESTIMATORS = ["lgbm", "rf", "xgboost", "extra_tree", "xgb_limitdepth"]


def load(folder: Path) -> tuple[pd.DataFrame, pd.Series, dict]:
    meta = json.loads((folder / "folds.json").read_text())
    frame = pd.read_csv(folder / "inputs.csv")
    for column in meta["categorical"]:
        frame[column] = frame[column].astype("category")
    return frame.drop(columns="y"), frame["y"], meta


def fit_autogluon(X, y, task, preset, seconds, n_jobs, seed, workdir):
    """A TabularPredictor with the preset's defaults, scored by R2 / ROC AUC."""
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(
        label="y",
        problem_type="regression" if task == "regression" else "binary",
        eval_metric="r2" if task == "regression" else "roc_auc",
        path=workdir,
        verbosity=0,
    )
    predictor.fit(
        X.assign(y=y),
        presets=preset,
        time_limit=seconds,
        num_cpus=n_jobs,
        num_gpus=0,
        ag_args_fit={"random_seed": seed},
        # DyStack (a holdout sub-fit on 25 % of the budget to choose the stack depth) is off:
        # at the 1x budget (seconds per fold) the sub-fit fits no model and AutoGluon 1.6.3
        # then fails ("Learner is already fit"); off at 5x too, so both budgets fit alike.
        # The preset's stacking (one stack level over 8-fold bagged models) stays.
        dynamic_stacking=False,
    )
    return predictor, predictor.model_best


def predict_autogluon(predictor, X, task):
    if task == "regression":
        return predictor.predict(X).to_numpy(dtype=float)
    return predictor.predict_proba(X)[predictor.positive_class].to_numpy(dtype=float)


def fit_flaml(X, y, task, seconds, n_jobs, seed):
    from flaml import AutoML

    automl = AutoML()
    automl.fit(
        X,
        y.to_numpy(),
        task="regression" if task == "regression" else "classification",
        metric="r2" if task == "regression" else "roc_auc",
        time_budget=seconds,
        n_jobs=n_jobs,
        seed=seed,
        estimator_list=FLAML_ESTIMATORS,
        verbose=0,
    )
    return automl, automl.best_estimator


def predict_flaml(automl, X, task):
    if task == "regression":
        return automl.predict(X).astype(float)
    return automl.predict_proba(X)[:, 1].astype(float)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--library", choices=["autogluon", "flaml"], required=True)
    parser.add_argument("--preset", default="best_quality")
    parser.add_argument("--seconds-per-fold", type=float, required=True)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    X, y, meta = load(args.folder)
    task = meta["task"]
    folds = []
    for i, fold in enumerate(meta["folds"]):
        train, test = fold["train"], fold["test"]
        seed = (args.seed + i) % 2**31
        started = time.perf_counter()
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as workdir:
            warnings.simplefilter("ignore")
            if args.library == "autogluon":
                try:
                    model, best = fit_autogluon(
                        X.iloc[train], y.iloc[train], task, args.preset,
                        args.seconds_per_fold, args.n_jobs, seed, workdir,
                    )  # fmt: skip
                    pred = predict_autogluon(model, X.iloc[test], task)
                except RuntimeError as error:  # "No models were trained successfully"
                    if "No models were trained" not in str(error):
                        raise
                    # no model within the budget (a busy machine): the fold is scored as
                    # the training mean predicts, as a user of that budget would get nothing
                    best, pred = (
                        "none in budget (training mean)",
                        [float(y.iloc[train].mean())] * len(test),
                    )
            else:
                model, best = fit_flaml(
                    X.iloc[train], y.iloc[train], task, args.seconds_per_fold, args.n_jobs, seed
                )
                pred = predict_flaml(model, X.iloc[test], task)
        folds.append(
            {
                "repeat": fold["repeat"],
                "fold": fold["fold"],
                "predictions": [float(v) for v in pred],
                "best_model": str(best),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        name = args.library + (f" {args.preset}" if args.library == "autogluon" else "")
        print(f"{name} fold {i + 1}/{len(meta['folds'])}: {best}", flush=True)
    args.out.write_text(json.dumps({"folds": folds}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
