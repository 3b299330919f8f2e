"""Users, groups, memberships and study-level grants in the index database.

A user holds roles (``permissions.ROLES``); what studies the user sees is resolved into an
``archive.access.Scope`` by ``resolve_scope``: roles that work on every study (admin,
radiologist, technologist) see everything; a referring physician sees the studies that
name him or her as Referring Physician, plus grants; a viewer sees only grants and shares.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from hounsfield.archive.access import Scope
from hounsfield.archive.parse import person_name_search
from hounsfield.auth.passwords import check_password_policy, hash_password
from hounsfield.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS, ROLES
from hounsfield.auth.schema import grants, groups, memberships, users
from hounsfield.errors import Conflict, InvalidRequest, NotFound
from hounsfield.index import Database

__all__ = ["GRANT_KINDS", "UNRESTRICTED_ROLES", "User", "add_grant", "add_member",
           "bootstrap_admin", "count_users", "create_group", "create_user", "get_user",
           "list_grants", "list_groups", "list_users", "now", "remove_grant",
           "remove_member", "resolve_scope", "set_disabled", "set_password", "update_user",
           "user_by_id"]

# Roles whose work needs every study (reading, acquiring, administering): no study filter.
UNRESTRICTED_ROLES: frozenset[str] = frozenset({"admin", "radiologist", "technologist"})
# What a grant may name: an institution (0008,0080), a sending AE title, or one study.
GRANT_KINDS: tuple[str, ...] = ("institution", "source_ae", "study")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


@dataclass(frozen=True)
class User:
    """A user account as the security layer sees it (never the password hash)."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    dicom_person_name: str
    disabled: bool
    has_password: bool
    created_at: dt.datetime | None
    last_login_at: dt.datetime | None

    @property
    def permissions(self) -> frozenset[str]:
        out: set[str] = set()
        for role in self.roles:
            out |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(out)

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise KeyError(f"Unknown permission {permission!r}")
        return permission in self.permissions

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name,
                "roles": list(self.roles), "dicom_person_name": self.dicom_person_name,
                "disabled": self.disabled, "permissions": sorted(self.permissions),
                "created_at": _iso(self.created_at), "last_login_at": _iso(self.last_login_at)}


def _iso(value: dt.datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value else None


def _user(row: Any) -> User:
    m = row._mapping
    return User(id=m["id"], username=m["username"], display_name=m["display_name"],
                roles=tuple(r for r in m["roles"].split(",") if r),
                dicom_person_name=m["dicom_person_name"], disabled=bool(m["disabled"]),
                has_password=m["password_hash"] is not None,
                created_at=aware(m["created_at"]), last_login_at=aware(m["last_login_at"]))


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(r.strip() for r in roles if r.strip()))
    unknown = [r for r in out if r not in ROLES]
    if unknown:
        raise InvalidRequest(f"Unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    return out


def check_password(password: str, username: str, min_length: int) -> None:
    problems = check_password_policy(password, min_length=min_length, username=username)
    if problems:
        raise InvalidRequest(" ".join(problems))


def _check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidRequest("User name must be 1-64 characters: letters, digits and . _ @ - "
                             f"(starting with a letter or digit), not {str(username)[:80]!r}")
    return username


# --- users ------------------------------------------------------------------------------

def create_user(db: Database, username: str, password: str | None, *,
                roles: Sequence[str], display_name: str = "", dicom_person_name: str = "",
                min_password_length: int = 12) -> User:
    """A new account. ``password`` None makes an account that logs in only by token or
    single sign-on. Raises ``Conflict`` when the name is taken."""
    _check_username(username)
    checked = check_roles(roles)
    if password is not None:
        check_password(password, username, min_password_length)
    values = {"username": username, "display_name": display_name[:128], "roles": ",".join(checked),
              "dicom_person_name": dicom_person_name.strip()[:324], "disabled": False,
              "password_hash": hash_password(password) if password is not None else None,
              "created_at": now(), "password_changed_at": now() if password else None}
    with db.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise Conflict(f"User {username!r} already exists")
        conn.execute(insert(users).values(**values))
        row = conn.execute(select(users).where(users.c.username == username)).one()
    return _user(row)


def get_user(db: Database | Connection, username: str) -> User | None:
    stmt = select(users).where(users.c.username == username)
    if isinstance(db, Connection):
        row = db.execute(stmt).first()
    else:
        with db.read() as conn:
            row = conn.execute(stmt).first()
    return _user(row) if row is not None else None


def user_by_id(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def require_user(db: Database | Connection, username: str) -> User:
    user = get_user(db, username)
    if user is None:
        raise NotFound(f"No user {username!r}")
    return user


def list_users(db: Database) -> list[User]:
    with db.read() as conn:
        return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]


def count_users(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def update_user(db: Database, username: str, *, roles: Sequence[str] | None = None,
                display_name: str | None = None,
                dicom_person_name: str | None = None) -> User:
    changes: dict[str, Any] = {}
    if roles is not None:
        changes["roles"] = ",".join(check_roles(roles))
    if display_name is not None:
        changes["display_name"] = display_name[:128]
    if dicom_person_name is not None:
        changes["dicom_person_name"] = dicom_person_name.strip()[:324]
    require_user(db, username)
    if changes:
        with db.write() as conn:
            conn.execute(update(users).where(users.c.username == username).values(**changes))
    return require_user(db, username)


def set_disabled(db: Database, username: str, disabled: bool = True) -> User:
    """Disable (or enable) an account; a disabled user's sessions and tokens stop working
    at once because every request loads the account."""
    require_user(db, username)
    with db.write() as conn:
        conn.execute(update(users).where(users.c.username == username)
                     .values(disabled=disabled))
    return require_user(db, username)


def set_password(db: Database, username: str, password: str, *,
                 min_password_length: int = 12) -> None:
    """Replace a password (policy checked) and end the user's sessions."""
    from hounsfield.auth.schema import sessions

    user = require_user(db, username)
    check_password(password, username, min_password_length)
    new_hash = hash_password(password)
    with db.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id)
                     .values(password_hash=new_hash, password_changed_at=now()))
        conn.execute(update(sessions).where(sessions.c.user_id == user.id,
                                            sessions.c.revoked_at.is_(None))
                     .values(revoked_at=now()))


def bootstrap_admin(db: Database) -> str | None:
    """On an archive without users, create ``admin`` with a random password and return
    the password (to be shown once); None when users exist. No default password exists."""
    if count_users(db):
        return None
    alphabet = string.ascii_letters + string.digits
    password = "-".join("".join(secrets.choice(alphabet) for _ in range(6)) for _ in range(4))
    try:
        create_user(db, "admin", password, roles=["admin"], display_name="Administrator")
    except Conflict:  # another node created it first
        return None
    return password


# --- groups and grants ------------------------------------------------------------------

def create_group(db: Database, name: str, description: str = "") -> int:
    if not isinstance(name, str) or not _GROUP.fullmatch(name):
        raise InvalidRequest(f"Group name must be 1-64 letters, digits, spaces and . _ @ -, "
                             f"not {str(name)[:80]!r}")
    with db.write() as conn:
        if conn.execute(select(groups.c.id).where(groups.c.name == name)).first():
            raise Conflict(f"Group {name!r} already exists")
        result = conn.execute(insert(groups).values(name=name, description=description[:256],
                                                    created_at=now()))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _group_id(conn: Connection, name: str) -> int:
    gid = conn.execute(select(groups.c.id).where(groups.c.name == name)).scalar()
    if gid is None:
        raise NotFound(f"No group {name!r}")
    return int(gid)


def list_groups(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(groups).order_by(groups.c.name)).all()
        members = conn.execute(select(memberships.c.group_id, users.c.username)
                               .join(users, users.c.id == memberships.c.user_id)).all()
    by_group: dict[int, list[str]] = {}
    for gid, username in members:
        by_group.setdefault(gid, []).append(username)
    return [{"name": r.name, "description": r.description,
             "members": sorted(by_group.get(r.id, []))} for r in rows]


def add_member(db: Database, group: str, username: str) -> None:
    user = require_user(db, username)
    with db.write() as conn:
        gid = _group_id(conn, group)
        exists = conn.execute(select(memberships.c.user_id).where(
            memberships.c.group_id == gid, memberships.c.user_id == user.id)).first()
        if not exists:
            conn.execute(insert(memberships).values(group_id=gid, user_id=user.id))


def remove_member(db: Database, group: str, username: str) -> None:
    user = require_user(db, username)
    with db.write() as conn:
        gid = _group_id(conn, group)
        conn.execute(delete(memberships).where(memberships.c.group_id == gid,
                                               memberships.c.user_id == user.id))


def _check_grant_value(kind: str, value: str) -> str:
    if kind not in GRANT_KINDS:
        raise InvalidRequest(f"Grant kind must be one of {', '.join(GRANT_KINDS)}, not {kind!r}")
    value = (value or "").strip()
    if not value or len(value) > 324:
        raise InvalidRequest("Grant value must be 1-324 characters")
    if kind == "study" and (len(value) > 64 or not re.fullmatch(r"[0-9.]+", value)):
        raise InvalidRequest(f"Study grant value must be a Study Instance UID, not {value[:80]!r}")
    return value


def add_grant(db: Database, *, kind: str, value: str, user: str | None = None,
              group: str | None = None, created_by: str = "") -> int:
    """Give a user or a group access to an institution's studies, a sending AE title's
    studies, or one study (sharing with a user or group). Returns the grant id."""
    if (user is None) == (group is None):
        raise InvalidRequest("A grant names exactly one of user or group")
    value = _check_grant_value(kind, value)
    with db.write() as conn:
        values: dict[str, Any] = {"kind": kind, "value": value, "created_by": created_by,
                                  "created_at": now()}
        if user is not None:
            values["user_id"] = require_user(conn, user).id
        else:
            values["group_id"] = _group_id(conn, group)  # type: ignore[arg-type]
        result = conn.execute(insert(grants).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def remove_grant(db: Database, grant_id: int) -> None:
    with db.write() as conn:
        if conn.execute(delete(grants).where(grants.c.id == grant_id)).rowcount == 0:
            raise NotFound(f"No grant {grant_id}")


def list_grants(db: Database, *, user: str | None = None,
                group: str | None = None) -> list[dict[str, Any]]:
    stmt = (select(grants.c.id, grants.c.kind, grants.c.value, grants.c.created_by,
                   users.c.username, groups.c.name.label("group"))
            .outerjoin(users, users.c.id == grants.c.user_id)
            .outerjoin(groups, groups.c.id == grants.c.group_id).order_by(grants.c.id))
    if user is not None:
        stmt = stmt.where(users.c.username == user)
    if group is not None:
        stmt = stmt.where(groups.c.name == group)
    with db.read() as conn:
        return [{"id": r.id, "kind": r.kind, "value": r.value, "user": r.username,
                 "group": r.group, "created_by": r.created_by} for r in conn.execute(stmt)]


def resolve_scope(conn: Connection, user: User) -> Scope | None:
    """The studies ``user`` may see: None (all) for the roles in UNRESTRICTED_ROLES;
    otherwise the referring-physician match and the user's and groups' grants."""
    if UNRESTRICTED_ROLES & set(user.roles):
        return None
    group_ids = select(memberships.c.group_id).where(memberships.c.user_id == user.id)
    rows = conn.execute(select(grants.c.kind, grants.c.value).where(
        or_(grants.c.user_id == user.id, grants.c.group_id.in_(group_ids)))).all()
    by_kind: dict[str, set[str]] = {k: set() for k in GRANT_KINDS}
    for kind, value in rows:
        by_kind.setdefault(kind, set()).add(value)
    physicians: frozenset[str] = frozenset()
    if "referring_physician" in user.roles and user.dicom_person_name:
        physicians = frozenset({person_name_search(user.dicom_person_name)})
    return Scope(referring_physician_names=physicians,
                 institution_names=frozenset(by_kind["institution"]),
                 source_ae_titles=frozenset(by_kind["source_ae"]),
                 study_instance_uids=frozenset(by_kind["study"]))
