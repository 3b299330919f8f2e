"""OpenID Connect login against a small provider served over real HTTP: the code flow with
PKCE, the ID token's signature, issuer, audience and nonce, and the local account."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).parent))
from security_app import open_secure_app  # noqa: E402

from hounsfield.auth import audit  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "hounsfield", "provider-secret-123"


class Provider:
    """An OpenID provider that logs in whoever ``user`` names, and can be told to lie."""

    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.user = "rad"
        self.codes: dict[str, dict[str, str]] = {}
        self.tamper: dict[str, object] = {}
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize), Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks)])

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.issuer, "authorization_endpoint":
                             self.issuer + "/authorize", "token_endpoint": self.issuer + "/token",
                             "jwks_uri": self.issuer + "/jwks"})

    async def authorize(self, request: Request) -> RedirectResponse:
        q = request.query_params
        assert q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"],
                            "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}")

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        grant = self.codes.pop(str(form["code"]), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                             ).rstrip(b"=").decode()
        if request.headers.get("authorization") != expected or grant is None \
                or challenge != grant["challenge"] or form["redirect_uri"] != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "s-" + self.user,
                  "preferred_username": self.user, "nonce": grant["nonce"], "iat": now,
                  "exp": now + 300, **self.tamper}
        key = self.tamper.pop("_key", self.key)
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse({"access_token": "a", "token_type": "Bearer", "id_token": id_token})

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})


@pytest.fixture
def provider():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    idp = Provider(port)
    server = uvicorn.Server(uvicorn.Config(idp.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield idp
    server.should_exit = True
    thread.join(10)


@pytest.fixture
async def secure(sqlite_settings, provider):
    sec = await open_secure_app(sqlite_settings, with_studies=False,
                                auth__oidc_issuer=provider.issuer,
                                auth__oidc_client_id=CLIENT_ID,
                                auth__oidc_client_secret=CLIENT_SECRET)
    yield sec
    await sec.close()


async def _login(secure, client, next_path="/viewer"):
    r = await client.get("/api/auth/oidc/login", params={"next": next_path})
    assert r.status_code == 302, r.text
    async with httpx.AsyncClient() as browser:  # the browser at the provider
        back = await browser.get(r.headers["location"])
    assert back.status_code in (302, 307)
    callback = urlparse(back.headers["location"])
    return await client.get(callback.path, params=parse_qs(callback.query))


async def test_code_flow_opens_a_session(secure, provider):
    async with secure.client() as client:
        r = await _login(secure, client)
        assert r.status_code == 303 and r.headers["location"] == "/viewer"
        assert "SameSite=strict" in r.headers["set-cookie"]
        me = await client.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["user"]["username"] == "rad"
    events, _ = audit.search(secure.db, action="login", user="rad")
    assert events[0]["outcome"] == "success" and events[0]["details"]["method"] == "oidc"


async def test_no_open_redirect(secure, provider):
    async with secure.client() as client:
        r = await _login(secure, client, next_path="//evil.example/")
        assert r.headers["location"] == "/"


@pytest.mark.parametrize("tamper", [
    {"aud": "someone-else"}, {"iss": "http://evil.example"}, {"nonce": "replayed"},
    {"exp": 1000}, {"_key": RSAKey.generate_key(2048, parameters={"kid": "k1"})},
])
async def test_bad_id_tokens_are_refused(secure, provider, tamper):
    provider.tamper = dict(tamper)
    async with secure.client() as client:
        r = await _login(secure, client)
        assert r.status_code == 401, r.text
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_unknown_user_and_forged_state(secure, provider):
    provider.user = "stranger"
    async with secure.client() as client:
        r = await _login(secure, client)
        assert r.status_code == 403
        r = await client.get("/api/auth/oidc/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 401
    provider.user = "view"
    async with secure.client() as client:
        assert (await client.get("/api/auth/options")).json()["oidc"] is True
        start = await client.get("/api/auth/oidc/login")
        state = parse_qs(urlparse(start.headers["location"]).query)["state"][0]
        r = await client.get("/api/auth/oidc/callback", params={"code": "code-0",
                                                                "state": state + "x"})
        assert r.status_code == 401 and "state" in r.json()["message"]


ROLE_MAP = {"pacs-admins": "admin", "pacs-readers": ["radiologist", "referring_physician"]}


@pytest.fixture
async def mapped(sqlite_settings, provider):
    sec = await open_secure_app(sqlite_settings, with_studies=False,
                                auth__oidc_issuer=provider.issuer,
                                auth__oidc_client_id=CLIENT_ID,
                                auth__oidc_client_secret=CLIENT_SECRET,
                                auth__oidc_roles_claim="realm_access.roles",
                                auth__oidc_role_map=ROLE_MAP)
    yield sec
    await sec.close()


async def _roles_after_login(sec, provider, claims, expected_status=303):
    provider.tamper = claims
    async with sec.client() as client:
        r = await _login(sec, client)
        assert r.status_code == expected_status, r.text
        if expected_status != 303:
            return r
        me = (await client.get("/api/auth/me")).json()
    return me["user"]["roles"]


async def test_roles_come_from_the_provider_at_every_login(mapped, provider):
    provider.user = "view"
    # Mapped names give their roles; names not in the map are ignored.
    roles = await _roles_after_login(mapped, provider, {
        "realm_access": {"roles": ["offline_access", "pacs-admins"]}})
    assert roles == ["admin"]
    async with mapped.client("view") as client:  # the account itself changed, tokens too
        assert (await client.get("/api/admin/users")).status_code == 200
    # Synced again at the next login: the admin role is gone.
    roles = await _roles_after_login(mapped, provider, {
        "realm_access": {"roles": ["pacs-readers"]}})
    assert sorted(roles) == ["radiologist", "referring_physician"]
    async with mapped.client("view") as client:
        assert (await client.get("/api/admin/users")).status_code == 403
    # No mapped role (or no claim at all): the default role.
    assert await _roles_after_login(mapped, provider, {"realm_access": {"roles": []}}) \
        == ["viewer"]
    assert await _roles_after_login(mapped, provider, {}) == ["viewer"]
    changes, _ = audit.search(mapped.db, action="admin", user="view", outcome="success")
    assert [e["details"]["roles"] for e in changes][::-1] == [
        ["admin"], ["radiologist", "referring_physician"], ["viewer"]]


async def test_no_mapped_role_and_no_default_is_refused(sqlite_settings, provider):
    sec = await open_secure_app(sqlite_settings, with_studies=False,
                                auth__oidc_issuer=provider.issuer,
                                auth__oidc_client_id=CLIENT_ID,
                                auth__oidc_client_secret=CLIENT_SECRET,
                                auth__oidc_role_map={"pacs-admins": "admin"},
                                auth__oidc_default_role="")
    try:
        r = await _roles_after_login(sec, provider, {"roles": ["nurses"]}, 403)
        assert "role" in r.json()["message"]
        # The stored roles are left as they were.
        async with sec.client("admin") as client:
            users = (await client.get("/api/admin/users")).json()
        assert next(u for u in users if u["username"] == "rad")["roles"] == ["radiologist"]
        events, _ = audit.search(sec.db, action="login", outcome="failure", user="rad")
        assert events and events[0]["details"]["method"] == "oidc"
        # A flat claim (the default "roles") maps too.
        assert await _roles_after_login(sec, provider, {"roles": ["pacs-admins"]}) == ["admin"]
    finally:
        await sec.close()


async def test_a_role_map_naming_unknown_roles_stops_the_start(sqlite_settings, provider):
    from hounsfield.archive import Archive
    from hounsfield.config import ConfigError
    from hounsfield.web.app import create_app

    settings = sqlite_settings.replace(auth__enabled=True, auth__oidc_issuer=provider.issuer,
                                       auth__oidc_role_map={"x": "superuser"})
    archive = await Archive.open(settings)
    try:
        with pytest.raises(ConfigError, match="superuser"):
            create_app(settings, archive)
    finally:
        await archive.close()


async def test_without_a_role_map_roles_stay_as_stored(secure, provider):
    provider.tamper = {"roles": ["pacs-admins"]}
    async with secure.client() as client:
        assert (await _login(secure, client)).status_code == 303
        me = (await client.get("/api/auth/me")).json()
    assert me["user"]["roles"] == ["radiologist"]
