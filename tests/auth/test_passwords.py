"""Argon2id password hashes and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher

from hounsfield.auth.passwords import check_password_policy, hash_password, verify_password
from hounsfield.config import load_settings


def test_hash_is_argon2id_salted_and_verifies():
    first, second = hash_password("Tr0ub4dor&3-xyz"), hash_password("Tr0ub4dor&3-xyz")
    assert first.startswith("$argon2id$") and first != second  # random salt
    assert verify_password(first, "Tr0ub4dor&3-xyz") == (True, False)
    assert verify_password(first, "Tr0ub4dor&3-xyZ") == (False, False)
    assert verify_password("not a hash", "anything") == (False, False)
    assert "Tr0ub4dor" not in first


def test_weak_parameters_ask_for_rehash():
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("Old-Pass-1234")
    assert verify_password(old, "Old-Pass-1234") == (True, True)
    assert verify_password(old, "wrong") == (False, False)


def test_policy():
    minimum = load_settings(environ={})["auth.password_min_length"]
    assert check_password_policy("Good-Pass-2024!", min_length=minimum) == []
    assert check_password_policy("a long passphrase of plain words", min_length=minimum) == []
    short = check_password_policy("Ab1!", min_length=minimum)
    assert any(f"at least {minimum}" in p for p in short)
    assert any("three" in p for p in check_password_policy("alllowercaseletters",
                                                           min_length=12))
    assert any("user name" in p for p in check_password_policy(
        "Jane.Doe-Radiology", min_length=12, username="jane.doe-radiology"))
    assert any("common" in p for p in check_password_policy("Password123", min_length=8))
    assert any("common" in p for p in check_password_policy("correcthorsebatterystaple",
                                                            min_length=12))
    assert any("different characters" in p for p in check_password_policy(
        "aaaaaaaaaaaaaaaaaaaaaaaaa", min_length=12))
