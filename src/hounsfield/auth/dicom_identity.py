"""Accounts for DICOM peers: User Identity Negotiation (PS3.7 D.3.3.7) checked against the
same users, passwords and API tokens as HTTP, and the ``dicom.*`` permissions and study
scope that follow from the user's roles.

The DICOM server calls ``authenticate_user_identity`` when an A-ASSOCIATE-RQ carries a
User Identity sub-item (or when its settings demand one), then ``dicom_permission`` per
DIMSE service and ``user_scope`` to set ``archive.access.current_scope`` for the
association, exactly as the HTTP middleware does per request.
"""

from __future__ import annotations

from typing import Any

from hounsfield.archive.access import Scope
from hounsfield.auth import credentials
from hounsfield.auth.accounts import User, resolve_scope
from hounsfield.auth.tokens import TOKEN_PREFIX
from hounsfield.errors import Unauthorized
from hounsfield.index import Database

__all__ = ["DICOM_SERVICES", "USERNAME", "USERNAME_AND_PASSCODE", "authenticate_user_identity",
           "dicom_permission", "user_scope"]

# User-Identity-Type (PS3.7 Table D.3-14)
USERNAME = 1
USERNAME_AND_PASSCODE = 2
KERBEROS = 3
SAML = 4
JWT = 5
DICOM_SERVICES = ("echo", "store", "find", "move", "get")


def _text(value: bytes, what: str) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized(f"DICOM user identity {what} is not UTF-8.") from None
    if not text or "\x00" in text or len(text) > 1024:
        raise Unauthorized(f"DICOM user identity {what} is empty or malformed.")
    return text


def authenticate_user_identity(db: Database, settings: Any, identity_type: int,
                               primary: bytes, secondary: bytes = b"",
                               remote_address: str = "") -> User:
    """The user a User Identity sub-item proves. Type 2 (user name and passcode) is
    accepted, the passcode being the password or one of the user's API tokens; type 1 (a
    bare user name) proves nothing and is refused, as are Kerberos, SAML and JWT, which
    are not supported. Wrong passwords count towards the login lockout."""
    if identity_type != USERNAME_AND_PASSCODE:
        raise Unauthorized(f"DICOM user identity type {identity_type} is not accepted; use "
                           "type 2 (user name and passcode).")
    username = _text(primary, "user name")
    passcode = _text(secondary, "passcode")
    if passcode.startswith(TOKEN_PREFIX):
        user = credentials.authenticate_token(db, passcode)
        if user.username != username:
            raise Unauthorized("The API token belongs to another user.")
        return user
    return credentials.authenticate_password(db, settings, username, passcode, remote_address)


def dicom_permission(user: User, service: str) -> bool:
    """Whether the user's roles allow a DIMSE service (``echo``, ``store``, ``find``,
    ``move``, ``get``)."""
    if service not in DICOM_SERVICES:
        raise ValueError(f'Argument "service" must be one of {", ".join(DICOM_SERVICES)}, '
                         f"not {service!r}")
    return user.can(f"dicom.{service}")


def user_scope(db: Database, user: User) -> Scope | None:
    """The studies the user may see (None: all), for ``current_scope``."""
    with db.read() as conn:
        return resolve_scope(conn, user)
