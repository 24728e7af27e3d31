"""Write the model card's numbers into README.md between the metrics markers (never typed by hand).

``python -m training.readme_metrics`` (after ``python -m training.evaluate``); ``--check`` exits 1 if stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_core.sessions.model_card import ModelCard, metrics_key, training_recipe, views_label

START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"


def metrics_block(card: dict) -> str:
    """The Markdown table of headline and per-split numbers for the README."""
    lines = [START, *_split_table(card), *_recipe_lines(card), *_reading_lines(card), *real_photo_lines(card), END]
    return "\n".join(lines)


def _photo_views(card: dict) -> str:
    """The headline's view set, as the Model page reads it (:attr:`ModelCard.views`, older cards included)."""
    return ModelCard(Path(), card).views


def _split_table(card: dict) -> list[str]:
    """The model's name and PublicTest / PrivateTest accuracy and macro-F1 per view set."""
    metrics = card["metrics"]
    headline = card["headline"]
    views = _photo_views(card)
    columns = list(dict.fromkeys(["none", "flip", views]))
    lines = [
        f"Model `{card['model_file']}` ({card['params']:,} parameters, {card['architecture']}), "
        f"evaluated {card['evaluated_at'][:10]} with `{card['evaluation_command']}`:",
        "",
        f"| split{' (int8 copy)' if headline.get('runtime') == 'int8' else ''} | "
        + " | ".join(f"{views_label(name)}: accuracy / macro-F1" for name in columns)
        + " |",
        "|---|" + "---|" * len(columns),
    ]
    for split in ("PublicTest", "PrivateTest"):
        cells = [metrics[metrics_key(split, name)] for name in columns]
        lines.append(
            f"| {split}{' (selection)' if split == 'PublicTest' else ' (reported)'} | "
            + " | ".join(f"{cell['accuracy']:.2%} / {cell['macro_f1']:.2%}" for cell in cells)
            + " |"
        )
    return lines


def _recipe_lines(card: dict) -> list[str]:
    """The training commands recorded in the card, if any."""
    lines: list[str] = []
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
    return lines


def _live_models(card: dict) -> str:
    """How the live page's models and views are run, as the card records it (after the view set's name)."""
    inference = card.get("inference", {})
    members = inference.get("members") and inference.get("stream_members")
    spread = inference.get("spread_stream_views")
    if inference.get("members") and not members:
        return " with the model alone to stay real time"
    averaged = " and the same ensemble" if members else ""
    if spread:
        return (
            f"{averaged}, one model on one view of a face a frame, in turn, averaged over the last frames (a face "
            "that holds still reads exactly as here)"
        )
    return f"{averaged} to stay real time"


def _reading_lines(card: dict) -> list[str]:
    """How the app reads photos and video frames, with PrivateTest accuracy for each."""
    metrics = card["metrics"]
    headline = card["headline"]
    views = _photo_views(card)
    int8 = headline.get("runtime") == "int8"
    members = [member["file"] for member in card.get("inference", {}).get("members", [])]
    ensemble = f", averaged with {', '.join(f'`{name}`' for name in members)} (an ensemble)" if members else ""
    lines = [
        "",
        f"The app reads photos with {'the int8 copy' if int8 else 'the Keras model'} and {views_label(views)}"
        f"{ensemble}: **{headline['accuracy']:.2%} PrivateTest accuracy, {headline['macro_f1']:.2%} macro-F1**.",
    ]
    stream_views = card.get("inference", {}).get("stream_views")
    if stream_views and stream_views != views and metrics_key("PrivateTest", stream_views) in metrics:
        live = metrics[metrics_key("PrivateTest", stream_views)]
        lines.append(
            f"The live page reads video frames with {views_label(stream_views)}{_live_models(card)}: "
            f"{live['accuracy']:.2%} accuracy, {live['macro_f1']:.2%} macro-F1."
        )
    if int8 and "metrics_float" in card:
        key = metrics_key("PrivateTest", views)
        as_float = card["metrics_float"][key]
        lines.append(
            f"The same {'ensemble' if members else 'model'} in float32 (`--runtime float`): "
            f"{as_float['accuracy']:.2%} accuracy, {as_float['macro_f1']:.2%} macro-F1."
        )
    return lines


def real_photo_lines(card: dict) -> list[str]:
    """A table of the card's real-photo evaluations (``python -m training.evaluate_photos``), if any."""
    from fer_core.labels import EMOTIONS

    sets = card.get("real_photos") or {}
    if not sets:
        return []
    lines = [
        "",
        "Real photos, the whole pipeline (Haar detection, crop, classifier; the largest face scored, a photo without "
        "a face counted wrong), by `python -m training.evaluate_photos`:",
        "",
        "| set | photos | views | members | prior correction | crop margin | accuracy | macro-F1 | no face | "
        + " | ".join(f"{emotion} recall" for emotion in EMOTIONS)
        + " |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(EMOTIONS),
    ]
    for name, result in sets.items():
        recall = " | ".join(f"{result['recall'][emotion]:.0%}" for emotion in EMOTIONS)
        lines.append(
            f"| {name} | {result['count']} | {result['views']} | {', '.join(result.get('members', [])) or 'none'} | "
            f"{result.get('prior_correction', 0.0):g} | "
            f"{result.get('crop_margin', 0.0):g} | "
            f"{result['accuracy']:.2%} | {result['macro_f1']:.2%} | {result['faces_not_found']} | {recall} |"
        )
    return lines + _group_lines(sets)


def _group_lines(sets: dict) -> list[str]:
    """Accuracy per group of faces (``--group-by``) of the sets that were grouped."""
    from training.photo_groups import describe_groups

    grouped = [(name, by, groups) for name, result in sets.items() for by, groups in result.get("groups", {}).items()]
    if not grouped:
        return []
    lines = ["", "Accuracy by group of faces (`--group-by`, the same runs):", ""]
    lines += [f"- {name}, by {by}: {describe_groups(groups)}" for name, by, groups in grouped]
    return lines


def render(readme: str, card: dict) -> str:
    from fer_core.measure.readme_bench import replace_block

    return replace_block(readme, START, END, metrics_block(card))


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
