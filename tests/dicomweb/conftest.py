"""Fixtures of the DICOMweb tests: the real ASGI app over an archive in a temporary folder,
an in-process client, and a real uvicorn server on a free port for dicomweb-client."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hounsfield.archive import Archive
from hounsfield.config import Settings
from hounsfield.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = "/dicom-web"


def without_auth(settings: Settings) -> Settings:
    """DICOMweb behaviour is tested without login; access rules have their own tests."""
    return settings.replace(auth__enabled=False)


async def _open(settings: Settings) -> tuple[Archive, Any]:
    settings = without_auth(settings)
    archive = await Archive.open(settings)
    app = create_app(settings, archive)
    return archive, app


@pytest.fixture
async def app_archive(sqlite_settings: Settings) -> AsyncIterator[tuple[Any, Archive]]:
    archive, app = await _open(sqlite_settings)
    try:
        yield app, archive
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()


@pytest.fixture
async def client(app_archive: tuple[Any, Archive]) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = app_archive
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def archive(app_archive: tuple[Any, Archive]) -> Archive:
    return app_archive[1]


@pytest.fixture
async def search_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on each index database (SQLite and PostgreSQL)."""
    archive, app = await _open(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            c.archive = archive  # type: ignore[attr-defined]
            yield c
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server_url(sqlite_settings: Settings) -> Iterator[str]:
    """A real uvicorn server with the app, in its own thread and loop."""
    port = _free_port()
    ready = threading.Event()
    state: dict[str, Any] = {}

    # dicomweb-client sends a Host header without the port (RFC 9110 7.2 wants it), so
    # the server is told its public URL, as it would be behind a proxy.
    settings = sqlite_settings.replace(dicomweb__public_url=f"http://127.0.0.1:{port}{BASE}")

    def run() -> None:
        async def main() -> None:
            archive, app = await _open(settings)
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                    lifespan="off", access_log=False)
            server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            state["server"] = server
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.02)
            ready.set()
            await task
            await app.state.dicomweb.pool.close()
            await archive.close()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("The test server did not start")
    try:
        yield f"http://127.0.0.1:{port}{BASE}"
    finally:
        state["server"].should_exit = True
        thread.join(30)
