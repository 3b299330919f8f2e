"""QIDO-RS (PS3.18 10.6): search for studies, series and instances with the one query model.

Every query parameter that is not a control parameter is a matching key (keyword or
8-digit hex tag); the archive's ``Query`` does the matching, so QIDO-RS and C-FIND agree.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hounsfield.archive import ArchiveCore
from hounsfield.archive.access import Scope, current_scope
from hounsfield.archive.query import Query, QueryLevel, build_select, resolve_tag
from hounsfield.dicomweb import multipart
from hounsfield.dicomweb.accept import requested_ranges
from hounsfield.dicomweb.service import (
    DICOM_JSON, GZIP_MIN_BYTES, DicomWeb, accepts_gzip, check_uid, encoded_json_response, instance_url,
    series_url, service, single_param, study_url,
)
from hounsfield.dicomweb.xml import XML_MEDIA_TYPE, wants_xml, xml_multipart
from hounsfield.errors import InvalidRequest

# Parameters that steer the search rather than match (PS3.18 8.3.4).
CONTROL_PARAMETERS = {"limit", "offset", "fuzzymatching", "includefield", "accept", "charset",
                      "emptyfield"}
WARNING_TEXT = ('299 {host} "The number of results exceeded the maximum supported by the '
                'server. Additional results can be requested."')
RETRIEVE_URL = "00081190"


def _int_param(request: Request, name: str, minimum: int) -> int | None:
    text = single_param(request, name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f'Parameter "{name}" must be an integer, not {text!r}') from None
    if value < minimum:
        raise InvalidRequest(f'Parameter "{name}" must be at least {minimum}, not {value}')
    return value


def _bool_param(request: Request, name: str) -> bool:
    text = single_param(request, name)
    if text is None or text == "":
        return False
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise InvalidRequest(f'Parameter "{name}" must be true or false, not {text!r}')
    return value == "true"


def build_query(request: Request, level: QueryLevel, parents: dict[str, str]) -> Query:
    """The archive Query for a QIDO-RS request; InvalidRequest names the bad parameter."""
    web = service(request)
    limit = _int_param(request, "limit", 0)
    offset = _int_param(request, "offset", 0) or 0
    query = Query(level=level, limit=limit, offset=offset,
                  fuzzy=_bool_param(request, "fuzzymatching"),
                  case_insensitive_pn=web.settings["query.case_insensitive_pn"])
    for key, value in parents.items():
        query.add(key, value)
    for name, value in request.query_params.multi_items():
        if name in CONTROL_PARAMETERS:
            continue
        try:
            query.add(name, value)
        except InvalidRequest as exc:
            raise InvalidRequest(f'Parameter "{name}": {exc.message}') from None
    for value in request.query_params.getlist("includefield"):
        for key in value.split(","):
            key = key.strip()
            if not key:
                continue
            if key.lower() == "all":
                query.include_all = True
                continue
            try:
                query.add_return(key)
            except InvalidRequest as exc:
                raise InvalidRequest(f'Parameter "includefield": {exc.message}') from None
    return query


def _wants_xml(request: Request) -> bool:
    ranges = requested_ranges(request.headers, request.query_params.getlist("accept"),
                              DICOM_JSON)
    return wants_xml(ranges, "Search results")


def _add_retrieve_urls(results: list[dict[str, Any]], level: QueryLevel, base: str) -> None:
    """Retrieve URL (0008,1190), a return attribute of every level (PS3.18 10.6.3.3)."""
    for doc in results:
        try:
            study = doc["0020000D"]["Value"][0]
            if level is QueryLevel.STUDY:
                url = study_url(base, study)
            elif level is QueryLevel.SERIES:
                url = series_url(base, study, doc["0020000E"]["Value"][0])
            else:
                url = instance_url(base, study, doc["0020000E"]["Value"][0],
                                   doc["00080018"]["Value"][0])
        except (KeyError, IndexError):
            continue
        doc[RETRIEVE_URL] = {"vr": "UR", "Value": [url]}


def _search_body(core: ArchiveCore, query: Query, scope: Scope | None, level: QueryLevel,
                 base: str, compress: bool, xml_boundary: str | None) -> tuple[int, bytes, bool]:
    """Search, add Retrieve URLs, serialize and compress in one worker-thread hop.

    ``scope`` is the caller's access scope, applied as ``Archive.search`` applies it.
    With ``xml_boundary`` the results are NativeDicomModel parts of a multipart body."""
    results = core.search(query, scope)
    _add_retrieve_urls(results, level, base)
    if xml_boundary is not None:
        return len(results), xml_multipart(results, xml_boundary), False
    body = orjson.dumps(results)
    if compress and len(body) >= GZIP_MIN_BYTES:
        return len(results), gzip.compress(body, 1), True
    return len(results), body, False


async def search(request: Request, level: QueryLevel, parents: dict[str, str]) -> Response:
    """Run one QIDO-RS search and answer with DICOM JSON (PS3.18 10.6.3)."""
    for name, uid in parents.items():
        check_uid(uid, name)
    xml_boundary = multipart.new_boundary() if _wants_xml(request) else None
    web = service(request)
    query = build_query(request, level, parents)
    maximum = web.settings["query.max_results"]
    capped = query.limit is None or query.limit > maximum
    if capped:
        query.limit = maximum
    scope = current_scope.get()
    try:
        count, body, gzipped = await web.archive.run(
            _search_body, web.archive.core, query, scope, level, web.base_url(request),
            accepts_gzip(request), xml_boundary)
    except InvalidRequest as exc:
        raise InvalidRequest(_name_culprit(request, query, exc.message, web)) from None
    headers: dict[str, str] = {}
    if capped and count >= maximum:
        # The server's maximum cut the answer: say so if anything is left (PS3.18 8.3.4.4).
        probe = build_query(request, level, parents)
        probe.limit, probe.offset = 1, query.offset + maximum
        if await web.archive.search(probe):
            host = request.url.hostname or "hounsfield"
            headers["Warning"] = WARNING_TEXT.format(host=host)
    if xml_boundary is not None:
        return Response(body, media_type=multipart.content_type(XML_MEDIA_TYPE, xml_boundary),
                        headers={**headers, "Vary": "Accept, Accept-Encoding"})
    return encoded_json_response(body, gzipped=gzipped, headers=headers)


def _name_culprit(request: Request, query: Query, message: str, web: DicomWeb) -> str:
    """Prefix an error raised while translating the query with the parameter behind it.

    Only runs on the error path: each constraint is translated alone to find the bad one.
    """
    names = {name: value for name, value in request.query_params.multi_items()
             if name not in CONTROL_PARAMETERS}
    for constraint in query.constraints:
        probe = Query(level=query.level, constraints=[constraint], fuzzy=query.fuzzy,
                      case_insensitive_pn=query.case_insensitive_pn)
        try:
            build_select(probe, web.archive.core.db.dialect)
        except InvalidRequest:
            for name, value in names.items():
                try:
                    same = value == constraint.value and resolve_tag(name) == constraint.tag
                except InvalidRequest:
                    same = False
                if same:
                    return f'Parameter "{name}": {message}'
    return message
