"""drawing.draw_results: boxes and labels drawn in place, in the emotion's colour, in either channel order."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.measure.sample_frames import one_face_frame
from fer_core.recognition.drawing import EMOTION_COLORS_RGB, draw_results
from fer_core.recognition.results import FaceResult


def result(box, emotion: str, p: float = 0.8) -> FaceResult:
    probabilities = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1))
    probabilities[EMOTIONS.index(emotion)] = p
    return FaceResult.from_array(box, probabilities)


def test_draws_in_place_box_in_the_emotion_colour():
    frame = np.full((480, 640, 3), 30, np.uint8)
    returned = draw_results(frame, [result((200, 150, 120, 120), "happy")])
    assert returned is frame
    colour = EMOTION_COLORS_RGB["happy"]
    assert tuple(frame[210, 200]) == colour  # left edge (row 210, column 200)
    assert tuple(frame[210, 320]) == colour  # right edge
    assert tuple(frame[270, 260]) == colour  # bottom edge
    assert tuple(frame[210, 260]) == (30, 30, 30)  # inside the box: untouched
    assert tuple(frame[400, 500]) == (30, 30, 30)  # elsewhere: untouched


def test_label_above_the_box_holds_dark_text_on_the_colour():
    frame = np.full((480, 640, 3), 30, np.uint8)
    draw_results(frame, [result((200, 150, 120, 120), "sad", 0.87)])
    above = frame[110:150, 200:320].reshape(-1, 3)
    colours = {tuple(pixel) for pixel in above}
    assert EMOTION_COLORS_RGB["sad"] in colours
    assert any(max(pixel) < 60 for pixel in colours)  # the text


def test_bgr_reverses_the_colour():
    rgb = np.zeros((240, 320, 3), np.uint8)
    bgr = np.zeros((240, 320, 3), np.uint8)
    faces = [result((50, 60, 100, 100), "angry")]
    draw_results(rgb, faces)
    draw_results(bgr, faces, bgr=True)
    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])


def test_no_results_leaves_the_frame_alone():
    frame = one_face_frame().image
    copy = frame.copy()
    draw_results(frame, [])
    np.testing.assert_array_equal(frame, copy)


def test_every_face_is_drawn():
    frame = np.zeros((480, 640, 3), np.uint8)
    faces = [result((40, 100, 150, 150), "fear"), result((400, 200, 100, 100), "surprise")]
    draw_results(frame, faces)
    assert tuple(frame[200, 40]) == EMOTION_COLORS_RGB["fear"]
    assert tuple(frame[250, 400]) == EMOTION_COLORS_RGB["surprise"]


def test_boxes_at_or_past_the_edges_do_not_fail():
    frame = np.zeros((120, 160, 3), np.uint8)
    draw_results(frame, [result((0, 0, 60, 60), "neutral"), result((130, 100, 80, 80), "disgust")])
    # No room above the first box: its label goes inside/below, still in the frame.
    assert (frame[:60, :60] == EMOTION_COLORS_RGB["neutral"]).all(axis=2).any()
    assert (frame == EMOTION_COLORS_RGB["disgust"]).all(axis=2).any()


@pytest.mark.parametrize("shape", [(480, 640), (480, 640, 4), (480, 640, 1)])
def test_non_rgb_frames_are_refused(shape):
    with pytest.raises(ValueError, match="H x W x 3"):
        draw_results(np.zeros(shape, np.uint8), [result((0, 0, 10, 10), "happy")])
