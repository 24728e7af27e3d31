"""Where the browser tests write: logs and screenshots under artifacts/ (gitignored), README screenshots in docs/."""

from __future__ import annotations

from pathlib import Path

from fer_core.measure.browser import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
SCREENSHOTS = REPO / "docs" / "screenshots"

__all__ = ["ARTIFACTS", "CHROMIUM", "REPO", "SCREENSHOTS"]
