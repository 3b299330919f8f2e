"""Every route of the full app (JSON API, DICOMweb, WADO-URI, pages) is in the access
table, refuses an anonymous request (401) and a user without the permission (403)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

sys.path.insert(0, str(Path(__file__).parent))
from security_app import USERS, open_secure_app  # noqa: E402

from hounsfield.auth.access import (  # noqa: E402
    AUTHENTICATED, PUBLIC, ROUTE_RULES, SHARE_LINK, AccessTable, route_table_markdown,
)
from hounsfield.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS  # noqa: E402

SAMPLES = {"study": "1.2.3", "series": "1.2.3.4", "sop": "1.2.3.4.5", "frames": "1",
           "tag": "7FE00010", "path": "some/page", "token": "hf_" + "A" * 43,
           "username": "view", "name": "team", "token_id": "1", "grant_id": "1",
           "share_id": "1", "study_uid": "1.2.3", "sop_uid": "1.2.3.4.5",
           "annotation_id": "1", "comment_id": "1", "node_id": "1", "patient_id": "P1"}
ROLES_OF = {name: roles for name, roles, _ in USERS}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def concrete_routes(app) -> list[tuple[str, str, str]]:
    """(method, template, concrete path) of every route, DICOMweb mount included."""
    out = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif hasattr(route, "original_router"):  # FastAPI's included router
                walk(route.original_router.routes,
                     prefix + getattr(route.include_context, "prefix", ""))
            elif isinstance(route, Route) or hasattr(route, "methods"):
                template = prefix + route.path
                path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLES[m.group(1)], template)
                for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                    out.append((method, template, path))
    walk(app.routes, "")
    return out


@pytest.fixture
async def secure(sqlite_settings):
    sec = await open_secure_app(sqlite_settings, with_studies=False)
    yield sec
    await sec.close()


async def test_the_route_walk_sees_dicomweb_and_every_api_route(secure):
    templates = {t for _, t, _ in concrete_routes(secure.app)}
    assert "/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames/{frames}" \
        in templates
    assert "/wado" in templates and "/api/admin/audit" in templates
    assert "/share/{token}/download" in templates and "/{path:path}" in templates


async def test_every_route_has_a_rule(secure):
    table = AccessTable(secure.settings["dicomweb.base_path"])
    missing = [(m, t) for m, t, p in concrete_routes(secure.app) if table.match(m, p) is None]
    assert missing == []


async def test_every_route_refuses_anonymous_and_users_without_the_permission(secure):
    table = AccessTable(secure.settings["dicomweb.base_path"])
    checked = 0
    async with secure.client() as anonymous:
        for method, template, path in concrete_routes(secure.app):
            rule = table.match(method, path)
            assert rule is not None
            r = await anonymous.request(method, path)
            if rule.permission == PUBLIC:
                assert r.status_code not in (401, 403), (method, template)
                continue
            # A share link route checks its token itself: a made-up one is refused.
            assert r.status_code == 401, (method, template, r.status_code, r.text)
            if rule.permission in (SHARE_LINK, AUTHENTICATED):
                continue
            assert rule.permission in PERMISSIONS
            lacking = ["nobody"] + [u for u, roles in ROLES_OF.items() if roles and not any(
                rule.permission in ROLE_PERMISSIONS[role] for role in roles)]
            for user in lacking:
                async with secure.client(user) as client:
                    r = await client.request(method, path)
                assert r.status_code == 403, (user, method, template, r.status_code, r.text)
                checked += 1
    assert checked > 60


async def test_a_path_outside_the_table_is_refused(secure):
    async with secure.client() as anonymous, secure.client("admin") as admin:
        for method, path in (("GET", "/api/not-a-route"), ("POST", "/some/page"),
                             ("PUT", "/dicom-web/studies"), ("GET", "/dicom-web"),
                             ("GET", "/dicom-web/unknown")):
            assert (await anonymous.request(method, path)).status_code == 401, path
            assert (await admin.request(method, path)).status_code == 403, path


async def test_pages_load_without_login(secure):
    async with secure.client() as anonymous:
        r = await anonymous.get("/")
        assert r.status_code in (200, 503)  # 503: the front end is not built here
        # What the login page offers, known without an error answer.
        options = await anonymous.get("/api/auth/options")
        assert options.json() == {"auth_enabled": True, "oidc": False}


async def test_docs_show_the_route_table():
    text = DOCS.read_text()
    start, end = "<!-- routes:start -->\n", "\n<!-- routes:end -->"
    assert start in text and end in text
    assert text.split(start)[1].split(end)[0] == route_table_markdown()
    assert len(ROUTE_RULES) > 40


def test_docs_list_every_audit_action():
    from hounsfield.auth.audit import ACTIONS

    text = DOCS.read_text()
    assert all(f"| `{action}` | {meaning} |" in text for action, meaning in ACTIONS.items())
