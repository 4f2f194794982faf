#!/usr/bin/env python3
"""Generate the two example cohorts under data/examples/ (seeded; rerun to recreate).

They exist to exercise what a real team's data looks like and the LET cohort does not:

- ``spine_registry.csv`` (conf/data/example_registry.yaml): a multi-site registry export,
  600 patients, 150 columns of which the config uses 12; column names with spaces, dots and
  capitals; categorical and ordinal text values; a feature missing for ~40% of patients;
  outcomes missing for some; regression targets only, no MCIC; site "North" held out as the
  external cohort; a few out-of-range pain scores the config drops.
- ``rehab_trial.csv`` (conf/data/example_trial.yaml): a small trial, 100 patients,
  semicolon-separated with decimal commas; binary targets only, one of them rare (12
  events in 100); no external cohort at all.
- ``clinic_a.parquet`` + ``clinic_b.csv`` (conf/data/example_clinics.yaml): two
  physiotherapy clinics, the first (Parquet, typed columns, a pandas categorical) for
  development and the second (CSV, other column order, extra columns, -99 as the missing
  code) as a separate external file; a regression and a binary target plus an MCIC
  responder target; a third outcome with 2 events, too few to cross-validate, which the
  pipeline skips with a warning.
- ``two_arm_trial.csv`` (conf/data/example_two_arm.yaml): a two-arm trial export as trial
  units share them: no patient-id column, numeric centre codes (centre 3 held out as the
  external cohort), dates as dd/mm/yyyy text (randomisation, symptom onset), baseline and
  12-week scores side by side, and an eligibility column; the config derives a change
  score, a thresholded binary and a relative (>= 50 %) responder target from the scores,
  days since onset from the dates, and keeps eligible rows only.
- ``treatment_trial.csv`` (conf/data/example_treatment_trial.yaml): a two-arm trial export
  with a ``treatment`` block (docs/treatment.md): numeric arm codes (1 intervention, 0 usual
  care) allocated 2:1 in permuted blocks within site, a binary 26-week recovery outcome
  (Y/N, blank when lost to follow-up), and a fear-avoidance score that modifies the effect.

Usage: python scripts/make_examples.py   (writes data/examples/*; same seed, same files)
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


def two_arm(n: int = 240, seed: int = 11) -> pd.DataFrame:
    """Exercise vs education; outcomes at 12 weeks depend on arm, baseline and chronicity."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["exercise", "education"], n)
    exercise = arm == "exercise"
    centre = rng.choice([1, 2, 3], n, p=[0.4, 0.35, 0.25])
    age = rng.integers(19, 75, n)
    randomised = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 540, n), "D")
    onset_days = rng.gamma(2.0, 60.0, n).round()
    onset = randomised - pd.to_timedelta(onset_days, "D")
    pain_bl = rng.integers(3, 11, n)
    rmdq_bl = rng.integers(4, 25, n)
    chronic = onset_days / 90
    gain = 1.2 * exercise + 0.35 * (pain_bl - 6) - 0.4 * chronic + rng.normal(0, 1.3, n)
    pain_12w = np.clip(np.round(pain_bl - 1.5 - gain), 0, 10)
    rel = 0.25 + 0.18 * exercise - 0.07 * chronic + rng.normal(0, 0.2, n)
    rmdq_12w = np.clip(np.round(rmdq_bl * (1 - rel)), 0, 24)
    frame = pd.DataFrame(
        {
            "centre": centre,
            "arm": arm,
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "randomisation_date": randomised.strftime("%d/%m/%Y"),
            "onset_date": onset.strftime("%d/%m/%Y"),
            "pain_bl": pain_bl,
            "rmdq_bl": rmdq_bl,
            "pain_12w": pain_12w.astype(int).astype(object),
            "rmdq_12w": rmdq_12w.astype(int).astype(object),
            "eligible": np.where(rng.random(n) < 0.92, "yes", "no"),
        }
    )
    lost = rng.random(n) < 0.08  # lost to follow-up: no 12-week scores
    frame.loc[lost, ["pain_12w", "rmdq_12w"]] = ""
    frame.loc[rng.random(n) < 0.05, "onset_date"] = ""  # onset not recorded
    return frame


def treatment_trial(n: int = 420, seed: int = 23) -> pd.DataFrame:
    """Pain education + graded activity (code 1) vs usual care (code 0), allocated 2:1 in
    permuted blocks of 6 within site; a binary 26-week recovery outcome. The intervention
    helps patients with high fear-avoidance beliefs more (a real effect modifier)."""
    rng = np.random.default_rng(seed)
    site = rng.choice(["S01", "S02", "S03"], n, p=[0.45, 0.35, 0.2])
    arm = np.empty(n, dtype=np.int64)
    for s in np.unique(site):
        idx = np.flatnonzero(site == s)
        blocks = rng.permuted(np.tile([0, 0, 1, 1, 1, 1], (-(-idx.size // 6), 1)), axis=1)
        arm[idx] = blocks.ravel()[: idx.size]
    age = rng.integers(20, 71, n)
    sex = rng.choice(["female", "male"], n, p=[0.56, 0.44])
    pain0 = rng.integers(4, 11, n)
    fear = np.clip(np.round(rng.normal(14, 5, n)), 0, 24)  # FABQ physical activity, 0-24
    months = np.clip(np.round(rng.lognormal(np.log(14), 0.8, n)), 3, 200)
    logit = (
        -0.45
        - 0.18 * (pain0 - 7)
        - 0.05 * (fear - 14)
        - 0.35 * np.log(months / 14)
        - 0.01 * (age - 45)
        + arm * (0.6 + 0.09 * (fear - 14))
    )
    recovered = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "study_id": [f"TT-{i:04d}" for i in rng.permutation(np.arange(1001, 1001 + n))],
            "site_code": site,
            "randomised_arm": arm,
            "age_years": age,
            "sex": sex,
            "nrs_baseline": pain0,
            "fabq_pa": fear.astype(int),
            "symptom_months": months.astype(int),
            "recovered_26w": np.where(recovered, "Y", "N").astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.07, "recovered_26w"] = ""  # lost to follow-up
    return frame


def clinic(n: int, seed: int, older: float = 0.0) -> pd.DataFrame:
    """One clinic's patients; ``older`` shifts age (years) and with it sick leave (case mix)."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.normal(46 + older, 12, n)), 18, 85)
    sex = rng.choice(["Female", "Male"], n, p=[0.55, 0.45])
    work = rng.choice(
        ["employed", "unemployed", "sick leave"],
        n,
        p=[0.6 - older / 100, 0.15, 0.25 + older / 100],
    )
    duration = rng.choice(["<3 months", "3-12 months", ">1 year"], n, p=[0.3, 0.35, 0.35])
    sleep = rng.choice(["poor", "fair", "good"], n, p=[0.35, 0.4, 0.25])
    pain0 = np.clip(np.round(rng.normal(6.4, 1.7, n)), 1, 10)
    odi0 = np.clip(np.round(rng.normal(36, 13, n)), 4, 90)  # percent
    chronic = pd.Series(duration).map({"<3 months": 0, "3-12 months": 1, ">1 year": 2}).to_numpy()
    sleep_score = pd.Series(sleep).map({"poor": -1, "fair": 0, "good": 1}).to_numpy()
    sick = work == "sick leave"
    pain6 = (
        1.2
        + 0.5 * pain0
        + 0.6 * chronic
        - 0.5 * sleep_score
        + 0.7 * sick
        + 0.02 * (age - 46)
        + rng.normal(0, 1.2, n)
    )
    pain6 = np.clip(np.round(pain6), 0, 10)
    work_logit = 1.3 - 1.6 * sick - 0.04 * (odi0 - 36) - 0.4 * chronic + 0.5 * (work == "employed")
    at_work = rng.random(n) < 1 / (1 + np.exp(-work_logit))
    frame = pd.DataFrame(
        {
            "Patient No.": [f"C{seed}-{i:04d}" for i in range(n)],
            "Age": age.astype(int),
            "Sex": sex,
            "Work Status": work,
            "Symptom Duration": duration,
            "Sleep.Quality": sleep,
            "Pain 0": pain0,
            "ODI 0 (%)": odi0,
            "Pain 6M": pain6,
            "Back At Work": np.where(at_work, "yes", "no"),
            "Reoperation": "no",
            "Therapist": rng.choice(["AB", "CD", "EF", "GH"], n),
        }
    )
    frame.loc[rng.choice(n, 2, replace=False), "Reoperation"] = "yes"  # 2 events: too few
    frame.loc[rng.random(n) < 0.15, "Sleep.Quality"] = None  # item added to the form late
    frame.loc[rng.random(n) < 0.1, "Back At Work"] = None  # work status not followed up
    frame.loc[rng.random(n) < 0.06, "Pain 6M"] = np.nan
    return frame


def clinics() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinic A (development, Parquet with typed columns) and clinic B (external, CSV)."""
    a = clinic(160, seed=31)
    a.insert(1, "Clinic", "A")
    a["Work Status"] = pd.Categorical(
        a["Work Status"], categories=["employed", "unemployed", "sick leave"]
    )
    b = clinic(90, seed=32, older=6.0)
    b.insert(1, "Clinic", "B")
    b["Visit Date"] = pd.Timestamp("2023-01-02") + pd.to_timedelta(
        np.random.default_rng(33).integers(0, 700, len(b)), "D"
    )
    # B's export: its own column order, and -99 where a value was not recorded
    b = b[list(reversed(b.columns))]
    for column in ("Pain 6M", "Sleep.Quality", "Back At Work"):
        b[column] = b[column].astype(object).where(b[column].notna(), -99)
    return a, b


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    registry().to_csv(OUT / "spine_registry.csv", index=False)
    trial().to_csv(OUT / "rehab_trial.csv", index=False, sep=";", decimal=",")
    a, b = clinics()
    a.to_parquet(OUT / "clinic_a.parquet", index=False)
    b.to_csv(OUT / "clinic_b.csv", index=False)
    two_arm().to_csv(OUT / "two_arm_trial.csv", index=False)
    treatment_trial().to_csv(OUT / "treatment_trial.csv", index=False)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir()))} in {OUT}")


if __name__ == "__main__":
    main()
