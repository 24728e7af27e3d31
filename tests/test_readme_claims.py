"""What README.md promises about the setup, checked against the files that make it true."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def test_readme_pyproject_and_this_interpreter_agree_on_the_python_version():
    """README said "Python 3.10-3.12" while the pins need 3.11 or newer (numpy 2.4, tomllib)."""
    claims = re.findall(r"Python (\d+\.\d+)(?: or newer|\+|-\d+\.\d+)", README)
    assert claims == ["3.11"], f"README should say 'Python 3.11 or newer' once, says: {claims}"
    assert "Python 3.11 or newer" in README
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == f">={claims[0]}"
    assert sys.version_info[:2] >= _version(claims[0]), f"this interpreter is {sys.version.split()[0]}"


def test_readme_privacy_promise_matches_the_session_timeout():
    """README (Privacy) says how long a closed tab's session lives: the value Streamlit is configured with."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]
    ttl = config["disconnectedSessionTTL"]
    assert 0 < ttl <= 30, "a short timeout, not Streamlit's default 120 s"
    privacy = " ".join(README.split("## Privacy", 1)[1].split("\n## ", 1)[0].split())  # one line: wrap-proof
    (seconds,) = re.findall(r"no sooner than (\d+) s after the tab is closed", privacy)
    assert int(seconds) == ttl
    assert "`server.disconnectedSessionTTL`" in privacy
    assert "cleared as soon as the webcam stream" in privacy, "the live page's moods go when the stream stops"
    assert "only in the browser session's memory" not in privacy, "the old, untrue wording"


def test_streamlit_watches_no_files():
    """scripts/run-app.sh creates .venv/ in the clone: a file watcher on it overflowed inotify on every start."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]
    assert config["fileWatcherType"] == "none" and config["runOnSave"] is False


def test_readme_says_for_which_kdef_faces_the_model_is_less_reliable_as_the_card_measured():
    """README ('for which faces the model is less reliable'): women and men alike, people not, beyond chance."""
    import json

    from training.photo_groups import spread

    prose = " ".join(README.split("for which faces the model is less reliable", 1)[1].split("\n### ", 1)[0].split())
    assert "women and men are read equally well (within one standard error), but people are not" in prose
    assert "some people read right in under half their photos and others in all of them" in prose
    assert "wider than chance alone would give with 14 photos a person" in prose
    groups = json.loads((REPO / "models" / "model_card.json").read_text())["real_photos"]["kdef"]["groups"]
    women, men = groups["person:1"]["F"], groups["person:1"]["M"]
    accuracy = (women["accuracy"] + men["accuracy"]) / 2
    standard_error = (accuracy * (1 - accuracy) * (1 / women["count"] + 1 / men["count"])) ** 0.5
    assert abs(women["accuracy"] - men["accuracy"]) <= standard_error, "equally well: within one standard error"
    people = spread(groups["person"])
    assert {group["count"] for group in groups["person"].values()} == {14}
    assert people["lowest"] < 0.5 and people["highest"] == 1.0
    assert people["sd"] > people["chance_sd"] and people["chance_p"] < 0.01, "wider than chance alone"
