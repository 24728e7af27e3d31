"""WebRTC ICE-server configuration for the live page, from the environment or Streamlit secrets.

By default the list is empty: no STUN/TURN server, so media travels only between the browser and this server
over host candidates (enough on one machine or a LAN). A deployment reached over the internet needs a TURN
server: set ``FER_ICE_SERVERS`` to a JSON list, e.g.
``[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]``, or put the same list under
``ice_servers`` in ``.streamlit/secrets.toml``. The environment variable wins over the secrets.

``FER_ICE_TRANSPORT_POLICY=relay`` makes the viewers' browsers send all media through the TURN server (their
addresses are then never given to the app server; a viewer who cannot reach the TURN server gets no video).
The default, ``all``, lets ICE pick the most direct path. :func:`rtc_configurations` gives the browser's and
the server's configurations for ``webrtc_streamer``.

:class:`StreamConfig` is what the page asks the camera for (640x480 at 15 fps by default).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

ENV_VAR = "FER_ICE_SERVERS"
POLICY_ENV_VAR = "FER_ICE_TRANSPORT_POLICY"
POLICIES = ("all", "relay")
SECRETS_KEY = "ice_servers"
_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
_ALLOWED_KEYS = ("urls", "username", "credential", "credentialType")


class IceConfigError(ValueError):
    """The ICE-server setting is malformed; the message names where it came from and what is wrong."""


def _validate(servers: Any, source: str) -> list[dict[str, Any]]:
    if isinstance(servers, Mapping):
        servers = [servers]
    if not isinstance(servers, Sequence) or isinstance(servers, (str, bytes)):
        raise IceConfigError(f"{source}: expected a list of ICE servers, got {type(servers).__name__}")
    result: list[dict[str, Any]] = []
    for index, server in enumerate(servers):
        where = f"{source}[{index}]"
        if not isinstance(server, Mapping):
            raise IceConfigError(f"{where}: expected an object with 'urls', got {type(server).__name__}")
        unknown = [key for key in server if key not in _ALLOWED_KEYS]
        if unknown:
            raise IceConfigError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_ALLOWED_KEYS)}"
            )
        urls = server.get("urls")
        url_list = [urls] if isinstance(urls, str) else list(urls) if isinstance(urls, Sequence) else None
        if not url_list or not all(isinstance(url, str) for url in url_list):
            raise IceConfigError(f"{where}.urls: expected a URL string or a non-empty list of them, got {urls!r}")
        for url in url_list:
            if not url.startswith(_URL_SCHEMES):
                raise IceConfigError(f"{where}.urls: {url!r} must start with one of {', '.join(_URL_SCHEMES)}")
        entry: dict[str, Any] = {"urls": url_list}
        for key in ("username", "credential", "credentialType"):
            if key in server:
                if not isinstance(server[key], str):
                    raise IceConfigError(f"{where}.{key}: expected a string")
                entry[key] = server[key]
        if any(url.startswith(("turn:", "turns:")) for url in url_list) and not (
            "username" in entry and "credential" in entry
        ):
            raise IceConfigError(f"{where}: a TURN server needs 'username' and 'credential'")
        result.append(entry)
    return result


def ice_servers(
    environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The ICE servers to use: ``FER_ICE_SERVERS`` (JSON) if set, else ``secrets["ice_servers"]``, else ``[]``.

    Raises :class:`IceConfigError` for malformed values, so a typo is reported instead of silently ignored.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as error:
            raise IceConfigError(f"{ENV_VAR} is not valid JSON ({error.msg} at column {error.colno})") from error
        return _validate(parsed, ENV_VAR)
    if secrets is not None and SECRETS_KEY in secrets:
        value = secrets[SECRETS_KEY]
        # st.secrets returns its own mapping types; convert to plain containers before validating.
        plain = json.loads(json.dumps(value, default=lambda obj: dict(obj) if isinstance(obj, Mapping) else list(obj)))
        return _validate(plain, f"secrets.{SECRETS_KEY}")
    return []


def ice_transport_policy(servers: Sequence[Mapping[str, Any]], environ: Mapping[str, str] | None = None) -> str:
    """``FER_ICE_TRANSPORT_POLICY`` (``all`` when unset); ``relay`` needs a TURN server among ``servers``."""
    environ = os.environ if environ is None else environ
    policy = environ.get(POLICY_ENV_VAR, "").strip().lower() or "all"
    if policy not in POLICIES:
        raise IceConfigError(f"{POLICY_ENV_VAR} must be one of {', '.join(POLICIES)}, got {policy!r}")
    if policy == "relay" and not any(url.startswith(("turn:", "turns:")) for s in servers for url in s["urls"]):
        raise IceConfigError(f"{POLICY_ENV_VAR}=relay needs a TURN server in {ENV_VAR} (or secrets.{SECRETS_KEY})")
    return policy


def rtc_configurations(
    servers: Sequence[Mapping[str, Any]], policy: str = "all"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(frontend, server)`` RTC configurations for ``webrtc_streamer``: both use ``servers``; the browser's
    also carries the transport policy (aiortc has no such setting: with ``relay`` the browser offers only relayed
    candidates, so every path goes through the TURN server)."""
    frontend: dict[str, Any] = {"iceServers": list(servers)}
    if policy != "all":
        frontend["iceTransportPolicy"] = policy
    return frontend, {"iceServers": list(servers)}


def describe(servers: Sequence[Mapping[str, Any]], policy: str = "all") -> str:
    """A one-line summary without credentials, for the page (e.g. ``"1 TURN, 1 STUN server"``)."""
    if not servers:
        return "no STUN/TURN server (direct connection; works on this machine or a LAN)"
    urls = [url for server in servers for url in server["urls"]]
    turn = sum(url.startswith(("turn:", "turns:")) for url in urls)
    stun = len(urls) - turn
    parts = [f"{turn} TURN" if turn else "", f"{stun} STUN" if stun else ""]
    relay = ", all media relayed through TURN" if policy == "relay" else ""
    return " + ".join(part for part in parts if part) + " server URL(s)" + relay


STREAM_SIZE_ENV = "FER_STREAM_SIZE"
STREAM_FPS_ENV = "FER_STREAM_FPS"


class StreamConfigError(ValueError):
    """``FER_STREAM_SIZE`` or ``FER_STREAM_FPS`` is malformed."""


@dataclass(frozen=True)
class StreamConfig:
    """What the live page asks the browser's camera for: no more than the analysis needs.

    The face detector and the 48x48 classifier gain nothing from more than 640x480, and a mood smoothed over
    seconds gains nothing from more than 15 frames a second, while every extra pixel and frame costs the server
    decoding, analysis and re-encoding. The size is an ``ideal`` (a camera that cannot give it still works; Chrome
    scales or crops to it), the rate an ``ideal`` and a ``max`` (Chrome drops frames of a faster camera).
    Override with ``FER_STREAM_SIZE=WIDTHxHEIGHT`` and ``FER_STREAM_FPS=N`` (:meth:`from_env`).
    """

    width: int = 640
    height: int = 480
    fps: int = 15

    def __post_init__(self) -> None:
        if not (16 <= self.width <= 4096 and 16 <= self.height <= 4096):
            raise StreamConfigError(f"stream size must be 16..4096 pixels a side, got {self.width}x{self.height}")
        if not 1 <= self.fps <= 120:
            raise StreamConfigError(f"stream frame rate must be 1..120, got {self.fps}")

    def media_stream_constraints(self) -> dict[str, Any]:
        """``media_stream_constraints`` for ``webrtc_streamer`` (video only, no audio)."""
        return {
            "video": {
                "width": {"ideal": self.width},
                "height": {"ideal": self.height},
                "frameRate": {"ideal": self.fps, "max": self.fps},
            },
            "audio": False,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StreamConfig:
        """The defaults, with ``FER_STREAM_SIZE`` / ``FER_STREAM_FPS`` applied; ``StreamConfigError`` if malformed."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        size = environ.get(STREAM_SIZE_ENV, "").strip()
        if size:
            try:
                values["width"], values["height"] = (int(part) for part in size.lower().split("x"))
            except ValueError:
                raise StreamConfigError(f"{STREAM_SIZE_ENV} must be WIDTHxHEIGHT, e.g. 640x480, got {size!r}") from None
        fps = environ.get(STREAM_FPS_ENV, "").strip()
        if fps:
            try:
                values["fps"] = int(fps)
            except ValueError:
                raise StreamConfigError(f"{STREAM_FPS_ENV} must be an integer, got {fps!r}") from None
        return cls(**values)
