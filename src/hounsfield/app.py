"""Builds the parts and runs them in one asyncio loop: HTTP (uvicorn) and DICOM."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Awaitable, Callable

import uvicorn

from hounsfield.archive import Archive
from hounsfield.config import Settings

log = logging.getLogger("hounsfield")


async def serve(settings: Settings, *, on_ready: Callable[[Archive], Awaitable[None]] | None = None) -> None:
    """Run every server until SIGINT/SIGTERM."""
    from hounsfield.web.app import create_app

    archive = await Archive.open(settings)
    if settings["auth.enabled"]:  # first start: an admin with a random password, shown once
        from hounsfield.auth.cli import create_first_admin

        await archive.run(create_first_admin, archive.core.db)
    if on_ready is not None:
        await on_ready(archive)
    app = create_app(settings, archive)
    ssl_args = {}
    if settings["http.tls_certificate"]:
        ssl_args = {"ssl_certfile": settings["http.tls_certificate"],
                    "ssl_keyfile": settings["http.tls_private_key"] or None}
    config = uvicorn.Config(app, host=settings["http.host"], port=settings["http.port"],
                            log_level=settings["log_level"], lifespan="off",
                            access_log=False, **ssl_args)  # type: ignore[arg-type]
    http = uvicorn.Server(config)
    http.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    dicom_server = None
    if settings["dicom.enabled"]:
        try:
            from hounsfield.dicom.server import DicomServer
        except ImportError:
            DicomServer = None  # type: ignore[assignment,misc]
        if DicomServer is not None:
            # One render pool for DICOMweb and the SCU: decompression for a peer runs in a
            # worker process, where a decoder crash on a damaged object cannot take the
            # server down.
            web = getattr(app.state, "dicomweb", None)
            dicom_server = DicomServer(settings, archive, audit=app.state.audit,
                                       pool=web.pool if web is not None else None)
            await dicom_server.start()
            log.info("DICOM listening on %s:%s as %s", settings["dicom.host"],
                     dicom_server.port, settings["dicom.ae_title"])

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
            pass
    http_task = asyncio.create_task(http.serve())
    log.info("HTTP listening on %s:%s", settings["http.host"], settings["http.port"])
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    http.should_exit = True
    await http_task
    stop_task.cancel()
    if dicom_server is not None:
        await dicom_server.stop()
    await app.state.audit.close()  # the last events and syslog messages go out
    await archive.close()
