"""WADO-RS rendered resources and thumbnails (PS3.18 10.4.1.1.5, 10.4.1.1.6).

Rendering (decode, Modality and VOI LUT, viewport, JPEG/PNG encoding) is the imaging
layer's; it runs in the render pool so the loop never stalls (DESIGN rule 4). A study or
series renders to one image per instance, sent as multipart/related.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hounsfield.archive import InstanceRef
from hounsfield.dicomweb import multipart
from hounsfield.dicomweb.accept import MediaRange, requested_ranges
from hounsfield.dicomweb.service import (
    DicomWeb, cache_headers, etag_of, not_modified, service, single_param,
)
from hounsfield.dicomweb.wado import source_of
from hounsfield.errors import HounsfieldError, InvalidRequest, NotAcceptable, NotFound
from hounsfield.imaging.render import (
    RENDERED_MEDIA_TYPES, parse_quality, parse_viewport, parse_window, render, thumbnail,
)

DEFAULT_THUMBNAIL_SIZE = 128


def rendered_media_type(ranges: list[MediaRange], *, multipart_ok: bool) -> tuple[str, bool]:
    """The first rendered media type the request accepts (JPEG when anything goes), and
    whether it was asked for as multipart/related."""
    for media in ranges:
        if media.type in ("multipart/related", "multipart/*"):
            if not multipart_ok:
                continue
            wants_multipart, candidate = True, media.part_type or "image/jpeg"
        else:
            # */* on a study or series: its default, every image as multipart/related.
            wants_multipart, candidate = media.type == "*/*" and multipart_ok, media.type
        for offered in RENDERED_MEDIA_TYPES:
            if MediaRange(candidate).matches(offered):
                return offered, wants_multipart
    raise NotAcceptable("Rendered images are offered as image/jpeg or image/png; the "
                        "request accepts neither")


def render_options(request: Request) -> dict[str, Any]:
    """``window``, ``viewport`` and ``quality`` (PS3.18 8.3.5.1) for ``imaging.render``."""
    known = {"window", "viewport", "quality", "accept", "annotation", "charset",
             "iccprofile"}
    for name in request.query_params:
        if name not in known:
            raise InvalidRequest(f'Parameter "{name}" is not a rendering parameter '
                                 "(window, viewport, quality, annotation, accept)")
    options: dict[str, Any] = {}
    if (text := single_param(request, "window")) is not None:
        options["window"] = parse_window(text)
    if (text := single_param(request, "viewport")) is not None:
        options["viewport"] = parse_viewport(text)
    if (text := single_param(request, "quality")) is not None:
        options["quality"] = parse_quality(text)
    iccprofile = single_param(request, "iccprofile")
    if iccprofile not in (None, "", "no"):
        raise InvalidRequest(f'Parameter "iccprofile" value {iccprofile!r} is not supported '
                             '(only "no")')
    return options


def has_pixels(ref: InstanceRef) -> bool:
    return ref.pixel_data_offset >= 0


async def _render_one(web: DicomWeb, ref: InstanceRef, frame_index: int, media_type: str,
                      options: dict[str, Any]) -> bytes:
    if not has_pixels(ref):
        raise NotAcceptable(f"Instance {ref.sop_instance_uid} has no pixel data to render")
    count = ref.number_of_frames or 1
    if frame_index >= count:
        raise NotFound(f"Frame {frame_index + 1} does not exist: the instance has {count} "
                       f"frame{'s' if count != 1 else ''}")
    return await web.pool.run(render, await source_of(web, ref), frame_index,
                              media_type=media_type, **options)


async def rendered(request: Request, study: str, series: str | None = None,
                   sop: str | None = None, frame_list: str | None = None) -> Response:
    """A rendered instance or frame as one image; a series or study as multipart."""
    web = service(request)
    single = sop is not None
    ranges = requested_ranges(request.headers, request.query_params.getlist("accept"),
                              "image/jpeg" if single else 'multipart/related; type="image/jpeg"')
    media_type, as_multipart = rendered_media_type(ranges, multipart_ok=not single)
    options = render_options(request)
    refs = await web.refs(study, series, sop)
    etag = etag_of(refs, "rendered", media_type, frame_list or "", str(sorted(
        (k, str(v)) for k, v in options.items())))
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    headers = cache_headers(etag)
    if single:
        frame_index = 0
        if frame_list is not None:
            from hounsfield.dicomweb.frames import parse_frame_list

            numbers = parse_frame_list(frame_list)
            if len(numbers) != 1:
                raise InvalidRequest('Path segment "frames" of a rendered frame must name one '
                                     "frame")
            frame_index = numbers[0] - 1
        body = await _render_one(web, refs[0], frame_index, media_type, options)
        return Response(body, media_type=media_type, headers=headers)
    images = [ref for ref in refs if has_pixels(ref)]
    if not images:
        raise NotAcceptable("Nothing in this study or series has pixel data to render")
    if not as_multipart:
        # A single image asked for (Accept: image/jpeg): the first image, as other
        # servers answer it; multipart/related gets every instance.
        body = await _render_one(web, images[0], 0, media_type, options)
        return Response(body, media_type=media_type, headers=headers)
    boundary = multipart.new_boundary()
    return StreamingResponse(_stream_rendered(web, images, media_type, options, boundary),
                             media_type=multipart.content_type(media_type, boundary),
                             headers=headers)


async def _stream_rendered(web: DicomWeb, refs: list[InstanceRef], media_type: str,
                           options: dict[str, Any], boundary: str) -> AsyncIterator[bytes]:
    """One part per image, in order, with as many renders in flight as pool workers."""

    async def one(ref: InstanceRef) -> bytes | None:
        try:
            return await _render_one(web, ref, 0, media_type, options)
        except HounsfieldError:
            return None  # an image this server cannot decode is left out of the series

    ahead = max(web.pool.workers, 1)
    pending: dict[int, asyncio.Future[bytes | None]] = {}
    first = True
    try:
        for index in range(len(refs)):
            for later in range(index, min(index + ahead, len(refs))):
                if later not in pending:
                    pending[later] = asyncio.ensure_future(one(refs[later]))
            body = await pending.pop(index)
            if body is None:
                continue
            yield multipart.part_head(boundary, media_type, length=len(body), first=first)
            yield body
            first = False
        yield multipart.closing(boundary)
    finally:
        for task in pending.values():
            task.cancel()


async def thumbnail_of(request: Request, study: str, series: str | None = None,
                       sop: str | None = None) -> Response:
    """A small JPEG of an instance, or of the middle image of a series or study's first
    series (PS3.18 10.4.1.1.6)."""
    web = service(request)
    ranges = requested_ranges(request.headers, request.query_params.getlist("accept"),
                              "image/jpeg")
    if not any(r.matches("image/jpeg") for r in ranges):
        raise NotAcceptable("Thumbnails are offered as image/jpeg only")
    size = DEFAULT_THUMBNAIL_SIZE
    if (text := single_param(request, "viewport")) is not None:
        viewport = parse_viewport(text)
        size = max(v for v in viewport[:2] if v is not None)
    refs = [ref for ref in await web.refs(study, series, sop) if has_pixels(ref)]
    if not refs:
        raise NotFound("Nothing here has pixel data for a thumbnail")
    first_series = refs[0].series_instance_uid
    in_series = [ref for ref in refs if ref.series_instance_uid == first_series]
    ref = in_series[len(in_series) // 2]
    etag = etag_of([ref], "thumbnail", str(size))
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = await web.pool.run(thumbnail, await source_of(web, ref), size)
    return Response(body, media_type="image/jpeg", headers=cache_headers(etag))
