"""training.command_line: the options, command record and error reporting the model commands share."""

from __future__ import annotations

import logging

import pytest

from training.command_line import model_command_parser, recorded_command, reporting_errors


def test_parser_has_model_and_data_defaults_and_the_docs_first_line():
    parser = model_command_parser("training.quantize", "Make the int8 copy.\n\nMore words.")
    args = parser.parse_args([])
    assert (args.model, args.data) == ("models/fer_model.keras", "../shared/datasets/fer2013.zip")
    assert parser.prog == "python -m training.quantize" and parser.description == "Make the int8 copy."


def test_recorded_command_joins_the_arguments():
    assert recorded_command("training.evaluate", ["--flip-tta", "--run-dir", "runs/a"]) == (
        "python -m training.evaluate --flip-tta --run-dir runs/a"
    )
    assert recorded_command("training.quantize", []) == "python -m training.quantize"
    assert recorded_command("training.quantize", ["--model", "my model.keras"]) == (
        "python -m training.quantize --model 'my model.keras'"
    )


def test_refused_input_is_one_logged_line_and_other_errors_propagate(caplog):
    logger = logging.getLogger("training.test")
    assert reporting_errors(lambda: 42, logger) == 42

    def refuse() -> int:
        raise ValueError("dataset not found at nowhere.zip")

    with caplog.at_level(logging.ERROR, logger="training.test"):
        assert reporting_errors(refuse, logger) is None
    assert caplog.messages == ["dataset not found at nowhere.zip"]

    def crash() -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        reporting_errors(crash, logger)
