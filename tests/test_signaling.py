import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.signaling import (MAX_MESSAGE_BYTES, SignalingError, check_offer_sdp, json_depth,
                              parse_client_message)


def test_valid_messages_parse():
    assert parse_client_message('{"type": "join", "room": "r", "name": "Ada"}').fields == {"room": "r", "name": "Ada"}
    assert parse_client_message(b'{"type": "offer", "sdp": "v=0"}').type == "offer"
    assert parse_client_message('{"type": "leave"}').fields == {}
    joined = parse_client_message('{"type": "join", "room": "r", "name": "Ada", "token": "t.u.v"}')
    assert joined.fields == {"room": "r", "name": "Ada", "token": "t.u.v"}
    assert "token" not in parse_client_message('{"type": "join", "room": "r", "name": "A", "token": null}').fields


@pytest.mark.parametrize("text, code, words", [
    ("{not json", "bad-json", "not valid JSON"),
    ("[1, 2]", "bad-message", "JSON object"),
    ('{"type": "dance"}', "unknown-type", "unknown message type 'dance'"),
    ('{"room": "r"}', "unknown-type", "unknown message type None"),
    ('{"type": "join", "room": "r"}', "missing-field", "lacks the 'name' field"),
    ('{"type": "join", "room": 5, "name": "x"}', "bad-field", "'room' must be a str"),
    ('{"type": "offer", "sdp": "' + "x" * 40000 + '"}', "bad-sdp", "SDP longer"),
    ('{"type": "join", "room": "r", "name": "x", "token": 5}', "bad-field", "'token' must be a str"),
    ('{"type": "join", "room": "r", "name": {"a": {"b": {"c": {}}}}}', "too-deep", "deeper than 4"),
    ("[" * 30000 + "]" * 30000, "too-deep", "deeper than 4"),
    ('{"type": ' + "[" * 3000 + "]" * 3000 + "}", "too-deep", "deeper than 4"),
    ('{"type": "\\ud800"}', "unknown-type", "unknown message type"),
    (b"\xff\xfe", "bad-json", "not valid JSON"),
])
def test_malformed_messages_name_the_problem(text, code, words):
    with pytest.raises(SignalingError) as err:
        parse_client_message(text)
    assert err.value.code == code
    assert words in str(err.value)


def test_oversized_message_is_refused_before_parsing():
    text = json.dumps({"type": "join", "room": "r", "name": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(SignalingError) as err:
        parse_client_message(text)
    assert err.value.code == "too-large"


def test_json_depth():
    assert [json_depth(v) for v in (1, "x", {}, [], {"a": [1, {"b": 2}]}, [[[[]]]])] == [0, 0, 1, 1, 3, 4]


DATA_CHANNEL_OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:0",
    "a=sctp-port:5000", "a=ice-ufrag:abcd", "a=ice-pwd:" + "p" * 22, "a=fingerprint:sha-256 " + "AB:" * 31 + "AB",
    "a=setup:actpass", ""])


@pytest.mark.parametrize("sdp, words", [
    ("this is not SDP", "start with 'v=0'"),
    ("v=0\r\nm=audio 9 RTP/AVP 0\r\n", "exactly one media section"),
    ("v=0\r\n", "exactly one media section"),
    (DATA_CHANNEL_OFFER + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "exactly one media section"),
    (DATA_CHANNEL_OFFER.replace("s=-", "s=\x01"), "line 3"),
    (DATA_CHANNEL_OFFER.replace("s=-", "S=-"), "line 3"),
    (DATA_CHANNEL_OFFER.replace("s=-", "s=\u00e9"), "ASCII"),
    ("v=0\r\n" + "a=x\r\n" * 300 + "m=application 9 x\r\n", "more than 256 lines"),
])
def test_offers_that_cannot_be_data_channel_offers_are_refused(sdp, words):
    with pytest.raises(SignalingError) as err:
        check_offer_sdp(sdp)
    assert err.value.code == "bad-sdp" and words in str(err.value)


def test_a_data_channel_offer_passes_the_checks():
    check_offer_sdp(DATA_CHANNEL_OFFER)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 JSON_VALUES.map(json.dumps),
                 st.dictionaries(st.sampled_from(["type", "room", "name", "sdp", "token"]),
                                 st.one_of(st.sampled_from(["join", "offer", "leave"]), JSON_VALUES),
                                 max_size=5).map(json.dumps)))
def test_any_message_parses_or_raises_signaling_error(text):
    try:
        message = parse_client_message(text)
    except SignalingError as exc:
        assert exc.code and str(exc)
    else:
        assert message.type in ("join", "offer", "leave")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.lists(st.text(max_size=30), max_size=20).map("\r\n".join))
def test_any_sdp_passes_or_raises_signaling_error(sdp):
    try:
        check_offer_sdp(sdp)
    except SignalingError as exc:
        assert exc.code == "bad-sdp"
