"""The key rules every store applies before touching anything."""

from __future__ import annotations

import pytest

from hounsfield.errors import InvalidRequest
from hounsfield.storage import validate_key
from hounsfield.storage.base import validate_prefix


@pytest.mark.parametrize("key", [
    "3f2a9c0e4b5d4f6a8b7c6d5e4f3a2b1c", "a", ".a", "..a", "a..", "a.b", "A-b_c.d",
    "x/y/z", "...", "s" * 250, "/".join(["ab"] * 171),
])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key, fault", [
    ("", "not made of"),
    ("/abs", "not made of"),
    ("a/", "not made of"),
    ("a//b", "not made of"),
    ("a/../b", "'..' segment"),
    ("./b", "'.' segment"),
    ("a\\b", "not made of"),
    ("a\x00b", "not made of"),
    ("x" * 513, "513 characters"),
    ("s" * 251, "longer than 250"),
    ("ok/" + "s" * 251, "longer than 250"),
])
def test_invalid_keys_name_the_fault(key: str, fault: str) -> None:
    with pytest.raises(InvalidRequest, match=fault):
        validate_key(key)


def test_prefixes() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("ab/c") == "ab/c"
    for bad in ("a b", "a\\", "x" * 513):
        with pytest.raises(InvalidRequest):
            validate_prefix(bad)
