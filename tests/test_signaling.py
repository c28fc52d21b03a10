import json

import pytest

from server.signaling import MAX_MESSAGE_BYTES, SignalingError, parse_client_message


def test_valid_messages_parse():
    assert parse_client_message('{"type": "join", "room": "r", "name": "Ada"}').fields == {"room": "r", "name": "Ada"}
    assert parse_client_message(b'{"type": "offer", "sdp": "v=0"}').type == "offer"
    assert parse_client_message('{"type": "leave"}').fields == {}


@pytest.mark.parametrize("text, code, words", [
    ("{not json", "bad-json", "not valid JSON"),
    ("[1, 2]", "bad-message", "JSON object"),
    ('{"type": "dance"}', "unknown-type", "unknown message type 'dance'"),
    ('{"room": "r"}', "unknown-type", "unknown message type None"),
    ('{"type": "join", "room": "r"}', "missing-field", "lacks the 'name' field"),
    ('{"type": "join", "room": 5, "name": "x"}', "bad-field", "'room' must be a str"),
    ('{"type": "offer", "sdp": "' + "x" * 40000 + '"}', "bad-field", "SDP longer"),
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
