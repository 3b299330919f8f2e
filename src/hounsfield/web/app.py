"""The HTTP application: JSON API, DICOMweb and the web pages, on one ASGI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hounsfield import __version__
from hounsfield.archive import Archive
from hounsfield.config import Settings
from hounsfield.errors import HounsfieldError


def create_app(settings: Settings, archive: Archive) -> FastAPI:
    """Build the ASGI app over an open archive."""
    app = FastAPI(title="Hounsfield", version=__version__,
                  description="Hounsfield PACS: JSON API and DICOMweb (PS3.18).",
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.archive = archive

    @app.exception_handler(HounsfieldError)
    async def _error(_request: Request, exc: HounsfieldError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    @app.get("/api/health", tags=["system"])
    async def health() -> dict[str, Any]:
        """Liveness: the archive's index answers."""
        stats = await archive.stats()
        return {"status": "ok", "version": __version__, "instances": stats["instances"]}

    @app.get("/api/stats", tags=["system"])
    async def stats() -> dict[str, Any]:
        """Counts of patients, studies, series and instances, and the stored size."""
        return await archive.stats()

    from hounsfield.web.security import install as install_security

    install_security(app, settings, archive)  # access rules, sessions, audit, sharing
    _mount_optional_parts(app, settings, archive)
    return app


def _mount_optional_parts(app: FastAPI, settings: Settings, archive: Archive) -> None:
    """DICOMweb and the pages join the app when their packages provide a router."""
    try:
        from hounsfield.dicomweb import router as dicomweb_router
    except ImportError:
        dicomweb_router = None
    if dicomweb_router is not None:
        dicomweb_router.mount(app, settings, archive)
    from hounsfield.web.pages import mount_pages

    mount_pages(app)  # last: its catch-all route must not shadow the others
