"""The server as a user starts it: `hounsfield serve` answers /api/health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from dicom_factory import make_bytes
from hounsfield.archive import Archive, Origin
from hounsfield.web.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_and_answers_health(tmp_path):
    port = free_port()
    env = dict(os.environ, HOUNSFIELD_DICOM_PORT="0", HOUNSFIELD_HTTP_HOST="127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "hounsfield.cli", "--data-dir",
                             str(tmp_path / "data"), "serve", "--http-port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    out = proc.stdout.read().decode() if proc.poll() is not None else ""
                    pytest.fail(f"server did not answer: {out}")
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["instances"] == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


async def test_stats_follow_the_archive(sqlite_settings):
    archive = await Archive.open(sqlite_settings)
    try:
        app = create_app(sqlite_settings, archive)
        await archive.ingest_bytes(make_bytes(), Origin("test"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            r = await client.get("/api/stats")
        assert r.status_code == 200
        assert r.json()["instances"] == 1 and r.json()["studies"] == 1
    finally:
        await archive.close()


async def test_pages_are_served_with_security_headers_and_caching(sqlite_settings):
    from hounsfield.web.pages import STATIC

    if not (STATIC / "index.html").is_file():
        pytest.skip("web pages are not built (npm missing)")
    archive = await Archive.open(sqlite_settings)
    try:
        app = create_app(sqlite_settings, archive)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            r = await client.get("/")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert "'wasm-unsafe-eval'" in r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-cache"
            assets = sorted(p.name for p in (STATIC / "assets").iterdir())
            js = next(a for a in assets if a.endswith(".js"))
            r = await client.get(f"/assets/{js}")
            assert r.status_code == 200 and "javascript" in r.headers["content-type"]
            assert "immutable" in r.headers["cache-control"]
            wasm = [p for p in STATIC.rglob("*.wasm")]
            if wasm:
                r = await client.get("/" + str(wasm[0].relative_to(STATIC)))
                assert r.headers["content-type"] == "application/wasm"
            # Client-side routes get the page; unknown API paths do not.
            assert (await client.get("/viewer")).status_code == 200
            assert (await client.get("/api/nothing")).status_code == 404
            assert (await client.get("/../../etc/passwd")).status_code in (200, 404)
            assert "root:" not in (await client.get("/..%2f..%2fetc/passwd")).text
    finally:
        await archive.close()
