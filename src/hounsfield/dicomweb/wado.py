"""WADO-RS (PS3.18 10.4): instances as multipart/related application/dicom, and metadata.

Instances stream from storage part by part, the next one read while the current one is
sent, so a study never sits in memory (DESIGN rule 3). Transcoding, when the client asks
for another transfer syntax, runs in the render pool (DESIGN rule 4). Metadata comes from
the JSON precomputed at ingest: one index query and no JSON parsing (DESIGN rule 6).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hounsfield.archive import ArchiveCore, InstanceRef
from hounsfield.archive.access import Scope, current_scope
from hounsfield.archive.dicomjson import BULKDATA_BASE
from hounsfield.dicomweb import multipart
from hounsfield.dicomweb.accept import requested_ranges
from hounsfield.dicomweb.negotiation import DicomChoice, choose_dicom
from hounsfield.dicomweb.service import (
    DICOM_JSON, GZIP_MIN_BYTES, DicomWeb, accepts_gzip, cache_headers, check_uid,
    encoded_json_response, etag_of, not_modified, service,
)
from hounsfield.dicomweb.xml import XML_MEDIA_TYPE, wants_xml, xml_multipart
from hounsfield.errors import NotAcceptable, NotFound
from hounsfield.imaging.transcode import transcode

# Objects up to this size are read in one call; larger ones stream in chunks.
WHOLE_READ_LIMIT = 16 * 1024 * 1024
CHUNK_SIZE = 1 << 20
# Objects read ahead of the one being sent (each at most WHOLE_READ_LIMIT bytes).
PREFETCH = 3
DEFAULT_DICOM_ACCEPT = 'multipart/related; type="application/dicom"'
_PLACEHOLDER = BULKDATA_BASE.encode("ascii")


# --- reading stored objects -----------------------------------------------------------------

def read_whole(web: DicomWeb, ref: InstanceRef) -> bytes:
    """A stored object's bytes (blocking: call through ``archive.run``)."""
    path = web.archive.local_path(ref)
    if path is not None:
        with open(path, "rb") as fp:
            return fp.read()
    return web.archive.core.store.read_bytes(ref.blob_key)


def read_range(web: DicomWeb, ref: InstanceRef, start: int, length: int) -> bytes:
    """``length`` bytes of a stored object from ``start`` (blocking)."""
    path = web.archive.local_path(ref)
    if path is not None:
        with open(path, "rb") as fp:
            fp.seek(start)
            data = fp.read(length)
    else:
        data = b"".join(web.archive.core.store.read_range(ref.blob_key, start, start + length))
    if len(data) != length:
        raise NotFound(f"Instance {ref.sop_instance_uid} is shorter than its index says")
    return data


async def source_of(web: DicomWeb, ref: InstanceRef) -> str | bytes:
    """A path the render pool can open, or the object's bytes when storage is not local."""
    path = web.archive.local_path(ref)
    if path is not None:
        return path
    return await web.archive.run(read_whole, web, ref)


async def instance_bytes(web: DicomWeb, ref: InstanceRef, target: str) -> bytes:
    """The whole object in ``target`` syntax: as stored, or transcoded in the pool."""
    if target == ref.transfer_syntax_uid:
        return await web.archive.run(read_whole, web, ref)
    return await web.pool.run(transcode, await source_of(web, ref), target)


async def _chunks(web: DicomWeb, ref: InstanceRef, target: str) -> AsyncIterator[bytes]:
    if target != ref.transfer_syntax_uid or ref.size <= WHOLE_READ_LIMIT:
        yield await instance_bytes(web, ref, target)
        return
    async for chunk in web.archive.read_instance(ref, CHUNK_SIZE):
        yield chunk


# --- retrieve -------------------------------------------------------------------------------

def _targets(refs: list[InstanceRef], choice: DicomChoice) -> list[str]:
    targets = []
    for ref in refs:
        target = choice.target_for(ref.transfer_syntax_uid)
        if target is None:
            raise NotAcceptable(
                f"Instance {ref.sop_instance_uid} is stored in {ref.transfer_syntax_uid} and "
                "cannot be sent in any accepted transfer syntax ("
                + ", ".join(choice.syntaxes) + ")")
        targets.append(target)
    return targets


async def retrieve(request: Request, study: str, series: str | None = None,
                   sop: str | None = None) -> Response:
    """Study, series or instance as multipart/related; type="application/dicom"."""
    web = service(request)
    choice = choose_dicom(
        requested_ranges(request.headers, request.query_params.getlist("accept"),
                         DEFAULT_DICOM_ACCEPT), single_instance=sop is not None)
    refs = await web.refs(study, series, sop)
    targets = _targets(refs, choice)
    etag = etag_of(refs, "dicom", "multipart" if choice.multipart else "single", *targets)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    headers = cache_headers(etag)
    ref, target = refs[0], targets[0]
    as_stored_large = target == ref.transfer_syntax_uid and ref.size > WHOLE_READ_LIMIT
    if not choice.multipart:
        media_type = f"application/dicom; transfer-syntax={target}"
        if as_stored_large:
            return StreamingResponse(_chunks(web, ref, target), media_type=media_type,
                                     headers={**headers, "Content-Length": str(ref.size)})
        return Response(await instance_bytes(web, ref, target), media_type=media_type,
                        headers=headers)
    # A transcoded first object is made before the status line is sent, so a transcoding
    # failure of a single instance is still a clean 406 rather than a cut stream.
    first = await instance_bytes(web, ref, target) if (
        target != ref.transfer_syntax_uid or (len(refs) == 1 and not as_stored_large)) else None
    boundary = multipart.new_boundary()
    return StreamingResponse(
        _stream_instances(web, refs, targets, boundary, first),
        media_type=multipart.content_type("application/dicom", boundary), headers=headers)


async def _stream_instances(web: DicomWeb, refs: list[InstanceRef], targets: list[str],
                            boundary: str, first: bytes | None) -> AsyncIterator[bytes]:
    """Parts one after another, reading the next small object while this one is sent."""

    async def whole(index: int) -> bytes | None:
        ref, target = refs[index], targets[index]
        if target == ref.transfer_syntax_uid and ref.size > WHOLE_READ_LIMIT:
            return None  # streamed in chunks when its turn comes
        return await instance_bytes(web, ref, target)

    pending: dict[int, asyncio.Future[bytes | None]] = {}
    try:
        for index, (ref, target) in enumerate(zip(refs, targets)):
            # Keep PREFETCH objects in flight so the disk (or object store) and the
            # socket are busy at the same time.
            for ahead in range(index, min(index + PREFETCH, len(refs))):
                if ahead not in pending and not (ahead == 0 and first is not None):
                    pending[ahead] = asyncio.ensure_future(whole(ahead))
            data = first if index == 0 and first is not None else await pending.pop(index)
            part_type = f"application/dicom; transfer-syntax={target}"
            if data is not None:
                yield multipart.part_head(boundary, part_type, length=len(data),
                                          first=index == 0)
                yield data
            else:
                yield multipart.part_head(boundary, part_type, length=ref.size,
                                          first=index == 0)
                async for chunk in _chunks(web, ref, target):
                    yield chunk
        yield multipart.closing(boundary)
    finally:
        for task in pending.values():
            task.cancel()


# --- metadata -------------------------------------------------------------------------------

def _metadata_body(core: ArchiveCore, study: str, series: str | None, sop: str | None,
                   base: str, if_none_match: str | None, scope: Scope | None,
                   compress: bool) -> tuple[str, bytes | None, bool]:
    """ETag and body of the metadata of the given entity (blocking, one thread hop).

    ``scope`` is the caller's access scope (archive.access), applied as the archive's own
    async methods apply it."""
    refs = core.instances(study, series, sop, scope)
    if not refs:
        what = "Instance " + sop if sop else "Series " + series if series else "Study " + study
        raise NotFound(f"{what} is not stored")
    etag = etag_of(refs, "metadata", base)
    if if_none_match is not None and etag in if_none_match:
        return etag, None, False
    docs = core.metadata_documents([ref.id for ref in refs])
    body = (b"[" + b",".join(docs) + b"]").replace(_PLACEHOLDER, base.encode("utf-8"))
    if compress and len(body) >= GZIP_MIN_BYTES:
        return etag, gzip.compress(body, 1), True
    return etag, body, False


async def metadata(request: Request, study: str, series: str | None = None,
                   sop: str | None = None) -> Response:
    """Study, series or instance metadata as DICOM JSON with BulkDataURIs (PS3.18 10.4.1.1.2)."""
    for name, value in (("study", study), ("series", series), ("instance", sop)):
        if value is not None:
            check_uid(value, name)
    ranges = requested_ranges(request.headers, request.query_params.getlist("accept"),
                              DICOM_JSON)
    web = service(request)
    if wants_xml(ranges, "Metadata"):
        return await _metadata_xml(request, web, study, series, sop)
    inm = request.headers.get("if-none-match")
    scope, compress, base = current_scope.get(), accepts_gzip(request), web.base_url(request)
    etag, body, gzipped = await web.archive.run(_metadata_body, web.archive.core, study,
                                                series, sop, base, inm, scope, compress)
    if body is None:
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        etag, body, gzipped = await web.archive.run(_metadata_body, web.archive.core, study,
                                                    series, sop, base, None, scope, compress)
    assert body is not None
    return encoded_json_response(body, gzipped=gzipped, headers=cache_headers(etag))


def metadata_geometry(doc: dict[str, Any]) -> dict[str, Any]:
    """Values of an instance's metadata that locate its frames."""

    def first(tag: str, default: Any = None) -> Any:
        value = doc.get(tag, {}).get("Value")
        return value[0] if value else default

    return {"rows": first("00280010"), "columns": first("00280011"),
            "samples_per_pixel": first("00280002", 1), "bits_allocated": first("00280100"),
            "photometric_interpretation": first("00280004", ""),
            "number_of_frames": first("00280008", 1)}


def _xml_body(core: ArchiveCore, study: str, series: str | None, sop: str | None, base: str,
              scope: Scope | None, boundary: str) -> tuple[str, bytes]:
    etag, body, _ = _metadata_body(core, study, series, sop, base, None, scope, False)
    assert body is not None
    return etag, xml_multipart(orjson.loads(body), boundary)


async def _metadata_xml(request: Request, web: DicomWeb, study: str, series: str | None,
                        sop: str | None) -> Response:
    """Metadata as multipart/related NativeDicomModel parts (PS3.18 8.7.3.2)."""
    boundary = multipart.new_boundary()
    etag, body = await web.archive.run(_xml_body, web.archive.core, study, series, sop,
                                       web.base_url(request), current_scope.get(), boundary)
    etag = etag[:-1] + '-xml"'
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    return Response(body, media_type=multipart.content_type(XML_MEDIA_TYPE, boundary),
                    headers=cache_headers(etag))
