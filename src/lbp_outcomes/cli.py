"""Command-line entry points: ``lbp-outcomes <command>``.

One command per DVC stage (each reads params.yaml and runs one module's ``run``), plus
``compose`` (conf/ + overrides -> params.yaml), ``check`` (validate params.yaml),
``predict``, ``ui`` and ``time-cv`` (CV wall time for benchmarks). Heavy libraries are imported only by the command that needs them.
Errors a user can fix print one line (``error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import time

# Threads are set, not left to chance: every estimator gets n_jobs from config, and the
# BLAS/OpenMP pools default to one thread so parallel workers do not oversubscribe the CPU.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# No network at run time: MLflow telemetry off (DVC's is off in .dvc/config).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

STAGES = {
    "cohort": "lbp_outcomes.cohort",
    "clean": "lbp_outcomes.clean",
    "features": "lbp_outcomes.features",
    "train": "lbp_outcomes.train",
    "external": "lbp_outcomes.external",
    "explain": "lbp_outcomes.explain",
    "summary": "lbp_outcomes.summary",
    "report": "lbp_outcomes.report",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lbp-outcomes", description=__doc__.splitlines()[0])
    parser.add_argument("-C", "--root", help="project root (default: search upwards from cwd)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, module in STAGES.items():
        sub.add_parser(name, help=f"run the {name} stage ({module}); reads params.yaml")
    compose = sub.add_parser("compose", help="compose conf/ with Hydra overrides into params.yaml")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=my_cohort seed=7")
    sub.add_parser("check", help="validate params.yaml (all groups, the data config)")
    predict = sub.add_parser("predict", help="predict outcomes for new patients (see README)")
    predict.add_argument("--input", required=True, help="CSV/Parquet file, or one patient as JSON")
    predict.add_argument("--output", help="write here (.csv or .json); default: standard output")
    predict.add_argument("--format", choices=["csv", "json"], help="output format")
    time_cv = sub.add_parser(
        "time-cv",
        help="time the train stage's CV alone (conf/ + overrides; writes nothing; JSON out)",
    )
    time_cv.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. executor=dask executor.dask.n_workers=2"
    )
    ui = sub.add_parser("ui", help="start the MLflow UI on this project's store")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: outputs are not committed and MLflow runs end KILLED."""


def _on_sigterm(signum, frame):
    raise Terminated()


#: Shells DVC may run a stage command through (``$SHELL -c cmd``, or ``/bin/sh -c cmd``
#: when SHELL is unset). bash and zsh exec a lone command, but dash (Debian's /bin/sh)
#: stays in between as the stage's parent and outlives a killed ``dvc repro``.
_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"}


def _launchers() -> list[tuple[int, int]]:
    """``(pid, its parent pid)`` for this process and each shell ancestor above it.

    The chain stops at the first ancestor that is not a shell: that one (e.g. ``dvc
    repro``) is what the stage lives for. If any link of the chain is re-parented, the
    process that started the stage has gone.
    """
    import psutil

    chain = [(os.getpid(), os.getppid())]
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(os.getppid())
        while proc.pid > 1 and proc.name() in _SHELLS:
            parent = proc.ppid()
            chain.append((proc.pid, parent))
            proc = psutil.Process(parent)
    return chain


def _chain_intact(chain: list[tuple[int, int]]) -> bool:
    import psutil

    for pid, parent in chain:
        try:
            current = os.getppid() if pid == os.getpid() else psutil.Process(pid).ppid()
        except psutil.Error:  # the shell in between has exited
            return False
        if current != parent:
            return False
    return True


def _watch_parent(stop: threading.Event, interval: float = 1.0) -> None:
    """Terminate this stage (as on SIGTERM) once the process that started it has gone.

    ``dvc repro`` killed with SIGTERM does not pass the signal on to the stage it is
    running: the orphaned stage would run on, write outputs DVC never records and close its
    MLflow run long after the pipeline stopped. Polling parent ids (a process's parent id
    changes when its parent dies and it is re-parented) works on Linux and macOS alike; a
    shell between DVC and the stage is seen through (:func:`_launchers`).
    """
    if os.getppid() <= 1:  # started by init or already detached: nothing to watch
        return
    chain = _launchers()

    def watch() -> None:
        while not stop.wait(interval):
            if not _chain_intact(chain):
                with contextlib.suppress(OSError):  # the parent's pipe may be gone too
                    print("the process that started this stage exited: stopping", file=sys.stderr)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from lbp_outcomes.errors import UserError

    previous = None
    stop_watch = threading.Event()
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        # Only under DVC (which sets DVC_STAGE): a stage a user started by hand, e.g. with
        # nohup, may outlive the shell that started it.
        if args.command in STAGES and os.environ.get("DVC_STAGE"):
            _watch_parent(stop_watch)
    try:
        return _dispatch(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated (SIGTERM): nothing was written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    finally:
        stop_watch.set()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    from lbp_outcomes.config import (
        compose,
        load_params,
        project_root,
        validate_params,
        write_params,
    )

    root = project_root(args.root)
    if args.command == "compose":
        composed = compose(args.overrides, root)
        checked = validate_params(composed)  # fail now, not in the first stage
        _check_families(checked)
        path = write_params(composed, root)
        print(f"wrote {path.relative_to(root)}")
        return 0
    if args.command == "check":
        params = load_params(root)
        print(f"params.yaml is valid (data config: {params.data.name})")
        return 0
    if args.command == "predict":
        from lbp_outcomes.predict import main as predict_main

        return predict_main(args, root)
    if args.command == "time-cv":
        import contextlib
        import json

        from lbp_outcomes.train import time_cv

        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON line only
            timing = time_cv(root, args.overrides)
        print(json.dumps(timing))
        return 0
    if args.command == "ui":
        from lbp_outcomes.tracking import serve_ui

        return serve_ui(root, host=args.host, port=args.port)

    params = load_params(root)
    started = time.perf_counter()
    module = importlib.import_module(STAGES[args.command])
    module.run(params, root)
    print(f"{args.command}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _check_families(params) -> None:
    """Every model family builds and accepts its hyperparameters for every task the data
    config needs (the train stage checks again, for `dvc exp run -S model...`)."""
    from lbp_outcomes.models.families import check_family

    tasks = sorted({params.data.target_kind(t) for t in params.data.all_targets})
    for name, family in params.model.items():
        for task in tasks:
            check_family(name, family, task)


if __name__ == "__main__":
    sys.exit(main())
