"""Password hashing (Argon2id) and the password policy.

Hashes are PHC strings (``$argon2id$v=19$m=...``) from argon2-cffi with its current
recommended parameters (RFC 9106 second choice); ``verify_password`` says when a stored
hash was made with weaker parameters so the caller can re-hash at the next login.
"""

from __future__ import annotations

import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["COMMON_PASSWORDS", "check_password_policy", "hash_password", "verify_password"]

_HASHER = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4

# Passwords that top every leaked-password list; refused whatever their length.
COMMON_PASSWORDS: frozenset[str] = frozenset({
    "123456", "123456789", "12345678", "1234567890", "qwerty", "password", "password1",
    "password123", "111111", "123123", "abc123", "1q2w3e4r", "qwerty123", "iloveyou",
    "admin", "admin123", "administrator", "welcome", "welcome1", "letmein", "monkey",
    "dragon", "football", "baseball", "sunshine", "princess", "master", "shadow",
    "trustno1", "passw0rd", "p@ssw0rd", "p@ssword", "changeme", "secret", "root",
    "toor", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx", "000000", "654321",
    "superman", "batman", "hello123", "login", "guest", "test", "test123", "default",
    "hospital", "radiology", "pacs", "hounsfield", "dicom", "orthanc", "doctor",
    "password1234", "qwerty12345", "correcthorsebatterystaple",
})


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with a fresh random salt."""
    if not isinstance(password, str) or not password:
        raise ValueError('Argument "password" must be a non-empty string.')
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> tuple[bool, bool]:
    """``(ok, needs_rehash)``: whether ``password`` matches, and whether the stored hash
    should be replaced by one with the current parameters. A malformed hash never matches.
    """
    try:
        _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, _HASHER.check_needs_rehash(stored_hash)


def _character_classes(password: str) -> int:
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isalnum() for c in password),
        any(c.isalpha() and not c.isascii() for c in password),
    ]
    return sum(classes)


def check_password_policy(password: str, *, min_length: int = 12,
                          username: str | None = None) -> list[str]:
    """The problems that make ``password`` unacceptable; an empty list means it is fine.

    ``min_length`` comes from the ``auth.password_min_length`` setting. A password needs
    three character classes (lower, upper, digit, symbol, non-ASCII letter) unless it is
    at least 20 characters long: long passphrases are strong without them (NIST SP
    800-63B favours length over composition).
    """
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"Password must be at least {min_length} characters long.")
    folded = password.strip().lower()
    if username and folded in (username.strip().lower(), username.strip().lower()[::-1]):
        problems.append("Password must not be the user name.")
    if folded in COMMON_PASSWORDS or folded.rstrip("0123456789!.") in COMMON_PASSWORDS:
        problems.append("Password is too common.")
    if len(password) < 20 and _character_classes(password) < 3:
        problems.append("Password must mix at least three of: lower-case letters, "
                        "upper-case letters, digits, symbols; or be 20 characters or longer.")
    if len(set(password)) < 4 and len(password) >= 1:
        problems.append("Password repeats too few different characters.")
    return problems
