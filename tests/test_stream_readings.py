"""fer_core.recognition.stream_readings: a stream's views spread over its frames read a still face as all views
at once do, for one model pass per followed face and frame; new faces get every view."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.measure.sample_frames import one_face_frame, three_face_frame
from fer_core.recognition.classifier import ClassifierConfig
from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig
from fer_core.recognition.stream_readings import StreamReadings
from fer_core.recognition.tracking import TrackerConfig


class CountingPasses:
    """``run`` for :meth:`StreamReadings.read`: a fixed reading per (face, view), and the passes it was asked for."""

    def __init__(self, table: dict[tuple[int, int], list[float]]) -> None:
        self.table = table
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, passes):
        self.calls.append(list(passes))
        return np.array([self.table[item] for item in passes], np.float64)


def test_a_followed_face_gets_one_view_in_turn_and_the_mean_of_the_last_ones():
    readings = StreamReadings()
    run = CountingPasses({(0, 0): [1.0, 0.0], (0, 1): [0.0, 1.0]})
    box = (100, 100, 80, 80)
    first = readings.read([box], 2, run)
    assert run.calls == [[(0, 0), (0, 1)]]  # a new face: every view
    np.testing.assert_allclose(first, [[0.5, 0.5]])
    moved = (104, 102, 80, 80)  # a few pixels on: the same face
    for frame, view in enumerate([0, 1, 0, 1]):
        np.testing.assert_allclose(readings.read([moved], 2, run), [[0.5, 0.5]])
        assert run.calls[frame + 1] == [(0, view)]  # one pass, the views in turn


def test_a_face_elsewhere_is_new_and_two_faces_keep_their_own_readings():
    readings = StreamReadings()
    table = {(0, 0): [1.0, 0.0], (0, 1): [1.0, 0.0], (1, 0): [0.0, 1.0], (1, 1): [0.0, 1.0]}
    run = CountingPasses(table)
    left, right = (0, 0, 50, 50), (300, 0, 50, 50)
    readings.read([left, right], 2, run)
    # the larger face is listed first now: each box still continues its own face
    swapped = CountingPasses({(0, 0): [0.0, 1.0], (1, 1): [1.0, 0.0], (0, 1): [0.0, 1.0], (1, 0): [1.0, 0.0]})
    out = readings.read([right, left], 2, swapped)
    assert swapped.calls == [[(0, 0), (1, 0)]]
    np.testing.assert_allclose(out, [[0.0, 1.0], [1.0, 0.0]])
    far = CountingPasses(table)
    readings.read([(150, 200, 50, 50)], 2, far)
    assert far.calls == [[(0, 0), (0, 1)]]  # no overlap with the last frame's faces: a new face
    readings.reset()
    again = CountingPasses(table)
    readings.read([(150, 200, 50, 50)], 2, again)
    assert again.calls == [[(0, 0), (0, 1)]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_overlap"):
        StreamReadings(min_overlap=0)
    with pytest.raises(ValueError, match="view_count"):
        StreamReadings().read([(0, 0, 9, 9)], 0, CountingPasses({}))
    with pytest.raises(ValueError, match="planned passes"):
        StreamReadings().read([(0, 0, 9, 9)], 2, lambda passes: np.zeros((1, 7)))


def _stream(recognizer: EmotionRecognizer, frame: np.ndarray, frames: int) -> tuple[list[np.ndarray], int]:
    """The probabilities of each frame of a still clip, and how many faces went through the model."""
    before = recognizer.classifier.faces_run
    tracker = recognizer.new_tracker(TrackerConfig(redetect_every=1))  # the same boxes each frame of a still clip
    results = [
        np.array([face.probabilities for face in recognizer.analyze(frame, tracker=tracker)]) for _ in range(frames)
    ]
    return results, recognizer.classifier.faces_run - before


@pytest.mark.parametrize("make_frame", [one_face_frame, three_face_frame])
def test_a_still_stream_reads_as_every_view_each_frame_does_for_half_the_passes(recognizer, make_frame):
    frame = make_frame().image
    every_view = EmotionRecognizer(config=RecognizerConfig(classifier=ClassifierConfig(spread_stream_views=False)))
    spread, spread_passes = _stream(recognizer, frame, 6)
    whole, whole_passes = _stream(every_view, frame, 6)
    faces = len(whole[0])
    assert faces == len(make_frame().faces)
    assert whole_passes == 6 * faces * 2  # flip: two passes a face, every frame
    assert spread_passes == faces * 2 + 5 * faces  # the first frame: both views; then one
    for spread_frame, whole_frame in zip(spread, whole, strict=True):
        np.testing.assert_allclose(spread_frame, whole_frame, atol=1e-5)


def test_classify_stream_runs_one_pass_per_followed_face_and_checks_its_boxes(recognizer):
    classifier = recognizer.classifier
    crop = [one_face_frame().image[100:300, 200:400]]
    readings, box = StreamReadings(), [(200, 100, 200, 200)]
    before = classifier.faces_run
    first = classifier.classify_stream(crop, box, readings)
    assert classifier.faces_run - before == 2  # a new face: the face and its mirror image
    before = classifier.faces_run
    for _ in range(3):
        classifier.classify_stream(crop, box, readings)
    assert classifier.faces_run - before == 3  # followed: one view a frame
    np.testing.assert_allclose(first, classifier.classify(crop, stream=True), atol=1e-6)
    with pytest.raises(ValueError, match="2 boxes for 1 faces"):
        classifier.classify_stream(crop, box * 2, readings)


def test_with_the_ensemble_a_followed_face_runs_one_model_on_one_view_a_frame():
    from fer_core.recognition.classifier import EmotionClassifier

    classifier = EmotionClassifier(config=ClassifierConfig(stream_members=True))
    assert len(classifier.members) == 1  # the photo ensemble's member (models/fer_model.ensemble.json)
    crop, box, readings = [one_face_frame().image[100:300, 200:400]], [(200, 100, 200, 200)], StreamReadings()
    before = classifier.faces_run
    first = classifier.classify_stream(crop, box, readings)
    assert classifier.faces_run - before == 4  # a new face: two models, two views each
    expected = classifier.classify(crop, stream=True)
    np.testing.assert_allclose(first, expected, atol=1e-6)
    alone = EmotionClassifier(config=ClassifierConfig(members=())).classify(crop, stream=True)
    assert np.abs(expected - alone).max() > 1e-3  # the member changes the reading
    for _ in range(6):
        before = classifier.faces_run
        np.testing.assert_allclose(classifier.classify_stream(crop, box, readings), expected, atol=1e-6)
        assert classifier.faces_run - before == 1


def test_the_browser_port_matches_these_readings_on_a_moving_crowd():
    """web/on_device/component/pipeline.js's StreamReadings (run by Node.js) gives the same passes and readings as
    this module on the same frames: faces that move, swap places, leave and come in."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from conftest import require_tool

    node = shutil.which("node")
    require_tool("node", node is not None, "apt-get install nodejs (scripts/run-tests.sh does)")
    rng = np.random.default_rng(3)
    frames, tables = [], []
    for frame in range(30):
        count = [1, 2, 3, 2][frame // 8]  # faces come in, then one leaves
        boxes = [
            (int(60 + 150 * i + rng.integers(-30, 30)), int(80 + rng.integers(-30, 30)), 100, 100) for i in range(count)
        ]
        if frame % 7 == 3:
            boxes.reverse()  # the largest-first order changes
        frames.append(boxes)
        tables.append(rng.dirichlet(np.ones(7), size=(count, 2)).tolist())
    python, readings = [], StreamReadings()
    for boxes, table in zip(frames, tables, strict=True):
        passes_seen = []

        def run(passes, table=table, passes_seen=passes_seen):
            passes_seen.extend(passes)
            return np.array([table[face][view] for face, view in passes])

        out = readings.read(boxes, 2, run)
        python.append({"passes": [list(p) for p in passes_seen], "readings": out.tolist()})
    module = Path(__file__).resolve().parents[1] / "web" / "on_device" / "component" / "pipeline.js"
    script = f"""
        const {{ StreamReadings }} = await import({json.dumps(module.as_uri())});
        const frames = {json.dumps(frames)}, tables = {json.dumps(tables)};
        const readings = new StreamReadings({readings.min_overlap}), out = [];
        for (let i = 0; i < frames.length; i++) {{
          const seen = [];
          const run = async (passes) => {{ seen.push(...passes); return passes.map(([f, v]) => tables[i][f][v]); }};
          out.push({{ passes: seen, readings: await readings.read(frames[i], 2, run) }});
        }}
        console.log(JSON.stringify(out));
    """
    result = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    browser = json.loads(result.stdout)
    assert [frame["passes"] for frame in browser] == [frame["passes"] for frame in python]
    assert sum(len(frame["passes"]) for frame in python) < 2 * sum(len(boxes) for boxes in frames)  # some followed
    for ours, theirs in zip(python, browser, strict=True):
        np.testing.assert_allclose(theirs["readings"], ours["readings"], atol=1e-6)
