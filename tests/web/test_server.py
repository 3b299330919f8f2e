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
