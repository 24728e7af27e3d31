"""training.stages: following --init-from back through run folders, and joining their logs."""

from __future__ import annotations

import json

import pytest

from training.stages import combined_log, training_stages


def _run(folder, init_from=None, rows=(), header="epoch,accuracy,loss,val_accuracy,val_loss"):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"command": f"train {folder.name}", "init_from": init_from}))
    (folder / "log.csv").write_text("\n".join([header, *rows]) + "\n")
    (folder / "state.json").write_text(json.dumps({"epoch": len(rows)}))
    return folder


def test_single_run_is_one_stage(tmp_path):
    run = _run(tmp_path / "a", rows=["0,0.3,1.9,0.4,1.8", "1,0.5,1.5,0.5,1.6"])
    stages = training_stages(run)
    assert [stage.run_dir for stage in stages] == [run]
    log, starts = combined_log(stages)
    assert log["val_accuracy"] == [0.4, 0.5] and starts == []


def test_chain_is_followed_earliest_first_and_logs_joined(tmp_path):
    first = _run(tmp_path / "first", rows=["0,0.3,1.9,0.4,1.8", "1,0.5,1.5,0.5,1.6"])
    # the second stage logs one more column: only the shared columns are joined
    second = _run(
        tmp_path / "second",
        init_from=str(first / "last.keras"),
        rows=["0,0.6,1.2,0.55,1.4,0.001"],
        header="epoch,accuracy,loss,val_accuracy,val_loss,learning_rate",
    )
    stages = training_stages(second)
    assert [stage.run_dir for stage in stages] == [first, second]
    assert [stage.summary()["command"] for stage in stages] == ["train first", "train second"]
    assert stages[1].summary()["run_state"] == {"epoch": 1}
    log, starts = combined_log(stages)
    assert log["accuracy"] == [0.3, 0.5, 0.6] and "learning_rate" not in log and "epoch" not in log
    assert starts == [2]


def test_missing_earlier_run_ends_the_chain(tmp_path, caplog):
    run = _run(tmp_path / "b", init_from=str(tmp_path / "gone" / "last.keras"), rows=["0,0.3,1.9,0.4,1.8"])
    stages = training_stages(run)
    assert [stage.run_dir for stage in stages] == [run]
    assert "no config.json" in caplog.text


def test_loop_is_an_error(tmp_path):
    run = _run(tmp_path / "c", rows=["0,0.3,1.9,0.4,1.8"])
    (run / "config.json").write_text(json.dumps({"init_from": str(run / "last.keras")}))
    with pytest.raises(ValueError, match="loop"):
        training_stages(run)
