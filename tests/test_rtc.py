"""Tests for fer_core.sessions.rtc: ICE servers for the live page from FER_ICE_SERVERS or Streamlit secrets."""

from __future__ import annotations

import json

import pytest

from fer_core.sessions.rtc import (
    ENV_VAR,
    POLICY_ENV_VAR,
    IceConfigError,
    describe,
    ice_servers,
    ice_transport_policy,
    rtc_configurations,
)

TURN = {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}


def test_default_is_no_server_at_all():
    assert ice_servers(environ={}, secrets=None) == []
    assert ice_servers(environ={ENV_VAR: "  "}, secrets={}) == []
    assert "no STUN/TURN" in describe([])


def test_environment_json_is_read_and_normalised():
    servers = ice_servers(environ={ENV_VAR: json.dumps([TURN, {"urls": "stun:stun.example.org:3478"}])})
    assert servers == [TURN, {"urls": ["stun:stun.example.org:3478"]}]
    assert describe(servers) == "1 TURN + 1 STUN server URL(s)"


def test_a_single_object_is_accepted():
    assert ice_servers(environ={ENV_VAR: json.dumps(TURN)}) == [TURN]


def test_environment_wins_over_secrets():
    secrets = {"ice_servers": [{"urls": ["stun:other.example.org"]}]}
    assert ice_servers(environ={ENV_VAR: json.dumps([TURN])}, secrets=secrets) == [TURN]
    assert ice_servers(environ={}, secrets=secrets) == [{"urls": ["stun:other.example.org"]}]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{'urls': 1}", "not valid JSON"),
        ('"turn:x"', "expected a list"),
        ("[1]", "expected an object"),
        ('[{"urls": []}]', "urls"),
        ('[{"urls": ["http://example.org"]}]', "must start with"),
        ('[{"urls": ["turn:t.example.org"]}]', "needs 'username' and 'credential'"),
        ('[{"urls": ["stun:s.example.org"], "user": "x"}]', "unknown field"),
    ],
)
def test_malformed_settings_are_reported(raw, message):
    with pytest.raises(IceConfigError, match=message):
        ice_servers(environ={ENV_VAR: raw})


def test_describe_never_shows_credentials_or_hosts():
    secret = {"urls": ["turns:relay.example.org:443"], "username": "alice-4711", "credential": "hunter2-xyz"}
    text = describe(ice_servers(environ={ENV_VAR: json.dumps([secret])}))
    assert text == "1 TURN server URL(s)"
    assert "alice-4711" not in text and "hunter2-xyz" not in text and "relay" not in text


LAN_TURN = [{"urls": ["turn:10.0.0.5:3478"], "username": "u", "credential": "p"}]


def test_transport_policy_defaults_to_all_and_reaches_only_the_browser():
    assert ice_transport_policy([], {}) == "all"
    assert rtc_configurations(LAN_TURN) == ({"iceServers": LAN_TURN}, {"iceServers": LAN_TURN})
    assert ice_transport_policy(LAN_TURN, {POLICY_ENV_VAR: " Relay "}) == "relay"
    frontend, server = rtc_configurations(LAN_TURN, "relay")
    assert frontend == {"iceServers": LAN_TURN, "iceTransportPolicy": "relay"} and server == {"iceServers": LAN_TURN}
    assert describe(LAN_TURN, "relay").endswith("all media relayed through TURN")


@pytest.mark.parametrize(
    ("servers", "value", "message"),
    [
        (LAN_TURN, "direct", "must be one of all, relay"),
        ([], "relay", "needs a TURN server"),
        ([{"urls": ["stun:10.0.0.5:3478"]}], "relay", "needs a TURN server"),
    ],
)
def test_bad_transport_policies_are_reported(servers, value, message):
    with pytest.raises(IceConfigError, match=message):
        ice_transport_policy(servers, {POLICY_ENV_VAR: value})
