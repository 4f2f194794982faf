"""Screenshots of the MLflow UI in a real browser (headless Chromium), as a first-time user
sees it: the experiment's runs table, and one child run's page with its params.

    python scripts/mlflow_screenshots.py [--out reports/screenshots] [--port 5055]

Run it in a project that has run the pipeline at least once (tracking on). It starts
`lbp-outcomes ui` on 127.0.0.1, waits until it answers, opens the experiment through its
saved view (?viewStateShareKey=lbp-outcomes: child runs with metric columns), its plain
URL http://127.0.0.1:<port>/ (redirected to that view), and the
champion child run of the first target, writes one PNG per page, prints how many
params that child run carries, and stops the UI it started. Chromium: /usr/bin/chromium
(or $CHROMIUM), flags --headless --no-sandbox --disable-gpu --disable-background-networking.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            sys.exit(f"error: the MLflow UI exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.5)
    sys.exit(f"error: the MLflow UI did not answer at {url} within {timeout:.0f} s")


def screenshot(url: str, dest: Path, chromium: str, height: int = 1000) -> None:
    cmd = [
        chromium,
        *FLAGS,
        "--hide-scrollbars",
        f"--window-size=1600,{height}",
        "--virtual-time-budget=25000",  # let the single-page app fetch and render its data
        f"--screenshot={dest}",
        url,
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    print(f"wrote {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/screenshots")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--root", type=Path, default=ROOT, help="the project (default: this)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    out = (root / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from lbp_outcomes.config import load_params
    from lbp_outcomes.tracking import WORKFLOW, ensure_experiment, open_client, runs_url

    params = load_params(root)
    experiment = ensure_experiment(params.tracking, root)
    client = open_client(params.tracking, root)
    children = client.search_runs(
        [experiment], "tags.champion = 'true'", order_by=["attributes.start_time DESC"]
    )
    if not children:
        sys.exit("error: no champion child run in this project's MLflow store: run the pipeline")
    child = children[0]

    base = f"http://127.0.0.1:{args.port}"
    ui = subprocess.Popen(
        ["lbp-outcomes", "ui", "--port", str(args.port)],
        cwd=root,
        start_new_session=True,  # its own process group: stopped below, with its workers
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seconds = wait_until_up(f"{base}/health", ui)
        print(f"MLflow UI answered after {seconds:.1f} s")
        # The plain URL, as a first-time user opens it: the server redirects it to the runs
        # table in model-training mode (src/lbp_outcomes/mlflow_app.py), not the GenAI view.
        screenshot(f"{base}/", out / "mlflow_home.png", chromium)
        # The experiment as the experiment list links it.
        screenshot(f"{base}/#/experiments/{experiment}", out / "mlflow_experiment.png", chromium)
        screenshot(runs_url(base, experiment), out / "mlflow_runs.png", chromium)
        screenshot(
            f"{base}/#/experiments/{experiment}/runs/{child.info.run_id}?{WORKFLOW}",
            out / "mlflow_child_run.png",
            chromium,
            height=2600,  # down to the params table
        )
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    print(
        f"child run {child.info.run_name!r}: {len(child.data.params)} params, "
        f"{len(child.data.metrics)} metrics"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
