"""Choose the shipped model's photo ensemble: ``python -m training.ensemble --members members/member_m.keras``.

Writes ``models/fer_model.ensemble.json`` (:mod:`fer_core.recognition.ensemble`), which the app, the CLI and the
model card's evaluation then read: photos average the model with these members, video frames keep the model
alone. ``--members`` with no name deletes the file (the model alone). Choose members on PublicTest and real photos
(``python -m training.public_views``, ``python -m training.evaluate_photos``), never on PrivateTest; then re-run
``python -m training.evaluate`` so the card measures what the app runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from training.command_line import reporting_errors

logger = logging.getLogger("training.ensemble")


def main(argv: list[str] | None = None) -> int:
    from fer_core.recognition.ensemble import write_ensemble

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/fer_model.keras")
    parser.add_argument(
        "--members", nargs="*", required=True, help="member .keras files, relative to the model's folder (none: alone)"
    )
    parser.add_argument("--note", default="", help="why these members (recorded in the file)")
    args = parser.parse_args(argv)
    model = Path(args.model)
    if not model.is_file():
        logger.error("no model file at %s", model)
        return 2
    written = reporting_errors(lambda: write_ensemble(model, tuple(args.members), args.note) or "", logger)
    if written is None:
        return 2
    print(f"wrote {written}: {model.name} + {', '.join(args.members)}" if written else f"{model.name} runs alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
