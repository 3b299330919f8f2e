"""WADO-URI (PS3.18 chapter 9): ``/wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..``.

One object per request: the DICOM object itself (optionally transcoded) or a rendered
JPEG or PNG of one frame, with the chapter 9 presentation parameters.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hounsfield.dicomweb.accept import parse_accept
from hounsfield.dicomweb.rendered import has_pixels
from hounsfield.dicomweb.service import cache_headers, etag_of, not_modified, service
from hounsfield.dicomweb.wado import instance_bytes, source_of
from hounsfield.errors import InvalidRequest, NotAcceptable
from hounsfield.imaging.render import check_quality, check_viewport, render
from hounsfield.imaging.transcode import can_transcode

_KNOWN = {"requestType", "studyUID", "seriesUID", "objectUID", "contentType", "charset",
          "anonymize", "annotation", "rows", "columns", "region", "windowCenter",
          "windowWidth", "frameNumber", "imageQuality", "presentationUID",
          "presentationSeriesUID", "transferSyntax"}
_IMAGE_TYPES = ("image/jpeg", "image/png")


def _param(request: Request, name: str, *, required: bool = False) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f'Parameter "{name}" must be given once')
    if not values or values[0] == "":
        if required:
            raise InvalidRequest(f'Parameter "{name}" is required (PS3.18 9.4.1)')
        return None
    return values[0]


def _number(request: Request, name: str, kind: type) -> Any:
    text = _param(request, name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidRequest(f'Parameter "{name}" must be a number, not {text!r}') from None


def _render_options(request: Request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    center, width = _number(request, "windowCenter", float), _number(request, "windowWidth",
                                                                       float)
    if (center is None) != (width is None):
        raise InvalidRequest('Parameters "windowCenter" and "windowWidth" go together')
    if center is not None:
        options["window"] = (center, width, "LINEAR")
    rows, columns = _number(request, "rows", int), _number(request, "columns", int)
    if rows is not None or columns is not None:
        viewport = (columns, rows)
        check_viewport(viewport)
        options["viewport"] = viewport
    if (text := _param(request, "region")) is not None:
        try:
            region = tuple(float(v) for v in text.split(","))
        except ValueError:
            region = ()
        if len(region) != 4 or not all(0.0 <= v <= 1.0 for v in region) \
                or region[0] >= region[2] or region[1] >= region[3]:
            raise InvalidRequest(f'Parameter "region" must be x1,y1,x2,y2 between 0 and 1 '
                                 f"with x1 < x2 and y1 < y2, not {text!r}")
        options["region"] = region
    if (quality := _number(request, "imageQuality", int)) is not None:
        options["quality"] = check_quality(quality)
    return options


async def wado_uri(request: Request) -> Response:
    """Answer one WADO-URI request (PS3.18 9.4)."""
    web = service(request)
    for name in request.query_params:
        if name not in _KNOWN:
            raise InvalidRequest(f'Parameter "{name}" is not a WADO-URI parameter')
    if _param(request, "requestType", required=True) != "WADO":
        raise InvalidRequest('Parameter "requestType" must be WADO')
    study = _param(request, "studyUID", required=True)
    series = _param(request, "seriesUID", required=True)
    sop = _param(request, "objectUID", required=True)
    assert study is not None and series is not None and sop is not None
    if _param(request, "anonymize") not in (None, "no"):
        raise InvalidRequest('Parameter "anonymize" is not supported')
    if _param(request, "presentationUID") is not None:
        raise InvalidRequest('Parameter "presentationUID" is not supported')
    ref = (await web.refs(study, series, sop))[0]
    content_types = _param(request, "contentType")
    if content_types is None:
        # PS3.18 9.4.1.2.4: JPEG for images, the object itself otherwise.
        content_types = "image/jpeg" if has_pixels(ref) else "application/dicom"
    chosen = None
    for media in parse_accept([content_types], parameter='Parameter "contentType"'):
        for offered in ("application/dicom", *_IMAGE_TYPES):
            if media.matches(offered) and (offered == "application/dicom" or has_pixels(ref)):
                chosen = offered
                break
        if chosen:
            break
    if chosen is None:
        raise NotAcceptable(f"Instance {sop} cannot be returned as {content_types}")
    if chosen == "application/dicom":
        target = _param(request, "transferSyntax") or ref.transfer_syntax_uid
        if not can_transcode(ref.transfer_syntax_uid, target):
            raise NotAcceptable(f"Instance {sop} cannot be sent in transfer syntax {target}")
        etag = etag_of([ref], "wado-uri", target)
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        body = await instance_bytes(web, ref, target)
        return Response(body, media_type="application/dicom", headers=cache_headers(etag))
    options = _render_options(request)
    frame = _number(request, "frameNumber", int) or 1
    count = ref.number_of_frames or 1
    if not 1 <= frame <= count:
        raise InvalidRequest(f'Parameter "frameNumber" must be from 1 to {count}, not {frame}')
    etag = etag_of([ref], "wado-uri", chosen, str(frame), str(sorted(
        (k, str(v)) for k, v in options.items())))
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = await web.pool.run(render, await source_of(web, ref), frame - 1, media_type=chosen,
                              **options)
    return Response(body, media_type=chosen, headers=cache_headers(etag))

