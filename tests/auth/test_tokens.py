"""API tokens and signed, expiring values."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from hounsfield.auth.tokens import hash_token, new_token, sign, unsign
from hounsfield.errors import Unauthorized

KEY = b"k" * 32
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_new_token_format_and_hash():
    token, token_hash = new_token()
    assert token.startswith("hf_") and len(token) == 3 + 43
    assert token_hash == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    assert new_token()[0] != token


def test_sign_and_unsign_round_trip():
    value = sign({"share": 7, "studies": ["1.2.3"]}, KEY, NOW + dt.timedelta(hours=1))
    assert unsign(value, KEY, now=NOW) == {"share": 7, "studies": ["1.2.3"]}


def test_expired_value_is_refused():
    value = sign({"user": 1}, KEY, NOW + dt.timedelta(seconds=30))
    with pytest.raises(Unauthorized, match="expired"):
        unsign(value, KEY, now=NOW + dt.timedelta(seconds=30))
    assert unsign(value, KEY, now=NOW + dt.timedelta(seconds=29)) == {"user": 1}


def test_forged_values_are_refused():
    value = sign({"user": 1, "role": "viewer"}, KEY, NOW + dt.timedelta(hours=1))
    body, signature = value.split(".")
    forged_body = sign({"user": 1, "role": "admin"}, KEY, NOW + dt.timedelta(hours=1))
    forged = forged_body.split(".")[0] + "." + signature
    for bad in (forged, body + ".", body + "." + signature[:-2] + "AA", value + ".x",
                "garbage", "", "é.é"):
        with pytest.raises(Unauthorized):
            unsign(bad, KEY, now=NOW)
    with pytest.raises(Unauthorized, match="signature"):
        unsign(value, b"other-key-of-32-bytes-long......", now=NOW)


def test_bad_arguments():
    with pytest.raises(ValueError):
        sign({"exp": 1}, KEY, NOW)
    with pytest.raises(ValueError):
        sign({}, b"short", NOW)
    with pytest.raises(ValueError):
        sign({}, KEY, dt.datetime(2026, 1, 1))  # naive datetime
