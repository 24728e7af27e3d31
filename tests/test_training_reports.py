"""Report figures: the training curves, with stage boundaries and the weight average's mark."""

from __future__ import annotations

from training.reports import plot_training_curves

LOG = {
    "accuracy": [0.3, 0.5, 0.6, 0.65],
    "val_accuracy": [0.32, 0.48, 0.55, 0.57],
    "loss": [1.9, 1.5, 1.3, 1.2],
    "val_loss": [1.8, 1.6, 1.5, 1.45],
}


def test_training_curves_mark_the_weight_average(tmp_path):
    plain = plot_training_curves(LOG, tmp_path / "plain.png", stage_starts=[2])
    marked = plot_training_curves(LOG, tmp_path / "marked.png", stage_starts=[2], averaged_accuracy=0.61)
    assert plain is not None and marked is not None
    assert plain.read_bytes()[:4] == marked.read_bytes()[:4] == b"\x89PNG"
    assert plain.read_bytes() != marked.read_bytes()


def test_training_curves_need_a_log(tmp_path):
    assert plot_training_curves({}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
