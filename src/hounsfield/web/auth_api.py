"""The security JSON API: login sessions, own account and tokens, administration of users,
groups and grants, the audit trail, share links and export.

Access to these routes is decided by the middleware (``web/security.py``) from the route
table; the handlers here only do the work and record what changed in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path as PathParam, Query as Param, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.background import BackgroundTask

from hounsfield.archive.access import current_scope
from hounsfield.archive.query import Query, QueryLevel
from hounsfield.auth import accounts, audit, credentials, export, shares
from hounsfield.auth.passwords import verify_password
from hounsfield.auth.schema import users
from hounsfield.errors import Forbidden, NotFound, Unauthorized
from hounsfield.web.security import (
    SESSION_COOKIE, SHARE_HEADER, Principal, _is_https, client_address,
)

router = APIRouter()
# Row ids are 32-bit integers on both databases.
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_SHARE_PASSWORD_HEADER = "x-share-password"


# --- helpers ------------------------------------------------------------------------------

def _state(request: Request) -> Any:
    return request.app.state


async def _run(request: Request, fn: Any, *args: Any, **kw: Any) -> Any:
    return await _state(request).archive.run(fn, *args, **kw)


def _db(request: Request) -> Any:
    return _state(request).archive.core.db


def _principal(request: Request) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal) or principal.user is None:
        raise Unauthorized("A logged-in user is required (access control is off or the "
                           "caller is a share link).")
    return principal


async def _audit(request: Request, action: str, outcome: str = "success", *,
                 user: str | None = None, study_instance_uid: Any = None,
                 details: dict[str, Any] | None = None) -> None:
    if user is None:
        principal = request.scope.get("user")
        user = getattr(principal, "username", "") or ""
    await _state(request).audit.record(action=action, outcome=outcome, user=user,
                                       remote_address=client_address(request.scope),
                                       study_instance_uid=study_instance_uid, details=details)


def _key(request: Request) -> bytes:
    return credentials.secret_key(_state(request).settings)


class Body(BaseModel):
    """A JSON request body: no text may hold NUL (PS3.5 6.1.2; databases refuse it)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain NUL characters")
        return value


# --- login sessions -----------------------------------------------------------------------

class Login(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/api/auth/login", tags=["auth"])
async def login(body: Login, request: Request) -> JSONResponse:
    """Log in with a user name and password: sets the session cookie and returns the CSRF
    token that state-changing requests must send in the ``X-CSRF-Token`` header."""
    settings = _state(request).settings
    remote = client_address(request.scope)
    try:
        user = await _run(request, credentials.authenticate_password, _db(request), settings,
                          body.username, body.password, remote)
    except Unauthorized as exc:
        await _audit(request, "login", "failure", user=body.username,
                     details={"reason": exc.message})
        if isinstance(exc, credentials.LockedOut):
            return JSONResponse(exc.to_json(), status_code=exc.http_status,
                                headers={"Retry-After": str(exc.retry_after)})
        raise
    lifetime = settings["auth.session_lifetime"]
    session_id, expires = await _run(request, credentials.create_session, _db(request), user,
                                     lifetime, remote)
    key = _key(request)
    await _audit(request, "login", user=user.username, details={"method": "password"})
    response = JSONResponse({"user": user.to_json(),
                             "csrf_token": credentials.csrf_token(key, session_id),
                             "expires_at": expires.isoformat()})
    response.set_cookie(SESSION_COOKIE, credentials.session_cookie_value(key, session_id, expires),
                        max_age=lifetime, path="/", secure=_is_https(request), httponly=True,
                        samesite="strict")
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/api/auth/logout", tags=["auth"])
async def logout(request: Request) -> JSONResponse:
    """End the session (the cookie stops working everywhere at once)."""
    principal = _principal(request)
    if principal.session_id is not None:
        await _run(request, credentials.revoke_session, _db(request), principal.session_id)
    await _audit(request, "logout")
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_is_https(request), httponly=True,
                           samesite="strict")
    return response


@router.get("/api/auth/me", tags=["auth"])
async def me(request: Request) -> dict[str, Any]:
    """The logged-in user, with permissions and (for a session) the CSRF token;
    ``auth_enabled`` false (and no user) when access control is off."""
    if not _state(request).settings["auth.enabled"]:
        return {"auth_enabled": False, "user": None}
    principal = _principal(request)
    assert principal.user is not None
    out: dict[str, Any] = {"auth_enabled": True, "user": principal.user.to_json(),
                           "method": principal.method,
                           "all_studies": principal.scope is None}
    if principal.session_id is not None:
        out["csrf_token"] = credentials.csrf_token(_key(request), principal.session_id)
    return out


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.post("/api/auth/password", tags=["auth"])
async def change_password(body: PasswordChange, request: Request) -> dict[str, Any]:
    """Change one's own password (ends every session of the user)."""
    principal = _principal(request)
    db = _db(request)

    def check() -> None:
        with db.read() as conn:
            stored = conn.execute(users.select().where(users.c.username == principal.username)
                                  ).one().password_hash
        if stored is None or not verify_password(stored, body.current_password)[0]:
            raise Forbidden("The current password is wrong.")
        accounts.set_password(db, principal.username, body.new_password,
                              min_password_length=_state(request).settings[
                                  "auth.password_min_length"])
    await _run(request, check)
    await _audit(request, "admin", details={"what": "password changed"})
    return {"ok": True}


class TokenRequest(Body):
    name: str = Field(default="", max_length=128)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


@router.get("/api/auth/tokens", tags=["auth"])
async def my_tokens(request: Request) -> list[dict[str, Any]]:
    return await _run(request, credentials.list_tokens, _db(request),  # type: ignore[no-any-return]
                      _principal(request).username)


@router.post("/api/auth/tokens", tags=["auth"])
async def new_token(body: TokenRequest, request: Request) -> dict[str, Any]:
    """A new API token for the caller, shown once (``Authorization: Bearer hf_...``)."""
    principal = _principal(request)
    expires = (accounts.now() + dt.timedelta(days=body.expires_in_days)
               if body.expires_in_days else None)
    token, token_id = await _run(request, credentials.create_token, _db(request),
                                 principal.username, body.name, expires)
    await _audit(request, "admin", details={"what": "API token created", "token": token_id})
    return {"id": token_id, "token": token,
            "expires_at": expires.isoformat() if expires else None}


@router.delete("/api/auth/tokens/{token_id}", tags=["auth"])
async def revoke_my_token(token_id: RowId, request: Request) -> dict[str, Any]:
    await _run(request, credentials.revoke_token, _db(request), token_id,
               username=_principal(request).username)
    await _audit(request, "admin", details={"what": "API token revoked", "token": token_id})
    return {"ok": True}


# --- administration -----------------------------------------------------------------------

class NewUser(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    roles: list[str] = Field(default_factory=list)
    display_name: str = Field(default="", max_length=128)
    dicom_person_name: str = Field(default="", max_length=324)


class UserChange(Body):
    roles: list[str] | None = None
    display_name: str | None = Field(default=None, max_length=128)
    dicom_person_name: str | None = Field(default=None, max_length=324)
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


@router.get("/api/admin/users", tags=["admin"])
async def admin_users(request: Request) -> list[dict[str, Any]]:
    return [u.to_json() for u in await _run(request, accounts.list_users, _db(request))]


@router.post("/api/admin/users", tags=["admin"], status_code=201)
async def admin_add_user(body: NewUser, request: Request) -> dict[str, Any]:
    user = await _run(request, lambda: accounts.create_user(
        _db(request), body.username, body.password, roles=body.roles,
        display_name=body.display_name, dicom_person_name=body.dicom_person_name,
        min_password_length=_state(request).settings["auth.password_min_length"]))
    await _audit(request, "admin", details={"what": "user added", "username": user.username,
                                            "roles": list(user.roles)})
    return user.to_json()  # type: ignore[no-any-return]


@router.patch("/api/admin/users/{username}", tags=["admin"])
async def admin_change_user(username: str, body: UserChange,
                            request: Request) -> dict[str, Any]:
    db = _db(request)
    min_length = _state(request).settings["auth.password_min_length"]

    def change() -> accounts.User:
        user = accounts.update_user(db, username, roles=body.roles,
                                    display_name=body.display_name,
                                    dicom_person_name=body.dicom_person_name)
        if body.password is not None:
            accounts.set_password(db, username, body.password, min_password_length=min_length)
        if body.disabled is not None:
            user = accounts.set_disabled(db, username, body.disabled)
        return user
    user = await _run(request, change)
    await _audit(request, "admin", details={
        "what": "user changed", "username": username,
        "changes": sorted(k for k, v in body.model_dump().items() if v is not None)})
    return user.to_json()  # type: ignore[no-any-return]


class NewGroup(Body):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=256)


class Member(Body):
    username: str = Field(min_length=1, max_length=64)


@router.get("/api/admin/groups", tags=["admin"])
async def admin_groups(request: Request) -> list[dict[str, Any]]:
    return await _run(request, accounts.list_groups, _db(request))  # type: ignore[no-any-return]


@router.post("/api/admin/groups", tags=["admin"], status_code=201)
async def admin_add_group(body: NewGroup, request: Request) -> dict[str, Any]:
    await _run(request, accounts.create_group, _db(request), body.name, body.description)
    await _audit(request, "admin", details={"what": "group added", "group": body.name})
    return {"name": body.name, "description": body.description, "members": []}


@router.post("/api/admin/groups/{name}/members", tags=["admin"])
async def admin_add_member(name: str, body: Member, request: Request) -> dict[str, Any]:
    await _run(request, accounts.add_member, _db(request), name, body.username)
    await _audit(request, "admin", details={"what": "member added", "group": name,
                                            "username": body.username})
    return {"ok": True}


@router.delete("/api/admin/groups/{name}/members/{username}", tags=["admin"])
async def admin_remove_member(name: str, username: str, request: Request) -> dict[str, Any]:
    await _run(request, accounts.remove_member, _db(request), name, username)
    await _audit(request, "admin", details={"what": "member removed", "group": name,
                                            "username": username})
    return {"ok": True}


class NewGrant(Body):
    kind: Literal["institution", "source_ae", "study"]
    value: str = Field(min_length=1, max_length=324)
    user: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=64)


@router.get("/api/admin/grants", tags=["admin"])
async def admin_grants(request: Request, user: str | None = None,
                       group: str | None = None) -> list[dict[str, Any]]:
    return await _run(request, lambda: accounts.list_grants(  # type: ignore[no-any-return]
        _db(request), user=user, group=group))


@router.post("/api/admin/grants", tags=["admin"], status_code=201)
async def admin_add_grant(body: NewGrant, request: Request) -> dict[str, Any]:
    """Give a user or group the studies of an institution or a sending AE title, or one
    study (sharing a study with a colleague or a team)."""
    principal = request.scope.get("user")
    grant_id = await _run(request, lambda: accounts.add_grant(
        _db(request), kind=body.kind, value=body.value, user=body.user, group=body.group,
        created_by=getattr(principal, "username", "")))
    await _audit(request, "share" if body.kind == "study" else "admin",
                 study_instance_uid=body.value if body.kind == "study" else None,
                 details={"what": "grant added", "grant": grant_id, "kind": body.kind,
                          "value": body.value, "user": body.user, "group": body.group})
    return {"id": grant_id, **body.model_dump()}


@router.delete("/api/admin/grants/{grant_id}", tags=["admin"])
async def admin_remove_grant(grant_id: RowId, request: Request) -> dict[str, Any]:
    await _run(request, accounts.remove_grant, _db(request), grant_id)
    await _audit(request, "admin", details={"what": "grant removed", "grant": grant_id})
    return {"ok": True}


@router.get("/api/admin/tokens", tags=["admin"])
async def admin_tokens(request: Request, user: str | None = None) -> list[dict[str, Any]]:
    return await _run(request, credentials.list_tokens, _db(request), user)  # type: ignore[no-any-return]


@router.delete("/api/admin/tokens/{token_id}", tags=["admin"])
async def admin_revoke_token(token_id: RowId, request: Request) -> dict[str, Any]:
    await _run(request, credentials.revoke_token, _db(request), token_id)
    await _audit(request, "admin", details={"what": "API token revoked", "token": token_id})
    return {"ok": True}


@router.get("/api/admin/audit", tags=["admin"])
async def admin_audit(request: Request, user: str | None = Param(None, max_length=64),
                      action: str | None = Param(None, max_length=32),
                      outcome: str | None = Param(None, max_length=16),
                      study: str | None = Param(None, max_length=64),
                      patient_id: str | None = Param(None, max_length=64),
                      since: dt.datetime | None = None, until: dt.datetime | None = None,
                      limit: int = Param(100, ge=1, le=1000),
                      offset: int = Param(0, ge=0, le=10_000_000)) -> dict[str, Any]:
    """Search the audit trail, newest first (``since``/``until`` are ISO 8601 times)."""
    def aware(value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.timezone.utc) if value and value.tzinfo is None \
            else value
    events, total = await _run(request, lambda: audit.search(
        _db(request), user=user, action=action, outcome=outcome, study_instance_uid=study,
        patient_id=patient_id, since=aware(since), until=aware(until), limit=limit,
        offset=offset))
    return {"total": total, "offset": offset, "limit": limit, "events": events}


# --- sharing and export -------------------------------------------------------------------

class NewShare(Body):
    study_instance_uids: list[str] = Field(min_length=1, max_length=shares.MAX_STUDIES)
    expires_in_hours: int = Field(default=72, ge=1, le=24 * 365)
    password: str | None = Field(default=None, max_length=1024)
    deidentify: bool = False
    description: str = Field(default="", max_length=256)


async def _visible(request: Request, uids: list[str]) -> None:
    """Every study must exist and be in the caller's scope."""
    uids = list(shares.check_study_uids(uids))
    refs = await _state(request).archive.instances(uids)
    found = {r.study_instance_uid for r in refs}
    missing = [u for u in uids if u not in found]
    if missing:
        raise NotFound(f"Study {missing[0]} is not stored or not yours to share")


@router.post("/api/shares", tags=["sharing"], status_code=201)
async def create_share(body: NewShare, request: Request) -> dict[str, Any]:
    """A share link for studies the caller may see: the token is shown once."""
    principal = _principal(request)
    await _visible(request, body.study_instance_uids)
    expires = accounts.now() + dt.timedelta(hours=body.expires_in_hours)
    token, share = await _run(request, lambda: shares.create_share(
        _db(request), created_by=principal.username,
        study_instance_uids=body.study_instance_uids, expires_at=expires,
        password=body.password or None, deidentify=body.deidentify,
        description=body.description))
    await _audit(request, "share", study_instance_uid=share.study_instance_uids,
                 details={"what": "share link created", "share": share.id,
                          "deidentify": share.deidentify, "password": share.has_password,
                          "expires_at": share.expires_at.isoformat()})
    return {"token": token, "url": f"/share/{token}", "share": share.to_json()}


@router.get("/api/shares", tags=["sharing"])
async def list_shares(request: Request) -> list[dict[str, Any]]:
    """The caller's share links (all links for an administrator)."""
    principal = _principal(request)
    owner = None if "admin.users" in principal.permissions else principal.username
    return [s.to_json() for s in await _run(request, shares.list_shares, _db(request), owner)]


@router.delete("/api/shares/{share_id}", tags=["sharing"])
async def revoke_share(share_id: RowId, request: Request) -> dict[str, Any]:
    principal = _principal(request)
    owner = None if "admin.users" in principal.permissions else principal.username
    share = await _run(request, lambda: shares.revoke_share(_db(request), share_id,
                                                            created_by=owner))
    await _audit(request, "share", study_instance_uid=share.study_instance_uids,
                 details={"what": "share link revoked", "share": share_id})
    return share.to_json()  # type: ignore[no-any-return]


class ShareWithUsers(Body):
    study_instance_uids: list[str] = Field(min_length=1, max_length=shares.MAX_STUDIES)
    user: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=64)


@router.get("/api/shares/grants", tags=["sharing"])
async def list_study_grants(request: Request) -> list[dict[str, Any]]:
    """Studies the caller shared with users and groups (an administrator sees all)."""
    principal = _principal(request)
    found = await _run(request, accounts.list_grants, _db(request))
    return [g for g in found if g["kind"] == "study" and (
        "admin.users" in principal.permissions or g["created_by"] == principal.username)]


@router.post("/api/shares/grants", tags=["sharing"], status_code=201)
async def share_with_users(body: ShareWithUsers, request: Request) -> list[dict[str, Any]]:
    """Share studies the caller can see with a user or a group (study grants)."""
    principal = _principal(request)
    await _visible(request, body.study_instance_uids)

    def grant() -> list[int]:
        return [accounts.add_grant(_db(request), kind="study", value=uid, user=body.user,
                                   group=body.group, created_by=principal.username)
                for uid in shares.check_study_uids(body.study_instance_uids)]
    ids = await _run(request, grant)
    await _audit(request, "share", study_instance_uid=body.study_instance_uids,
                 details={"what": "shared with", "user": body.user, "group": body.group,
                          "grants": ids})
    return [{"id": i, "study_instance_uid": u, "user": body.user, "group": body.group}
            for i, u in zip(ids, body.study_instance_uids)]


@router.delete("/api/shares/grants/{grant_id}", tags=["sharing"])
async def unshare(grant_id: RowId, request: Request) -> dict[str, Any]:
    """End a study grant the caller made (an administrator may end any)."""
    principal = _principal(request)
    found = await _run(request, accounts.list_grants, _db(request))
    grant = next((g for g in found if g["id"] == grant_id and g["kind"] == "study"), None)
    if grant is None or ("admin.users" not in principal.permissions
                         and grant["created_by"] != principal.username):
        raise NotFound(f"No share {grant_id} of yours")
    await _run(request, accounts.remove_grant, _db(request), grant_id)
    await _audit(request, "share", study_instance_uid=grant["value"],
                 details={"what": "unshared", "grant": grant_id})
    return {"ok": True}


async def _zip_response(request: Request, uids: tuple[str, ...] | list[str],
                        deidentify: bool, name: str) -> FileResponse:
    archive = _state(request).archive
    refs = await archive.instances(list(uids))
    if not refs:
        raise NotFound("None of these studies is stored or visible to you")
    settings = _state(request).settings
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=tmp_root, prefix="export-", suffix=".zip",
                                         delete=False)
    handle.close()
    out = Path(handle.name)
    deidentifier = export.new_deidentifier(settings) if deidentify else None
    try:
        count = await archive.run(export.write_export, archive.core, refs, out,
                                  deidentifier=deidentifier)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return FileResponse(out, media_type="application/zip", filename=name,
                        headers={"Cache-Control": "no-store", "X-Instance-Count": str(count)},
                        background=BackgroundTask(out.unlink, missing_ok=True))


@router.get("/api/export", tags=["sharing"])
async def export_studies(request: Request,
                         study: list[str] = Param(..., min_length=1, max_length=100),
                         deidentify: bool = False) -> FileResponse:
    """Studies as a zip with a DICOMDIR, original or de-identified (PS3.15 Annex E)."""
    principal = request.scope.get("user")
    uids = list(shares.check_study_uids(study))
    try:
        response = await _zip_response(request, uids, deidentify, "studies.zip")
    except Exception as exc:
        await _audit(request, "export", "failure", study_instance_uid=uids,
                     details={"deidentify": deidentify, "reason": str(exc)[:500]})
        raise
    await _audit(request, "export", user=getattr(principal, "username", ""),
                 study_instance_uid=uids, details={"deidentify": deidentify,
                                                   "instances": response.headers[
                                                       "x-instance-count"]})
    return response


class ShareUnlock(Body):
    password: str | None = Field(default=None, max_length=1024)


async def _open_link(request: Request, token: str, password: str | None) -> shares.Share:
    try:
        return await _run(request, shares.open_share, _db(request), token,  # type: ignore[no-any-return]
                          password)
    except Unauthorized as exc:
        await _audit(request, "share_access", "denied", user="share",
                     details={"reason": exc.message})
        raise


async def _describe(request: Request, token: str, password: str | None) -> dict[str, Any]:
    share = await _open_link(request, token, password)
    query = Query(QueryLevel.STUDY)
    query.add("StudyInstanceUID", "\\".join(share.study_instance_uids))
    for key in ("StudyDate", "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"):
        query.add_return(key)
    if not share.deidentify:
        for key in ("PatientName", "PatientID", "AccessionNumber"):
            query.add_return(key)
    marker = current_scope.set(share.scope)
    try:
        studies = await _state(request).archive.search(query)
    finally:
        current_scope.reset(marker)
    if share.deidentify:  # only what carries no identity
        studies = [{k: v for k, v in s.items() if k in ("00080061", "00201208")}
                   for s in studies]
    await _audit(request, "share_access", user=f"share:{share.id}",
                 study_instance_uid=share.study_instance_uids,
                 details={"share": share.id, "what": "opened"})
    hidden = {"created_by"} | ({"study_instance_uids"} if share.deidentify else set())
    return {"share": {k: v for k, v in share.to_json().items() if k not in hidden},
            "studies": studies, "access": shares.access_value(_key(request), share),
            "download": f"/share/{token}/download"}


@router.get("/share/{token}", tags=["sharing"])
async def open_share(token: str, request: Request) -> dict[str, Any]:
    """What a share link opens, and an ``access`` value for DICOMweb requests
    (``X-Share-Token`` header or ``?share=``). A password goes in ``X-Share-Password``."""
    return await _describe(request, token, request.headers.get(_SHARE_PASSWORD_HEADER))


@router.post("/share/{token}", tags=["sharing"])
async def unlock_share(token: str, request: Request,
                       body: ShareUnlock | None = None) -> dict[str, Any]:
    """The same as GET, with the password in the body (for a form)."""
    return await _describe(request, token, body.password if body else None)


@router.get("/share/{token}/download", tags=["sharing"])
async def download_share(token: str, request: Request,
                         access: str | None = Param(None, max_length=500)) -> FileResponse:
    """The shared studies as a zip with a DICOMDIR (de-identified when the link says so).
    Needs the password (``X-Share-Password``) or an ``access`` value when the link has
    a password."""
    value = access or request.headers.get(SHARE_HEADER)
    if value:
        try:
            share = await _run(request, shares.share_from_access, _db(request), _key(request),
                               value)
        except Unauthorized as exc:
            await _audit(request, "share_access", "denied", user="share",
                         details={"reason": exc.message})
            raise
        if share.id != (await _run(request, _share_id_of_token, _db(request), token)):
            raise Forbidden("This access value belongs to another share link.")
    else:
        share = await _open_link(request, token, request.headers.get(_SHARE_PASSWORD_HEADER))
    marker = current_scope.set(share.scope)
    try:
        response = await _zip_response(request, share.study_instance_uids, share.deidentify,
                                       "shared-studies.zip")
    finally:
        current_scope.reset(marker)
    await _audit(request, "share_access", user=f"share:{share.id}",
                 study_instance_uid=share.study_instance_uids,
                 details={"share": share.id, "what": "download",
                          "deidentify": share.deidentify})
    return response


def _share_id_of_token(db: Any, token: str) -> int:
    from sqlalchemy import select

    from hounsfield.auth.schema import shares as table
    from hounsfield.auth.tokens import hash_token

    share_id = None
    if token.startswith("hf_") and len(token) <= 100:
        with db.read() as conn:
            share_id = conn.execute(select(table.c.id).where(
                table.c.token_hash == hash_token(token))).scalar()
    if share_id is None:
        raise Unauthorized("Unknown share link.")
    return int(share_id)


__all__ = ["router"]
