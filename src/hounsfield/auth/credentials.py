"""Proving who is calling: passwords (with rate limiting and lockout), API tokens and
login sessions.

A session cookie holds a signed random id (``tokens.sign``) whose SHA-256 names a row in
``sessions``; logout or a password change revokes the row, so a stolen cookie dies with
the session. The CSRF token is an HMAC of the session id under the secret key: bound to
the session, never stored, and unknown to a cross-site page (SameSite=Strict helps too).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hounsfield.auth.accounts import User, aware, now, require_user, user_by_id
from hounsfield.auth.passwords import hash_password, verify_password
from hounsfield.auth.schema import api_tokens, login_failures, sessions, users
from hounsfield.auth.tokens import TOKEN_PREFIX, hash_token, new_token, sign, unsign
from hounsfield.config import Settings
from hounsfield.errors import InvalidRequest, NotFound, Unauthorized
from hounsfield.index import Database

__all__ = ["LockedOut", "authenticate_password", "authenticate_token", "create_session",
           "create_token", "csrf_token", "list_tokens", "load_session", "revoke_session",
           "revoke_token", "secret_key", "session_cookie_value", "session_id_from_cookie"]

# A remote address may fail this many times the per-account limit before it is refused
# for every account (slows password spraying across many user names).
_ADDRESS_FACTOR = 4


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that the answer takes as long."""
    return hash_password("not-a-real-password-0A!")


class LockedOut(Unauthorized):
    """Too many failed logins: the account or the address is locked for a while."""

    http_status = 429
    code = "locked_out"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def secret_key(settings: Settings) -> bytes:
    """The key that signs cookies and share access values: ``auth.secret_key``, else a
    random key kept in ``data_dir/secret_key`` (made once, readable by the owner only).
    Several nodes must share the setting or the file."""
    configured = settings["auth.secret_key"]
    if configured:
        key = configured.encode("utf-8")
        if len(key) < 32:
            raise ValueError("Setting auth.secret_key must be at least 32 characters")
        return key
    path = Path(settings.data_dir) / "secret_key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by a concurrent start
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
        fh.flush()
        os.fsync(fh.fileno())
    return key


# --- passwords, rate limiting and lockout ---------------------------------------------------

def _locked_for(conn: Connection, key: str, at: dt.datetime) -> int:
    until = conn.execute(select(login_failures.c.locked_until)
                         .where(login_failures.c.key == key)).scalar()
    until = aware(until)
    return int((until - at).total_seconds()) + 1 if until and until > at else 0


def _fail(conn: Connection, key: str, at: dt.datetime, limit: int, lockout: int) -> None:
    row = conn.execute(select(login_failures).where(login_failures.c.key == key)).first()
    if row is None:
        conn.execute(insert(login_failures).values(key=key, failures=1, last_failure_at=at))
        failures = 1
    else:
        expired = aware(row.locked_until) is not None and aware(row.locked_until) <= at
        failures = 1 if expired else row.failures + 1
        conn.execute(update(login_failures).where(login_failures.c.key == key)
                     .values(failures=failures, last_failure_at=at, locked_until=None))
    if failures >= limit:
        conn.execute(update(login_failures).where(login_failures.c.key == key)
                     .values(locked_until=at + dt.timedelta(seconds=lockout)))


def authenticate_password(db: Database, settings: Settings, username: str, password: str,
                          remote_address: str = "") -> User:
    """The user whose password this is. Failures count per user name and per address;
    after ``auth.login_max_failures`` in a row the account is locked for
    ``auth.lockout_seconds`` (``LockedOut``, HTTP 429) even for the right password."""
    limit, lockout = settings["auth.login_max_failures"], settings["auth.lockout_seconds"]
    keys = [f"user:{username[:190]}", f"addr:{remote_address[:190]}"]
    at = now()
    with db.read() as conn:
        wait = max(_locked_for(conn, k, at) for k in keys)
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if wait:
        raise LockedOut("Too many failed logins; try again later.", wait)
    ok = False
    if row is not None and row.password_hash is not None:
        ok, rehash = verify_password(row.password_hash, password)
    else:
        verify_password(_dummy_hash(), password)
        rehash = False
    if not ok or row is None or row.disabled:
        with db.write() as conn:
            _fail(conn, keys[0], at, limit, lockout)
            _fail(conn, keys[1], at, limit * _ADDRESS_FACTOR, lockout)
        raise Unauthorized("Wrong user name or password.")
    with db.write() as conn:
        changes: dict[str, Any] = {"last_login_at": at}
        if rehash:
            changes["password_hash"] = hash_password(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**changes))
        conn.execute(login_failures.delete().where(login_failures.c.key == keys[0]))
        user = user_by_id(conn, row.id)
    assert user is not None
    return user


def touch_login(db: Database, user_id: int) -> None:
    """Record a login made without a password here (single sign-on)."""
    with db.write() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(last_login_at=now()))


# --- API tokens ----------------------------------------------------------------------------

def create_token(db: Database, username: str, name: str = "",
                 expires_at: dt.datetime | None = None) -> tuple[str, int]:
    """A new API token for ``username``: ``(token, id)``. The token is shown once; only
    its hash is kept."""
    user = require_user(db, username)
    token, token_hash = new_token()
    with db.write() as conn:
        result = conn.execute(insert(api_tokens).values(
            user_id=user.id, name=name[:128], token_hash=token_hash, created_at=now(),
            expires_at=expires_at))
        return token, int(result.inserted_primary_key[0])  # type: ignore[index]


def authenticate_token(db: Database, token: str) -> User:
    """The user of a live API token; ``Unauthorized`` for unknown, revoked or expired ones
    and for disabled users."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise Unauthorized("Not an API token.")
    digest = hash_token(token)
    at = now()
    with db.read() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest)).first()
        user = user_by_id(conn, row.user_id) if row is not None else None
    if row is None or user is None:
        raise Unauthorized("Unknown API token.")
    if row.revoked_at is not None:
        raise Unauthorized("API token was revoked.")
    expires = aware(row.expires_at)
    if expires is not None and expires <= at:
        raise Unauthorized("API token has expired.")
    if user.disabled:
        raise Unauthorized("Account is disabled.")
    last = aware(row.last_used_at)
    if last is None or at - last > dt.timedelta(minutes=5):  # no write on every request
        with db.write() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == row.id)
                         .values(last_used_at=at))
    return user


def revoke_token(db: Database, token_id: int, *, username: str | None = None) -> None:
    """Revoke a token; with ``username`` only one of that user's tokens."""
    stmt = select(api_tokens.c.id).where(api_tokens.c.id == token_id)
    if username is not None:
        stmt = stmt.where(api_tokens.c.user_id == require_user(db, username).id)
    with db.write() as conn:
        if conn.execute(stmt).first() is None:
            raise NotFound(f"No API token {token_id}")
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                              api_tokens.c.revoked_at.is_(None))
                     .values(revoked_at=now()))


def list_tokens(db: Database, username: str | None = None) -> list[dict[str, Any]]:
    stmt = (select(api_tokens, users.c.username).join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id))
    if username is not None:
        stmt = stmt.where(users.c.username == username)
    with db.read() as conn:
        rows = conn.execute(stmt).all()

    def iso(value: Any) -> str | None:
        value = aware(value)
        return value.isoformat() if value else None

    return [{"id": r.id, "username": r.username, "name": r.name,
             "created_at": iso(r.created_at), "expires_at": iso(r.expires_at),
             "last_used_at": iso(r.last_used_at), "revoked": r.revoked_at is not None}
            for r in rows]


# --- sessions ------------------------------------------------------------------------------

def create_session(db: Database, user: User, lifetime: int,
                   remote_address: str = "") -> tuple[str, dt.datetime]:
    """A new session row: ``(session_id, expires_at)``."""
    if lifetime <= 0:
        raise InvalidRequest("auth.session_lifetime must be positive")
    session_id = secrets.token_urlsafe(32)
    expires = now() + dt.timedelta(seconds=lifetime)
    with db.write() as conn:
        # Sessions that ended a day ago are of no use; the audit trail keeps the logins.
        conn.execute(sessions.delete().where(sessions.c.expires_at < now() - dt.timedelta(days=1)))
        conn.execute(insert(sessions).values(
            session_hash=hash_token(session_id), user_id=user.id, created_at=now(),
            expires_at=expires, remote_address=remote_address[:64]))
    return session_id, expires


def session_cookie_value(key: bytes, session_id: str, expires: dt.datetime) -> str:
    return sign({"sid": session_id}, key, expires)


def session_id_from_cookie(key: bytes, value: str) -> str:
    """The session id in a cookie; ``Unauthorized`` when forged or expired."""
    sid = unsign(value, key).get("sid")
    if not isinstance(sid, str):
        raise Unauthorized("Session cookie is malformed.")
    return sid


def load_session(db: Database, session_id: str) -> User:
    """The user of a live session; ``Unauthorized`` when it is unknown, revoked, expired
    or the user is disabled."""
    with db.read() as conn:
        row = conn.execute(select(sessions).where(
            sessions.c.session_hash == hash_token(session_id))).first()
        user = user_by_id(conn, row.user_id) if row is not None else None
    if row is None or user is None or row.revoked_at is not None:
        raise Unauthorized("Session has ended; log in again.")
    if aware(row.expires_at) <= now():  # type: ignore[operator]
        raise Unauthorized("Session has expired; log in again.")
    if user.disabled:
        raise Unauthorized("Account is disabled.")
    return user


def revoke_session(db: Database, session_id: str) -> None:
    with db.write() as conn:
        conn.execute(update(sessions).where(sessions.c.session_hash == hash_token(session_id),
                                            sessions.c.revoked_at.is_(None))
                     .values(revoked_at=now()))


def csrf_token(key: bytes, session_id: str) -> str:
    """The CSRF token of a session (sent back in the ``X-CSRF-Token`` header)."""
    digest = hmac.new(key, b"hounsfield-csrf." + session_id.encode("ascii"),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_csrf(key: bytes, session_id: str, header: str | None) -> None:
    if not header or not hmac.compare_digest(csrf_token(key, session_id).encode("ascii"),
                                             header.encode("utf-8", "replace")):
        raise CsrfRefused("Missing or wrong X-CSRF-Token header for a cookie-authenticated "
                          "request that changes state.")


class CsrfRefused(Unauthorized):
    http_status = 403
    code = "csrf"
