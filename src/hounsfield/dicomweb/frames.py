"""WADO-RS frames and bulk data (PS3.18 10.4.1.1.3, 10.4.1.1.4).

A native frame is one ranged read at Pixel Data offset + (n - 1) x frame length: no
parsing of the object. The frame length comes from the instance's stored metadata (one
primary-key lookup, cached). Compressed frames are sent as stored when the client accepts
their syntax, or decoded to native pixels in the render pool when it asks for those.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import orjson
from pydicom import dcmread
from pydicom.dataset import Dataset
from starlette.requests import Request
from starlette.responses import Response

from hounsfield.archive import InstanceRef
from hounsfield.dicomweb import multipart
from hounsfield.dicomweb.accept import requested_ranges
from hounsfield.dicomweb.negotiation import (
    NATIVE_LITTLE_ENDIAN, OCTET_STREAM, FramePlan, frame_options, plan_frames,
)
from hounsfield.dicomweb.service import (
    DicomWeb, cache_headers, etag_of, not_modified, service,
)
from hounsfield.dicomweb.wado import metadata_geometry, read_range, read_whole, source_of
from hounsfield.errors import InvalidRequest, NotAcceptable, NotFound
from hounsfield.imaging.frames import extract_frames

DEFAULT_FRAME_ACCEPT = f'multipart/related; type="{OCTET_STREAM}"'
MAX_FRAMES_PER_REQUEST = 10000
_GEOMETRY_CACHE_SIZE = 4096
_geometry: OrderedDict[tuple[int, str], tuple[int, int]] = OrderedDict()
_geometry_lock = threading.Lock()


def parse_frame_list(text: str) -> list[int]:
    """``1,3,5`` as frame numbers (PS3.18 10.4.1.1.3: 1-based, comma-separated)."""
    numbers = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise InvalidRequest(f'Path segment "frames" must list frame numbers from 1, '
                                 f"comma-separated, not {text[:80]!r}")
        numbers.append(int(item))
    if len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise InvalidRequest(f'Path segment "frames" lists more than {MAX_FRAMES_PER_REQUEST} '
                             "frames")
    return numbers


def _native_geometry(web: DicomWeb, ref: InstanceRef) -> tuple[int, int] | None:
    """(frame length in bytes, number of frames) of a native little-endian object, or None
    when its frames are not byte-aligned ranges (1-bit pixels) and need the general path."""
    key = (ref.id, ref.sha256)
    with _geometry_lock:
        if key in _geometry:
            _geometry.move_to_end(key)
            return _geometry[key]
    docs = web.archive.core.metadata_documents([ref.id])
    if not docs:
        raise NotFound(f"Instance {ref.sop_instance_uid} is not stored")
    g = metadata_geometry(orjson.loads(docs[0]))
    if not g["rows"] or not g["columns"] or not g["bits_allocated"]:
        raise NotFound(f"Instance {ref.sop_instance_uid} has no image pixel attributes")
    bits, samples = int(g["bits_allocated"]), int(g["samples_per_pixel"] or 1)
    if bits % 8:
        return None
    length = int(g["rows"]) * int(g["columns"]) * samples * (bits // 8)
    if g["photometric_interpretation"] == "YBR_FULL_422" and samples == 3:
        length = length // 3 * 2  # PS3.3 C.7.6.3.1.2: chroma shared by pixel pairs
    count = max(int(g["number_of_frames"] or 1), 1)
    with _geometry_lock:
        _geometry[key] = (length, count)
        if len(_geometry) > _GEOMETRY_CACHE_SIZE:
            _geometry.popitem(last=False)
    return length, count


def _read_native_frames(web: DicomWeb, ref: InstanceRef, numbers: list[int]) -> list[bytes] | None:
    """Frames by ranged reads (blocking); None when the general path is needed."""
    geometry = _native_geometry(web, ref)
    if geometry is None:
        return None
    length, count = geometry
    if length * count > ref.pixel_data_length:
        return None  # attributes disagree with the value; let the parser explain
    out = []
    for number in numbers:
        if number > count:
            raise NotFound(f"Frame {number} does not exist: the instance has {count} "
                           f"frame{'s' if count != 1 else ''}")
        out.append(read_range(web, ref, ref.pixel_data_offset + (number - 1) * length, length))
    return out


def _read_frames(web: DicomWeb, ref: InstanceRef, numbers: list[int]) -> list[bytes]:
    """Frames as stored, native ones little endian (blocking)."""
    if (ref.transfer_syntax_uid in NATIVE_LITTLE_ENDIAN and ref.pixel_data_offset >= 0
            and ref.pixel_data_length >= 0):
        frames = _read_native_frames(web, ref, numbers)
        if frames is not None:
            return frames
    path = web.archive.local_path(ref)
    source = path if path is not None else read_whole(web, ref)
    return [f.data for f in extract_frames(source, numbers)]


def decode_frames(source: str | bytes, numbers: list[int]) -> list[bytes]:
    """Frames decoded to native little-endian pixels, colour by pixel (runs in the pool)."""
    import numpy as np

    from hounsfield.imaging.decode import decode_frame

    out = []
    for number in numbers:
        array = decode_frame(source, number - 1)
        out.append(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
    return out


async def frames(request: Request, study: str, series: str, sop: str,
                 frame_list: str) -> Response:
    """Frames of an instance as multipart/related parts (PS3.18 10.4.1.1.3)."""
    web = service(request)
    numbers = parse_frame_list(frame_list)
    options = frame_options(requested_ranges(
        request.headers, request.query_params.getlist("accept"), DEFAULT_FRAME_ACCEPT))
    if not options:
        raise NotAcceptable("Frames are offered as multipart/related application/octet-stream "
                            "or compressed image types; the request accepts none of these")
    ref = (await web.refs(study, series, sop))[0]
    if ref.pixel_data_offset < 0:
        raise NotFound(f"Instance {sop} has no pixel data, so it has no frames")
    plan = plan_frames(options, ref.transfer_syntax_uid)
    if not plan.multipart and len(numbers) > 1:
        raise NotAcceptable("Several frames need a multipart/related response")
    etag = etag_of([ref], "frames", frame_list, plan.media_type, plan.transfer_syntax_uid)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    if plan.decode:
        data = await web.pool.run(decode_frames, await source_of(web, ref), numbers)
    else:
        data = await web.archive.run(_read_frames, web, ref, numbers)
    return _frames_response(data, plan, cache_headers(etag))


def _frames_response(data: list[bytes], plan: FramePlan, headers: dict[str, str]) -> Response:
    part_type = f"{plan.media_type}; transfer-syntax={plan.transfer_syntax_uid}"
    if not plan.multipart:
        return Response(data[0], media_type=part_type, headers=headers)
    boundary = multipart.new_boundary()
    pieces = []
    for index, frame in enumerate(data):
        pieces.append(multipart.part_head(boundary, part_type, length=len(frame),
                                          first=index == 0))
        pieces.append(frame)
    pieces.append(multipart.closing(boundary))
    return Response(b"".join(pieces), media_type=multipart.content_type(
        plan.media_type, boundary), headers=headers)


# --- bulk data ------------------------------------------------------------------------------

def _find_element(ds: Dataset, tag: int) -> Any:
    """The first element with ``tag``, at the top level or inside sequences."""
    if tag in ds:
        return ds[tag]
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                found = _find_element(item, tag)
                if found is not None:
                    return found
    return None


def read_bulk_element(source: str | bytes, tag: int) -> bytes:
    """A non-pixel bulk data value, read from the stored object (blocking)."""
    import io

    fp = open(source, "rb") if isinstance(source, str) else io.BytesIO(source)
    with fp:
        ds = dcmread(fp, stop_before_pixels=True)
    elem = _find_element(ds, tag)
    if elem is None or elem.value is None:
        raise NotFound(f"The instance has no bulk data element {tag:08X}")
    value = elem.value
    if not isinstance(value, bytes | bytearray):
        # Only binary VRs (OB, OW, OF, ...) become BulkDataURIs (PS3.18 F.2.7).
        raise NotFound(f"Element {tag:08X} of the instance is not bulk data")
    return bytes(value)


async def bulkdata(request: Request, study: str, series: str, sop: str, tag: str) -> Response:
    """A BulkDataURI target (PS3.18 10.4.1.1.4): Pixel Data as frames or the whole value,
    any other binary element from the stored object."""
    web = service(request)
    if len(tag) != 8 or not all(c in "0123456789abcdefABCDEF" for c in tag):
        raise InvalidRequest(f'Path segment "tag" must be 8 hex digits, not {tag[:40]!r}')
    tag_value = int(tag, 16)
    ref = (await web.refs(study, series, sop))[0]
    ranges = requested_ranges(request.headers, request.query_params.getlist("accept"),
                              DEFAULT_FRAME_ACCEPT)
    options = frame_options(ranges)
    etag = etag_of([ref], "bulkdata", tag.upper(), request.headers.get("accept", ""))
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    headers = cache_headers(etag)
    if tag_value in (0x7FE00010, 0x7FE00008, 0x7FE00009) and ref.pixel_data_offset >= 0:
        plan = plan_frames(options, ref.transfer_syntax_uid)
        if ref.pixel_data_length >= 0 and not plan.decode:
            # The whole native value, as one part.
            data = [await web.archive.run(read_range, web, ref, ref.pixel_data_offset,
                                          ref.pixel_data_length)]
        else:
            count = ref.number_of_frames or 1
            numbers = list(range(1, count + 1))
            if plan.decode:
                data = await web.pool.run(decode_frames, await source_of(web, ref), numbers)
            else:
                data = await web.archive.run(_read_frames, web, ref, numbers)
        return _frames_response(data, plan, headers)
    if not any(o.media_type in (OCTET_STREAM, "*/*", "application/*") for o in options):
        raise NotAcceptable("Bulk data is offered as application/octet-stream only")
    value = await web.archive.run(read_bulk_element, await source_of(web, ref), tag_value)
    plan = FramePlan(OCTET_STREAM, "1.2.840.10008.1.2.1", False,
                     any(o.multipart for o in options))
    return _frames_response([value], plan, headers)
