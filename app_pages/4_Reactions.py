"""Reactions page: how this session reacted to each content item the live page showed (table, chart, comparison).

The recorder is this browser session's (``st.session_state``, filled by the live page's camera or pretend mood);
the logic is in fer_core.sessions.live_analytics and fer_core.mood.reactions.
"""

from __future__ import annotations

import streamlit as st

from fer_core.sessions.analytics_view import clear_panel, export_panel, reactions_view, session_analytics
from fer_core.sessions.app_support import content_policy, setup_page

setup_page("Reactions", "📋")
st.title("Reactions per content item")
st.caption(
    "For each item the live page showed in this session: seconds on screen, the share of that time with a face in "
    "view (an attention proxy), mean and peak valence, the mood mix, and the lift (valence when it left minus when "
    "it appeared). Kept in memory for this browser session only."
)
analytics = session_analytics(content_policy())
clear_panel(analytics)
reactions_view(analytics)
export_panel(analytics)
