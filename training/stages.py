"""The chain of training runs behind a model: a run started with ``--init-from`` continues an earlier run.

``python -m training.evaluate --run-dir R`` follows ``init_from`` in each run's ``config.json`` back to the run
that started from random weights, so the model card records every command of the recipe and the training
curves show every epoch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.reports import read_training_log

logger = logging.getLogger(__name__)

MAX_STAGES = 16


@dataclass(frozen=True)
class TrainingStage:
    """One run of ``python -m training.train``: its folder, saved configuration, CSV log and final state."""

    run_dir: Path
    config: dict[str, Any]
    log: dict[str, list[float]]
    state: dict[str, Any]

    @property
    def epochs_logged(self) -> int:
        return len(self.log.get("accuracy", []))

    def summary(self) -> dict[str, Any]:
        """What the model card records for this stage."""
        return {
            "run_dir": str(self.run_dir),
            "command": self.config.get("command", ""),
            "init_from": self.config.get("init_from"),
            "epochs": self.config.get("epochs"),
            "learning_rate": self.config.get("learning_rate"),
            "epochs_logged": self.epochs_logged,
            "run_state": self.state,
        }


def read_json(path: Path) -> dict[str, Any]:
    """A run folder's JSON file (config.json, state.json), or {} when the run never wrote it."""
    return json.loads(path.read_text()) if path.is_file() else {}


def training_stages(run_dir: Path) -> list[TrainingStage]:
    """The runs behind ``run_dir``, earliest first (just ``run_dir`` when it did not start from another model).

    A missing earlier run ends the chain with a warning: the card then records what is known.
    """
    stages: list[TrainingStage] = []
    current: Path | None = run_dir
    while current is not None:
        if any(stage.run_dir.resolve() == current.resolve() for stage in stages) or len(stages) >= MAX_STAGES:
            raise ValueError(f"training runs form a loop or a chain over {MAX_STAGES} long at {current}")
        config = read_json(current / "config.json")
        log = read_training_log(current / "log.csv")
        stages.append(TrainingStage(current, config, log, read_json(current / "state.json")))
        init_from = config.get("init_from")
        current = None
        if init_from:
            previous = Path(init_from).parent
            if (previous / "config.json").is_file():
                current = previous
            else:
                logger.warning("%s started from %s, whose run folder has no config.json", stages[-1].run_dir, init_from)
    return stages[::-1]


def combined_log(stages: list[TrainingStage]) -> tuple[dict[str, list[float]], list[int]]:
    """The stages' logs one after another, and the epoch count before each later stage (for plot markers)."""
    logged = [stage for stage in stages if stage.log]
    keys = set.intersection(*(set(stage.log) for stage in logged)) - {"epoch"} if logged else set()
    log: dict[str, list[float]] = {key: [] for key in sorted(keys)}
    boundaries: list[int] = []
    epochs = 0
    for index, stage in enumerate(logged):
        if index:
            boundaries.append(epochs)
        for key in keys:
            log[key].extend(stage.log[key])
        epochs += stage.epochs_logged
    return log, boundaries
