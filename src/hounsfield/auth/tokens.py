"""API tokens and signed, expiring values (share links, session cookies).

An API token is ``hf_`` followed by 32 random bytes in URL-safe base64; only its SHA-256
is stored, so a leaked database reveals no usable token. Signed values are
``<payload>.<signature>`` with the payload URL-safe base64 JSON (holding the expiry) and
the signature HMAC-SHA256 over it, compared in constant time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any

from hounsfield.errors import Unauthorized

__all__ = ["TOKEN_PREFIX", "hash_token", "new_token", "sign", "unsign"]

TOKEN_PREFIX = "hf_"
_TOKEN_BYTES = 32
_EXPIRY_KEY = "exp"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_token() -> tuple[str, str]:
    """``(token, token_hash)``: show the token once, store only the hash."""
    token = TOKEN_PREFIX + _b64encode(secrets.token_bytes(_TOKEN_BYTES))
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token; tokens are random, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError('Argument "key" must be at least 16 bytes.')


def _signature(key: bytes, body: str) -> str:
    return _b64encode(hmac.new(key, b"hounsfield-signed-v1." + body.encode("ascii"),
                               hashlib.sha256).digest())


def _timestamp(expires_at: dt.datetime | float | int) -> int:
    if isinstance(expires_at, dt.datetime):
        if expires_at.tzinfo is None:
            raise ValueError('Argument "expires_at" must be timezone-aware.')
        return int(expires_at.timestamp())
    return int(expires_at)


def sign(payload: dict[str, Any], key: bytes, expires_at: dt.datetime | float | int) -> str:
    """A URL-safe signed value holding ``payload`` until ``expires_at`` (aware datetime or
    POSIX seconds). The payload must be JSON-serialisable and must not use key "exp"."""
    _check_key(key)
    if _EXPIRY_KEY in payload:
        raise ValueError(f'Argument "payload" must not contain the key {_EXPIRY_KEY!r}.')
    body_json = json.dumps({**payload, _EXPIRY_KEY: _timestamp(expires_at)},
                           separators=(",", ":"), sort_keys=True)
    body = _b64encode(body_json.encode("utf-8"))
    return f"{body}.{_signature(key, body)}"


def unsign(value: str, key: bytes, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The payload of a value made by ``sign``; ``Unauthorized`` when it was altered, made
    with another key, malformed or expired."""
    _check_key(key)
    if not isinstance(value, str) or value.count(".") != 1:
        raise Unauthorized("Signed value is malformed.")
    body, signature = value.split(".")
    try:
        expected = _signature(key, body)
    except UnicodeEncodeError:
        raise Unauthorized("Signed value is malformed.") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
        raise Unauthorized("Signed value has a bad signature.")
    try:
        data = json.loads(_b64decode(body))
        if not isinstance(data, dict):
            raise TypeError("payload is not an object")
        expires = int(data.pop(_EXPIRY_KEY))
    except (ValueError, KeyError, TypeError):
        raise Unauthorized("Signed value is malformed.") from None
    current = (now or dt.datetime.now(dt.timezone.utc)).timestamp()
    if current >= expires:
        raise Unauthorized("Signed value has expired.")
    return data
