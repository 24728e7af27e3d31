"""Sessions: what the Streamlit pages call.

It owns the glue between a browser session and the library: live webcam processing for one WebRTC stream
(``live``), photo upload handling (``upload``), the content panel's HTML (``content_view``), WebRTC settings
(``rtc``), reading the model card for the Model page (``model_card``) and the app-wide Streamlit support (shared
recognizer, catalog and start-up checks: ``app_support``). Pages stay thin by calling only this wing and the
public API.
"""
