"""Command-line entry points: ``lbp-outcomes <command>``.

One command per DVC stage (each reads params.yaml and runs one module's ``run``), plus
``compose`` (conf/ + overrides -> params.yaml), ``check`` (validate params.yaml),
``predict``, ``ui`` and ``time-cv`` (CV wall time for benchmarks). Heavy libraries are imported only by the command that needs them.
Errors a user can fix print one line (``error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time

from lbp_outcomes import lifecycle

lifecycle.configure_environment()  # before any estimator or MLflow is imported

STAGES = {
    "cohort": "lbp_outcomes.cohort",
    "clean": "lbp_outcomes.clean",
    "features": "lbp_outcomes.features",
    "train": "lbp_outcomes.train",
    "external": "lbp_outcomes.external",
    "explain": "lbp_outcomes.explain",
    "summary": "lbp_outcomes.summary",
    "effects": "lbp_outcomes.effects",
    "report": "lbp_outcomes.report",
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written in cli_help.yaml (inputs, outputs, example), defaults shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:  # nothing worth showing
            return action.help
        return super()._get_help_string(action)


def _help() -> dict[str, dict[str, str]]:
    from importlib.resources import files

    import yaml

    text = files("lbp_outcomes").joinpath("cli_help.yaml").read_text("utf-8")
    # safe_load's rules, LibYAML's speed (as config.SAFE_LOADER; config is not loaded yet)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _parser() -> argparse.ArgumentParser:
    import lbp_outcomes

    parser = argparse.ArgumentParser(
        prog="lbp-outcomes",
        description=lbp_outcomes.__doc__.strip()
        + "\n\nThe stage commands (cohort ... report) run in this order under `dvc repro`;"
        "\neach reads params.yaml. The other commands work around the pipeline.",
        epilog="`lbp-outcomes <command> --help` explains a command's inputs and outputs.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"%(prog)s {lbp_outcomes.__version__}"
    )
    parser.add_argument("-C", "--root", help="project root (default: search upwards from cwd)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    texts = _help()

    def command(name: str) -> argparse.ArgumentParser:
        text = texts.get(name) or {}
        return sub.add_parser(
            name,
            help=text.get("summary"),
            description=text.get("description"),
            formatter_class=_HelpFormatter,
        )

    for name in STAGES:
        command(name)
    compose = command("compose")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=my_cohort seed=7")
    command("check")
    predict = command("predict")
    predict.add_argument(
        "--input", required=True, help="CSV/Parquet/JSON file, or one patient as a JSON object"
    )
    predict.add_argument("--output", help="write here (.csv or .json) instead of standard output")
    predict.add_argument(
        "--format",
        choices=["csv", "json", "text"],
        help="output format (default: from --output; on standard output, text at a "
        "terminal, else csv)",
    )
    time_cv = command("time-cv")
    time_cv.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. executor=dask executor.dask.n_workers=2"
    )
    ui = command("ui")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 exposes it)")
    ui.add_argument("--port", type=int, default=5000, help="port to listen on")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from lbp_outcomes.errors import UserError

    stop_watch = threading.Event()
    try:
        with lifecycle.sigterm_as_interrupt():
            # Only under DVC (which sets DVC_STAGE): a stage a user started by hand, e.g.
            # with nohup, may outlive the shell that started it.
            if args.command in STAGES and os.environ.get("DVC_STAGE"):
                lifecycle.watch_launcher(stop_watch)
            return _dispatch(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except lifecycle.Terminated:
        print("terminated (SIGTERM): nothing was written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    finally:
        stop_watch.set()


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
