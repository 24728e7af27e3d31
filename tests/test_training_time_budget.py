"""training.time_budget and ``training.train --time-budget``: whole epochs within a budget, then ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from training import time_budget
from training.time_budget import STOPPED_AT_BUDGET, TimeBudget
from training.train import main

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def test_it_stops_once_another_epoch_as_long_as_the_longest_would_overrun(monkeypatch):
    clock = iter([10.0, 40.0, 40.0, 75.0])  # epoch 1 takes 30 s, epoch 2 takes 35 s
    monkeypatch.setattr(time_budget.time, "monotonic", lambda: next(clock))
    budget = TimeBudget(100, started=0.0)
    budget.set_model(SimpleNamespace(stop_training=False))
    budget.on_epoch_begin(0)
    budget.on_epoch_end(0)
    assert not budget.model.stop_training and budget.stopped_after is None, "40 s + 30 s fits in 100 s"
    budget.on_epoch_begin(1)
    budget.on_epoch_end(1)
    assert budget.model.stop_training and budget.stopped_after == 2, "75 s + 35 s does not"
    with pytest.raises(ValueError, match="must be positive"):
        TimeBudget(0)


def test_a_run_stopped_by_its_budget_exports_nothing_and_resume_finishes_it(tmp_path):
    run = tmp_path / "run"
    argv = [
        *("--data", str(FIXTURES), "--run-dir", str(run), "--cache-dir", str(tmp_path / "cache")),
        *("--widths", "8,8,16,16", "--epochs", "2", "--batch-size", "16", "--warmup-epochs", "1"),
        *("--no-mixed-precision", "--export", str(run / "exported.keras")),
    ]
    assert main([*argv, "--time-budget", "0.01"]) == STOPPED_AT_BUDGET  # the first epoch always runs
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert (run / "last.keras").is_file() and not (run / "exported.keras").exists()
    assert main([*argv, "--resume", "--time-budget", "600"]) == 0
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert (run / "exported.keras").is_file()
    assert len((run / "log.csv").read_text().strip().splitlines()) == 1 + 2
