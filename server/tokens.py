"""Room tokens: who may join which room, under which name, with which rights, until when.

A token is a JWT (RFC 7519) signed with HMAC-SHA256 under the server's secret, as LiveKit's
access tokens are::

    header  {"alg": "HS256", "typ": "JWT"}
    claims  {"iss": "focalcall", "sub": IDENTITY, "room": ROOM, "name": DISPLAY NAME,
             "rights": ["publish", "subscribe"], "iat": T, "nbf": T, "exp": T + TTL}

``sub`` identifies the person (a second join with the same identity replaces the first: a
reconnect never leaves a ghost); ``name`` is shown to the others (optional: the join message
names itself then); ``rights`` lists what the holder may do ("publish": send audio,
"subscribe": receive it). Verification checks the signature before reading any claim, so a
forged token is never parsed; every failure raises :class:`TokenError`, whose message never
depends on whether the room exists.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

ISSUER = "focalcall"
RIGHTS = ("publish", "subscribe")
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 32
CLOCK_LEEWAY_S = 30  # clocks of the minting and the verifying host may disagree this much
SECRET_ENV = "FOCALCALL_SECRET"
IDENTITY_RE = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")
_HEADER = {"alg": "HS256", "typ": "JWT"}
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class TokenError(ValueError):
    """A token that does not admit its holder; the message says why."""


@dataclass(frozen=True)
class RoomGrant:
    """What a valid token grants. Times are Unix seconds."""

    room: str
    identity: str
    expires: int
    name: str | None = None
    rights: tuple[str, ...] = RIGHTS
    not_before: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.identity, str) or not IDENTITY_RE.match(self.identity):
            raise TokenError("identity must be 1-128 characters of letters, digits and _.@+-")
        unknown = set(self.rights) - set(RIGHTS)
        if unknown:
            raise TokenError(f"unknown rights {sorted(unknown)} (known: {', '.join(RIGHTS)})")

    @property
    def can_publish(self) -> bool:
        return "publish" in self.rights

    @property
    def can_subscribe(self) -> bool:
        return "subscribe" in self.rights


def mint_token(secret: bytes, grant: RoomGrant, issued_at: int | None = None) -> str:
    """A signed token for ``grant``."""
    _check_secret(secret)
    now = int(time.time()) if issued_at is None else issued_at
    claims = {"iss": ISSUER, "sub": grant.identity, "room": grant.room, "rights": list(grant.rights),
              "iat": now, "nbf": grant.not_before if grant.not_before is not None else now, "exp": grant.expires}
    if grant.name is not None:
        claims["name"] = grant.name
    signing_input = _b64(_json(_HEADER)) + "." + _b64(_json(claims))
    return signing_input + "." + _b64(_sign(secret, signing_input))


def verify_token(secret: bytes, token: object, now: float | None = None) -> RoomGrant:
    """The grant of a valid token; :class:`TokenError` for anything else (nothing else raised)."""
    if not isinstance(token, str) or not token:
        raise TokenError("a room token is required to join")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(f"token longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL_RE.match(p) for p in parts):
        raise TokenError("malformed token (expected three base64url parts)")
    signing_input = parts[0] + "." + parts[1]
    if not hmac.compare_digest(_unb64(parts[2]), _sign(secret, signing_input)):
        raise TokenError("token signature does not verify (another server's secret, or altered)")
    header, claims = _load(parts[0]), _load(parts[1])
    if header != _HEADER:
        raise TokenError("token header must be exactly {\"alg\": \"HS256\", \"typ\": \"JWT\"}")
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise TokenError("token was not issued for focalcall")
    now = time.time() if now is None else now
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if not _is_int(expires) or (not_before is not None and not _is_int(not_before)):
        raise TokenError("token times (exp, nbf) must be integers")
    if now > expires + CLOCK_LEEWAY_S:
        raise TokenError("token has expired")
    if not_before is not None and now < not_before - CLOCK_LEEWAY_S:
        raise TokenError("token is not valid yet")
    room, identity, name, rights = (claims.get(k) for k in ("room", "sub", "name", "rights"))
    if not isinstance(room, str) or not isinstance(identity, str):
        raise TokenError("token lacks its room or identity")
    if name is not None and not isinstance(name, str):
        raise TokenError("token name must be a string")
    if not isinstance(rights, list) or not all(isinstance(r, str) for r in rights):
        raise TokenError("token rights must be a list of strings")
    return RoomGrant(room=room, identity=identity, expires=expires, name=name, rights=tuple(rights),
                     not_before=not_before)


def load_secret(path: Path | None = None, environ: dict[str, str] | None = None) -> bytes | None:
    """The server secret: the file at ``path`` (surrounding whitespace stripped), else the
    ``FOCALCALL_SECRET`` environment variable, else ``None``. Too short a secret is an error."""
    environ = os.environ if environ is None else environ
    if path is not None:
        try:
            secret = Path(path).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from None
        source = f"secret file {path}"
    elif environ.get(SECRET_ENV):
        secret, source = environ[SECRET_ENV].strip().encode(), f"${SECRET_ENV}"
    else:
        return None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the {source} holds {len(secret)} bytes; use at least {MIN_SECRET_BYTES} "
                         "(e.g. `openssl rand -base64 32`)")
    return secret


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the secret must be at least {MIN_SECRET_BYTES} bytes")


def _sign(secret: bytes, signing_input: str) -> bytes:
    return hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed token (bad base64url)") from None


def _load(part: str) -> object:
    try:
        return json.loads(_unb64(part))
    except (ValueError, RecursionError):  # only reached for tokens this server signed
        raise TokenError("malformed token (its parts are not JSON)") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
