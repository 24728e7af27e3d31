"""Benchmark detection, classification and the whole pipeline on real images (``python -m fer_core bench``).

Frames (640x480 by default, needs scikit-image): the astronaut photo (one face), three astronaut heads on the
rocket photo (three faces), the coffee photo (no face). Every timing is the median and 95th percentile over
``--runs`` runs after ``--warmup`` untimed runs. Also measured, in the same process: the naive baseline
(full-resolution Haar with scaleFactor 1.1 / minNeighbors 5 and ``model.predict`` per face) and our speed-up
over it; frames/s on one thread and on ``--parallel`` threads sharing one recognizer; the model load time
(TensorFlow's import timed separately); the process's peak RSS. Tracking: a camera panning and zooming over the
one- and three-face frames for ``--clip-frames`` frames, analysed as a tracked stream and as photos, to show
that tracking finds the same faces and gives the same emotions (:mod:`fer_core.measure.tracking_eval`).

Threads: ``--threads`` caps TensorFlow's intra- and inter-op pools and OpenCV (cv2.setNumThreads) for the whole
process, before the model loads (TensorFlow fixes its pools once per process). The default, 1, is what a server
running several sessions at once should use; 0 keeps the libraries' defaults (all cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from fer_core.measure.timing import summarize_ms
from fer_core.recognition.classifier import DEFAULT_STREAM_VIEWS, DEFAULT_VIEWS, RUNTIMES
from fer_core.recognition.views import VIEW_SETS, view_set_option

if TYPE_CHECKING:
    from fer_core.measure.sample_frames import SampleFrame
    from fer_core.recognition.classifier import Runtime

REPORT_KEYS: tuple[str, ...] = (
    "config", "tensorflow_import_s", "model_load_s", "frames", "classification_ms_per_face",
    "views_ms_per_face", "stream_ms_per_face", "fps_1_thread", "fps_parallel", "parallel_threads",
    "speedup_over_baseline", "tracking", "peak_rss_mb",
)  # fmt: skip
"""Top-level keys of the ``--json`` object."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="640x480", type=_size, metavar="WxH", help="frame size (640x480)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before each measurement (5)")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=None,
        help="timed runs of the slow naive baseline (default: runs / 5, at least 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="TensorFlow intra/inter-op threads and cv2 threads for the process (1; 0: all cores)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=os.cpu_count() or 1,
        help="threads sharing one recognizer for the parallel frames/s (default: CPU count)",
    )
    parser.add_argument(
        "--clip-frames", type=int, default=90, help="frames of the moving clip that checks tracking accuracy (90)"
    )
    parser.add_argument("--model", type=Path, default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument(
        "--views",
        type=view_set_option,
        default=None,
        help=f"photo views (default {DEFAULT_VIEWS!r}, the app's; video frames keep {DEFAULT_STREAM_VIEWS!r})",
    )
    parser.add_argument("--flip-tta", action="store_true", help="older spelling of --views flip")
    parser.add_argument(
        "--no-fold-batch-norm",
        action="store_true",
        help="run the saved model as it is, without folding batch norms into convolutions (for comparison)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="int8 copy or float32 Keras model (auto: int8 when the copy matches the model, as the app runs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from error
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"frames must be at least 64x64, got {text}")
    return width, height


def _time(call: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def _peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux it is read from ``/proc/self/status`` (``VmHWM``):
    ``ru_maxrss`` also keeps the parent's size at the fork that started this process, through the exec, so a bench
    started by a large process (a test run) would report that process's memory instead of its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _frames(samples: list[SampleFrame], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The sample frames' images, letterboxed to ``size`` (never stretched, so faces keep their shape)."""
    from fer_core.measure.sample_frames import letterboxed

    return {sample.name: letterboxed(sample, size).image for sample in samples}


def _views_ms(classifier, crop: list[np.ndarray], runs: int, warmup: int) -> dict[str, dict[str, float]]:
    """Classification time of one face (batch 1) with every named view set, on the classifier's runtime, by the
    main model alone (an ensemble costs this times its number of models)."""
    from fer_core.recognition.preprocessing import prepare_faces

    batch = prepare_faces(crop)
    return {
        name: summarize_ms(_time(partial(classifier.predict_views, batch, views, members=False), runs, warmup))
        for name, views in VIEW_SETS.items()
    }


def _stream_ms(classifier, crop: list[np.ndarray], runs: int, warmup: int) -> dict[str, float]:
    """Classification time of one face (batch 1) in the frames of a stream, after its first (the live page's
    budget): one of the stream views a frame when they are spread over the frames (``spread_stream_views``), all
    of them otherwise; the ensemble's members only when ``stream_members`` is set."""
    if not classifier.config.spread_stream_views:
        return summarize_ms(_time(lambda: classifier.classify(crop, stream=True), runs, warmup))
    from fer_core.recognition.stream_readings import StreamReadings

    box = [(0, 0, crop[0].shape[1], crop[0].shape[0])]
    read = partial(classifier.classify_stream, crop, box, StreamReadings())
    read()  # the face's first frame, with every view
    return summarize_ms(_time(read, runs, warmup))


def _fps(recognizer, frames: list[np.ndarray], count: int, workers: int) -> float:
    """Video frames per second (stream views) when ``workers`` threads each analyse ``count`` frames."""
    from fer_core.recognition.drawing import draw_results

    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def work() -> None:
        own = [frame.copy() for frame in frames]
        barrier.wait()
        try:
            for index in range(count):
                frame = own[index % len(own)]
                draw_results(frame.copy(), recognizer.analyze(frame, stream=True))
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return workers * count / elapsed


def _time_frames(
    recognizer, frames: dict[str, np.ndarray], runs: int, warmup: int, baseline_runs: int
) -> tuple[dict[str, Any], list[np.ndarray], float]:
    """Per frame: detection, photo path, tracked stream and the naive baseline; the face crops; the speed-up."""
    from fer_core.measure.baseline import NaiveHaarDetector, naive_analyze
    from fer_core.recognition.drawing import draw_results
    from fer_core.recognition.preprocessing import resize_face, to_gray
    from fer_core.recognition.results import FaceResult

    naive = NaiveHaarDetector(scale_factor=1.1, min_neighbors=5)
    rows: dict[str, Any] = {}
    crops: list[np.ndarray] = []
    ours_total = baseline_total = 0.0
    for name, frame in frames.items():
        gray = to_gray(frame)
        boxes = recognizer.detector.detect(gray)
        crops += [resize_face(gray[y : y + h, x : x + w]) for x, y, w, h in boxes]
        canvas = frame.copy()
        tracker = recognizer.new_tracker()

        def end_to_end(frame=frame, canvas=canvas) -> None:
            draw_results(canvas, recognizer.analyze(frame))

        def baseline(frame=frame, canvas=canvas) -> None:
            model = recognizer.classifier.model
            draw_results(canvas, [FaceResult.from_array(box, p) for box, p in naive_analyze(model, naive, frame)])

        def stream(frame=frame, canvas=canvas, tracker=tracker) -> None:
            draw_results(canvas, recognizer.analyze(frame, tracker=tracker))

        ours = _time(end_to_end, runs, warmup)
        slow = _time(baseline, baseline_runs, min(warmup, 1))
        ours_total += statistics.median(ours)
        baseline_total += statistics.median(slow)
        rows[name] = {
            "faces_detected": len(boxes),
            "detection_ms": summarize_ms(_time(partial(recognizer.detector.detect, gray), runs, warmup)),
            "end_to_end_ms": summarize_ms(ours),
            "stream_end_to_end_ms": summarize_ms(_time(stream, runs, warmup)),
            "baseline_faces_detected": len(naive.detect(gray)),
            "baseline_end_to_end_ms": summarize_ms(slow),
            "speedup": round(statistics.median(slow) / statistics.median(ours), 2),
        }
    return rows, crops, round(baseline_total / ours_total, 2)


def _import_tensorflow() -> tuple[float, bool]:
    """Import TensorFlow and Keras; return the seconds it took and whether they were imported already."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    already_imported = "tensorflow" in sys.modules
    started = time.perf_counter()
    import keras  # noqa: F401 - timed: TensorFlow + Keras import
    import tensorflow  # noqa: F401

    return time.perf_counter() - started, already_imported


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it (reports do not name the machine's
    folders), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _config_record(settings: dict[str, Any], recognizer, already_imported: bool) -> dict[str, Any]:
    """The report's ``config``: the bench's ``settings`` and what the recognizer runs."""
    classifier = recognizer.classifier
    return {
        **settings,
        "cpu_count": os.cpu_count(),
        "model": _shown_path(recognizer.model_path),
        "views": classifier.config.views,
        "stream_views": classifier.config.stream_views,
        "spread_stream_views": classifier.config.spread_stream_views,
        "tensorflow_already_imported": already_imported,
        "folded_batch_norms": classifier.folded_batch_norms,
        "runtime": classifier.runtime,
        "members": list(classifier.members),
        "stream_members": classifier.config.stream_members,
    }


def _classification_timings(classifier, crops: list, runs: int, warmup: int) -> dict[str, Any]:
    """ms per face: the photo configuration at batch 1 and 8, each view set, and the live configuration."""
    batch8 = [crops[i % len(crops)] for i in range(8)]
    return {
        "classification_ms_per_face": {
            "batch_1": summarize_ms(_time(lambda: classifier.classify(crops[:1]), runs, warmup)),
            "batch_8": summarize_ms([s / 8 for s in _time(lambda: classifier.classify(batch8), runs, warmup)]),
        },
        "views_ms_per_face": _views_ms(classifier, crops[:1], runs, warmup),
        "stream_ms_per_face": _stream_ms(classifier, crops[:1], runs, warmup),
    }


def run_bench(
    *,
    size: tuple[int, int] = (640, 480),
    runs: int = 50,
    warmup: int = 5,
    baseline_runs: int | None = None,
    threads: int = 1,
    parallel: int | None = None,
    model_path: str | os.PathLike[str] | None = None,
    views: str = DEFAULT_VIEWS,
    clip_frames: int = 90,
    fold_batch_norm: bool = True,
    runtime: Runtime = "auto",
) -> dict[str, Any]:
    """Run every measurement; return the report (see :data:`REPORT_KEYS`)."""
    if runs < 1 or warmup < 0 or threads < 0:
        raise ValueError("runs must be >= 1, warmup >= 0 and threads >= 0")
    parallel = parallel or os.cpu_count() or 1
    baseline_runs = baseline_runs if baseline_runs is not None else max(1, runs // 5)
    tensorflow_import_s, already_imported = _import_tensorflow()
    import cv2

    from fer_core.measure.sample_frames import sample_frames
    from fer_core.measure.tracking_eval import CameraMotion, compare_tracking
    from fer_core.recognition.classifier import ClassifierConfig, configure_threads
    from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig

    if threads:
        configure_threads(threads, threads)
        cv2.setNumThreads(threads)
    classifier_config = ClassifierConfig(views=views, fold_batch_norm=fold_batch_norm, runtime=runtime)
    recognizer = EmotionRecognizer(model_path, RecognizerConfig(classifier=classifier_config))
    classifier = recognizer.classifier
    samples = sample_frames()
    frames = _frames(samples, size)

    settings = {"size": list(size), "runs": runs, "warmup": warmup, "baseline_runs": baseline_runs, "threads": threads}
    report: dict[str, Any] = {
        "config": _config_record(settings, recognizer, already_imported),
        "tensorflow_import_s": round(tensorflow_import_s, 4),
        "model_load_s": round(classifier.load_seconds, 4),
        "frames": {},
    }  # fmt: skip
    report["frames"], crops, report["speedup_over_baseline"] = _time_frames(
        recognizer, frames, runs, warmup, baseline_runs
    )
    if not crops:
        raise RuntimeError("the detector found no face in the sample frames; cannot time classification")
    report.update(_classification_timings(classifier, crops, runs, warmup))
    frame_list = list(frames.values())
    report["fps_1_thread"] = round(_fps(recognizer, frame_list, runs, 1), 2)
    report["fps_parallel"] = round(_fps(recognizer, frame_list, runs, parallel), 2)
    report["parallel_threads"] = parallel
    motion = CameraMotion(frames=clip_frames)
    report["tracking"] = {  # on the samples at their own 640x480: the clip needs their true face boxes
        sample.name: compare_tracking(recognizer, sample, motion=motion) for sample in samples if sample.faces
    }
    report["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The human-readable report."""
    config = report["config"]
    width, height = config["size"]
    lines = [
        f"fer_core bench: {width}x{height} frames, {config['runs']} runs after {config['warmup']} warm-up "
        f"(baseline {config['baseline_runs']} runs), threads {config['threads'] or 'default'}, "
        f"{config['cpu_count']} CPUs",
        f"model {config['model']}: loaded in {report['model_load_s'] * 1000:.0f} ms "
        f"(TensorFlow + Keras import {report['tensorflow_import_s']:.2f} s, not included); "
        f"runtime {config.get('runtime', 'float')}"
        + (
            " (int8 copy, TensorFlow Lite)"
            if config.get("runtime") == "int8"
            else f" ({config.get('folded_batch_norms', 0)} batch norms folded into convolutions)"
        )
        + f"; views: photos {config['views']}, video frames {config['stream_views']}",
        "",
        f"{'frame':<12} {'faces':>5} {'detect ms':>17} {'analyze+draw ms':>17} {'stream ms':>17} "
        f"{'naive: faces':>12} {'ms':>8} {'speed-up':>8}",
        f"{'':<12} {'':>5} {'median / p95':>17} {'median / p95':>17} {'median / mean':>17} {'':>12} {'median':>8}",
    ]
    for name, row in report["frames"].items():
        detect, e2e, slow = row["detection_ms"], row["end_to_end_ms"], row["baseline_end_to_end_ms"]
        stream = row["stream_end_to_end_ms"]
        lines.append(
            f"{name:<12} {row['faces_detected']:>5} {detect['median']:>8.1f} / {detect['p95']:>6.1f} "
            f"{e2e['median']:>8.1f} / {e2e['p95']:>6.1f} {stream['median']:>8.1f} / {stream['mean']:>6.1f} "
            f"{row['baseline_faces_detected']:>12} {slow['median']:>8.1f} {row['speedup']:>7.1f}x"
        )
    one, eight = report["classification_ms_per_face"]["batch_1"], report["classification_ms_per_face"]["batch_8"]
    stream = report["stream_ms_per_face"]
    names = config.get("members", [])
    members = f", averaged with {', '.join(names)}" if names else ""
    spread = " spread over the frames, one a frame" if config.get("spread_stream_views") else ""
    stream_members = members if names and config.get("stream_members") else (", the model alone" if names else "")
    lines += [
        "",
        f"classification per face, photos ({config['views']} views{members}): batch 1 {one['median']:.2f} ms "
        f"(p95 {one['p95']:.2f}); batch 8 {eight['median']:.2f} ms (p95 {eight['p95']:.2f})",
        f"classification per face, video frames ({config['stream_views']} views{spread}{stream_members}): batch 1 "
        f"{stream['median']:.2f} ms (p95 {stream['p95']:.2f})",
        "classification of one face by view set, one model (batch 1, median / p95 ms): "
        + "; ".join(
            f"{name} ({len(VIEW_SETS[name])}) {row['median']:.2f} / {row['p95']:.2f}"
            for name, row in report["views_ms_per_face"].items()
        ),
        f"video frames/s (analyze + draw, stream views, cycling the frames): 1 thread {report['fps_1_thread']:.1f}; "
        f"{report['parallel_threads']} threads {report['fps_parallel']:.1f}",
        f"speed-up over the naive baseline (sum of median frame times): {report['speedup_over_baseline']:.1f}x",
        *_tracking_lines(report["tracking"]),
        f"peak RSS: {report['peak_rss_mb']:.0f} MB",
        "stream: consecutive frames of one video through a FaceTracker (full detection every 10th frame, a",
        "search around the last boxes in between; with no face in view, a full search every 3rd frame);",
        "the other columns treat every frame as a new photo.",
    ]
    return "\n".join(lines)


def _tracking_lines(tracking: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["tracking on a panning, zooming clip (faces found, emotion agreement, ms median / mean):"]
    for name, row in tracking.items():
        agreement = row["emotion_agreement"]
        lines.append(
            f"  {name:<12} {row['frames']} frames: photo path {row['recall_full']:.0%} of faces in "
            f"{row['full_ms']['median']:.1f} / {row['full_ms']['mean']:.1f} ms; tracked {row['recall_tracked']:.0%} "
            f"in {row['tracked_ms']['median']:.1f} / {row['tracked_ms']['mean']:.1f} ms; same emotion on "
            f"{'n/a' if agreement is None else f'{agreement:.0%}'} of faces both found"
        )
    return lines


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """The ``bench`` subcommand of :mod:`fer_core.cli`."""
    report = run_bench(
        size=args.size, runs=args.runs, warmup=args.warmup, baseline_runs=args.baseline_runs, threads=args.threads,
        parallel=args.parallel, model_path=args.model,
        views="flip" if args.flip_tta else (args.views or DEFAULT_VIEWS),
        clip_frames=args.clip_frames, fold_batch_norm=not args.no_fold_batch_norm, runtime=args.runtime,
    )  # fmt: skip
    out.write((json.dumps(report, indent=2) if args.json else format_report(report)) + "\n")
    return 0
