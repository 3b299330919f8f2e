"""STOW-RS (PS3.18 10.5): store instances sent as multipart/related application/dicom.

The body is parsed as it arrives; each part streams into its own ingest session (the one
way in, DESIGN rule 1), so a multi-gigabyte upload never sits in memory. Parts are kept
concurrently (a few at a time) while the next ones are still arriving.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, field
from typing import Any

from pydicom import dcmread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hounsfield.archive import IngestResult, IngestStatus
from hounsfield.archive.ingest import IngestSession
from hounsfield.dicomweb.accept import parse_media_type
from hounsfield.dicomweb.multipart import MultipartParser, PartData, PartEnd, PartStart
from hounsfield.dicomweb.service import (
    DicomWeb, check_uid, instance_url, json_response, service, study_url,
)
from hounsfield.errors import HounsfieldError, InvalidRequest

log = logging.getLogger(__name__)

# PS3.18 10.5.3 / PS3.4 B.2.3 FailureReason values used here.
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700
DATASET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
CONCURRENT_INGESTS = 4
# Bytes of a part kept back until its Study Instance UID is known (POST /studies/{study}).
PEEK_LIMIT = 1 << 20
PREAMBLE_BYTES = 132


@dataclass
class PartOutcome:
    """What became of one part: the ingest result or why it failed before ingest."""

    result: IngestResult | None = None
    failure_reason: int | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    reason: str | None = None


@dataclass
class _Part:
    index: int
    session: IngestSession | None
    outcome: PartOutcome | None = None  # decided before ingest (bad type, wrong study)
    held: list[bytes] = field(default_factory=list)  # the part's first bytes, kept back
    held_bytes: int = 0
    hold_limit: int = 0
    checked: bool = False  # the held bytes were examined and written


def _peek_uids(head: bytes) -> tuple[str | None, str | None, str | None]:
    """(study, SOP class, SOP instance) from the first bytes of a Part 10 stream."""
    try:
        ds = dcmread(io.BytesIO(head), stop_before_pixels=True,
                     specific_tags=[0x0020000D, 0x00080016, 0x00080018])
    except Exception:
        return None, None, None
    return (str(ds.get("StudyInstanceUID", "") or "") or None,
            str(ds.get("SOPClassUID", "") or "") or None,
            str(ds.get("SOPInstanceUID", "") or "") or None)


class StowUpload:
    """One STOW-RS request: parts in, outcomes out, in the order the parts came."""

    def __init__(self, web: DicomWeb, request: Request, study: str | None) -> None:
        self.web = web
        self.request = request
        self.study = study
        self.outcomes: list[PartOutcome | None] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.slots = asyncio.Semaphore(CONCURRENT_INGESTS)
        self.part: _Part | None = None

    async def run(self, boundary: str, default_type: str) -> None:
        parser = MultipartParser(boundary)
        self.default_type = default_type
        try:
            async for chunk in self.request.stream():
                for event in parser.feed(chunk):
                    await self._on(event)
            parser.close()
        except (InvalidRequest, ClientDisconnect) as exc:
            if self.part is not None:
                await self._fail_current(CANNOT_UNDERSTAND, f"Part {self.part.index + 1}: "
                                         + getattr(exc, "message", "the client went away"))
            if not self.outcomes:
                await self._drain()
                raise InvalidRequest(f"The body is not a readable multipart/related message: "
                                     f"{getattr(exc, 'message', exc)}") from None
        finally:
            await self._drain()

    async def _drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
            self.tasks.clear()

    async def _on(self, event: PartStart | PartData | PartEnd) -> None:
        if isinstance(event, PartStart):
            await self._start(event.headers)
        elif isinstance(event, PartData):
            await self._data(event.data)
        else:
            await self._end()

    async def _start(self, headers: dict[str, str]) -> None:
        index = len(self.outcomes)
        self.outcomes.append(None)
        media_type, _ = parse_media_type(headers.get("content-type", self.default_type))
        if media_type != "application/dicom":
            self.part = _Part(index, None, PartOutcome(
                failure_reason=CANNOT_UNDERSTAND,
                reason=f"Part {index + 1} has Content-Type {media_type!r}; this server "
                       "stores application/dicom parts only"))
            return
        session = await self.web.archive.begin_ingest(self.web.origin(self.request))
        self.part = _Part(index, session,
                          hold_limit=PEEK_LIMIT if self.study is not None else PREAMBLE_BYTES)

    async def _data(self, data: bytes) -> None:
        part = self.part
        if part is None or part.session is None:
            return  # a part already failed: its bytes are dropped
        if not part.checked:
            part.held.append(data)
            part.held_bytes += len(data)
            if part.held_bytes >= part.hold_limit:
                await self._check_head(part)
            return
        await part.session.write(data)

    async def _check_head(self, part: _Part) -> None:
        """Examine the part's first bytes, then write them: add the preamble some clients
        leave out, and refuse an instance of another study before it is stored
        (PS3.18 10.5.1)."""
        head = b"".join(part.held)
        part.checked = True
        part.held, part.held_bytes = [], 0
        assert part.session is not None
        if head[128:132] != b"DICM" and head[:2] == b"\x02\x00":
            # File Meta Information without the 128-byte preamble and "DICM" (as pydicom
            # writes by default): the data set is complete, the stored file gets the
            # PS3.10 7.1 preamble so it is a valid Part 10 file.
            log.info("STOW-RS part %d has no Part 10 preamble; adding it", part.index + 1)
            head = bytes(128) + b"DICM" + head
        if self.study is None:
            await part.session.write(head)
            return
        study, sop_class, sop = await self.web.archive.run(_peek_uids, head)
        if study is not None and study != self.study:
            await part.session.abort()
            part.session = None
            part.outcome = PartOutcome(
                failure_reason=DATASET_MISMATCH, sop_class_uid=sop_class,
                sop_instance_uid=sop,
                reason=f"Part {part.index + 1} belongs to study {study}, not {self.study}")
            return
        await part.session.write(head)

    async def _end(self) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if part.session is not None and not part.checked:
            await self._check_head(part)
        if part.session is None:
            self.outcomes[part.index] = part.outcome
            return
        await self.slots.acquire()
        self.tasks.append(asyncio.ensure_future(self._finish(part.index, part.session)))

    async def _finish(self, index: int, session: IngestSession) -> None:
        try:
            result = await session.finish()
            outcome = PartOutcome(result=result)
            if (self.study is not None and result.ok and result.study_instance_uid
                    and result.study_instance_uid != self.study):
                # Its header was too long to peek at: undo the store it should not have had.
                if result.status is IngestStatus.STORED:
                    await self.web.archive.delete(sop_instance_uid=result.sop_instance_uid)
                outcome = PartOutcome(
                    failure_reason=DATASET_MISMATCH, sop_class_uid=result.sop_class_uid,
                    sop_instance_uid=result.sop_instance_uid,
                    reason=f"Part {index + 1} belongs to study {result.study_instance_uid}, "
                           f"not {self.study}")
            self.outcomes[index] = outcome
        except HounsfieldError as exc:
            self.outcomes[index] = PartOutcome(failure_reason=exc.dimse_status,
                                               reason=exc.message)
        except Exception as exc:
            log.exception("Storing STOW-RS part %d failed", index + 1)
            self.outcomes[index] = PartOutcome(failure_reason=PROCESSING_FAILURE,
                                               reason=str(exc))
        finally:
            self.slots.release()

    async def _fail_current(self, reason: int, text: str) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if part.session is not None:
            await part.session.abort()
        self.outcomes[part.index] = part.outcome or PartOutcome(failure_reason=reason,
                                                                reason=text)


def _response_body(outcomes: list[PartOutcome], base: str,
                   study: str | None) -> tuple[int, dict[str, Any]]:
    """Status and DICOM JSON body of a STOW-RS response (PS3.18 10.5.3)."""
    referenced, failed, warnings = [], [], False
    studies: set[str] = set()
    for outcome in outcomes:
        result = outcome.result
        if result is not None and result.ok:
            item: dict[str, Any] = {
                "00081150": {"vr": "UI", "Value": [result.sop_class_uid]},
                "00081155": {"vr": "UI", "Value": [result.sop_instance_uid]},
                "00081190": {"vr": "UR", "Value": [instance_url(
                    base, result.study_instance_uid or "", result.series_instance_uid or "",
                    result.sop_instance_uid or "")]},
            }
            if result.warning:
                # Coercion of data elements (0xB000) is the closest WarningReason.
                item["00081196"] = {"vr": "US", "Value": [0xB000]}
                warnings = True
            referenced.append(item)
            studies.add(result.study_instance_uid or "")
            continue
        sop_class = outcome.sop_class_uid or (result.sop_class_uid if result else None)
        sop = outcome.sop_instance_uid or (result.sop_instance_uid if result else None)
        reason = outcome.failure_reason or (result.failure_reason if result else None) \
            or PROCESSING_FAILURE
        failed_item: dict[str, Any] = {
            "00081150": {"vr": "UI", "Value": [sop_class]} if sop_class else {"vr": "UI"},
            "00081155": {"vr": "UI", "Value": [sop]} if sop else {"vr": "UI"},
            "00081197": {"vr": "US", "Value": [reason]},
        }
        failed.append(failed_item)
    body: dict[str, Any] = {}
    retrieve_study = study or (next(iter(studies)) if len(studies) == 1 else None)
    if retrieve_study and referenced:
        body["00081190"] = {"vr": "UR", "Value": [study_url(base, retrieve_study)]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if not failed and not warnings:
        status = 200
    elif referenced:
        status = 202
    else:
        status = 409
    return status, body


async def store(request: Request, study: str | None = None) -> Response:
    """POST /studies or /studies/{study} (PS3.18 10.5)."""
    web = service(request)
    if study is not None:
        check_uid(study, "study")
    media_type, params = parse_media_type(request.headers.get("content-type", ""))
    if media_type != "multipart/related":
        raise HounsfieldError(
            f"STOW-RS takes multipart/related; type=\"application/dicom\", not "
            f"{media_type or 'a body without Content-Type'!r}", http_status=415)
    part_type = (params.get("type") or "application/dicom").lower()
    if part_type != "application/dicom":
        raise HounsfieldError(
            f'STOW-RS parts of type {part_type!r} are not supported; send '
            'type="application/dicom"', http_status=415)
    boundary = params.get("boundary")
    if not boundary:
        raise InvalidRequest("The Content-Type has no boundary parameter (RFC 2046 5.1.1)")
    upload = StowUpload(web, request, study)
    await upload.run(boundary, part_type)
    outcomes = [o or PartOutcome(failure_reason=PROCESSING_FAILURE, reason="not processed")
                for o in upload.outcomes]
    if not outcomes:
        raise InvalidRequest("The multipart body holds no parts")
    status, body = _response_body(outcomes, web.base_url(request), study)
    # The reason of each failure, in words, as HTTP warnings (RFC 7234 5.5 code 299).
    host = request.url.hostname or "hounsfield"
    texts = []
    for index, outcome in enumerate(outcomes):
        text = outcome.reason or (outcome.result.reason if outcome.result else None)
        if text and not (outcome.result is not None and outcome.result.ok):
            if not text.startswith("Part "):
                text = f"Part {index + 1}: {text}"
            texts.append('299 {} "{}"'.format(host, text.replace('"', "'")[:300]))
    headers = {"Warning": ", ".join(texts[:20])} if texts else None
    return await json_response(request, body, status_code=status, headers=headers)
