"""Stop a training run at an epoch's end when the next epoch would not fit in a time budget.

A machine lent for minutes (the GPU machine: 10 minutes a call) or a session about to end should leave a run
that ``--resume`` carries on, not one killed mid-epoch: ``python -m training.train ... --time-budget SECONDS``
trains whole epochs while the longest one so far still fits before the budget runs out, then stops cleanly
(``last.keras`` and ``state.json`` written, nothing exported) and exits with :data:`STOPPED_AT_BUDGET`.
"""

from __future__ import annotations

import logging
import time

import keras

logger = logging.getLogger(__name__)

STOPPED_AT_BUDGET = 75
"""The exit status of a run stopped by its time budget before its last epoch (``EX_TEMPFAIL``: run it again)."""


class TimeBudget(keras.callbacks.Callback):
    """Sets ``model.stop_training`` after an epoch when another epoch as long as the longest would overrun
    ``seconds`` counted from ``started`` (a ``time.monotonic()`` reading; default: now)."""

    def __init__(self, seconds: float, started: float | None = None) -> None:
        super().__init__()
        if seconds <= 0:
            raise ValueError(f"the time budget must be positive, got {seconds} s")
        self.deadline = (time.monotonic() if started is None else started) + seconds
        self.longest = 0.0
        self.stopped_after: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self.longest = max(self.longest, now - self._epoch_started)
        if now + self.longest > self.deadline:
            self.stopped_after = epoch + 1
            self.model.stop_training = True
            logger.warning(
                "time budget: stopping after epoch %d (another would end %.0f s past the budget); --resume goes on",
                epoch + 1,
                now + self.longest - self.deadline,
            )
