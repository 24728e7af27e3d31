"""Measure per-person calibration: does a sad-resting face read neutral, and is an expression caught sooner?

``python -m fer_core.measure.calibration_check --check`` prints two measurements, raw readings against calibrated ones
(``raw -> calibrated``), both fed frame by frame (15 fps) to a :class:`~fer_core.mood.tracker.MoodTracker` with
its default settings (1.5 s smoothing, 2 s dwell, confidence floor 0.45):

1. **Synthetic** (:func:`synthetic_check`, no model): a face whose resting readings lean sad (mean: sad 0.46,
   neutral 0.32, angry 0.08, fear 0.06, ...) with Dirichlet frame-to-frame noise, calibrated on 3 s of its own
   resting frames, then a fresh clip: 6 s at rest, then a 0.5 s onset into happy or surprise held for 6 s. The
   expression is mixed into the resting face (``strength * expression + (1 - strength) * rest``), which is *not*
   the multiplicative model the correction assumes, so the check does not grade its own assumption.
2. **Real photos** (:func:`kdef_check`, needs the shipped model and KDEF, research use only): the model's
   outputs (stream views, as on the live page) on the straight-on KDEF photos of 70 people photographed in two
   sessions. Each person is calibrated on their neutral photo of one session and measured on the *other*
   session (never on the calibration photo): does their neutral photo read neutral, and in a still clip (3 s of
   their neutral photo, then 6 s of an expression photo) is the expression caught, and after how many frames.
   Reported for everyone and for the people calibration is for: those whose calibration photo reads off-neutral.

Per expression: ``caught`` = clips where the steady mood *became* the expression after its onset (a rest that
already read as the expression is counted apart as ``already``: nothing changed, nothing was caught); frames to
catch it are compared clip by clip over the clips caught both ways (mean, and in how many sooner / later).

It loads the recognizer (TensorFlow or its int8 runtime) only for the real-photo check and
:func:`measure_neutral_reference`. KDEF's folder is read through :func:`fer_core.measure.photo_sets.read_labels`,
the same checks as the photo evaluations.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from fer_core.labels import EMOTIONS
from fer_core.measure.photo_sets import LabelledPhoto, PhotoSetError, read_labels
from fer_core.mood.calibration import Calibration, CalibrationConfig
from fer_core.mood.tracker import MoodConfig, MoodTracker

logger = logging.getLogger(__name__)

FPS = 15.0
REST_LEANING_SAD = np.array([0.08, 0.02, 0.06, 0.03, 0.46, 0.03, 0.32])
"""A resting face the model reads as slightly sad (FER2013 order)."""
EXPRESSIONS: Mapping[str, np.ndarray] = {
    "happy": np.array([0.02, 0.01, 0.02, 0.86, 0.03, 0.03, 0.03]),
    "surprise": np.array([0.02, 0.01, 0.08, 0.05, 0.02, 0.78, 0.04]),
}
"""What the model gives a clear expression of each kind on an average face."""


@dataclass(frozen=True)
class ClipResult:
    """One clip read through a MoodTracker: how often the rest read neutral, and when the expression was caught."""

    rest_neutral_share: float
    """Share of the resting frames whose steady mood was neutral."""
    already: bool
    """The steady mood was already the expression before it began (the rest reads as it: no change to catch)."""
    frames_to_detect: int | None
    """Frames from the onset until the steady mood *became* the expression (``None``: ``already``, or never)."""


def read_clip(
    frames: np.ndarray, onset: int, expression: str, calibration: Calibration | None, config: MoodConfig | None = None
) -> ClipResult:
    """Feed ``frames`` ((N, 7), at :data:`FPS`) through a fresh tracker, corrected by ``calibration`` if given."""
    tracker = MoodTracker(config)
    readings = calibration.apply(frames) if calibration is not None else frames
    neutral = 0
    mood_before = None
    for index, probabilities in enumerate(readings):
        state = tracker.update(probabilities, timestamp=index / FPS)
        if index < onset:
            neutral += state.mood == "neutral"
            mood_before = state.mood
        elif state.mood == expression:
            already = mood_before == expression
            return ClipResult(neutral / onset, already, None if already else index - onset)
    return ClipResult(neutral / onset if onset else 0.0, False, None)


def synthetic_clip(
    expression: str, rng: np.random.Generator, *, rest_s: float = 6.0, onset_s: float = 0.5, hold_s: float = 6.0,
    strength: float = 0.7, concentration: float = 80.0,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """(frames, onset index): a resting face, then a ramp into ``expression`` (see the module docstring)."""
    rest_n, ramp_n, hold_n = (round(s * FPS) for s in (rest_s, onset_s, hold_s))
    weights = np.concatenate(
        [np.zeros(rest_n), np.linspace(0, strength, ramp_n, endpoint=False), np.full(hold_n, strength)]
    )
    means = (1 - weights)[:, None] * REST_LEANING_SAD + weights[:, None] * EXPRESSIONS[expression]
    frames = np.array([rng.dirichlet(concentration * mean) for mean in means])
    return np.clip(frames, 1e-6, None), rest_n


def synthetic_check(clips: int = 20, seed: int = 0) -> dict[str, Any]:
    """Raw vs calibrated over ``clips`` seeded clips per expression (see the module docstring)."""
    rng = np.random.default_rng(seed)
    results: dict[str, Any] = {}
    for expression in EXPRESSIONS:
        raw, calibrated = [], []
        for _ in range(clips):
            resting = np.array([rng.dirichlet(80.0 * REST_LEANING_SAD) for _ in range(round(3 * FPS))])
            calibration = Calibration.from_rest(resting, CalibrationConfig())
            frames, onset = synthetic_clip(expression, rng)
            raw.append(read_clip(frames, onset, expression, None))
            calibrated.append(read_clip(frames, onset, expression, calibration))
        results[expression] = compare_clips(raw, calibrated)
    return results


def compare_clips(raw: list[ClipResult], calibrated: list[ClipResult]) -> dict[str, Any]:
    """The same clips read raw and calibrated: (raw, calibrated) pairs of each measure, and the frames to catch the
    expression compared clip by clip over the clips both caught."""
    both = [
        (r.frames_to_detect, c.frames_to_detect)
        for r, c in zip(raw, calibrated, strict=True)
        if r.frames_to_detect is not None and c.frames_to_detect is not None
    ]
    return {
        "clips": len(raw),
        "rest_neutral_share": tuple(float(np.mean([x.rest_neutral_share for x in xs])) if xs else None
                                    for xs in (raw, calibrated)),
        "already": tuple(sum(x.already for x in xs) for xs in (raw, calibrated)),
        "caught": tuple(sum(x.frames_to_detect is not None for x in xs) for xs in (raw, calibrated)),
        "caught_by_both": len(both),
        "mean_frames": tuple(float(np.mean(f)) for f in zip(*both, strict=True)) if both else None,
        "sooner": sum(c < r for r, c in both),
        "later": sum(c > r for r, c in both),
    }  # fmt: skip


def default_kdef_path() -> Path:
    """``$KDEF_PATH``, else ``kdef`` next to the repository (as ``tests/test_evaluate_photos.py``)."""
    return Path(os.environ.get("KDEF_PATH", Path(__file__).resolve().parents[3] / "kdef"))


def kdef_photos(folder: Path) -> list[LabelledPhoto]:
    """KDEF's labelled photos (``read_labels``' checks), which must also name the person and session."""
    photos = read_labels(folder)
    missing = {"person", "session"} - set(photos[0].columns)
    if missing:
        raise PhotoSetError(f"{folder / 'labels.csv'} needs KDEF's columns person and session, lacks {sorted(missing)}")
    return photos


def kdef_probabilities(photos: Sequence[LabelledPhoto], recognizer: Any) -> dict[tuple[str, str, str], np.ndarray]:
    """``(person, session, emotion) -> probabilities`` of the largest face of each KDEF photo (no face: left out),
    classified as video frames are (the stream views), since calibration is for the live page."""
    from fer_core.recognition.image_io import load_image

    outputs = {}
    for photo in photos:
        faces = recognizer.analyze(load_image(photo.path), stream=True)  # the live page's views
        if faces:
            key = (photo.columns["person"], photo.columns["session"], EMOTIONS[photo.label])
            outputs[key] = np.asarray(faces[0].probabilities, float)
        else:
            logger.info("no face found in %s", photo.path.name)
    return outputs


def _still_clip(rest: np.ndarray, expression: np.ndarray) -> tuple[np.ndarray, int]:
    onset = round(3 * FPS)
    return np.vstack([np.tile(rest, (onset, 1)), np.tile(expression, (round(6 * FPS), 1))]), onset


def _top(probabilities: np.ndarray) -> str:
    return EMOTIONS[int(np.argmax(probabilities))]


def kdef_pairs(outputs: Mapping[tuple[str, str, str], np.ndarray]) -> list[dict[str, Any]]:
    """One record per (person, calibration session) with a neutral photo in the other session too."""
    records = []
    for (person, session, emotion), rest in sorted(outputs.items()):
        other = "B" if session == "A" else "A"
        held_out = outputs.get((person, other, "neutral"))
        if emotion != "neutral" or held_out is None:
            continue
        calibration = Calibration.from_rest(rest)
        record: dict[str, Any] = {
            "rest_off_neutral": _top(rest) != "neutral",
            "neutral_reads_neutral": (_top(held_out) == "neutral", _top(calibration.apply(held_out)) == "neutral"),
            "clips": {},
        }
        for expression in EMOTIONS:
            photo = outputs.get((person, other, expression))
            if expression == "neutral" or photo is None:
                continue
            frames, onset = _still_clip(held_out, photo)
            record["clips"][expression] = (
                read_clip(frames, onset, expression, None),
                read_clip(frames, onset, expression, calibration),
                (_top(photo) == expression, _top(calibration.apply(photo)) == expression),
            )
        records.append(record)
    return records


def _group(records: list[dict[str, Any]]) -> dict[str, Any]:
    clips: dict[str, Any] = {}
    for expression in (e for e in EMOTIONS if e != "neutral"):
        rows = [r["clips"][expression] for r in records if expression in r["clips"]]
        summary = compare_clips([raw for raw, _, _ in rows], [cal for _, cal, _ in rows])
        summary["photo_right"] = tuple(sum(right[i] for _, _, right in rows) for i in (0, 1))
        clips[expression] = summary
    reads = [r["neutral_reads_neutral"] for r in records]
    return {
        "pairs": len(records),
        "neutral_reads_neutral": tuple(sum(x[i] for x in reads) for i in (0, 1)),
        "clips": clips,
    }


def kdef_check(outputs: Mapping[tuple[str, str, str], np.ndarray]) -> dict[str, Any]:
    """Calibrate each person on one session's neutral photo and measure on the other session's photos: for all of
    them, and for those whose calibration photo reads off-neutral raw (the faces calibration is for)."""
    records = kdef_pairs(outputs)
    return {"all": _group(records), "rest_off_neutral": _group([r for r in records if r["rest_off_neutral"]])}


def _clip_line(expression: str, summary: Mapping[str, Any]) -> str:
    (raw_caught, cal_caught), n = summary["caught"], summary["clips"]
    line = f"  {expression:<8} caught {raw_caught} -> {cal_caught} of {n}"
    raw_already, cal_already = summary["already"]
    if raw_already or cal_already:
        line += f" (already read {expression} at rest: {raw_already} -> {cal_already})"
    if summary["mean_frames"] is not None:
        raw_frames, cal_frames = summary["mean_frames"]
        line += (
            f" · caught by both ({summary['caught_by_both']}): {raw_frames:.1f} -> {cal_frames:.1f} frames, "
            f"sooner in {summary['sooner']}, later in {summary['later']}"
        )
    if "photo_right" in summary:
        line += f" · photo's top label right {summary['photo_right'][0]} -> {summary['photo_right'][1]}"
    return line + "\n"


def print_synthetic(results: Mapping[str, Any], out: TextIO) -> None:
    out.write(
        "Synthetic: a sad-leaning resting face (sad 0.46, neutral 0.32); 20 seeded clips per expression, "
        f"{FPS:.0f} fps, MoodTracker defaults; raw -> calibrated\n"
    )
    for expression, summary in results.items():
        raw, cal = summary["rest_neutral_share"]
        out.write(f"  {expression:<8} rest reads neutral {raw:.0%} -> {cal:.0%} of the resting frames\n")
        out.write(_clip_line(expression, summary))


def print_kdef(results: Mapping[str, Any], out: TextIO) -> None:
    out.write(
        "KDEF (real photos, shipped model): calibrated on one session's neutral photo, measured on the other "
        "session's photos; still clips of 3 s neutral then 6 s expression; raw -> calibrated\n"
    )
    titles = {"all": "all person-sessions", "rest_off_neutral": "those whose calibration photo reads off-neutral"}
    for key, title in titles.items():
        group = results[key]
        raw, cal = group["neutral_reads_neutral"]
        out.write(f" {title} ({group['pairs']}): held-out neutral photo reads neutral {raw} -> {cal}\n")
        for expression, summary in group["clips"].items():
            out.write(_clip_line(expression, summary))


def measure_neutral_reference(fer2013_zip: str | Path, recognizer: Any) -> tuple[float, ...]:
    """The model's mean output (stream views) over FER2013 PublicTest's neutral faces, rounded to 3 decimals:
    the value of :data:`~fer_core.mood.calibration.MODEL_NEUTRAL_REFERENCE` for ``recognizer``'s model."""
    import io
    import zipfile

    from PIL import Image

    with zipfile.ZipFile(fer2013_zip) as archive:
        names = sorted(n for n in archive.namelist() if "/neutral/PublicTest" in f"/{n}" and n.endswith(".jpg"))
        if not names:
            raise ValueError(f"{fer2013_zip} has no test/neutral/PublicTest_*.jpg faces")
        faces = [np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("L")) for name in names]
    mean = np.asarray(recognizer.classifier.classify(faces, stream=True), dtype=np.float64).mean(axis=0)
    logger.info("neutral reference over %d faces: %s", len(faces), np.round(mean, 4).tolist())
    return tuple(round(float(p), 3) for p in mean / mean.sum())


def calibration_check(
    kdef: str | Path | None = None, *, real: bool = True, out: TextIO | None = None
) -> dict[str, Any]:
    """Run the synthetic check and, when ``real`` and KDEF is there, the real-photo one; print and return both."""
    out = out if out is not None else sys.stdout
    results: dict[str, Any] = {"synthetic": synthetic_check()}
    print_synthetic(results["synthetic"], out)
    folder = Path(kdef) if kdef is not None else default_kdef_path()
    if not real:
        return results
    if not (folder / "labels.csv").is_file():
        out.write(f"KDEF: not found at {folder} (set KDEF_PATH or --kdef); real-photo check skipped\n")
        return results
    photos = kdef_photos(folder)  # checked before the model is loaded
    from fer_core import EmotionRecognizer

    results["kdef"] = kdef_check(kdef_probabilities(photos, EmotionRecognizer()))
    print_kdef(results["kdef"], out)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fer_core.measure.calibration_check --check [--kdef DIR] [--synthetic-only]``: print the check's
    numbers; ``--measure-reference [FER2013_ZIP]``: print the model's neutral reference."""
    parser = argparse.ArgumentParser(
        prog="python -m fer_core.measure.calibration_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="measure the calibration and print the numbers")
    parser.add_argument("--kdef", default=None, help="KDEF folder with labels.csv (default: $KDEF_PATH or ../kdef)")
    parser.add_argument("--synthetic-only", action="store_true", help="skip the real photos (no model is loaded)")
    parser.add_argument(
        "--measure-reference",
        nargs="?",
        const="../shared/datasets/fer2013.zip",
        metavar="FER2013_ZIP",
        help="print the shipped model's MODEL_NEUTRAL_REFERENCE, measured on FER2013 PublicTest's neutral faces",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if not (args.check or args.measure_reference):
        parser.print_help()
        return 2
    try:
        if args.measure_reference:
            from fer_core import EmotionRecognizer

            print(measure_neutral_reference(args.measure_reference, EmotionRecognizer()))
        else:
            calibration_check(kdef=args.kdef, real=not args.synthetic_only, out=sys.stdout)
    except (OSError, ValueError) as error:  # a missing zip, a folder that is not a labelled photo set
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
