"""Write the model card's numbers into README.md between the metrics markers (never typed by hand).

``python -m training.readme_metrics`` (after ``python -m training.evaluate``); ``--check`` exits 1 if stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_core.sessions.model_card import training_recipe

START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"


def metrics_block(card: dict) -> str:
    """The Markdown table of headline and per-split numbers for the README."""
    metrics = card["metrics"]
    lines = [
        START,
        f"Model `{card['model_file']}` ({card['params']:,} parameters, {card['architecture']}), "
        f"evaluated {card['evaluated_at'][:10]} with `{card['evaluation_command']}`:",
        "",
        f"| split{' (int8 copy)' if card['headline'].get('runtime') == 'int8' else ''} | accuracy | macro-F1 | "
        "accuracy, flip TTA | macro-F1, flip TTA |",
        "|---|---|---|---|---|",
    ]
    for split in ("PublicTest", "PrivateTest"):
        plain, flipped = metrics[split], metrics[f"{split}_flip_tta"]
        lines.append(
            f"| {split}{' (selection)' if split == 'PublicTest' else ' (reported)'} | {plain['accuracy']:.2%} | "
            f"{plain['macro_f1']:.2%} | {flipped['accuracy']:.2%} | {flipped['macro_f1']:.2%} |"
        )
    recipe = training_recipe(card)
    if recipe:
        lines += [
            "",
            "Trained from random weights"
            + (" and quantized to int8" if card.get("inference", {}).get("runtime") == "int8" else "")
            + " with these commands (recorded in the model card):",
            "",
            "```bash",
            *recipe,
            "```",
        ]
    headline = card["headline"]
    int8 = headline.get("runtime") == "int8"
    lines += [
        "",
        f"The app runs {'the int8 copy' if int8 else 'the Keras model'} with flip TTA "
        f"{'on' if headline['flip_tta'] else 'off'}: **{headline['accuracy']:.2%} "
        f"PrivateTest accuracy, {headline['macro_f1']:.2%} macro-F1**.",
    ]
    if int8 and "metrics_float" in card:
        key = "PrivateTest_flip_tta" if headline["flip_tta"] else "PrivateTest"
        as_float = card["metrics_float"][key]
        lines.append(
            f"The same model in float32 (`--runtime float`): {as_float['accuracy']:.2%} accuracy, "
            f"{as_float['macro_f1']:.2%} macro-F1."
        )
    lines.append(END)
    return "\n".join(lines)


def render(readme: str, card: dict) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"README has no {START} ... {END} block")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + metrics_block(card) + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.readme_metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--card", default="models/model_card.json")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if README does not show the card's numbers")
    args = parser.parse_args(argv)
    card = json.loads(Path(args.card).read_text())
    readme_path = Path(args.readme)
    current = readme_path.read_text()
    updated = render(current, card)
    if args.check:
        if updated != current:
            print(f"{args.readme} is out of date with {args.card}: run python -m training.readme_metrics")
            return 1
        return 0
    readme_path.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
