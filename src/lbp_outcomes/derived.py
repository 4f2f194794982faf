"""Row-wise derived-feature functions that a data config may name (``derived: {function: ...}``).

Each function takes whole columns (pandas Series, one value per patient) plus keyword
options from the config and returns one Series of the same length. Nothing here is fitted:
a derived value depends on its own row only, so computing it before the CV split leaks
nothing. Arithmetic derivations (ratios, sums, unit changes, days between dates) need no
function here; the data config writes them as ``expr`` (:mod:`lbp_outcomes.expressions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIT_TYPES = ("normal", "low", "high")


def fit_type(
    ll: pd.Series, sba: pd.Series, tolerance: float = 0.2, sba_cut: float = 15.0
) -> pd.Series:
    """LET fit type: lumbar lordosis (LL, degrees) relative to the sacral base angle (SBA).

    - ``normal``: |LL - SBA| <= tolerance * SBA (LL within 20% of SBA, boundary included)
    - ``low``:    otherwise, and SBA <  sba_cut (15 degrees)
    - ``high``:   otherwise, and SBA >= sba_cut

    The paper leaves SBA == 15 unassigned; we put it in ``high`` (``>=``), and a patient
    exactly on the 20% boundary in ``normal``. Missing LL or SBA gives a missing fit type.
    """
    ll = pd.to_numeric(ll, errors="coerce").to_numpy(dtype=float)
    sba = pd.to_numeric(sba, errors="coerce").to_numpy(dtype=float)
    normal = np.abs(ll - sba) <= tolerance * sba
    out = np.where(normal, "normal", np.where(sba < sba_cut, "low", "high")).astype(object)
    out[np.isnan(ll) | np.isnan(sba)] = None
    return pd.Series(out, dtype="object")


FUNCTIONS = {"fit_type": fit_type}
