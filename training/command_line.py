"""What the model commands (``training.evaluate``, ``training.quantize``) share: logging, options, the record."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def model_command_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """Log to the terminal, quiet TensorFlow, and a parser with ``--model`` and ``--data`` for ``module``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    parser.add_argument("--model", default="models/fer_model.keras")
    parser.add_argument("--data", default="../shared/datasets/fer2013.zip")
    return parser


def recorded_command(module: str, argv: list[str] | None) -> str:
    """The command line as the card records it: ``python -m module`` and its arguments, quoted for a shell."""
    return shlex.join(["python", "-m", module, *(argv if argv is not None else sys.argv[1:])])


def reporting_errors(work: Callable[[], Result], logger: logging.Logger) -> Result | None:
    """``work()``, or ``None`` after logging one line when it refuses its input (ValueError, RuntimeError)."""
    try:
        return work()
    except (ValueError, RuntimeError) as error:
        logger.error("%s", error)
        return None
