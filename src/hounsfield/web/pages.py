"""The built browser front end (web/ → src/hounsfield/web/static), served by the app.

Hashed assets are cached for a year; index.html is never cached, so a new build is seen at
once. Paths that are not files fall back to index.html (the front end routes itself).
Scripts, styles and WebAssembly codecs under /assets are sent gzip-compressed to clients
that accept it: each is compressed once, at its first request, and kept in memory (the
files never change while the server runs; a new build has new names).
"""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from hounsfield.dicomweb.service import accepts_gzip

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

_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "application/wasm",
                 "image/svg+xml")
_GZIP_MIN_BYTES = 1024


class GzipCache:
    """Compressed copies of asset files, made at first request: path -> (mtime, size,
    gzip bytes or None when compression does not pay)."""

    def __init__(self) -> None:
        self._entries: dict[Path, tuple[int, int, bytes | None]] = {}

    async def get(self, request: Request, target: Path) -> bytes | None:
        stat = target.stat()
        entry = self._entries.get(target)
        if entry is None or entry[:2] != (stat.st_mtime_ns, stat.st_size):
            data = await request.app.state.archive.run(self._compress, target)
            entry = (stat.st_mtime_ns, stat.st_size, data)
            self._entries[target] = entry
        return entry[2]

    @staticmethod
    def _compress(target: Path) -> bytes | None:
        raw = target.read_bytes()
        packed = gzip.compress(raw, 9, mtime=0)
        return packed if len(packed) < len(raw) * 0.9 else None


def mount_pages(app: FastAPI) -> None:
    root = STATIC.resolve()
    compressed = GzipCache()

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
            asset = path.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if asset else "no-cache"
            media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            headers = {"Cache-Control": cache, **PAGE_HEADERS}
            if asset and media.startswith(_COMPRESSIBLE) and \
                    target.stat().st_size >= _GZIP_MIN_BYTES:
                headers["Vary"] = "Accept-Encoding"
                if accepts_gzip(request):
                    packed = await compressed.get(request, target)
                    if packed is not None:
                        return Response(packed, media_type=media,
                                        headers={**headers, "Content-Encoding": "gzip"})
            return FileResponse(target, media_type=media, headers=headers)
        return FileResponse(index, media_type="text/html",
                            headers={"Cache-Control": "no-cache", **PAGE_HEADERS})
