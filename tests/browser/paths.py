"""Where the browser tests write: logs and screenshots under artifacts/ (gitignored), README screenshots in docs/."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("FER_CHROMIUM", "/usr/lib/chromium/chromium"))
