"""fer_core.recognition.preprocessing: the one function that prepares faces, for training and for inference alike."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from conftest import FER_FIXTURES, fer_fixture_faces

from fer_core.measure.sample_frames import ASTRONAUT_FACE
from fer_core.recognition.preprocessing import INPUT_SIZE, prepare_faces, resize_face, to_gray

REPO = Path(__file__).resolve().parent.parent


def astronaut_face_rgb() -> np.ndarray:
    x, y, w, h = ASTRONAUT_FACE
    return skimage.data.astronaut()[y : y + h, x : x + w]


def test_batch_shape_dtype_and_range():
    faces = [astronaut_face_rgb(), fer_fixture_faces("test")[0][2], np.zeros((5, 7), np.uint8)]
    batch = prepare_faces(faces)
    assert batch.shape == (3, INPUT_SIZE, INPUT_SIZE, 1) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    assert batch[0].max() > 0.5 and batch[2].max() == 0.0


def test_empty_batch():
    assert prepare_faces([]).shape == (0, INPUT_SIZE, INPUT_SIZE, 1)


def test_pixel_values_are_the_grey_levels_over_255():
    face = fer_fixture_faces("test")[0][2]
    np.testing.assert_allclose(prepare_faces([face])[0, :, :, 0], face / 255.0, atol=1e-7)


def test_colour_and_grey_versions_of_a_face_give_the_same_input():
    rgb = astronaut_face_rgb()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(prepare_faces([rgb]), prepare_faces([gray]))
    np.testing.assert_array_equal(prepare_faces([rgb]), prepare_faces([gray[:, :, None]]))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(prepare_faces([rgb]), prepare_faces([rgba]))


def test_bgr_flag_reads_opencv_channel_order():
    rgb = astronaut_face_rgb()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    np.testing.assert_array_equal(prepare_faces([rgb]), prepare_faces([bgr], bgr=True))
    # Without the flag the red and blue weights are swapped: a different (wrong) grey image.
    assert np.abs(prepare_faces([rgb]) - prepare_faces([bgr])).max() > 0.01


def test_float_images_in_0_1_are_scaled():
    face = fer_fixture_faces("test")[1][2]
    np.testing.assert_allclose(prepare_faces([face / 255.0]), prepare_faces([face]), atol=1 / 255)


def test_shrinking_uses_area_and_enlarging_linear_interpolation():
    big = to_gray(astronaut_face_rgb())  # 96x96 -> 48x48
    np.testing.assert_array_equal(resize_face(big), cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA))
    small = big[::4, ::4]  # 24x24 -> 48x48
    np.testing.assert_array_equal(resize_face(small), cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR))


def test_uint8_stack_fast_path_matches_the_general_path():
    faces = np.stack([face for _, _, face in fer_fixture_faces("train")[:10]])
    np.testing.assert_array_equal(prepare_faces(faces), prepare_faces(list(faces)))
    np.testing.assert_array_equal(prepare_faces(faces[..., None]), prepare_faces(list(faces)))


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((0, 5), np.uint8), np.zeros((2, 3, 4, 5))])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ValueError):
        prepare_faces([bad])


def _calls_of(path: Path, function: str) -> int:
    tree = ast.parse(path.read_text())
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function
    )


@pytest.mark.parametrize(
    "module", ["training/train.py", "training/evaluate.py", "fer_core/recognition/classifier.py"], ids=lambda m: m
)
def test_training_evaluation_and_inference_call_the_shared_function(module):
    assert _calls_of(REPO / module, "prepare_faces") >= 1, f"{module} does not call prepare_faces"


def test_training_data_equals_what_the_classifier_receives(recognizer, monkeypatch):
    """The training batch (training.data -> prepare_faces) is exactly the tensor the model gets at run time."""

    from training.data import load_fer2013

    split = load_fer2013(FER_FIXTURES, cache_dir=None)["PublicTest"]
    training_batch = prepare_faces(split.images)
    classifier = recognizer.classifier
    received: list[np.ndarray] = []
    # the model call of the runtime in use (int8 copy or float tf.function), behind the runtime interface
    runtime = classifier._runtime
    forward = runtime.predict

    def spy(batch):
        received.append(np.asarray(batch))
        return forward(batch)

    monkeypatch.setattr(runtime, "predict", spy)
    # Inference gets each face as a colour photo would give it (RGB) and through the recognizer's crop path.
    colour = [cv2.cvtColor(face, cv2.COLOR_GRAY2RGB) for face in split.images]
    classifier.classify(colour)
    recognizer.classify_faces(colour)
    assert len(received) == 2
    # the first view of every face is the face itself, as prepared for training (then the other views follow)
    for batch in received:
        assert batch.shape[0] == len(training_batch) * len(classifier.views)
        np.testing.assert_array_equal(batch[: len(training_batch)], training_batch)
