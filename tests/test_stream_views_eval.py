"""fer_core.measure.stream_views_eval: labelled photos become moving clips read the live page's three ways."""

from __future__ import annotations

import io
import json

import pytest
from conftest import write_photo_set

from fer_core.measure.stream_views_eval import main
from fer_core.measure.tracking_eval import CameraMotion


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = write_photo_set(tmp_path_factory.mktemp("photos") / "set")
    out = tmp_path_factory.mktemp("out") / "results.json"
    text = io.StringIO()
    assert main(["--data", str(folder), "--json", str(out)], out=text) == 0
    return json.loads(out.read_text()), text.getvalue()


def test_every_way_reads_every_frame_and_the_spread_way_runs_about_one_pass_a_face(results):
    record, _ = results
    frames = CameraMotion(frames=10).frames
    assert record["photos"] == 2
    ways = record["ways"]
    assert list(ways) == ["spread", "every view", "face alone", "spread, ensemble"]
    for row in ways.values():
        assert row["frames"] == 2 * frames
        # the smiling astronaut's frames read happy; the wall's have no face and count as wrong
        assert row["recall"]["happy"] == 1.0 and row["recall"]["sad"] == 0.0
        assert row["accuracy"] == 0.5
    assert ways["every view"]["passes_per_face"] == 2.0
    assert ways["face alone"]["passes_per_face"] == 1.0
    # both views in a face's first frame, one a frame after that (a full search may find it anew)
    assert 1.0 < ways["spread"]["passes_per_face"] <= 1.3
    # two models: four pairs in a face's first frame, one a frame after that
    assert 1.0 < ways["spread, ensemble"]["passes_per_face"] <= 1.6


def test_the_report_names_each_way_and_class(results):
    _, text = results
    for word in ("spread", "every view", "face alone", "accuracy", "passes/face", "neutral", "50.00%"):
        assert word in text


def test_a_folder_without_labels_is_refused_with_the_reason(tmp_path, capsys):
    assert main(["--data", str(tmp_path)]) == 2
    assert "labels.csv" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--ways", "sideways"]) == 2
