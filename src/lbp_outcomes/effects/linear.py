"""A linear final stage for the DR-learner (``effects.final: linear``): per non-reference
arm, OLS of the DR effect scores on the effect modifiers, heteroskedasticity-robust (HC3)
covariance, so each patient's effect has a CI. Standardised numbers; columns with at
most ``LEVELS`` distinct values (categories, risk groups, codes) become indicator columns,
so a step effect (e.g. one fit type) is one coefficient. Same interface as EconML's
``RegressionForest`` (fit, predict, predict_interval)."""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVELS = 5


class LinearFinal:
    def fit(self, X: np.ndarray, pseudo: np.ndarray) -> LinearFinal:
        """``X`` (n, p) without missing values, ``pseudo`` (n, K-1)."""
        import statsmodels.api as sm

        self.levels_ = [
            np.unique(X[:, j]) if len(np.unique(X[:, j])) <= LEVELS else None
            for j in range(X.shape[1])
        ]
        self.mean_, self.sd_ = X.mean(axis=0), X.std(axis=0)
        self.sd_[self.sd_ == 0] = 1.0
        D = self._design(X)
        self.coef_, self.cov_ = [], []
        for k in range(pseudo.shape[1]):
            fit = sm.OLS(pseudo[:, k], D).fit(cov_type="HC3")
            self.coef_.append(np.asarray(fit.params))
            self.cov_.append(np.asarray(fit.cov_params()))
        return self

    def _design(self, X: np.ndarray) -> np.ndarray:
        cols = [np.ones(len(X))]
        for j, levels in enumerate(self.levels_):
            if levels is None:
                cols.append((X[:, j] - self.mean_[j]) / self.sd_[j])
            else:
                cols += [(X[:, j] == v).astype(float) for v in levels[1:]]
        return np.column_stack(cols)

    def predict(self, X: np.ndarray) -> np.ndarray:
        D = self._design(X)
        return np.column_stack([D @ b for b in self.coef_])

    def predict_interval(self, X: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        D = self._design(X)
        z = float(stats.norm.ppf(1 - alpha / 2))
        tau = self.predict(X)
        se = np.column_stack([np.sqrt(np.einsum("ij,jk,ik->i", D, c, D)) for c in self.cov_])
        return tau - z * se, tau + z * se
