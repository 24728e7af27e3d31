"""Score every photo ensemble of the shipped model with up to K further members, for each view set, in one go.

``python -m training.ensemble_search --members members/member_h.keras members/member_j.keras ... --photos ../kdef``

Each model runs once on FER2013's PublicTest (and, with ``--photos``, on the largest face of each labelled photo,
cut as the app cuts an upload), for every test-time view; its outputs are cached (``--cache``), and every
combination is then scored from them (:mod:`training.member_outputs`), as fer_core's classifier would average it.
Prints the best combinations by PublicTest accuracy, with the photo set's accuracy, macro-F1 and weakest class,
and marks those that meet the real-photo bar. PrivateTest is never read: choose here, confirm with
``training.public_views`` and ``training.evaluate_photos``, write the choice with ``training.ensemble``, then read
PrivateTest once with ``training.evaluate``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_core.recognition.views import View
from training.command_line import model_command_parser, reporting_errors
from training.evaluate_photos import class_recall_f1, photo_confusion
from training.member_outputs import (
    ALL_VIEWS,
    FaceSet,
    photo_faces,
    public_test_faces,
    view_indices,
    view_outputs,
    views_needed,
)

logger = logging.getLogger("training.ensemble_search")


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    min_recall: float
    weakest: str
    """The class with the lowest recall."""


@dataclass(frozen=True)
class Candidate:
    members: tuple[str, ...]
    """Further models averaged with the main one (none: the main model alone)."""
    views: str
    public: Scores
    photos: Scores | None = None

    def meets(self, accuracy: float, recall: float) -> bool:
        """Whether its photo scores reach ``accuracy`` with no class under ``recall``."""
        return self.photos is not None and self.photos.accuracy >= accuracy and self.photos.min_recall >= recall


def score(labels: np.ndarray, probabilities: np.ndarray) -> Scores:
    """Accuracy, macro-F1 and the weakest class's recall, as ``training.evaluate_photos`` counts them: a row of NaN
    (no face found) counts as wrong."""
    from fer_core.labels import EMOTIONS

    confusion = photo_confusion(labels, probabilities)
    recall, f1 = class_recall_f1(confusion)
    weakest = int(np.argmin(np.where(confusion.sum(axis=1) > 0, recall, np.inf)))
    accuracy = np.trace(confusion[:, : len(EMOTIONS)]) / labels.size
    return Scores(float(accuracy), float(f1.mean()), float(recall[weakest]), EMOTIONS[weakest])


def _view_means(outputs: np.ndarray, view_sets: Sequence[str], among: Sequence[View]) -> dict[str, np.ndarray]:
    return {views: outputs[view_indices(views, among)].mean(axis=0) for views in view_sets}


def search(
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    labels: Mapping[str, np.ndarray],
    main: str,
    *,
    view_sets: Sequence[str],
    max_members: int,
    views: Sequence[View] = ALL_VIEWS,
) -> list[Candidate]:
    """Every combination of ``main`` with up to ``max_members`` of the other models, for each view set (a name or a
    written list of views), scored on each face set: ``outputs[set][model]`` are (views, N, 7) arrays, one row
    per view of ``views``, ``labels[set]`` their labels. The first set is the selection split (``public``), the
    second, if any, the photos."""
    sets = list(outputs)
    if main not in outputs[sets[0]]:
        raise ValueError(f"the main model {main} has no outputs")
    if max_members < 0:
        raise ValueError(f"max_members must be 0 or more, not {max_members}")
    means = {
        name: {model: _view_means(array, view_sets, views) for model, array in outputs[name].items()} for name in sets
    }
    others = [model for model in outputs[sets[0]] if model != main]
    candidates = []
    for size in range(min(max_members, len(others)) + 1):
        for members in itertools.combinations(others, size):
            for view_set in view_sets:
                scores = [
                    score(labels[name], np.mean([means[name][model][view_set] for model in (main, *members)], axis=0))
                    for name in sets
                ]
                candidates.append(Candidate(members, view_set, scores[0], scores[1] if len(scores) > 1 else None))
    return sorted(candidates, key=lambda c: (c.public.accuracy, c.public.macro_f1), reverse=True)


def _face_sets(data: Path, photos: Path | None) -> list[FaceSet]:
    sets = [public_test_faces(data)]
    if photos is not None:
        sets.append(photo_faces(photos))
    return sets


def run_search(
    model: Path,
    members: Sequence[str],
    data: Path,
    *,
    photos: Path | None,
    cache: Path,
    view_sets: Sequence[str],
    max_members: int,
) -> list[Candidate]:
    """Outputs of the model and each member (paths relative to the model's folder) on PublicTest and the photos,
    then :func:`search`."""
    views = views_needed(view_sets)  # an unknown view set or a missing model fails before any model runs
    paths = {model.name: model, **{member: model.parent / member for member in members}}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ValueError(f"no model file at {', '.join(missing)}")
    face_sets = _face_sets(data, photos)
    outputs = {
        face_set.name: {name: view_outputs(path, face_set, cache, views) for name, path in paths.items()}
        for face_set in face_sets
    }
    labels = {face_set.name: face_set.labels for face_set in face_sets}
    return search(outputs, labels, model.name, view_sets=view_sets, max_members=max_members, views=views)


def _row(candidate: Candidate, bar: tuple[float, float]) -> str:
    models = " + ".join(("main", *(Path(member).stem for member in candidate.members)))
    public = f"{candidate.public.accuracy:.2%} / {candidate.public.macro_f1:.2%}"
    photos = ""
    if candidate.photos is not None:
        mark = " *" if candidate.meets(*bar) else ""
        photos = (
            f" | {candidate.photos.accuracy:.2%} / {candidate.photos.macro_f1:.2%} | "
            f"{candidate.photos.weakest} {candidate.photos.min_recall:.0%}{mark}"
        )
    return f"| {models} | {candidate.views} | {public}{photos} |"


def print_table(candidates: Sequence[Candidate], top: int, bar: tuple[float, float]) -> None:
    with_photos = bool(candidates) and candidates[0].photos is not None
    header = "| models | views | PublicTest accuracy / macro-F1 |"
    header += " photos accuracy / macro-F1 | weakest class (recall) |" if with_photos else ""
    print(header)
    print("|---" * header.count(" |") + "|")
    for candidate in candidates[:top]:
        print(_row(candidate, bar))
    if with_photos:
        meeting = [c for c in candidates if c.meets(*bar)]
        print(f"* meets the photo bar ({bar[0]:.0%}, no class under {bar[1]:.0%}): {len(meeting)} of {len(candidates)}")
        if meeting:
            print(f"best that meets it: {_row(meeting[0], bar)}")


def _parser():
    parser = model_command_parser("training.ensemble_search", __doc__ or "")
    parser.add_argument("--members", nargs="+", required=True, help="candidate members, relative to the model's folder")
    parser.add_argument("--photos", type=Path, help="a labelled photo folder (labels.csv: file,emotion), e.g. KDEF")
    parser.add_argument(
        "--views",
        nargs="+",
        default=["zoom", "multi", "rotate", "all"],
        help="view sets to try: names, or views written out (face,facem,r6,r6m)",
    )
    parser.add_argument("--max-members", type=int, default=3, help="at most this many members with the model")
    parser.add_argument("--cache", type=Path, default=Path("runs/member_outputs"), help="where outputs are kept")
    parser.add_argument("--top", type=int, default=25, help="rows to print")
    parser.add_argument("--photo-bar", type=float, nargs=2, default=(0.80, 0.60), metavar=("ACCURACY", "RECALL"))
    parser.add_argument("--json", type=Path, help="also write every candidate's scores here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    candidates = reporting_errors(
        lambda: run_search(
            Path(args.model),
            args.members,
            Path(args.data),
            photos=args.photos,
            cache=args.cache,
            view_sets=args.views,
            max_members=args.max_members,
        ),
        logger,
    )
    if candidates is None:
        return 2
    print_table(candidates, args.top, tuple(args.photo_bar))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(candidate) for candidate in candidates], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
