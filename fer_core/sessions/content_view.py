"""Render a :class:`~fer_core.mood.content.ContentDecision` as the app's content panel (HTML + CSS, no Streamlit).

The pages pass the strings to ``st.markdown(..., unsafe_allow_html=True)``. All catalog text is escaped;
illustrations are the catalog's local SVG files inlined as ``data:`` URIs, so nothing is fetched from anywhere.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import re
from pathlib import Path

from fer_core.mood.content import ContentDecision, ContentItem, ContentPolicy
from fer_core.mood.tracker import MoodState
from fer_core.recognition.results import FaceResult

logger = logging.getLogger(__name__)

KIND_LABELS: dict[str, str] = {"content": "Recommended", "ad": "Sponsored", "tip": "Tip"}
_MIME = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MAX_IMAGE_BYTES = 512 * 1024

PANEL_CSS = """
<style>
.fer-panel{border:1px solid rgba(128,128,128,.25);border-top:6px solid var(--fer-accent,#8a94a6);border-radius:14px;
  padding:14px 16px 16px;background:linear-gradient(180deg,color-mix(in srgb,var(--fer-accent,#8a94a6) 10%,transparent),
  transparent 70%);margin:4px 0 12px}
.fer-reason{font-size:.95rem;margin:0 0 12px;display:flex;align-items:center;gap:8px}
.fer-dot{width:12px;height:12px;border-radius:50%;background:var(--fer-accent,#8a94a6);display:inline-block;flex:none}
.fer-mood{font-weight:700;text-transform:capitalize;color:var(--fer-accent,#8a94a6)}
.fer-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
.fer-card{border:1px solid rgba(128,128,128,.22);border-radius:12px;overflow:hidden;background:rgba(255,255,255,.04);
  box-shadow:0 1px 3px rgba(0,0,0,.08);display:flex;flex-direction:column}
.fer-card-art{height:96px;display:flex;align-items:center;justify-content:center;
  background:color-mix(in srgb,var(--fer-accent,#8a94a6) 16%,transparent);font-size:44px}
.fer-card-art img{height:72px;width:72px}
.fer-card-body{padding:10px 12px 12px}
.fer-kind{font-size:.7rem;letter-spacing:.06em;text-transform:uppercase;opacity:.7;margin-bottom:2px}
.fer-kind-ad .fer-kind{color:var(--fer-accent,#8a94a6);opacity:1}
.fer-title{font-weight:650;font-size:1rem;margin-bottom:4px}
.fer-text{font-size:.88rem;opacity:.85;line-height:1.35}
</style>
"""


def accent_css(accent: str) -> str:
    """A ``<style>`` block that sets the page accent (``--fer-accent``) and tints headings, bars and the header."""
    colour = accent if _COLOUR.match(accent or "") else "#8a94a6"
    return (
        "<style>"
        f":root{{--fer-accent:{colour}}}"
        f'header[data-testid="stHeader"]{{box-shadow:inset 0 4px 0 {colour}}}'
        f"h1{{border-bottom:3px solid {colour};padding-bottom:.2em}}"
        f'[data-testid="stProgressBarTrack"] > div{{background-color:{colour}}}'
        f'[data-testid="stMetricValue"]{{color:{colour}}}'
        "</style>"
    )


@functools.lru_cache(maxsize=64)
def image_data_uri(path: Path) -> str | None:
    """The local file as a ``data:`` URI (``None`` if it is missing, too big or of an unknown type)."""
    mime = _MIME.get(path.suffix.lower())
    try:
        data = path.read_bytes() if mime else b""
    except OSError as error:
        logger.warning("cannot read content image %s: %s", path, error)
        return None
    if not data or len(data) > _MAX_IMAGE_BYTES:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _card(item: ContentItem) -> str:
    uri = image_data_uri(item.image) if item.image is not None else None
    art = f'<img src="{uri}" alt="">' if uri else html.escape(item.emoji or "✨")
    kind = html.escape(KIND_LABELS.get(item.kind, item.kind))
    return (
        f'<div class="fer-card fer-kind-{html.escape(item.kind)}" data-item="{html.escape(item.id)}">'
        f'<div class="fer-card-art">{art}</div>'
        f'<div class="fer-card-body"><div class="fer-kind">{kind}</div>'
        f'<div class="fer-title">{html.escape(item.title)}</div>'
        f'<div class="fer-text">{html.escape(item.text)}</div></div></div>'
    )


def render_panel(decision: ContentDecision, *, heading: str | None = None) -> str:
    """The content panel as one line of HTML (no blank lines or indentation, which Markdown would mangle)."""
    mood = decision.mood or "none"
    colour = decision.accent if _COLOUR.match(decision.accent or "") else "#8a94a6"
    title = f'<span class="fer-mood">{html.escape(heading)}</span> · ' if heading else ""
    cards = "".join(_card(item) for item in decision.items)
    return (
        f'<div class="fer-panel" data-mood="{html.escape(mood)}" style="--fer-accent:{colour}">'
        f'<div class="fer-reason"><span class="fer-dot"></span><span>{title}{html.escape(decision.reason)}</span></div>'
        f'<div class="fer-cards">{cards}</div></div>'
    )


def decision_for_face(policy: ContentPolicy, face: FaceResult) -> ContentDecision:
    """Content for a single photo: the face's top emotion taken as the mood, with a reason that says so."""
    state = MoodState(mood=face.emotion, since_s=0.0, smoothed=dict(face.probability_map), confidence=face.confidence)
    decision = policy.choose(state)
    strategy = policy.catalog.strategy(face.emotion)
    reason = f"this photo looks {face.emotion} ({face.confidence:.0%}): showing {strategy}"
    return ContentDecision(items=decision.items, accent=decision.accent, reason=reason, mood=face.emotion)
