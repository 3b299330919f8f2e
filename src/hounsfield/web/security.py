"""The HTTP security layer: one pure ASGI middleware in front of every route.

For each request it finds the route's rule (``auth/access.py``), authenticates the caller
(session cookie + CSRF header, ``Authorization: Bearer hf_...``, HTTP Basic with a
password or a token, or a share link's access value), checks the permission, sets the
study scope (``archive.access.current_scope``) for the request so that the archive
filters every search, retrieval and delete, records the audit event, and adds transport
security headers. Pure ASGI (not BaseHTTPMiddleware) so the context variable reaches the
endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import parse_qs, parse_qsl, urlencode

import orjson
from sqlalchemy import select
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope as AsgiScope, Send

from hounsfield.archive.access import Scope, current_scope
from hounsfield.auth import credentials, shares
from hounsfield.auth.access import (
    AUTHENTICATED, PUBLIC, READ_ONLY, SHARE_LINK, AccessTable, RouteRule,
)
from hounsfield.auth.accounts import User, resolve_scope, user_by_id
from hounsfield.auth.audit import AuditTrail
from hounsfield.auth.schema import users
from hounsfield.auth.tokens import TOKEN_PREFIX
from hounsfield.config import Settings
from hounsfield.errors import (
    Forbidden, HounsfieldError, InvalidRequest, NotFound, Unauthorized,
)
from hounsfield.index.schema import studies
from hounsfield.web import deidentified_view

__all__ = ["CSRF_HEADER", "Principal", "SESSION_COOKIE", "SHARE_HEADER", "SecurityMiddleware",
           "client_address", "install"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "hounsfield_session"
CSRF_HEADER = "x-csrf-token"
SHARE_HEADER = "x-share-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STUDY_IN_PATH = re.compile(r"/studies/([0-9.]{1,64})(?:/|$)")
_STUDY_PARAMS = ("StudyInstanceUID", "0020000D", "studyUID", "study")
# Audited actions whose named studies are checked against the caller's scope up front.
# (a STOW-RS answer's Retrieve URLs, an upload answer's study_instance_uid fields)
_STUDY_IN_TEXT = re.compile(rb'(?:/studies/|"study_instance_uid":\s?")([0-9.]{1,64})')
_PATIENT_IN_PATH = re.compile(r"^/api/patients/(.{1,192})/timeline/?$")
_STORE_ANSWER_LIMIT = 4 << 20
_NOTHING = Scope()  # grants nothing: no study matches
_NUL = re.compile(rb"%00|\x00")
_GUARDED = frozenset({"view", "retrieve", "delete"})
_BASIC_CACHE_SECONDS = 300
_BASIC_CACHE_SIZE = 1024


def _from_page(request: Request) -> bool:
    """Whether a request comes from our pages rather than a DICOMweb client or a typed
    address: the JSON API, a request carrying a (maybe ended) session cookie, or a
    same-origin fetch (Fetch Metadata, not a navigation)."""
    headers = request.headers
    return (request.url.path.startswith("/api/") or SESSION_COOKIE in request.cookies
            or (headers.get("sec-fetch-site") == "same-origin"
                and headers.get("sec-fetch-mode", "navigate") != "navigate"))


@dataclass
class Principal:
    """Who is calling: a user (by session, token or Basic) or a share link's holder."""

    username: str
    permissions: frozenset[str]
    scope: Scope | None
    method: str  # session | token | basic | share
    user: User | None = None
    session_id: str | None = None
    share: shares.Share | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)


def client_address(scope: AsgiScope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _is_https(request: Request) -> bool:
    # Behind a TLS-terminating proxy the scheme is http; the proxy says so in this header.
    return (request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto", "").lower() == "https")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, db: Any, run: Any,
                 audit: AuditTrail) -> None:
        self.app = app
        self.settings = settings
        self.db = db
        self.run = run
        self.audit = audit
        self.enabled = bool(settings["auth.enabled"])
        self.table = AccessTable(settings["dicomweb.base_path"])
        self.base_path = "/" + settings["dicomweb.base_path"].strip("/")
        self.key = credentials.secret_key(settings)
        self.hsts = bool(settings["http.hsts"])
        self._basic_cache: dict[str, tuple[int, str, float]] = {}

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        if not self.enabled:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "\x00" in scope["path"] or _NUL.search(scope.get("query_string", b"")):
            # PS3.5 6.1.2: NUL is no character of any DICOM string; databases refuse it.
            await self._refuse(send, InvalidRequest("The request contains a NUL character."),
                               request)
            return
        rule = self.table.match(scope["method"], scope["path"])
        if rule is not None and rule.permission in (PUBLIC, SHARE_LINK):
            # No caller is known: the archive shows nothing unless a handler sets a scope
            # itself (a share link sets the link's studies).
            token = current_scope.set(_NOTHING)
            try:
                await self.app(scope, receive, send)
            finally:
                current_scope.reset(token)
            return
        try:
            principal = await self._authenticate(request)
        except Unauthorized as exc:
            await self._audit_failed_credentials(request, exc)
            await self._refuse(send, exc, request)
            return
        problem = Unauthorized("Authentication required.") if principal is None else \
            self._check(principal, rule, request)
        if problem is not None:
            action = _refused_action(rule)
            if action is not None:
                await self._record(action, principal, request, "denied", problem.message)
            await self._refuse(send, problem, request)
            return
        assert principal is not None and rule is not None
        view = None
        if principal.share is not None and principal.share.deidentify:
            # Pseudonymous UIDs in, de-identified answers out; from here on the request
            # names the stored UIDs (scope checks and the audit trail see the real ones).
            try:
                state = scope["app"].state
                view = await self.run(state.share_views.get, state.archive.core,
                                      self.settings, self.key, principal.share)
                scope = deidentified_view.translate(view, scope, self.base_path)
            except HounsfieldError as exc:
                if rule.audit:
                    await self._record(rule.audit, principal, request, "denied", exc.message)
                await self._refuse(send, exc, request)
                return
            request = Request(scope)
        if rule.audit and _study_uids(request):
            # Known before the handler runs: a deleted study no longer names its patient.
            await self.run(self.audit.remember_patients, _study_uids(request))
        if principal.scope is not None and rule.audit in _GUARDED:
            missing = await self.run(self._outside_scope, principal.scope, request)
            if missing:
                # The same answer as for a study that is not stored: no existence leak.
                problem = NotFound(f"Study {missing} is not stored")
                await self._record(rule.audit, principal, request, "denied", "outside scope")
                await self._refuse(send, problem, request)
                return
        scope["user"] = principal
        token = current_scope.set(principal.scope)
        status = {"code": 500, "started": 0}
        stored: list[bytes] = []  # a STOW-RS answer names the studies stored (PS3.18 10.5.3)
        keep_body = rule.audit == "store"

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], 1
            elif keep_body and message["type"] == "http.response.body" and \
                    sum(map(len, stored)) < _STORE_ANSWER_LIMIT:
                stored.append(message.get("body", b""))
            await send(message)

        try:
            if view is None:
                await self.app(scope, receive, send_status)
            else:
                try:
                    await deidentified_view.serve(view, self.app, scope, receive, send_status,
                                                  self.base_path)
                except HounsfieldError as exc:
                    if status["started"]:
                        raise
                    await self._refuse(send_status, exc, request)
        finally:
            current_scope.reset(token)
            if rule.audit:
                outcome = "success" if status["code"] < 400 else "failure"
                await self._record(rule.audit, principal, request, outcome,
                                   None if outcome == "success" else f"HTTP {status['code']}",
                                   extra_uids=_STUDY_IN_TEXT.findall(b"".join(stored)))

    # --- authentication ----------------------------------------------------------------
    async def _authenticate(self, request: Request) -> Principal | None:
        share_value = request.headers.get(SHARE_HEADER)
        if not share_value and "share" in request.query_params:
            share_value = request.query_params["share"]
            # Not a DICOM attribute: the handlers behind must not see it (QIDO would try
            # to match it).
            kept = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)
                    if k != "share"]
            request.scope["query_string"] = urlencode(kept).encode("latin-1")
        if share_value:
            return await self.run(self._share_principal, share_value)
        header = request.headers.get("authorization")
        if header:
            kind, _, credential = header.partition(" ")
            kind = kind.lower()
            if kind == "bearer":
                user = await self.run(credentials.authenticate_token, self.db,
                                      credential.strip())
                return await self.run(self._principal, user, "token")
            if kind == "basic":
                return await self._basic(request, credential.strip())
            raise Unauthorized(f"Unsupported authorization scheme {kind[:20]!r}.")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session_id = credentials.session_id_from_cookie(self.key, cookie)
            user = await self.run(credentials.load_session, self.db, session_id)
            principal = await self.run(self._principal, user, "session")
            principal.session_id = session_id
            return principal
        return None

    def _principal(self, user: User, method: str) -> Principal:
        with self.db.read() as conn:
            scope = resolve_scope(conn, user)
        return Principal(user.username, user.permissions, scope, method, user=user,
                         roles=user.roles)

    def _share_principal(self, value: str) -> Principal:
        share = shares.share_from_access(self.db, self.key, value)
        return Principal(f"share:{share.id}", READ_ONLY, share.scope, "share", share=share)

    async def _basic(self, request: Request, credential: str) -> Principal:
        try:
            username, sep, secret = base64.b64decode(credential, validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("Malformed Basic credentials.") from None
        if not sep or not username or "\x00" in username + secret:
            raise Unauthorized("Malformed Basic credentials.")
        if secret.startswith(TOKEN_PREFIX):
            user = await self.run(credentials.authenticate_token, self.db, secret)
            if user.username != username:
                raise Unauthorized("API token belongs to another user.")
            return await self.run(self._principal, user, "basic")
        user = await self.run(self._basic_password, username, secret,
                              client_address(request.scope))
        return await self.run(self._principal, user, "basic")

    def _basic_password(self, username: str, password: str, remote: str) -> User:
        """Basic with a password: Argon2 costs tens of milliseconds, so a verified
        (user, password, stored hash) is remembered for a few minutes. A changed password
        or a disabled account misses the cache at once (the stored hash is compared)."""
        digest = hashlib.sha256(f"{username}\0{password}".encode("utf-8")).hexdigest()
        cached = self._basic_cache.get(digest)
        if cached is not None and cached[2] > time.monotonic():
            with self.db.read() as conn:
                row = conn.execute(users.select().where(users.c.id == cached[0])).first()
                if row is not None and row.password_hash == cached[1] and not row.disabled:
                    user = user_by_id(conn, cached[0])
                    if user is not None:
                        return user
        user = credentials.authenticate_password(self.db, self.settings, username, password,
                                                 remote)
        with self.db.read() as conn:
            stored = conn.execute(users.select().where(users.c.id == user.id)).one()
        if len(self._basic_cache) >= _BASIC_CACHE_SIZE:
            self._basic_cache.clear()
        self._basic_cache[digest] = (user.id, stored.password_hash,
                                     time.monotonic() + _BASIC_CACHE_SECONDS)
        return user

    # --- authorization -----------------------------------------------------------------
    def _check(self, principal: Principal, rule: RouteRule | None,
               request: Request) -> HounsfieldError | None:
        if rule is None:
            return _forbidden("No access rule allows this request.")
        if principal.method == "share":
            # Only DICOMweb reads: a share sees nothing of the API (not even counts).
            if rule.permission not in READ_ONLY or rule.audit not in ("search", "view",
                                                                      "retrieve"):
                return _forbidden("A share link opens the shared studies read-only.")
        elif rule.permission != AUTHENTICATED and rule.permission not in principal.permissions:
            return _forbidden(f"Permission {rule.permission!r} is required.")
        if principal.method == "session" and request.method not in _SAFE_METHODS:
            try:
                credentials.check_csrf(self.key, principal.session_id or "",
                                       request.headers.get(CSRF_HEADER))
            except HounsfieldError as exc:
                return exc
        return None

    def _outside_scope(self, study_scope: Scope, request: Request) -> str | None:
        """A study named in the path or the WADO-URI query that the caller may not see.

        The archive filters by scope too; this check in front of the handler keeps a
        handler that reads the core directly from ever serving a study out of scope."""
        wanted = set(_study_uids(request))
        if not wanted:
            return None
        with self.db.read() as conn:
            seen = set(conn.execute(select(studies.c.study_instance_uid).where(
                studies.c.study_instance_uid.in_(sorted(wanted)),
                study_scope.condition())).scalars())
        missing = sorted(wanted - seen)
        return missing[0] if missing else None

    # --- audit -------------------------------------------------------------------------
    async def _record(self, action: str, principal: Principal | None, request: Request,
                      outcome: str, reason: str | None,
                      extra_uids: Sequence[bytes] = ()) -> None:
        uids = list(dict.fromkeys(_study_uids(request)
                                  + [u.decode("ascii") for u in extra_uids]))
        params = parse_qs(request.url.query)
        patient_ids = params.get("PatientID") or params.get("00100020") or [""]
        named = _PATIENT_IN_PATH.match(request.url.path)
        if named and not patient_ids[0]:
            patient_ids = [named.group(1)]
        details: dict[str, Any] = {"method": request.method, "path": request.url.path[:500]}
        if request.url.query:
            details["query"] = request.url.query[:2000]
        if reason:
            details["reason"] = reason[:500]
        if principal is not None and principal.share is not None:
            details["share"] = principal.share.id
        try:
            await self.audit.record(action=action, outcome=outcome,
                                    user=principal.username if principal else "",
                                    remote_address=client_address(request.scope),
                                    patient_id=patient_ids[0][:64], study_instance_uid=uids,
                                    details=details)
        except Exception:
            log.exception("Could not record an audit event for %s", request.url.path)

    async def _audit_failed_credentials(self, request: Request, exc: Unauthorized) -> None:
        try:
            await self.audit.record(action="login", outcome="failure", user="",
                                    remote_address=client_address(request.scope),
                                    details={"path": request.url.path[:500],
                                             "reason": exc.message[:500]})
        except Exception:
            log.exception("Could not record a failed authentication")

    # --- responses ---------------------------------------------------------------------
    async def _refuse(self, send: Send, exc: HounsfieldError, request: Request) -> None:
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if exc.http_status == 401:
            # DICOMweb clients and scripts answer a Basic challenge; the pages (the JSON
            # API, and DICOMweb fetched by a page whose session ended) must not get the
            # browser's password dialog.
            scheme = b"Bearer" if _from_page(request) else \
                b'Basic realm="Hounsfield", charset="UTF-8"'
            headers.append((b"www-authenticate", scheme))
        retry = getattr(exc, "retry_after", None)
        if retry:
            headers.append((b"retry-after", str(retry).encode()))
        body = orjson.dumps(exc.to_json())
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": exc.http_status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _with_headers(self, scope: AsgiScope, send: Send) -> Send:
        """``X-Content-Type-Options: nosniff`` on every response (a JSON answer holding
        markup is never rendered as HTML); HSTS (RFC 6797) on responses sent over HTTPS,
        directly or through a proxy that terminates TLS (never over plain HTTP, 7.2)."""
        extra = [(b"strict-transport-security", b"max-age=31536000; includeSubDomains")] \
            if self.hsts and _is_https(Request(scope)) else []

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers + extra
            await send(message)
        return wrapped


# Refused requests to routes whose handlers record what they do (export, sharing, the
# administration): the action that the route's permission guards.
_REFUSED_ACTIONS = {
    "study.search": "search", "study.view": "view", "study.download": "export",
    "study.upload": "store", "study.delete": "delete", "study.share": "share",
    "study.annotate": "annotate", "report.sign": "report_sign", "admin.users": "admin",
    "admin.audit": "admin", "admin.settings": "admin", "admin.nodes": "configure",
}


def _refused_action(rule: RouteRule | None) -> str | None:
    if rule is None:
        return None
    return rule.audit or _REFUSED_ACTIONS.get(rule.permission)


def _study_uids(request: Request) -> list[str]:
    """Study Instance UIDs a request names: in the path, in QIDO's StudyInstanceUID and
    WADO-URI's studyUID (comma or backslash separated lists)."""
    uids = _STUDY_IN_PATH.findall(request.url.path)
    params = parse_qs(request.url.query)
    for name in _STUDY_PARAMS:
        for value in params.get(name, []):
            uids.extend(v for v in re.split(r"[,\\]", value) if v)
    return list(dict.fromkeys(uids))


def _forbidden(message: str) -> HounsfieldError:
    return Forbidden(message)


def install(app: Any, settings: Settings, archive: Any) -> AuditTrail:
    """Add the security middleware and the auth routes to the app; returns the audit
    trail (also ``app.state.audit``) for other parts to record events."""
    from hounsfield.web import admin_api, auth_api, share_api, study_api, upload_api

    from hounsfield.auth.oidc import RoleMapping

    RoleMapping.from_settings(settings)  # a wrong role map stops the start, not a login
    db = archive.core.db
    audit = AuditTrail(db, settings, archive.run)
    app.state.audit = audit
    app.state.share_views = deidentified_view.ViewCache()
    app.include_router(auth_api.router)
    app.include_router(share_api.router)
    app.include_router(study_api.router)
    app.include_router(upload_api.router)
    app.include_router(admin_api.router)
    app.add_middleware(SecurityMiddleware, settings=settings, db=db, run=archive.run,
                       audit=audit)
    return audit


