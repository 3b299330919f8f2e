"""The built browser front end (web/ → src/hounsfield/web/static), served by the app.

Hashed assets are cached for a year; index.html is never cached, so a new build is seen at
once. Paths that are not files fall back to index.html (the front end routes itself).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
# Content Security Policy of the pages: WebAssembly codecs need 'wasm-unsafe-eval', image
# decoders run in module workers, and nothing may frame the pages.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
       "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
       "font-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")


def mount_pages(app: FastAPI) -> None:
    root = STATIC.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def page(path: str, request: Request) -> Response:
        if path.startswith(("api/", "dicom-web/", "wado")):
            return PlainTextResponse("Not Found", status_code=404)
        index = root / "index.html"
        if not index.is_file():
            return PlainTextResponse(
                "The web pages are not built: run `make run` (needs Node.js and npm).",
                status_code=503)
        target = (root / path).resolve() if path else index
        if path and root in target.parents and target.is_file():
            cache = ("public, max-age=31536000, immutable" if path.startswith("assets/")
                     else "no-cache")
            media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            return FileResponse(target, media_type=media,
                                headers={"Cache-Control": cache, **PAGE_HEADERS})
        return FileResponse(index, media_type="text/html",
                            headers={"Cache-Control": "no-cache", **PAGE_HEADERS})
