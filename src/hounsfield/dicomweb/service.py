"""What every DICOMweb handler shares: the archive, the render pool, URLs, JSON and caching."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hounsfield.archive import Archive, InstanceRef, Origin
from hounsfield.config import Settings
from hounsfield.errors import InvalidRequest, NotFound
from hounsfield.imaging.pool import RenderPool

DICOM_JSON = "application/dicom+json"
GZIP_MIN_BYTES = 1024
# Compressing more than this runs in a worker thread so the loop keeps serving.
GZIP_INLINE_MAX = 64 * 1024
_UID_CHARS = frozenset("0123456789.")


@dataclass
class DicomWeb:
    """The DICOMweb service of one app: its settings, the archive and the render pool."""

    settings: Settings
    archive: Archive
    pool: RenderPool
    base_path: str

    def base_url(self, request: Request) -> str:
        """The absolute DICOMweb base URL as the client sees it (for BulkDataURI etc.):
        ``dicomweb.public_url`` when set, else from the request's scheme and Host."""
        public = self.settings["dicomweb.public_url"]
        if public:
            return str(public).rstrip("/")
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        # Inside the DICOMweb mount, root_path already ends with the base path.
        root = request.scope.get("root_path", "")
        if root.endswith(self.base_path):
            root = root[:-len(self.base_path)]
        return f"{request.url.scheme}://{host}{root}{self.base_path}"

    def origin(self, request: Request) -> Origin:
        client = request.client
        user = request.scope.get("user")
        return Origin("stow", remote_address=client.host if client else None,
                      user=getattr(user, "username", None) if user is not None else None)

    async def refs(self, study: str, series: str | None = None,
                   sop: str | None = None) -> list[InstanceRef]:
        """Stored instances under the path's UIDs; NotFound when there are none."""
        for name, value in (("study", study), ("series", series), ("instance", sop)):
            if value is not None:
                check_uid(value, name)
        refs = await self.archive.instances(study, series, sop)
        if not refs:
            what = ("Instance " + sop if sop else "Series " + series if series
                    else "Study " + study)
            raise NotFound(f"{what} is not stored")
        return refs


def service(request: Request) -> DicomWeb:
    return request.app.state.dicomweb  # type: ignore[no-any-return]


def check_uid(value: str, name: str) -> str:
    """PS3.5 9.1: a UID is at most 64 characters of digits and dots."""
    if not value or len(value) > 64 or not set(value) <= _UID_CHARS:
        raise InvalidRequest(f'Path segment "{name}" must be a UID (digits and dots, at most '
                             f"64 characters), not {value[:80]!r}")
    return value


def study_url(base: str, study: str) -> str:
    return f"{base}/studies/{study}"


def series_url(base: str, study: str, series: str) -> str:
    return f"{base}/studies/{study}/series/{series}"


def instance_url(base: str, study: str, series: str, sop: str) -> str:
    return f"{base}/studies/{study}/series/{series}/instances/{sop}"


def accepts_gzip(request: Request) -> bool:
    value = request.headers.get("accept-encoding", "")
    for item in value.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() != "gzip":
            continue
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


async def json_response(request: Request, body: bytes | Any, *, status_code: int = 200,
                        media_type: str = DICOM_JSON,
                        headers: dict[str, str] | None = None) -> Response:
    """A JSON response, gzip-compressed when the client accepts it and it is worth it."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    out_headers = dict(headers or {})
    out_headers["Vary"] = "Accept, Accept-Encoding"
    if len(data) >= GZIP_MIN_BYTES and accepts_gzip(request):
        if len(data) > GZIP_INLINE_MAX:
            data = await service(request).archive.run(gzip.compress, data, 1)
        else:
            data = gzip.compress(data, 1)
        out_headers["Content-Encoding"] = "gzip"
    return Response(data, status_code=status_code, media_type=media_type, headers=out_headers)


def encoded_json_response(data: bytes, *, gzipped: bool, status_code: int = 200,
                          headers: dict[str, str] | None = None) -> Response:
    """A JSON response whose body was already serialized (and maybe compressed)."""
    out_headers = dict(headers or {})
    out_headers["Vary"] = "Accept, Accept-Encoding"
    if gzipped:
        out_headers["Content-Encoding"] = "gzip"
    return Response(data, status_code=status_code, media_type=DICOM_JSON, headers=out_headers)


def etag_of(refs: Iterable[InstanceRef], *variant: str) -> str:
    """A strong validator of a representation: the stored objects' checksums and the
    variant (transfer syntax, rendering parameters, base URL)."""
    digest = hashlib.sha256()
    for ref in refs:
        digest.update(ref.sha256.encode("ascii", "replace"))
        digest.update(ref.sop_instance_uid.encode("ascii", "replace"))
    for value in variant:
        digest.update(b"\0" + value.encode("utf-8", "replace"))
    return '"' + digest.hexdigest()[:40] + '"'


def not_modified(request: Request, etag: str) -> Response | None:
    """304 when the client already holds this representation (RFC 9110 13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return None
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=cache_headers(etag))
    return None


def cache_headers(etag: str) -> dict[str, str]:
    # Stored objects may be replaced under the same UID, so caches must revalidate.
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


def single_param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f'Parameter "{name}" must be given once')
    return values[0] if values else None
