"""Sessions: what the Streamlit pages call.

It owns the glue between a browser session and the library: live webcam processing for one WebRTC stream
(``live``), photo upload handling (``upload``), the content panel's HTML (``content_view``), WebRTC settings
(``rtc``: ICE servers and what the camera is asked for), live stream admission (``admission``, and its page side
``live_gate``: stream slots, the "full" notice, lean mode), per-stream media settings (``webrtc_media``), reading
the model card for the Model page (``model_card``) and the app-wide Streamlit support (shared recognizer, catalog
and start-up checks: ``app_support``), and the live page's on-device mode (``on_device``: the browser analyses its
own camera and sends only results). Pages stay thin by calling only this wing and the public API.
"""
