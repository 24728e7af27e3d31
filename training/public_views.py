"""PublicTest accuracy for each test-time view set, of one model or an ensemble; PrivateTest is never read.

``python -m training.public_views --model models/fer_model.keras [--members members/member_b.keras ...]``

For choosing views, members and other settings on the selection split only (the protocol). Runs fer_core's own
classifier (the int8 copies where they match), as the app does.
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.command_line import model_command_parser, reporting_errors

logger = logging.getLogger("training.public_views")


def public_view_scores(model: Path, data: Path, members: tuple[str, ...] = ()) -> dict[str, dict[str, float]]:
    """``{view set: {"accuracy", "macro_f1"}}`` on PublicTest for ``model`` (with ``members`` averaged in)."""
    from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
    from fer_core.recognition.views import VIEW_SETS
    from training.data import load_fer2013
    from training.evaluate import predict_split, split_metrics

    classifier = EmotionClassifier(model, ClassifierConfig(members=members))
    public = load_fer2013(data)["PublicTest"]
    scores = {}
    for views in VIEW_SETS:
        metrics = split_metrics(public.labels, predict_split(classifier, public.images, views=views))
        scores[views] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
        logger.info("%s (%s): %s", views, classifier.runtime, scores[views])
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = model_command_parser("training.public_views", __doc__ or "")
    parser.add_argument("--members", nargs="*", default=[], help="ensemble members, relative to the model's folder")
    args = parser.parse_args(argv)
    scores = reporting_errors(
        lambda: public_view_scores(Path(args.model), Path(args.data), tuple(args.members)), logger
    )
    if scores is None:
        return 2
    for views, score in scores.items():
        print(f"{views:6s} PublicTest accuracy {score['accuracy']:.2%}, macro-F1 {score['macro_f1']:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
