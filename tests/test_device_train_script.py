"""scripts/device-train.sh's own logic, with a stand-in for Python that records how it was called: going on with
``--resume`` when the run has a checkpoint, the budget passed down, what comes back (few files: the device tool
brings back 8 a call), and clear refusals. ``tests/test_training_batches.py`` runs it for real, on JAX."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STAND_IN = """#!/usr/bin/env bash
# Records its arguments, writes a run's files into the --run-dir it was given, exits with $EXIT_CODE.
printf '%s\\n' "$@" > "$CALLS/$(ls "$CALLS" | wc -l)"
while [ $# -gt 0 ]; do [ "$1" = --run-dir ] && run=$2; shift; done
for file in config.json state.json log.csv last.keras best.keras swa_running.npz averaged.keras fer_model.keras; do
    echo "$file" > "$run/$file"
done
echo "trained"
exit "${EXIT_CODE:-0}"
"""


def call(tmp_path: Path, *arguments: str, exit_code: int = 0, **settings: str) -> subprocess.CompletedProcess:
    (tmp_path / "calls").mkdir(exist_ok=True)
    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    (tmp_path / "pack.npz").touch()
    environment = dict(
        os.environ, PYTHON=str(stand_in), CALLS=str(tmp_path / "calls"), EXIT_CODE=str(exit_code),
        OUT=str(tmp_path / "out"), DATA=str(tmp_path / "pack.npz"), RUNS=str(tmp_path / "runs"),
        WHEELS=str(tmp_path / "no-wheels"),
    ) | settings  # fmt: skip
    command = ["bash", "scripts/device-train.sh", *arguments]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60)


def calls(tmp_path: Path) -> list[list[str]]:
    files = sorted((tmp_path / "calls").iterdir(), key=lambda path: int(path.name))
    return [path.read_text().splitlines() for path in files]


def records(back: Path) -> set[str]:
    with tarfile.open(back / "records.tar") as archive:
        return set(archive.getnames())


def test_a_finished_run_brings_back_its_records_and_the_exported_model(tmp_path):
    done = call(tmp_path, "member_x", "480", "--epochs", "64")
    assert done.returncode == 0, done.stderr
    (first,) = calls(tmp_path)
    assert first[:2] == ["-m", "training.train"] and "--resume" not in first
    assert first[first.index("--time-budget") + 1] == "480" and first[-2:] == ["--epochs", "64"]
    assert first[first.index("--run-dir") + 1] == str(tmp_path / "runs" / "member_x")
    back = tmp_path / "out" / "member_x"
    assert sorted(path.name for path in back.iterdir()) == ["fer_model.keras", "records.tar"], "two stages fit a call"
    assert records(back) == {"config.json", "state.json", "log.csv", "train.log"}
    assert "trained" in (tmp_path / "runs" / "member_x" / "train.log").read_text()


def test_a_run_cut_by_its_budget_says_so_and_the_next_call_goes_on(tmp_path):
    cut = call(tmp_path, "member_x", "300", "--epochs", "64", exit_code=75)
    assert cut.returncode == 75 and "call again with the same NAME" in cut.stdout
    again = call(tmp_path, "member_x", "300", "--epochs", "64")
    assert again.returncode == 0
    first, second = calls(tmp_path)
    assert "--resume" not in first and "--resume" in second
    log = (tmp_path / "runs" / "member_x" / "train.log").read_text()
    assert log.count("trained") == 2, "the output of every call is kept"


def test_a_cut_run_brings_back_what_resume_needs_and_not_the_export(tmp_path):
    assert call(tmp_path, "member_x", "300", exit_code=75).returncode == 75
    back = tmp_path / "out" / "member_x"
    assert sorted(path.name for path in back.iterdir()) == [
        "best.keras", "last.keras", "records.tar", "swa_running.npz"
    ]  # fmt: skip
    assert records(back) == {"config.json", "state.json", "log.csv", "train.log"}


def test_missing_settings_are_refused_before_anything_runs(tmp_path):
    assert call(tmp_path, "member_x").returncode == 2, "no budget"
    no_data = call(tmp_path, "member_x", "60", DATA=str(tmp_path / "missing.npz"))
    assert no_data.returncode == 2 and "python -m training.data_pack" in no_data.stderr
    no_out = call(tmp_path, "member_x", "60", OUT="")
    assert no_out.returncode != 0 and "set OUT" in no_out.stderr
    assert not (tmp_path / "calls").exists() or not list((tmp_path / "calls").iterdir())
