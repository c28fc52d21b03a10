"""Room tokens: minting, verification, every way a token can be wrong, fuzzing; the CLI."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalcall.cli import main
from server.invite_cli import invite_link, parse_duration
from server.tokens import (CLOCK_LEEWAY_S, RoomGrant, TokenError, load_secret, mint_token, verify_token)

SECRET = b"s" * 32
NOW = 1_800_000_000


def grant(**changes) -> RoomGrant:
    fields = dict(room="standup", identity="ada", name="Ada", expires=NOW + 3600)
    return RoomGrant(**(fields | changes))


def test_round_trip() -> None:
    token = mint_token(SECRET, grant(), issued_at=NOW)
    got = verify_token(SECRET, token, now=NOW + 10)
    assert got == grant(not_before=NOW)
    assert got.can_publish and got.can_subscribe
    listen = verify_token(SECRET, mint_token(SECRET, grant(rights=("subscribe",), name=None), NOW), now=NOW)
    assert not listen.can_publish and listen.can_subscribe and listen.name is None


def _sign(header: dict, claims: dict, secret: bytes = SECRET) -> str:
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    signing = b64(header) + "." + b64(claims)
    sig = base64.urlsafe_b64encode(hmac.new(secret, signing.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return signing + "." + sig


HS256 = {"alg": "HS256", "typ": "JWT"}
CLAIMS = {"iss": "focalcall", "sub": "ada", "room": "standup", "rights": ["publish"], "nbf": NOW, "exp": NOW + 60}


@pytest.mark.parametrize("token, words", [
    (None, "required"),
    ("", "required"),
    ("a.b", "three base64url parts"),
    ("a.b.c.d", "three base64url parts"),
    ("a b.c.d", "three base64url parts"),
    ("x" * 5000, "longer than"),
    (mint_token(SECRET, grant(), NOW)[:-2] + "AA", "signature"),
    (mint_token(b"o" * 32, grant(), NOW), "signature"),
    (_sign({"alg": "none", "typ": "JWT"}, CLAIMS), "header"),
    (_sign({"alg": "HS256"}, CLAIMS), "header"),
    (_sign(HS256, CLAIMS | {"iss": "other"}), "not issued for focalcall"),
    (_sign(HS256, [1, 2]), "not issued"),
    (_sign(HS256, CLAIMS | {"exp": NOW - CLOCK_LEEWAY_S - 1}), "expired"),
    (_sign(HS256, CLAIMS | {"nbf": NOW + CLOCK_LEEWAY_S + 5}), "not valid yet"),
    (_sign(HS256, CLAIMS | {"exp": "soon"}), "integers"),
    (_sign(HS256, CLAIMS | {"exp": True}), "integers"),
    (_sign(HS256, {k: v for k, v in CLAIMS.items() if k != "room"}), "room or identity"),
    (_sign(HS256, CLAIMS | {"sub": "has space"}), "identity must be"),
    (_sign(HS256, CLAIMS | {"rights": ["admin"]}), "unknown rights"),
    (_sign(HS256, CLAIMS | {"rights": "publish"}), "list of strings"),
    (_sign(HS256, CLAIMS | {"name": 5}), "name must be a string"),
])
def test_bad_tokens_say_why(token, words) -> None:
    with pytest.raises(TokenError, match=words):
        verify_token(SECRET, token, now=NOW)


def test_a_signed_deep_token_is_still_only_a_token_error() -> None:
    deep = _sign(HS256, CLAIMS)
    header, claims, _ = deep.split(".")
    nested = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).rstrip(b"=").decode()
    signing = header + "." + nested
    sig = base64.urlsafe_b64encode(hmac.new(SECRET, signing.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        verify_token(SECRET, signing + "." + sig, now=NOW)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=50), st.integers(), st.none(),
                 st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_", max_size=60), min_size=1, max_size=4)
                 .map(".".join)))
def test_any_input_verifies_or_raises_token_error(token) -> None:
    with pytest.raises(TokenError):
        verify_token(SECRET, token, now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_altered_character_breaks_the_token(data) -> None:
    token = mint_token(SECRET, grant(), issued_at=NOW)
    i = data.draw(st.integers(0, len(token) - 1))
    c = data.draw(st.sampled_from("ABCabc012-_."))
    altered = token[:i] + c + token[i + 1:]
    if altered != token:
        try:
            verify_token(SECRET, altered, now=NOW)
        except TokenError:
            return
        # base64url's last character may carry unused low bits: the decoded bytes are equal
        assert base64.urlsafe_b64decode(altered.split(".")[2] + "==") == \
            base64.urlsafe_b64decode(token.split(".")[2] + "==")


def test_secret_sources(tmp_path: Path) -> None:
    assert load_secret(None, environ={}) is None
    assert load_secret(None, environ={"FOCALCALL_SECRET": "e" * 40}) == b"e" * 40
    path = tmp_path / "secret"
    path.write_bytes(b"f" * 32 + b"\n")
    assert load_secret(path, environ={"FOCALCALL_SECRET": "e" * 40}) == b"f" * 32
    path.write_text("short\n")
    with pytest.raises(ValueError, match="at least 32"):
        load_secret(path)
    with pytest.raises(ValueError, match="cannot read the secret file"):
        load_secret(tmp_path / "missing")


def test_durations_and_invite_links() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "30m", "8h", "7d", "1.5h")] == [90, 90, 1800, 28800, 604800, 5400]
    for bad in ("", "0", "-5m", "5y", "h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert invite_link("https://calls.example.com", "stand.up", "T.O.K", "0:KEY") == \
        "https://calls.example.com/?room=stand.up#token=T.O.K&key=0:KEY"
    with pytest.raises(ValueError, match="invite server URL"):
        invite_link("calls.example.com", "r", "t")


def test_token_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    assert main(["token", "standup", "--identity", "bo", "--name", "Bo", "--ttl", "1h", "--listen-only",
                 "--secret-file", str(secret)]) == 0
    token = capsys.readouterr().out.strip()
    got = verify_token(SECRET, token)
    assert (got.room, got.identity, got.name, got.rights) == ("standup", "bo", "Bo", ("subscribe",))
    assert 3500 < got.expires - got.not_before <= 3600
    assert main(["e2ee-key", "--epoch", "3"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("3:") and len(key) == 2 + 43
    keyfile = tmp_path / "room.key"
    keyfile.write_text(key + "\n")
    assert main(["token", "standup", "--identity", "cy", "--secret-file", str(secret),
                 "--invite", "http://127.0.0.1:8080/", "--e2ee-key-file", str(keyfile)]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://127.0.0.1:8080/?room=standup#token=") and link.endswith("&key=" + key)
    assert main(["token", "bad room", "--identity", "x", "--secret-file", str(secret)]) == 2
    assert "room name must be" in capsys.readouterr().err


def test_token_command_needs_the_secret(monkeypatch, capsys) -> None:
    monkeypatch.delenv("FOCALCALL_SECRET", raising=False)
    assert main(["token", "r", "--identity", "x"]) == 2
    assert "no secret" in capsys.readouterr().err


def test_serving_off_loopback_needs_a_secret_or_open_rooms(monkeypatch, capsys) -> None:
    monkeypatch.delenv("FOCALCALL_SECRET", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "needs a secret" in err and "--open-rooms" in err
