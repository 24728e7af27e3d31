"""fer_core.cli: ``predict`` (JSON and table), ``video`` (CSV) and their exit codes, on real images and videos."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_core import cli
from fer_core.labels import EMOTIONS
from fer_core.measure.sample_frames import no_face_frame, one_face_frame, three_face_frame
from fer_core.recognition.detector import box_iou

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def share_the_loaded_model(recognizer, monkeypatch):
    """main() would load the model again on every call: hand it the session's recognizer (same model file).

    So the in-process tests never build a recognizer from ``--runtime`` / ``--threads``; the ``real_runs`` tests
    at the end run ``python -m fer_core`` in a fresh interpreter with the shipped model instead.
    """
    original = cli._recognizer

    def shared(args):
        default_classifier = not getattr(args, "views", None) and not getattr(args, "prior_correction", 0.0)
        if args.model is None and default_classifier and args.runtime == "auto" and not args.threads:
            return recognizer
        return original(args)

    monkeypatch.setattr(cli, "_recognizer", shared)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    face = tmp_path / "astronaut.jpg"
    Image.fromarray(one_face_frame().image).save(face, quality=92)
    empty = tmp_path / "coffee.png"
    Image.fromarray(no_face_frame().image).save(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("these are my notes, not a photo\n")
    return {"face": face, "empty": empty, "text": text, "missing": tmp_path / "missing.png"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_reports_faces_and_per_file_errors(capsys, files):
    code, out, _ = run(capsys, "predict", "--json", files["face"], files["text"], files["missing"], files["empty"])
    assert code == 0
    records = json.loads(out)
    assert [r["file"] for r in records] == [str(files[k]) for k in ("face", "text", "missing", "empty")]
    face_record, text_record, missing_record, empty_record = records

    assert face_record["error"] is None and len(face_record["faces"]) == 1
    (face,) = face_record["faces"]
    assert set(face) == {"box", "emotion", "confidence", "probabilities"}
    assert box_iou(tuple(face["box"]), one_face_frame().faces[0]) > 0.6
    assert list(face["probabilities"]) == list(EMOTIONS)
    assert abs(sum(face["probabilities"].values()) - 1.0) < 1e-3
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
    assert face["confidence"] == pytest.approx(max(face["probabilities"].values()), abs=1e-6)

    assert text_record["faces"] == [] and "notes.jpg" in text_record["error"]
    assert "not an image" in text_record["error"]
    assert missing_record["faces"] == [] and "no such file" in missing_record["error"]
    assert empty_record == {"file": str(files["empty"]), "faces": [], "error": None}  # no face is not an error


def test_predict_exit_code_is_1_only_when_every_file_failed(capsys, files):
    code, out, _ = run(capsys, "predict", "--json", files["text"], files["missing"])
    assert code == 1
    assert all(record["error"] for record in json.loads(out))
    code, _, _ = run(capsys, "predict", files["empty"])
    assert code == 0


def test_predict_table_is_readable(capsys, files):
    code, out, _ = run(capsys, "predict", files["face"], files["text"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{files['face']}: 1 face"
    assert "emotion" in lines[1] and all(name[:7] in lines[1] for name in EMOTIONS)
    row = lines[2].split()
    probabilities = [float(value) for value in row[4:]]
    assert row[0] == "1" and len(probabilities) == len(EMOTIONS) and abs(sum(probabilities) - 1) < 0.01
    assert row[2] == EMOTIONS[int(np.argmax(probabilities))]
    assert float(row[3]) == pytest.approx(max(probabilities), abs=0.01)
    assert lines[3].startswith(f"{files['text']}: ERROR ") and "not an image" in lines[3]


def test_missing_model_exits_2_with_the_message(capsys, files, tmp_path):
    missing = tmp_path / "nonexistent.keras"
    code, out, err = run(capsys, "predict", "--model", missing, files["face"])
    assert code == 2 and out == ""
    assert "not found" in err and str(missing) in err and "Traceback" not in err


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """Six frames at 10 fps: one face, no face, three faces, twice."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    write_video(path, [one_face_frame().image, no_face_frame().image, three_face_frame().image] * 2)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_video_writes_a_row_per_face_and_one_per_empty_frame(capsys, video, tmp_path):
    out_csv = tmp_path / "out" / "emotions.csv"
    code, out, _ = run(capsys, "video", video, "--csv", out_csv)
    assert code == 0 and "analysed 6 of 6 frames" in out
    rows = read_rows(out_csv)
    assert list(rows[0]) == list(cli.CSV_COLUMNS)
    by_frame: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        by_frame.setdefault(int(row["frame"]), []).append(row)
    assert sorted(by_frame) == [0, 1, 2, 3, 4, 5]
    assert [len(by_frame[i]) for i in range(6)] == [1, 1, 3, 1, 1, 3]
    for index in (1, 4):  # the coffee frame: one row, face fields empty
        (row,) = by_frame[index]
        assert all(row[column] == "" for column in cli.CSV_COLUMNS[2:])
    for index, row_list in by_frame.items():
        assert all(float(row["time_s"]) == pytest.approx(index / 10.0) for row in row_list)
    for row in by_frame[0] + by_frame[2]:
        probabilities = [float(row[name]) for name in EMOTIONS]
        assert abs(sum(probabilities) - 1.0) < 1e-3 and row["emotion"] in EMOTIONS
        assert float(row["confidence"]) == pytest.approx(max(probabilities), abs=1e-6)
    (astronaut,) = by_frame[0]
    box = tuple(int(astronaut[k]) for k in "xywh")
    assert box_iou(box, one_face_frame().faces[0]) > 0.6
    assert [int(row["face"]) for row in by_frame[2]] == [0, 1, 2]


def test_video_every_and_max_frames(capsys, video, tmp_path):
    out_csv = tmp_path / "every.csv"
    code, _, _ = run(capsys, "video", video, "--csv", out_csv, "--every", "2", "--max-frames", "2")
    assert code == 0
    assert sorted({int(row["frame"]) for row in read_rows(out_csv)}) == [0, 2]


def test_unreadable_video_exits_2_and_writes_nothing(capsys, tmp_path, files):
    out_csv = tmp_path / "never.csv"
    for source in (files["text"], files["missing"]):
        code, _, err = run(capsys, "video", source, "--csv", out_csv)
        assert code == 2 and str(source) in err and "Traceback" not in err
        assert not out_csv.exists()


def test_bad_arguments_exit_2(capsys, video, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["video", str(video), "--csv", str(tmp_path / "x.csv"), "--every", "0"])
    assert exit_info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_python_dash_m_entry_point_help():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "fer_core", "predict", "--help"], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--json" in result.stdout and '"error": null' in result.stdout and "exit code" in result.stdout


def cli_subprocess(*argv: object) -> subprocess.CompletedProcess:
    """``python -m fer_core -v ARGV...`` in a fresh interpreter: the real model loading, options included."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fer_core", "-v", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """``predict PHOTO --json`` with the shipped model under each ``--runtime`` (auto: the option left out)."""
    photo = tmp_path_factory.mktemp("photo") / "astronaut.jpg"
    Image.fromarray(one_face_frame().image).save(photo, quality=92)
    runs = {}
    for runtime in ("float", "int8", "auto"):
        options = [] if runtime == "auto" else ["--runtime", runtime]
        runs[runtime] = cli_subprocess("predict", photo, "--json", *options)
    return runs


def reported_runtime(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("fer_core.cli: model ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0].rsplit("runtime ", 1)[1]


def only_face(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = json.loads(result.stdout)
    assert record["error"] is None and len(record["faces"]) == 1, record
    return record["faces"][0]


@pytest.mark.slow
@pytest.mark.parametrize(("option", "runtime"), [("float", "float"), ("int8", "int8"), ("auto", "int8")])
def test_runtime_option_runs_that_copy_of_the_shipped_model(real_runs, option, runtime):
    """--runtime float runs the Keras model, --runtime int8 its int8 copy, and the default the int8 copy (the
    shipped model has a matching one: README "The classifier runs the model's int8 copy whenever ...")."""
    result = real_runs[option]
    face = only_face(result)
    assert reported_runtime(result) == runtime
    assert box_iou(tuple(face["box"]), one_face_frame().faces[0]) > 0.6


@pytest.mark.slow
def test_float_and_int8_runs_really_ran_different_models(real_runs):
    """Not just a different log line: the int8 copy's numbers differ from float32's by quantization noise."""
    as_float, as_int8, as_auto = (only_face(real_runs[name]) for name in ("float", "int8", "auto"))
    float_p, int8_p = (np.array(list(face["probabilities"].values())) for face in (as_float, as_int8))
    assert np.abs(float_p - int8_p).max() > 1e-4, "the float and int8 runs gave identical probabilities"
    assert np.abs(float_p - int8_p).max() < 0.2 and as_float["emotion"] == as_int8["emotion"]
    assert as_auto["probabilities"] == as_int8["probabilities"]


@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "reported"), [("auto", "int8 runtime 2"), ("float", "TensorFlow intra-op 2")])
def test_threads_option_reaches_the_runtime_that_runs(tmp_path, runtime, reported):
    """--threads did nothing on the default int8 runtime (it only sized TensorFlow's pool, which int8 does not use):
    it sizes the pool of whichever copy runs, as the loaded runtime itself reports (-v)."""
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(one_face_frame().image).save(photo, quality=92)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fer_core", "-v", "predict", str(photo), "--json", "--threads", "2"]
    result = subprocess.run(
        [*command, "--runtime", runtime], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"fer_core.cli: threads: {reported}\n" in result.stderr, result.stderr[-3000:]
    assert len(json.loads(result.stdout)[0]["faces"]) == 1


def test_threads_must_not_be_negative(capsys, files):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", str(files["face"]), "--threads", "-1"])
    assert exit_info.value.code == 2
    assert "--threads: must be >= 0, got -1" in capsys.readouterr().err


def test_video_rows_carry_valence_and_arousal_of_their_probabilities(capsys, video, tmp_path):
    """valence and arousal close each face row: in [-1, 1], the circumplex mapping of the row's probabilities."""
    from fer_core.mood.affect import affect

    out_csv = tmp_path / "affect.csv"
    code, _, _ = run(capsys, "video", video, "--csv", out_csv, "--max-frames", "3")
    assert code == 0
    rows = read_rows(out_csv)
    assert list(rows[0])[-2:] == ["valence", "arousal"]
    faces = [row for row in rows if row["face"] != ""]
    assert len(faces) == 4  # one face, then none, then three
    for row in faces:
        valence, arousal = float(row["valence"]), float(row["arousal"])
        assert -1 <= valence <= 1 and -1 <= arousal <= 1
        expected = affect([float(row[name]) for name in EMOTIONS])
        assert (valence, arousal) == pytest.approx(expected.as_tuple(), abs=1e-5)
    assert len({row["valence"] for row in faces}) > 1  # read from each face, not a constant
    (empty,) = [row for row in rows if row["face"] == ""]
    assert empty["valence"] == empty["arousal"] == ""


def test_views_option_takes_a_set_name_or_views_written_out(capsys, files):
    def probabilities(*views: str) -> dict[str, float]:
        code, out, _ = run(capsys, "predict", "--json", files["face"], *views)
        assert code == 0
        return json.loads(out)[0]["faces"][0]["probabilities"]

    named, written = probabilities("--views", "flip"), probabilities("--views", "facem,face")
    assert written == pytest.approx(named, abs=1e-6)  # the same two views, named or written out
    assert probabilities("--views", "z1.3,z1.3m") != pytest.approx(named, abs=1e-4)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", str(files["face"]), "--views", "face,q3"])
    assert exit_info.value.code == 2
    assert "cannot read the view 'q3'" in capsys.readouterr().err
