"""The DICOMweb routes (PS3.18 Table 10.1-1 and chapter 9) and their middleware.

``mount(app, settings, archive)`` is what the HTTP app calls. The routes are plain
Starlette endpoints under ``dicomweb.base_path``: DICOMweb negotiates on headers the
framework does not model (multipart types, transfer syntaxes), and a thin endpoint keeps
the per-request overhead of a frame or a metadata call small.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from hounsfield.archive import Archive
from hounsfield.archive.query import QueryLevel
from hounsfield.config import Settings
from hounsfield.dicomweb import frames, qido, rendered, stow, wado, wado_uri
from hounsfield.dicomweb.service import DicomWeb, check_uid, service
from hounsfield.imaging.pool import RenderPool

Endpoint = Callable[[Request], Awaitable[Response]]
_STUDY = "/studies/{study}"
_SERIES = _STUDY + "/series/{series}"
_INSTANCE = _SERIES + "/instances/{sop}"


def _p(request: Request, name: str) -> str:
    return request.path_params[name]  # type: ignore[no-any-return]


def _opt(request: Request, name: str) -> str | None:
    return request.path_params.get(name)


def _search(level: QueryLevel) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        parents = {}
        if "study" in request.path_params:
            parents["StudyInstanceUID"] = _p(request, "study")
        if "series" in request.path_params:
            parents["SeriesInstanceUID"] = _p(request, "series")
        return await qido.search(request, level, parents)
    return endpoint


async def _retrieve(request: Request) -> Response:
    return await wado.retrieve(request, _p(request, "study"), _opt(request, "series"),
                               _opt(request, "sop"))


async def _metadata(request: Request) -> Response:
    return await wado.metadata(request, _p(request, "study"), _opt(request, "series"),
                               _opt(request, "sop"))


async def _frames(request: Request) -> Response:
    return await frames.frames(request, _p(request, "study"), _p(request, "series"),
                               _p(request, "sop"), _p(request, "frames"))


async def _bulkdata(request: Request) -> Response:
    return await frames.bulkdata(request, _p(request, "study"), _p(request, "series"),
                                 _p(request, "sop"), _p(request, "tag"))


async def _rendered(request: Request) -> Response:
    return await rendered.rendered(request, _p(request, "study"), _opt(request, "series"),
                                   _opt(request, "sop"), _opt(request, "frames"))


async def _thumbnail(request: Request) -> Response:
    return await rendered.thumbnail_of(request, _p(request, "study"), _opt(request, "series"),
                                       _opt(request, "sop"))


async def _store(request: Request) -> Response:
    return await stow.store(request, _opt(request, "study"))


async def _delete(request: Request) -> Response:
    """Delete a study, series or instance (PS3.18 10.? Delete; PS3.4 Annex II)."""
    web = service(request)
    study, series, sop = _p(request, "study"), _opt(request, "series"), _opt(request, "sop")
    for name, value in (("study", study), ("series", series), ("instance", sop)):
        if value is not None:
            check_uid(value, name)
    await web.archive.delete(study, series, sop, origin=web.origin(request))
    return Response(status_code=204)


def routes() -> list[Route]:
    """Every DICOMweb route, relative to the base path."""
    get, post, delete = ["GET"], ["POST"], ["DELETE"]
    return [
        # QIDO-RS (PS3.18 10.6)
        Route("/studies", _search(QueryLevel.STUDY), methods=get),
        Route("/series", _search(QueryLevel.SERIES), methods=get),
        Route("/instances", _search(QueryLevel.INSTANCE), methods=get),
        Route(_STUDY + "/series", _search(QueryLevel.SERIES), methods=get),
        Route(_STUDY + "/instances", _search(QueryLevel.INSTANCE), methods=get),
        Route(_SERIES + "/instances", _search(QueryLevel.INSTANCE), methods=get),
        # STOW-RS (PS3.18 10.5)
        Route("/studies", _store, methods=post),
        Route(_STUDY, _store, methods=post),
        # WADO-RS (PS3.18 10.4)
        Route(_STUDY, _retrieve, methods=get),
        Route(_SERIES, _retrieve, methods=get),
        Route(_INSTANCE, _retrieve, methods=get),
        Route(_STUDY + "/metadata", _metadata, methods=get),
        Route(_SERIES + "/metadata", _metadata, methods=get),
        Route(_INSTANCE + "/metadata", _metadata, methods=get),
        Route(_INSTANCE + "/frames/{frames}", _frames, methods=get),
        Route(_INSTANCE + "/bulkdata/{tag}", _bulkdata, methods=get),
        Route(_STUDY + "/rendered", _rendered, methods=get),
        Route(_SERIES + "/rendered", _rendered, methods=get),
        Route(_INSTANCE + "/rendered", _rendered, methods=get),
        Route(_INSTANCE + "/frames/{frames}/rendered", _rendered, methods=get),
        Route(_STUDY + "/thumbnail", _thumbnail, methods=get),
        Route(_SERIES + "/thumbnail", _thumbnail, methods=get),
        Route(_INSTANCE + "/thumbnail", _thumbnail, methods=get),
        # Delete
        Route(_STUDY, _delete, methods=delete),
        Route(_SERIES, _delete, methods=delete),
        Route(_INSTANCE, _delete, methods=delete),
        # WADO-URI (PS3.18 chapter 9)
        Route("/wado", wado_uri.wado_uri, methods=get),
    ]


async def _unknown(scope: Scope, receive: Receive, send: Send) -> None:
    """JSON 404 for a path under the base path that names no DICOMweb resource."""
    path = str(scope.get("path", ""))
    response = JSONResponse({"error": "not_found",
                             "message": f"No DICOMweb resource at {path[:200]!r}"},
                            status_code=404)
    await response(scope, receive, send)


def mount(app: Starlette, settings: Settings, archive: Archive) -> DicomWeb:
    """Add the DICOMweb routes under ``dicomweb.base_path``, WADO-URI also at ``/wado``,
    and CORS for ``http.cors_origins``. The render pool starts on first use."""
    base_path = "/" + settings["dicomweb.base_path"].strip("/")
    web = DicomWeb(settings=settings, archive=archive,
                   pool=RenderPool(settings["dicomweb.render_workers"]), base_path=base_path)
    app.state.dicomweb = web
    # First in the app's routes: DICOMweb requests (a viewer sends hundreds) are matched
    # without trying every other route first; nothing else lives under these paths.
    app.router.routes.insert(0, Mount(base_path, app=Router(routes(), default=_unknown)))
    app.router.routes.insert(1, Route("/wado", wado_uri.wado_uri, methods=["GET"]))
    origins = list(settings["http.cors_origins"])
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"], allow_headers=["*"],
            expose_headers=["ETag", "Warning", "Content-Location", "Content-Encoding"])
    return web
