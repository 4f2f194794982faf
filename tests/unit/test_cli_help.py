"""`lbp-outcomes <command> --help`: every command explains its inputs, outputs and an example;
`--version` exists. Pure argparse: no stage runs, nothing is imported beyond the CLI."""

from __future__ import annotations

import argparse

import pytest

import lbp_outcomes
from lbp_outcomes.cli import _parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _help(capsys, *argv: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_every_command_is_listed_with_a_summary(capsys):
    text = _help(capsys)
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {action.dest: action.help for action in sub._choices_actions}
    assert set(summaries) == set(_commands())
    for name, summary in summaries.items():
        assert summary and len(summary) > 15, f"{name} has no summary in cli_help.yaml"
        assert name in text and summary.split()[0] in text


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_explains_inputs_outputs_and_an_example(capsys, command):
    parser = _commands()[command]
    assert parser.description, f"{command}: no description in cli_help.yaml"
    text = _help(capsys, command)
    for word in ("input", "output", "example"):
        assert word in text.lower(), f"`{command} --help` does not mention its {word}s"
    # the example is a command line a user can copy
    assert f"lbp-outcomes {command}" in text


def test_predict_help_lists_inputs_columns_json_and_an_example(capsys):
    text = _help(capsys, "predict")
    for fragment in (
        "CSV",
        "Parquet",
        "JSON object",
        "na_values",  # read like the training files
        "imputes",  # missing values
        "interval lower",
        "probability",
        "registry version",
        "trained on",
        "SYNTHETIC",
        "--output",
        "text: one block per patient",
        "lbp-outcomes predict --input patients.csv",
    ):
        assert fragment in text, fragment


def test_ui_port_shows_its_default(capsys):
    text = _help(capsys, "ui")
    assert "(default: 5000)" in text and "(default: 127.0.0.1)" in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"lbp-outcomes {lbp_outcomes.__version__}"
