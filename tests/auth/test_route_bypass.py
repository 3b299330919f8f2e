"""No path reaches a protected endpoint without credentials: for generated paths (dot
segments, empty segments, encoded slashes, prefixes of real routes) every anonymous request
that the access table lets through is served by a public endpoint, whatever route the
router picks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from security_app import open_secure_app  # noqa: E402
from test_http_routes import concrete_routes  # noqa: E402

SEGMENTS = ["", ".", "..", "api", "auth", "login", "logout", "me", "admin", "audit", "users",
            "shares", "grants", "export", "share", "download", "dicom-web", "studies",
            "series", "instances", "metadata", "frames", "rendered", "thumbnail", "bulkdata",
            "wado", "1.2.3", "1", "health", "openapi.json", "docs", "oidc", "callback",
            "assets", "index.html", "hf_" + "A" * 43, "%2F", "tokens", "stats", "API",
            "Dicom-Web", "studies;x", "studies%2F1"]
PUBLIC_ENDPOINTS = {"page", "health", "openapi", "swagger_ui_html", "swagger_ui_redirect",
                    "login", "login_options", "oidc_login", "oidc_callback", "open_share",
                    "unlock_share", "download_share"}


async def _call(app, method: str, path: str) -> tuple[int, dict]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": [(b"host", b"t")],
             "client": ("127.0.0.1", 1), "server": ("t", 80)}
    status = {}

    sent = []

    async def receive():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the answer ends

    async def send(message):
        if message["type"] == "http.response.start":
            status["code"] = message["status"]

    await app(scope, receive, send)
    return status["code"], scope


def test_anonymous_requests_only_reach_public_endpoints(sqlite_settings):
    sec = asyncio.run(open_secure_app(sqlite_settings, with_studies=False))
    loop = asyncio.new_event_loop()
    reached: set[str] = set()
    try:
        def check_one(method: str, path: str) -> None:
            code, scope = loop.run_until_complete(_call(sec.app, method, path))
            if code == 401:
                return
            endpoint = scope.get("endpoint")
            name = getattr(endpoint, "__name__", None)
            if endpoint is not None:
                reached.add(name)
                assert name in PUBLIC_ENDPOINTS, (method, path, code, name)

        real = sorted({p for _, _, p in concrete_routes(sec.app)})
        random_paths = st.builds(
            lambda segments, trailing: "/" + "/".join(segments) + ("/" if trailing else ""),
            st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=8), st.booleans())
        # Every real route, bent: a trailing slash, a doubled slash, a dot segment, case.
        for path in real:
            for variant in (path, path + "/", path.replace("/", "//", 1),
                            path.replace("/", "/./", 1), "/x/.." + path, path.upper()):
                for method in ("GET", "POST", "DELETE", "PATCH"):
                    check_one(method, variant)

        @hypothesis_settings(max_examples=500, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(method=st.sampled_from(["GET", "POST", "DELETE", "PATCH", "HEAD"]),
               path=random_paths)
        def check(method, path):
            check_one(method, path)
        check()
    finally:
        loop.close()
        asyncio.run(sec.close())
    assert "page" in reached
