"""The one way in (DESIGN rule 1): every object, whatever protocol brought it, is kept here.

``Ingestor.ingest_bytes`` and ``Ingestor.ingest_writer`` are synchronous (they run in worker
threads or processes); ``IngestSession`` is the streaming, asyncio face used by C-STORE and
STOW-RS. Success is returned only once the blob is durable and its index row committed
(DESIGN rule 2); a rejected object leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import io
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy.exc import IntegrityError

from hounsfield.archive.dicomjson import compress
from hounsfield.archive.parse import ParsedInstance, parse_header
from hounsfield.errors import HounsfieldError, InvalidObject
from hounsfield.index import records

if TYPE_CHECKING:
    from hounsfield.config import Settings
    from hounsfield.index.database import Database
    from hounsfield.storage.base import BlobStore, BlobWriter

log = logging.getLogger(__name__)

# Objects up to this size are received in memory and parsed before anything is written;
# larger ones stream to the blob store and are parsed from there.
SPOOL_LIMIT = 4 * 1024 * 1024


class IngestStatus(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # already stored; kept the first (reported as success)
    OVERWRITTEN = "overwritten"
    REJECTED = "rejected"  # the object is bad; the sender's fault
    FAILED = "failed"  # we could not keep it (storage or database failure)


@dataclass(frozen=True)
class Origin:
    """Who and what brought an object in: recorded with the event and the audit trail."""

    protocol: str  # "dimse", "stow", "import", "upload", ...
    calling_ae: str | None = None
    called_ae: str | None = None
    remote_address: str | None = None
    user: str | None = None

    def describe(self) -> str:
        parts = [self.protocol]
        if self.calling_ae:
            parts.append(f"ae={self.calling_ae}")
        if self.user:
            parts.append(f"user={self.user}")
        if self.remote_address:
            parts.append(f"from={self.remote_address}")
        return " ".join(parts)


@dataclass
class IngestResult:
    """The outcome of one ingest, with its meaning on every protocol."""

    status: IngestStatus
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    transfer_syntax_uid: str | None = None
    reason: str | None = None
    warning: str | None = None
    error_dimse_status: int | None = None
    error_http_status: int | None = None
    size: int = 0

    @property
    def ok(self) -> bool:
        return self.status in (IngestStatus.STORED, IngestStatus.DUPLICATE,
                               IngestStatus.OVERWRITTEN)

    @property
    def dimse_status(self) -> int:
        """C-STORE response status (PS3.4 B.2.3)."""
        if self.ok:
            # Our warnings (e.g. an accepted Patient ID mismatch) change nothing in the
            # stored object, so they are not C-STORE warnings (0xB000-0xB007).
            return 0x0000
        return self.error_dimse_status or 0xC000

    @property
    def http_status(self) -> int:
        if self.ok:
            return 200
        return self.error_http_status or (500 if self.status is IngestStatus.FAILED else 400)

    @property
    def failure_reason(self) -> int | None:
        """FailureReason (0008,1197) for STOW-RS FailedSOPSequence (PS3.18 10.5.3)."""
        return None if self.ok else self.dimse_status


class Ingestor:
    """Synchronous ingest over an index database and a blob store."""

    def __init__(self, settings: "Settings", db: "Database", store: "BlobStore",
                 on_stored: Callable[[IngestResult], None] | None = None) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.on_stored = on_stored
        self.duplicates = settings["ingest.duplicates"]
        self.patient_mismatch = settings["ingest.patient_id_mismatch"]
        self.max_header = settings["ingest.max_header_bytes"]
        self.max_element = settings["ingest.max_element_bytes"]

    # --- entry points ---------------------------------------------------------------------
    def ingest_bytes(self, data: bytes, origin: Origin) -> IngestResult:
        """Keep one whole Part 10 object held in memory."""
        try:
            parsed = parse_header(io.BytesIO(data), len(data), max_header=self.max_header,
                                  max_element=self.max_element)
        except HounsfieldError as exc:
            return self._rejected(exc)
        except Exception as exc:  # any parser surprise is the object's fault
            return self._rejected(InvalidObject(f"Unreadable DICOM object: {exc}"))
        sha = hashlib.sha256(data).hexdigest()

        def write_blob(key: str) -> None:
            writer = self.store.create(key)
            try:
                writer.write(data)
                writer.commit()
            except BaseException:
                writer.abort()
                raise

        return self._keep(parsed, len(data), sha, write_blob, lambda: None, origin)

    def ingest_writer(self, writer: "BlobWriter", origin: Origin) -> IngestResult:
        """Keep an object already streamed into an uncommitted blob writer (large objects)."""
        try:
            try:
                with writer.reader() as fp:
                    parsed = parse_header(fp, writer.size, max_header=self.max_header,
                                          max_element=self.max_element)
            except HounsfieldError as exc:
                writer.abort()
                return self._rejected(exc)
            except Exception as exc:
                writer.abort()
                return self._rejected(InvalidObject(f"Unreadable DICOM object: {exc}"))
            committed: dict[str, Any] = {}

            def commit_blob(key: str) -> None:
                info = writer.commit()
                committed["sha"] = info.sha256

            # The writer was created under its final key; the checksum is known at commit.
            return self._keep(parsed, writer.size, None, commit_blob, writer.abort, origin,
                              key=writer.key, committed=committed)
        except BaseException:
            writer.abort()
            raise

    def ingest_batch(self, items: list[bytes], origin: Origin) -> list[IngestResult]:
        """Keep many whole objects with one group commit: their blobs are made durable
        together, then indexed in one transaction (``hounsfield import``). Anything that
        needs a decision (a stored duplicate under an overwrite policy, a Patient ID
        mismatch, a race with another writer) goes through the one-by-one path."""
        results: list[IngestResult | None] = [None] * len(items)
        parsed: dict[int, ParsedInstance] = {}
        for i, data in enumerate(items):
            try:
                parsed[i] = parse_header(io.BytesIO(data), len(data),
                                         max_header=self.max_header,
                                         max_element=self.max_element)
            except HounsfieldError as exc:
                results[i] = self._rejected(exc)
            except Exception as exc:
                results[i] = self._rejected(InvalidObject(f"Unreadable DICOM object: {exc}"))
        with self.db.read() as conn:
            stored = records.existing_instances(conn, [p.sop_instance_uid for p in parsed.values()])
            owners = records.study_patients(conn, {p.study_instance_uid for p in parsed.values()})
        fast: list[int] = []
        slow: list[int] = []
        seen: set[str] = set()
        for i, p in parsed.items():
            owner = owners.get(p.study_instance_uid)
            identity = (p.patient["patient_id"], p.patient["issuer_of_patient_id"])
            if p.sop_instance_uid in stored and self.duplicates == "keep_first":
                results[i] = self._result(p, len(items[i]), IngestStatus.DUPLICATE)
            elif (p.sop_instance_uid in stored or p.sop_instance_uid in seen
                  or (owner is not None and owner != identity)):
                slow.append(i)
            else:
                fast.append(i)
                seen.add(p.sop_instance_uid)
                owners.setdefault(p.study_instance_uid, identity)
        keys = {i: uuid.uuid4().hex for i in fast}
        written: list[int] = []
        try:
            with self.store.group_commit():
                for i in fast:
                    writer = self.store.create(keys[i])
                    try:
                        writer.write(items[i])
                        writer.commit()
                    except BaseException:
                        writer.abort()
                        raise
                    written.append(i)
        except (HounsfieldError, OSError) as exc:
            for i in written:
                self.store.delete(keys[i])
            err = exc if isinstance(exc, HounsfieldError) else HounsfieldError(
                f"Storage failed: {exc}", http_status=503, dimse_status=0xA700)
            for i in fast:
                results[i] = self._failed(err, parsed[i])
            fast = []
        if fast:
            rows = [self._rows(parsed[i], keys[i], len(items[i]),
                               hashlib.sha256(items[i]).hexdigest(), origin) for i in fast]
            try:
                with self.db.write() as conn:
                    for row in rows:
                        records.insert_instance(conn, **row, event_origin=origin.describe())
            except Exception:
                # A race or a bad row: index them one by one, each deciding for itself.
                log.info("Group index commit failed; indexing one by one", exc_info=True)
                for i, row in zip(fast, rows):
                    try:
                        with self.db.write() as conn:
                            records.insert_instance(conn, **row, event_origin=origin.describe())
                        results[i] = self._result(parsed[i], len(items[i]), IngestStatus.STORED)
                    except IntegrityError:
                        self.store.delete(keys[i])
                        results[i] = self._result(parsed[i], len(items[i]),
                                                  IngestStatus.DUPLICATE)
                    except Exception as exc:
                        self.store.delete(keys[i])
                        results[i] = self._failed(HounsfieldError(
                            f"Index update failed: {exc}", http_status=503,
                            dimse_status=0xA700), parsed[i])
            else:
                for i in fast:
                    results[i] = self._result(parsed[i], len(items[i]), IngestStatus.STORED)
        for i in slow:
            results[i] = self.ingest_bytes(items[i], origin)
        done = [r for r in results if r is not None]
        assert len(done) == len(items)
        if self.on_stored is not None:
            for i in fast:
                r = results[i]
                if r is not None and r.status is IngestStatus.STORED:
                    try:
                        self.on_stored(r)
                    except Exception:
                        log.exception("A listener of stored objects failed")
        return done

    @staticmethod
    def _result(p: ParsedInstance, size: int, status: IngestStatus) -> IngestResult:
        return IngestResult(
            status=status, sop_class_uid=p.sop_class_uid, sop_instance_uid=p.sop_instance_uid,
            study_instance_uid=p.study_instance_uid, series_instance_uid=p.series_instance_uid,
            transfer_syntax_uid=p.transfer_syntax_uid, size=size,
            warning="; ".join(p.warnings) or None)

    def index_existing_blob(self, key: str) -> IngestResult:
        """Index a blob that is already stored under ``key`` (``hounsfield reindex``)."""
        size = self.store.size(key)
        sha = hashlib.sha256()
        local = self.store.local_path(key)
        try:
            if local is not None:
                with open(local, "rb") as fp:
                    parsed = parse_header(fp, size, max_header=self.max_header,
                                          max_element=self.max_element)
                    fp.seek(0)
                    while chunk := fp.read(1 << 20):
                        sha.update(chunk)
            else:
                data = self.store.read_bytes(key)
                parsed = parse_header(io.BytesIO(data), size, max_header=self.max_header,
                                      max_element=self.max_element)
                sha.update(data)
        except HounsfieldError as exc:
            return self._rejected(exc)
        except Exception as exc:
            return self._rejected(InvalidObject(f"Unreadable DICOM object: {exc}"))
        result = self._result(parsed, size, IngestStatus.STORED)
        source_ae = parsed.source_ae_title
        try:
            self._index(parsed, key, size, sha.hexdigest(),
                        Origin("reindex", calling_ae=source_ae or None), None)
        except IntegrityError:
            result.status = IngestStatus.DUPLICATE
        return result

    # --- the decision and the two durable steps --------------------------------------------
    def _keep(self, parsed: ParsedInstance, size: int, sha: str | None,
              write_blob: Callable[[str], None], discard: Callable[[], None], origin: Origin,
              *, key: str | None = None,
              committed: dict[str, Any] | None = None) -> IngestResult:
        result = IngestResult(
            status=IngestStatus.STORED, sop_class_uid=parsed.sop_class_uid,
            sop_instance_uid=parsed.sop_instance_uid,
            study_instance_uid=parsed.study_instance_uid,
            series_instance_uid=parsed.series_instance_uid,
            transfer_syntax_uid=parsed.transfer_syntax_uid, size=size,
            warning="; ".join(parsed.warnings) or None)
        with self.db.read() as conn:
            existing = records.find_instance(conn, parsed.sop_instance_uid)
            owner = records.study_patient(conn, parsed.study_instance_uid)
        if owner is not None and owner != (parsed.patient["patient_id"],
                                           parsed.patient["issuer_of_patient_id"]):
            message = (f"Study {parsed.study_instance_uid} is stored for Patient ID "
                       f"{owner[0]!r}; this object says {parsed.patient['patient_id']!r}")
            if self.patient_mismatch == "reject":
                discard()
                return self._rejected(InvalidObject(message, dimse_status=0xA900,
                                                    http_status=409), parsed)
            log.warning("%s (accepted)", message)
            result.warning = "; ".join(filter(None, [result.warning, message]))
        if existing is not None:
            if self.duplicates == "keep_first" or (
                    self.duplicates == "overwrite_if_different" and sha is not None
                    and sha == existing.sha256):
                result.status = IngestStatus.DUPLICATE
                discard()
                return result
        blob_key = key or uuid.uuid4().hex
        try:
            write_blob(blob_key)
        except HounsfieldError as exc:
            return self._failed(exc, parsed)
        except OSError as exc:
            return self._failed(HounsfieldError(f"Storage failed: {exc}", http_status=503,
                                                dimse_status=0xA700), parsed)
        if sha is None:
            sha = committed["sha"] if committed else ""
            if (existing is not None and self.duplicates == "overwrite_if_different"
                    and sha == existing.sha256):
                self.store.delete(blob_key)
                result.status = IngestStatus.DUPLICATE
                return result
        try:
            self._index(parsed, blob_key, size, sha, origin, existing)
        except IntegrityError:
            # Another writer stored the same SOP Instance UID in the meantime.
            self.store.delete(blob_key)
            result.status = IngestStatus.DUPLICATE
            return result
        except Exception as exc:
            self.store.delete(blob_key)
            log.exception("Index update failed for %s", parsed.sop_instance_uid)
            return self._failed(HounsfieldError(f"Index update failed: {exc}", http_status=503,
                                                dimse_status=0xA700), parsed)
        if existing is not None:
            self.store.delete(existing.blob_key)
            result.status = IngestStatus.OVERWRITTEN
        if self.on_stored is not None:
            try:
                self.on_stored(result)
            except Exception:
                log.exception("A listener of stored objects failed")
        return result

    def _rows(self, parsed: ParsedInstance, blob_key: str, size: int, sha: str,
              origin: Origin) -> dict[str, Any]:
        instance = {
            **parsed.instance, "blob_key": blob_key, "size": size, "sha256": sha,
            "pixel_data_offset": parsed.pixel_data_offset,
            "pixel_data_length": parsed.pixel_data_length,
            "metadata": compress(parsed.metadata), "attributes": parsed.attributes,
            "source_ae_title": (origin.calling_ae or "")[:16],
        }
        series_row = {**parsed.series, "source_ae_title": (origin.calling_ae or "")[:16]}
        return {"patient": parsed.patient, "study": parsed.study, "series_row": series_row,
                "instance": instance}

    def _index(self, parsed: ParsedInstance, blob_key: str, size: int, sha: str,
               origin: Origin, existing: records.StoredRow | None) -> None:
        row = self._rows(parsed, blob_key, size, sha, origin)
        with self.db.write() as conn:
            if existing is not None:
                records.delete_instances(conn, [existing.id], event_origin=origin.describe())
            records.insert_instance(conn, **row, event_origin=origin.describe())

    # --- outcomes -------------------------------------------------------------------------
    @staticmethod
    def _rejected(exc: HounsfieldError, parsed: ParsedInstance | None = None) -> IngestResult:
        log.info("Rejected object: %s", exc.message)
        return IngestResult(
            status=IngestStatus.REJECTED, reason=exc.message,
            sop_class_uid=parsed.sop_class_uid if parsed else None,
            sop_instance_uid=parsed.sop_instance_uid if parsed else None,
            study_instance_uid=parsed.study_instance_uid if parsed else None,
            error_dimse_status=exc.dimse_status, error_http_status=exc.http_status)

    @staticmethod
    def _failed(exc: HounsfieldError, parsed: ParsedInstance) -> IngestResult:
        log.error("Could not keep %s: %s", parsed.sop_instance_uid, exc.message)
        return IngestResult(
            status=IngestStatus.FAILED, reason=exc.message, sop_class_uid=parsed.sop_class_uid,
            sop_instance_uid=parsed.sop_instance_uid,
            study_instance_uid=parsed.study_instance_uid,
            error_dimse_status=exc.dimse_status, error_http_status=exc.http_status)


@dataclass
class IngestSession:
    """A streaming ingest: ``write`` chunks as they arrive, then ``finish`` or ``abort``.

    Small objects stay in memory and are parsed before anything touches storage; once an
    object passes ``SPOOL_LIMIT`` it streams into a blob writer in a worker thread, so
    memory stays flat for any size (DESIGN rule 3).
    """

    ingestor: Ingestor
    origin: Origin
    _chunks: list[bytes] = field(default_factory=list)
    _buffered: int = 0
    _writer: "BlobWriter | None" = None
    _done: bool = False

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise RuntimeError("This ingest session is finished")
        self._chunks.append(bytes(chunk))
        self._buffered += len(chunk)
        if self._buffered >= SPOOL_LIMIT:
            await asyncio.to_thread(self._spill)

    def _spill(self) -> None:
        if self._writer is None:
            self._writer = self.ingestor.store.create(uuid.uuid4().hex)
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        self._writer.write(data)

    async def finish(self) -> IngestResult:
        if self._done:
            raise RuntimeError("This ingest session is finished")
        self._done = True
        if self._writer is None:
            data = b"".join(self._chunks)
            self._chunks.clear()
            return await asyncio.to_thread(self.ingestor.ingest_bytes, data, self.origin)

        def finish_stream() -> IngestResult:
            self._spill()
            assert self._writer is not None
            return self.ingestor.ingest_writer(self._writer, self.origin)

        return await asyncio.to_thread(finish_stream)

    async def abort(self) -> None:
        self._done = True
        self._chunks.clear()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.abort)
            self._writer = None
