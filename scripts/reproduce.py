"""A reviewer's check: recompute every committed result and compare, number by number.

    python3.11 tasks.py reproduce            # the committed params.yaml (the default cohort)
    python3.11 tasks.py reproduce --no-run   # only compare what is in the working tree

Reads the committed headline numbers (reports/metrics/summary.json at HEAD), reruns the
whole pipeline (`dvc repro -f`: offline, no DVC remote needed; the synthetic cohort is
generated, the example cohorts are in git), then prints one row per headline number:
published (conf/reference/, through params.yaml's `reference`) vs committed vs recomputed.
Exits 1 when a recomputed number differs from the committed one, or when the rerun left
`git status` dirty (an output that is not byte-stable); 0 when everything matches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = "reports/metrics/summary.json"


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def committed_summary() -> dict[str, Any]:
    text = git("show", f"HEAD:{SUMMARY}")
    if not text:
        sys.exit(f"error: {SUMMARY} is not committed at HEAD: nothing to reproduce against")
    return json.loads(text)


def published(reference: dict[str, Any] | None, target: str, row: dict[str, Any], key: str) -> str:
    """The paper's value for this row, when it published one (R2 per target and family)."""
    if not reference or key != "cv" or row.get("metric") != "r2":
        return ""
    family = str(row.get("champion", ""))
    given = reference.get("r2", {}).get(target, {})
    if given.get(family) is not None:
        return f"{given[family]:.3f}"
    best = {f: v for f, v in given.items() if v is not None}
    if not best:
        return ""
    fam, value = max(best.items(), key=lambda kv: kv[1])
    return f"{value:.3f} ({fam})"


def rows(
    committed: dict[str, Any], recomputed: dict[str, Any], reference: dict[str, Any] | None
) -> list[tuple[str, str, str, str, str, bool]]:
    """(target, key, published, committed, recomputed, equal) for every headline number."""
    out = []
    for target in sorted(set(committed) | set(recomputed)):
        old, new = committed.get(target, {}), recomputed.get(target, {})
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            pub = published(reference, target, old or new, key)
            out.append((target, key, pub, _fmt(a), _fmt(b), a == b))
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def table(lines: list[tuple[str, str, str, str, str, bool]]) -> str:
    head = ("target", "number", "published", "committed", "recomputed", "")
    body = [(*r[:5], "ok" if r[5] else "DIFFERS") for r in lines]
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(6)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row).rstrip() for row in [head, *body])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="compare without recomputing")
    args = parser.parse_args(argv)
    committed = committed_summary()
    if not args.no_run:
        print("+ dvc repro -f  (every stage, from the committed params.yaml)", flush=True)
        done = subprocess.run(["dvc", "repro", "-f"], cwd=ROOT, check=False)
        if done.returncode != 0:
            print(f"error: dvc repro failed (exit {done.returncode})")
            return done.returncode
    recomputed = json.loads((ROOT / SUMMARY).read_text(encoding="utf-8"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    lines = rows(committed, recomputed, params.get("reference"))
    print(table(lines))
    differ = [r for r in lines if not r[5]]
    dirty = git("status", "--porcelain").strip()
    if differ:
        print(f"\n{len(differ)} recomputed number(s) differ from the committed ones")
    if dirty:
        print(f"\ngit status is not clean after the rerun:\n{dirty}")
    if differ or dirty:
        return 1
    print(f"\nall {len(lines)} headline numbers reproduced exactly; git status is clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
