"""The security JSON API: login sessions (password and OpenID Connect), own account and
tokens, administration of users, groups, grants and tokens, the audit trail. Sharing and
export are in ``share_api``.

Access to these routes is decided by the middleware (``web/security.py``) from the route
table; the handlers here only do the work and record what changed in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path as PathParam, Query as Param, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, field_validator

from hounsfield.auth import accounts, audit, credentials
from hounsfield.auth.passwords import verify_password
from hounsfield.auth.schema import users
from hounsfield.auth.tokens import sign, unsign
from hounsfield.errors import Forbidden, Unauthorized
from hounsfield.web.security import (
    SESSION_COOKIE, Principal, _is_https, client_address,
)

router = APIRouter()
# Row ids are 32-bit integers on both databases.
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


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


_OIDC_COOKIE = "hounsfield_oidc"
_OIDC_LIFETIME = 600


def _oidc(request: Request) -> Any:
    from hounsfield.auth.oidc import OidcProvider

    state = _state(request)
    provider = getattr(state, "oidc", None)
    if provider is None:
        provider = state.oidc = OidcProvider(state.settings)
    return provider


def _callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api/auth/oidc/callback"


@router.get("/api/auth/options", tags=["auth"])
async def login_options(request: Request) -> dict[str, Any]:
    """How one may sign in here, for the login page: whether access control is on and
    whether OpenID Connect login is offered."""
    settings = _state(request).settings
    return {"auth_enabled": settings["auth.enabled"],
            "oidc": bool(settings["auth.oidc_issuer"])}


@router.get("/api/auth/oidc/login", tags=["auth"])
async def oidc_login(request: Request,
                     next: str = Param("/", max_length=500)) -> RedirectResponse:
    """Start an OpenID Connect login: redirect to the provider (``auth.oidc_issuer``)."""
    from dataclasses import asdict

    # Only a path on this server: never an open redirect to another site.
    next_path = next if next.startswith("/") and not next.startswith("//") \
        and "\\" not in next else "/"
    url, login = await _oidc(request).start(_callback_url(request), next_path)
    response = RedirectResponse(url, status_code=302)
    # Lax, not Strict: the provider sends the browser back with a cross-site navigation.
    response.set_cookie(_OIDC_COOKIE, sign(asdict(login), _key(request),
                                           accounts.now() + dt.timedelta(seconds=_OIDC_LIFETIME)),
                        max_age=_OIDC_LIFETIME, path="/api/auth/oidc",
                        secure=_is_https(request), httponly=True, samesite="lax")
    return response


@router.get("/api/auth/oidc/callback", tags=["auth"])
async def oidc_callback(request: Request, code: str = Param(..., max_length=4096),
                        state: str = Param(..., max_length=256)) -> RedirectResponse:
    """The provider's answer: check it, open a session, go back to the page."""
    from hounsfield.auth.oidc import OidcLogin, OidcRefused

    settings = _state(request).settings
    try:
        data = unsign(request.cookies.get(_OIDC_COOKIE) or "", _key(request))
        login = OidcLogin(**data)
    except (Unauthorized, TypeError):
        await _audit(request, "login", "failure", user="",
                     details={"method": "oidc", "reason": "no login in progress"})
        raise Unauthorized("No OpenID Connect login in progress (or it took too long).")
    try:
        identity = await _oidc(request).finish(_callback_url(request), login, code, state)
    except (Unauthorized, OidcRefused) as exc:
        await _audit(request, "login", "failure", user=getattr(exc, "username", ""),
                     details={"method": "oidc", "reason": exc.message})
        raise
    username = identity.username
    user = await _run(request, accounts.get_user, _db(request), username)
    if user is None or user.disabled:
        await _audit(request, "login", "failure", user=username,
                     details={"method": "oidc", "reason": "no enabled account"})
        raise Forbidden(f"No enabled account {username!r} here; ask an administrator.")
    if identity.roles is not None and set(identity.roles) != set(user.roles):
        # The provider says what the user may do: its roles replace the stored ones.
        user = await _run(request, lambda: accounts.update_user(_db(request), username,
                                                                roles=identity.roles))
        await _audit(request, "admin", user=username, details={
            "what": "roles set from the OpenID provider", "username": username,
            "roles": list(user.roles)})
    lifetime = settings["auth.session_lifetime"]
    session_id, expires = await _run(request, credentials.create_session, _db(request), user,
                                     lifetime, client_address(request.scope))
    await _run(request, credentials.touch_login, _db(request), user.id)
    await _audit(request, "login", user=user.username, details={"method": "oidc"})
    response = RedirectResponse(login.next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE,
                        credentials.session_cookie_value(_key(request), session_id, expires),
                        max_age=lifetime, path="/", secure=_is_https(request), httponly=True,
                        samesite="strict")
    response.delete_cookie(_OIDC_COOKIE, path="/api/auth/oidc")
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



__all__ = ["router"]
