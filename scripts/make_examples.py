#!/usr/bin/env python3
"""Generate the two example cohorts under data/examples/ (seeded; rerun to recreate).

They exist to exercise what a real team's data looks like and the LET cohort does not:

- ``spine_registry.csv`` (conf/data/example_registry.yaml): a multi-site registry export,
  600 patients, 150 columns of which the config uses 12; column names with spaces, dots and
  capitals; categorical and ordinal text values; a feature missing for ~40% of patients;
  outcomes missing for some; regression targets only, no MCIC; site "North" held out as the
  external cohort; a few out-of-range pain scores the config drops.
- ``rehab_trial.csv`` (conf/data/example_trial.yaml): a small trial, 100 patients,
  semicolon-separated with decimal commas; binary targets only, one of them rare (about
  10% events); no external cohort at all.

Usage: python scripts/make_examples.py   (writes data/examples/*.csv)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "examples"


def registry(n: int = 600, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.choice(["North", "South", "East", "West"], n, p=[0.25, 0.3, 0.25, 0.2])
    age = rng.integers(19, 86, n)
    sex = rng.choice(["Female", "Male"], n)
    bmi = np.round(rng.normal(27, 5, n).clip(15, 55), 1)
    smoking = rng.choice(["Never", "Former", "Current"], n, p=[0.5, 0.3, 0.2])
    imaging = rng.choice(["none", "mild", "moderate", "severe"], n, p=[0.2, 0.35, 0.3, 0.15])
    pain0 = np.clip(np.round(rng.normal(6.5, 1.6, n)), 0, 10)
    odi0 = np.clip(np.round(rng.normal(38, 14, n)), 0, 100)  # percent
    fear = np.round(rng.normal(45, 12, n).clip(17, 68))  # Tampa scale, 17-68
    sessions = rng.integers(4, 25, n)
    sev = pd.Series(imaging).map({"none": 0, "mild": 1, "moderate": 2, "severe": 3}).to_numpy()
    smoker = smoking == "Current"
    pain12 = (
        0.45 * pain0
        + 0.05 * (age - 50) * 0.3
        + 0.5 * sev
        + 0.8 * smoker
        - 0.06 * np.minimum(sessions, 16)
        + 0.025 * (fear - 45)
        + rng.normal(0, 1.1, n)
    )
    pain12 = np.clip(np.round(pain12 + 1.0), 0, 10)
    odi12 = np.clip(
        np.round(
            0.55 * odi0
            + 2.5 * sev
            + 4 * smoker
            - 0.4 * sessions
            + 0.15 * (bmi - 27)
            + rng.normal(0, 7, n)
            + 6
        ),
        0,
        100,
    )
    # shift at the North site: older, more severe imaging (case mix)
    north = site == "North"
    age = np.where(north, np.minimum(age + 5, 90), age)
    frame = pd.DataFrame(
        {
            "Record ID": [f"REG-{i:05d}" for i in range(n)],
            "Site.Name": site,
            "Age (years)": age,
            "Sex": sex,
            "BMI.kg_m2": bmi,
            "Smoking Status": smoking,
            "MRI Degeneration": imaging,
            "Pain.Baseline": pain0,
            "ODI.Baseline (%)": odi0,
            "TSK Fear Score": fear,
            "Sessions Attended": sessions,
            "Pain.12wk": pain12,
            "ODI.12wk (%)": odi12,
        }
    )
    frame.loc[rng.random(n) < 0.4, "TSK Fear Score"] = np.nan  # questionnaire often skipped
    frame.loc[rng.random(n) < 0.08, "Pain.12wk"] = np.nan  # lost to follow-up (one outcome)
    frame.loc[rng.random(n) < 0.05, ["Pain.12wk", "ODI.12wk (%)"]] = np.nan  # (both)
    frame.loc[rng.choice(n, 3, replace=False), "Pain.Baseline"] = 11  # data-entry errors
    # 138 columns the config does not use (registry exports are wide), some identifying
    extra = {f"Var.{i:03d}": np.round(rng.normal(size=n), 3) for i in range(136)}
    extra["Patient Name"] = [f"Name {i}" for i in range(n)]
    extra["Date of Birth"] = pd.Timestamp("1960-01-01") + pd.to_timedelta(
        rng.integers(0, 20000, n), "D"
    )
    return pd.concat([frame, pd.DataFrame(extra)], axis=1)


def trial(n: int = 100, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["usual care", "graded activity"], n)
    age = rng.integers(25, 70, n)
    pain = np.round(rng.normal(6.2, 1.5, n).clip(1, 10), 1)
    chronicity = rng.choice(["<6 months", "6-12 months", ">12 months"], n, p=[0.3, 0.3, 0.4])
    expect = rng.choice(["low", "medium", "high"], n, p=[0.3, 0.4, 0.3])
    chron = (
        pd.Series(chronicity).map({"<6 months": 0, "6-12 months": 1, ">12 months": 2}).to_numpy()
    )
    exp_ = pd.Series(expect).map({"low": -1, "medium": 0, "high": 1}).to_numpy()
    logit = -0.3 + 0.9 * (arm == "graded activity") - 0.5 * chron + 0.7 * exp_ - 0.15 * (pain - 6)
    recovered = rng.random(n) < 1 / (1 + np.exp(-logit))
    rare_logit = -2.6 + 0.04 * (age - 45) + 0.6 * chron - 0.3 * (arm == "graded activity")
    surgery = rng.random(n) < 1 / (1 + np.exp(-rare_logit))
    frame = pd.DataFrame(
        {
            "ID": [f"T{i:03d}" for i in range(n)],
            "Arm": arm,
            "Age": age,
            "Pain NRS": pain,
            "Chronicity": chronicity,
            "Recovery Expectation": expect,
            "Recovered at 6 months": np.where(recovered, "yes", "no"),
            "Surgery within 1 year": np.where(surgery, "yes", "no"),
        }
    )
    frame.loc[rng.random(n) < 0.06, "Recovered at 6 months"] = ""
    return frame


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    registry().to_csv(OUT / "spine_registry.csv", index=False)
    trial().to_csv(OUT / "rehab_trial.csv", index=False, sep=";", decimal=",")
    print(f"wrote {OUT / 'spine_registry.csv'} and {OUT / 'rehab_trial.csv'}")


if __name__ == "__main__":
    main()
