"""Login sessions, CSRF, API tokens, HTTP Basic and lockout through the real app."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from security_app import PASSWORD, open_secure_app  # noqa: E402

from hounsfield.auth import audit  # noqa: E402
from hounsfield.web.security import SESSION_COOKIE  # noqa: E402


@pytest.fixture
async def secure(sqlite_settings):
    sec = await open_secure_app(sqlite_settings, password_user=True,
                                auth__login_max_failures=3)
    yield sec
    await sec.close()


async def _login(client, username="rad", password=PASSWORD):
    return await client.post("/api/auth/login", json={"username": username,
                                                      "password": password})


async def test_login_sets_a_strict_httponly_cookie_and_returns_a_csrf_token(secure):
    async with secure.client() as client:
        r = await _login(client)
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP here; see the TLS test
        csrf = r.json()["csrf_token"]
        assert r.json()["user"]["username"] == "rad"
        me = await client.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["csrf_token"] == csrf
        assert me.json()["all_studies"] is True
        assert (await client.get("/dicom-web/studies")).status_code == 200


async def test_state_changing_requests_with_a_cookie_need_the_csrf_header(secure):
    async with secure.client() as client:
        csrf = (await _login(client)).json()["csrf_token"]
        body = {"name": "script"}
        refused = await client.post("/api/auth/tokens", json=body)
        assert refused.status_code == 403 and refused.json()["error"] == "csrf"
        forged = await client.post("/api/auth/tokens", json=body,
                                   headers={"X-CSRF-Token": csrf[:-2] + "AA"})
        assert forged.status_code == 403
        ok = await client.post("/api/auth/tokens", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and ok.json()["token"].startswith("hf_")
        # A cross-site DELETE on DICOMweb is refused the same way.
        assert (await client.delete(f"/dicom-web/studies/{secure.studies['welby']}")
                ).status_code == 403


async def test_logout_revokes_the_session_server_side(secure):
    async with secure.client() as client:
        r = await _login(client)
        csrf = r.json()["csrf_token"]
        stolen = client.cookies.get("hounsfield_session")
        assert (await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
                ).status_code == 200
    async with secure.client(cookies={"hounsfield_session": stolen}) as thief:
        r = await thief.get("/api/auth/me")
        assert r.status_code == 401 and "ended" in r.json()["message"]


async def test_a_forged_or_foreign_cookie_is_refused(secure):
    async with secure.client() as client:
        await _login(client)
        value = client.cookies.get("hounsfield_session")
    body, signature = value.split(".")
    tampered = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature
    for cookie in (tampered, "garbage", value + "x"):
        async with secure.client(cookies={"hounsfield_session": cookie}) as client:
            assert (await client.get("/api/auth/me")).status_code == 401


async def test_brute_force_login_is_locked_out_and_audited(secure):
    async with secure.client() as client:
        for _ in range(3):
            r = await _login(client, password="Wrong-password-123")
            assert r.status_code == 401
        r = await _login(client)  # the right password, but locked now
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    failures, total = audit.search(secure.db, user="rad", action="login", outcome="failure")
    assert total == 4


async def test_bearer_and_basic_authentication(secure):
    token = secure.tokens["view"]
    basic_token = base64.b64encode(f"view:{token}".encode()).decode()
    basic_password = base64.b64encode(f"rad:{PASSWORD}".encode()).decode()
    wrong = base64.b64encode(b"rad:not-the-password").decode()
    async with secure.client() as client:
        r = await client.get("/dicom-web/studies", headers={"Authorization": f"Basic {basic_token}"})
        assert r.status_code in (200, 204)
        for _ in range(2):  # the second time comes from the verified-credentials cache
            r = await client.get("/dicom-web/studies",
                                 headers={"Authorization": f"Basic {basic_password}"})
            assert r.status_code == 200 and len(r.json()) == 3
        r = await client.get("/dicom-web/studies", headers={"Authorization": f"Basic {wrong}"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        other = base64.b64encode(f"rad:{token}".encode()).decode()  # view's token as rad
        r = await client.get("/dicom-web/studies", headers={"Authorization": f"Basic {other}"})
        assert r.status_code == 401
        r = await client.get("/api/auth/me", headers={"Authorization": "Bearer hf_forged"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_pages_get_no_basic_challenge(secure):
    """A page whose session ended must not make the browser ask for a password: its
    DICOMweb requests are refused without a Basic challenge; a typed address gets one."""
    page_fetch = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}
    async with secure.client() as client:
        r = await client.get("/dicom-web/studies", headers=page_fetch)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        client.cookies.set(SESSION_COOKIE, "ended")
        r = await client.get("/dicom-web/studies")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        client.cookies.clear()
        r = await client.get("/dicom-web/studies", headers=typed)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")


async def test_own_tokens_can_be_created_listed_and_revoked(secure):
    async with secure.client("tech") as client:
        made = (await client.post("/api/auth/tokens", json={"name": "pacs-sync"})).json()
        listed = (await client.get("/api/auth/tokens")).json()
        assert {t["name"] for t in listed} == {"tests", "pacs-sync"}
        assert (await client.delete(f"/api/auth/tokens/{made['id']}")).status_code == 200
    async with secure.client(headers={"Authorization": f"Bearer {made['token']}"}) as client:
        assert (await client.get("/api/auth/me")).status_code == 401
    async with secure.client("view") as client:  # another user's token id is not found
        assert (await client.delete(f"/api/auth/tokens/{made['id']}")).status_code == 404


async def test_admin_manages_users_and_a_disabled_user_is_locked_out_at_once(secure):
    async with secure.client("admin") as admin:
        r = await admin.post("/api/admin/users", json={
            "username": "newdoc", "password": "Sunny-Harbour-42", "roles": ["radiologist"]})
        assert r.status_code == 201, r.text
        r = await admin.post("/api/admin/users", json={
            "username": "weak", "password": "password", "roles": ["viewer"]})
        assert r.status_code == 400
        r = await admin.patch("/api/admin/users/view", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
    async with secure.client("view") as client:
        assert (await client.get("/dicom-web/studies")).status_code == 401
    events, _ = audit.search(secure.db, user="admin", action="admin")
    assert {e["details"]["what"] for e in events} >= {"user added", "user changed"}


async def test_with_access_control_off_the_pages_learn_it(sqlite_settings):
    from hounsfield.archive import Archive
    from hounsfield.web.app import create_app

    archive = await Archive.open(sqlite_settings)  # auth.enabled is off in this fixture
    app = create_app(sqlite_settings, archive)
    try:
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            r = await client.get("/api/auth/me")
            assert r.json() == {"auth_enabled": False, "user": None}
            assert (await client.get("/dicom-web/studies")).status_code in (200, 204)
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()
