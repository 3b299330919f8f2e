"""Share links: read-only access to a set of studies without an account.

A link carries a random token (``tokens.new_token``) whose SHA-256 names a row; the row
says which studies, until when, whether a password is needed and whether the studies
leave de-identified. Revoking the row ends the link at once. After the password (if any)
is given, the holder gets an *access value*: a signed, short-lived value naming the share,
which DICOMweb requests and downloads carry (``?share=`` or ``X-Share-Token``) instead
of the password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import insert, select, update

from hounsfield.archive.access import Scope
from hounsfield.auth.accounts import aware, now
from hounsfield.auth.deidentify import Deidentifier, DeidentifyOptions
from hounsfield.auth.passwords import hash_password, verify_password
from hounsfield.auth.schema import shares
from hounsfield.auth.tokens import TOKEN_PREFIX, hash_token, new_token, sign, unsign
from hounsfield.config import Settings
from hounsfield.errors import InvalidRequest, NotFound, Unauthorized
from hounsfield.index import Database

__all__ = ["ACCESS_LIFETIME", "MAX_LIFETIME", "Share", "access_value", "create_share",
           "deidentifier", "list_shares", "open_share", "revoke_share", "share_from_access"]

ACCESS_LIFETIME = dt.timedelta(hours=2)
MAX_LIFETIME = dt.timedelta(days=365)
MAX_STUDIES = 100
_UID = re.compile(r"[0-9.]{1,64}")


@dataclass(frozen=True)
class Share:
    id: int
    created_by: str
    study_instance_uids: tuple[str, ...]
    description: str
    deidentify: bool
    has_password: bool
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool

    @property
    def scope(self) -> Scope:
        """Exactly the shared studies."""
        return Scope(study_instance_uids=frozenset(self.study_instance_uids))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_by": self.created_by,
                "study_instance_uids": list(self.study_instance_uids),
                "description": self.description, "deidentify": self.deidentify,
                "password": self.has_password, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat(), "revoked": self.revoked}


def _share(row: Any) -> Share:
    return Share(id=row.id, created_by=row.created_by,
                 study_instance_uids=tuple(u for u in row.study_instance_uids.split("\\") if u),
                 description=row.description, deidentify=bool(row.deidentify),
                 has_password=row.password_hash is not None,
                 created_at=aware(row.created_at),  # type: ignore[arg-type]
                 expires_at=aware(row.expires_at),  # type: ignore[arg-type]
                 revoked=row.revoked_at is not None)


def check_study_uids(uids: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(u.strip() for u in uids))
    if not out:
        raise InvalidRequest("A share names at least one study")
    if len(out) > MAX_STUDIES:
        raise InvalidRequest(f"A share names at most {MAX_STUDIES} studies")
    for uid in out:
        if not _UID.fullmatch(uid):
            raise InvalidRequest(f"Not a Study Instance UID: {uid[:80]!r}")
    return out


def create_share(db: Database, *, created_by: str, study_instance_uids: Iterable[str],
                 expires_at: dt.datetime, password: str | None = None,
                 deidentify: bool = False, description: str = "") -> tuple[str, Share]:
    """A new share link: ``(token, share)``. The token is shown once."""
    uids = check_study_uids(study_instance_uids)
    if expires_at.tzinfo is None:
        raise ValueError('Argument "expires_at" must be timezone-aware.')
    at = now()
    if not at < expires_at <= at + MAX_LIFETIME:
        raise InvalidRequest("A share link must expire in the future and within a year")
    if password is not None and len(password) < 8:
        raise InvalidRequest("A share password must be at least 8 characters")
    token, token_hash = new_token()
    with db.write() as conn:
        result = conn.execute(insert(shares).values(
            token_hash=token_hash, created_by=created_by,
            study_instance_uids="\\".join(uids), description=description[:256],
            deidentify=deidentify,
            password_hash=hash_password(password) if password else None,
            created_at=at, expires_at=expires_at))
        share_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = conn.execute(select(shares).where(shares.c.id == share_id)).one()
    return token, _share(row)


def list_shares(db: Database, created_by: str | None = None) -> list[Share]:
    stmt = select(shares).order_by(shares.c.id.desc())
    if created_by is not None:
        stmt = stmt.where(shares.c.created_by == created_by)
    with db.read() as conn:
        return [_share(r) for r in conn.execute(stmt)]


def revoke_share(db: Database, share_id: int, *, created_by: str | None = None) -> Share:
    """End a link; with ``created_by`` only one of that user's links."""
    stmt = select(shares).where(shares.c.id == share_id)
    if created_by is not None:
        stmt = stmt.where(shares.c.created_by == created_by)
    with db.write() as conn:
        if conn.execute(stmt).first() is None:
            raise NotFound(f"No share {share_id}")
        conn.execute(update(shares).where(shares.c.id == share_id,
                                          shares.c.revoked_at.is_(None))
                     .values(revoked_at=now()))
        row = conn.execute(select(shares).where(shares.c.id == share_id)).one()
    return _share(row)


def _live(row: Any) -> Share:
    if row is None:
        raise Unauthorized("Unknown share link.")
    share = _share(row)
    if share.revoked:
        raise Unauthorized("This share link was revoked.")
    if share.expires_at <= now():
        raise Unauthorized("This share link has expired.")
    return share


def open_share(db: Database, token: str, password: str | None = None, *,
               max_failures: int = 5, lockout_seconds: int = 900) -> Share:
    """The live share of a link token; ``Unauthorized`` for unknown, revoked or expired
    links and for a missing or wrong password. After ``max_failures`` wrong passwords in a
    row the link refuses every password for ``lockout_seconds`` (``LockedOut``)."""
    from hounsfield.auth.credentials import LockedOut, _fail, _locked_for

    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise Unauthorized("Unknown share link.")
    with db.read() as conn:
        row = conn.execute(select(shares).where(shares.c.token_hash == hash_token(token))
                           ).first()
    share = _live(row)
    assert row is not None  # _live refuses a missing row
    if row.password_hash is not None:
        if not password:
            raise PasswordRequired("This share link needs its password (X-Share-Password).")
        key, at = f"share:{share.id}", now()
        with db.read() as conn:
            wait = _locked_for(conn, key, at)
        if wait:
            raise LockedOut("Too many wrong passwords for this share link; try again later.",
                            wait)
        if not verify_password(row.password_hash, password)[0]:
            with db.write() as conn:
                _fail(conn, key, at, max_failures, lockout_seconds)
            raise Unauthorized("Wrong password for this share link.")
    return share


class PasswordRequired(Unauthorized):
    code = "share_password_required"


def access_value(key: bytes, share: Share) -> str:
    """A signed value that opens ``share`` for a while, without the password."""
    expires = min(share.expires_at, now() + ACCESS_LIFETIME)
    return sign({"share": share.id}, key, expires)


def deidentifier(settings: Settings, key: bytes, share: Share) -> Deidentifier:
    """The de-identifier of a share: the ``deidentify.*`` options and a salt of its own,
    derived from the server's key, so the link shows the same pseudonyms every time (in
    its download and through DICOMweb) and no other link or export can be matched to it."""
    salt = hmac.new(key, f"share-deidentify\0{share.id}\0{share.created_at.isoformat()}"
                    .encode("utf-8"), hashlib.sha256).digest()
    return Deidentifier(DeidentifyOptions.from_settings(settings), salt=salt)


def share_from_access(db: Database, key: bytes, value: str) -> Share:
    """The live share that an access value (or a password-less link token) opens."""
    if value.startswith(TOKEN_PREFIX):
        return open_share(db, value)
    share_id = unsign(value, key).get("share")
    if not isinstance(share_id, int):
        raise Unauthorized("Share access value is malformed.")
    with db.read() as conn:
        row = conn.execute(select(shares).where(shares.c.id == share_id)).first()
    return _live(row)
