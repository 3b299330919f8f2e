"""STOW-RS (PS3.18 10.5): store instances sent as multipart/related application/dicom.

The body is parsed as it arrives. Small parts are gathered into batches kept with the
core's group commit (one flush to disk and one index transaction per batch); a part that
grows past the ingest's in-memory limit streams into its own ingest session instead, so
an upload of any size keeps memory bounded (DESIGN rule 3). Both are the one way in
(DESIGN rule 1), and success is reported only once the objects are durable (rule 2).
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
from hounsfield.archive.ingest import SPOOL_LIMIT, IngestSession
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
# A batch is kept once it holds this many parts or bytes; two batches (or large parts)
# are kept at a time while the next parts arrive.
BATCH_PARTS = 32
BATCH_BYTES = 16 * 1024 * 1024
CONCURRENT_STORES = 2
# Bytes of a part examined before any is stored: its Part 10 preamble, and its Study
# Instance UID when the request names a study (POST /studies/{study}).
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
    failed: PartOutcome | None = None  # decided before ingest (bad type, wrong study)
    chunks: list[bytes] = field(default_factory=list)  # held in memory while small
    size: int = 0
    examine_at: int = PREAMBLE_BYTES
    examined: bool = False
    session: IngestSession | None = None  # once the part is too large to hold


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
        self.origin = web.origin(request)
        self.outcomes: list[PartOutcome | None] = []
        self.tasks: list[asyncio.Future[None]] = []
        self.slots = asyncio.Semaphore(CONCURRENT_STORES)
        self.part: _Part | None = None
        self.batch: list[tuple[int, bytes]] = []
        self.batch_bytes = 0
        self.default_type = "application/dicom"

    async def run(self, boundary: str, default_type: str) -> None:
        parser = MultipartParser(boundary)
        self.default_type = default_type
        try:
            async for chunk in self.request.stream():
                for event in parser.feed(chunk):
                    await self._on(event)
            parser.close()
        except (InvalidRequest, ClientDisconnect) as exc:
            text = getattr(exc, "message", "the client went away")
            await self._fail_current(CANNOT_UNDERSTAND, text)
            if not self.outcomes:
                await self._drain()
                raise InvalidRequest(f"The body is not a readable multipart/related message: "
                                     f"{text}") from None
        finally:
            await self._drain()

    async def _drain(self) -> None:
        if self.batch:
            await self._flush()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
            self.tasks.clear()

    async def _on(self, event: PartStart | PartData | PartEnd) -> None:
        if isinstance(event, PartStart):
            self._start(event.headers)
        elif isinstance(event, PartData):
            await self._data(event.data)
        else:
            await self._end()

    def _start(self, headers: dict[str, str]) -> None:
        index = len(self.outcomes)
        self.outcomes.append(None)
        media_type, _ = parse_media_type(headers.get("content-type", self.default_type))
        self.part = _Part(index, examine_at=PEEK_LIMIT if self.study else PREAMBLE_BYTES)
        if media_type != "application/dicom":
            self.part.failed = PartOutcome(
                failure_reason=CANNOT_UNDERSTAND,
                reason=f"Part {index + 1} has Content-Type {media_type!r}; this server "
                       "stores application/dicom parts only")

    async def _data(self, data: bytes) -> None:
        part = self.part
        if part is None or part.failed is not None:
            return  # a failed part's bytes are dropped
        if part.session is not None:
            await part.session.write(data)
            return
        part.chunks.append(data)
        part.size += len(data)
        if not part.examined and part.size >= part.examine_at:
            await self._examine(part)
        if part.failed is None and part.size >= SPOOL_LIMIT:
            # Too large to hold: from here on it streams into its own ingest session.
            part.session = await self.web.archive.begin_ingest(self.origin)
            await part.session.write(b"".join(part.chunks))
            part.chunks = []

    async def _examine(self, part: _Part) -> None:
        """Add the preamble some clients leave out, and refuse an instance of another
        study before anything is stored (PS3.18 10.5.1)."""
        head = b"".join(part.chunks)
        part.examined = True
        if head[128:132] != b"DICM" and head[:2] == b"\x02\x00":
            # File Meta Information without the 128-byte preamble and "DICM" (pydicom
            # writes so by default): the data set is complete, and the stored file gets
            # the PS3.10 7.1 preamble so that it is a valid Part 10 file.
            log.info("STOW-RS part %d has no Part 10 preamble; adding it", part.index + 1)
            head = bytes(128) + b"DICM" + head
        part.chunks = [head]
        part.size = len(head)
        if self.study is None:
            return
        study, sop_class, sop = await self.web.archive.run(_peek_uids, head)
        if study is not None and study != self.study:
            part.chunks, part.size = [], 0
            part.failed = PartOutcome(
                failure_reason=DATASET_MISMATCH, sop_class_uid=sop_class,
                sop_instance_uid=sop,
                reason=f"Part {part.index + 1} belongs to study {study}, not {self.study}")

    async def _end(self) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if part.failed is None and not part.examined:
            await self._examine(part)
        if part.failed is not None:
            self.outcomes[part.index] = part.failed
            return
        if part.session is not None:
            await self.slots.acquire()
            self.tasks.append(asyncio.ensure_future(self._finish(part.index, part.session)))
            return
        data = b"".join(part.chunks)
        self.batch.append((part.index, data))
        self.batch_bytes += len(data)
        if len(self.batch) >= BATCH_PARTS or self.batch_bytes >= BATCH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        await self.slots.acquire()
        self.tasks.append(asyncio.ensure_future(self._store_batch(batch)))

    async def _store_batch(self, batch: list[tuple[int, bytes]]) -> None:
        try:
            results = await self.web.archive.run(self.web.archive.core.ingestor.ingest_batch,
                                                 [data for _, data in batch], self.origin)
            for (index, _), result in zip(batch, results):
                self.outcomes[index] = await self._checked(index, result)
        except Exception as exc:
            self._failed_all([index for index, _ in batch], exc)
        finally:
            self.slots.release()

    async def _finish(self, index: int, session: IngestSession) -> None:
        try:
            self.outcomes[index] = await self._checked(index, await session.finish())
        except Exception as exc:
            self._failed_all([index], exc)
        finally:
            self.slots.release()

    def _failed_all(self, indexes: list[int], exc: Exception) -> None:
        if isinstance(exc, HounsfieldError):
            reason, text = exc.dimse_status, exc.message
        else:
            log.exception("Storing STOW-RS parts failed")
            reason, text = PROCESSING_FAILURE, str(exc)
        for index in indexes:
            self.outcomes[index] = PartOutcome(failure_reason=reason, reason=text)

    async def _checked(self, index: int, result: IngestResult) -> PartOutcome:
        """The outcome of a stored part, undoing a store into the wrong study (a header
        too long to peek at)."""
        if (self.study is None or not result.ok or not result.study_instance_uid
                or result.study_instance_uid == self.study):
            return PartOutcome(result=result)
        if result.status is IngestStatus.STORED:
            await self.web.archive.delete(sop_instance_uid=result.sop_instance_uid)
        return PartOutcome(
            failure_reason=DATASET_MISMATCH, sop_class_uid=result.sop_class_uid,
            sop_instance_uid=result.sop_instance_uid,
            reason=f"Part {index + 1} belongs to study {result.study_instance_uid}, "
                   f"not {self.study}")

    async def _fail_current(self, reason: int, text: str) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if part.session is not None:
            await part.session.abort()
        self.outcomes[part.index] = part.failed or PartOutcome(
            failure_reason=reason, reason=f"Part {part.index + 1}: {text}")


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
            # A header value is ASCII on one line (RFC 9110 5.5): no quotes, no line breaks.
            clean = " ".join(text.replace('"', "'").split())
            clean = clean.encode("ascii", "replace").decode("ascii")[:300]
            texts.append(f'299 {host} "{clean}"')
    headers = {"Warning": ", ".join(texts[:20])} if texts else None
    return await json_response(request, body, status_code=status, headers=headers)
