"""The archive core: ingest (the one way in), search (the one query model), retrieve, delete.

``Archive`` is the asyncio face that protocol handlers call; blocking work (database, file
system, S3) runs in worker threads so the loop never blocks (DESIGN rule 4). Its
synchronous twin ``ArchiveCore`` serves the command line and worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, TypeVar

import orjson
from sqlalchemy import func, select

from hounsfield.archive import dicomjson
from hounsfield.archive.access import Scope, current_scope
from hounsfield.archive.ingest import (
    SPOOL_LIMIT, IngestResult, IngestSession, IngestStatus, Ingestor, Origin,
)
from hounsfield.archive.query import (
    Query, QueryLevel, build_select, row_to_json, vr_of, wanted_tags,
)
from hounsfield.config import Settings
from hounsfield.errors import NotFound
from hounsfield.index import Database, records
from hounsfield.index.database import sqlite_url
from hounsfield.index.schema import instances, patients, series, studies
from hounsfield.storage import BlobStore, open_store

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Archive", "ArchiveCore", "Origin", "IngestResult", "IngestStatus", "IngestSession",
           "InstanceRef", "Query", "QueryLevel"]


@dataclass(frozen=True)
class InstanceRef:
    """Where one stored instance is and what it is."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str
    size: int
    sha256: str
    instance_number: int | None
    pixel_data_offset: int = -1
    pixel_data_length: int = -1
    number_of_frames: int | None = None
    id: int = 0


_REF_COLUMNS = (studies.c.study_instance_uid, series.c.series_instance_uid,
                instances.c.sop_instance_uid, instances.c.sop_class_uid,
                instances.c.transfer_syntax_uid, instances.c.blob_key, instances.c.size,
                instances.c.sha256, instances.c.instance_number, instances.c.pixel_data_offset,
                instances.c.pixel_data_length, instances.c.number_of_frames, instances.c.id)


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def index_url(settings: Settings) -> str:
    return settings["index.url"] or sqlite_url(settings.data_dir / "index.sqlite")


class ArchiveCore:
    """The archive's synchronous operations over one index database and one blob store."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(index_url(settings), pool_size=settings["index.pool_size"])
        if migrate:
            self.db.migrate()
        self.store: BlobStore = open_store(settings)
        self.listeners: list[Callable[[IngestResult], None]] = []
        self.ingestor = Ingestor(settings, self.db, self.store, on_stored=self._notify)

    def _notify(self, result: IngestResult) -> None:
        for listener in self.listeners:
            listener(result)

    def close(self) -> None:
        self.store.close()
        self.db.close()

    # --- ingest ----------------------------------------------------------------------------
    def ingest_bytes(self, data: bytes, origin: Origin) -> IngestResult:
        return self.ingestor.ingest_bytes(data, origin)

    def ingest_file(self, path: str, origin: Origin) -> IngestResult:
        """Keep a Part 10 file from disk (small files read whole, large ones streamed)."""
        with open(path, "rb") as fh:
            return self.ingest_stream(iter(partial(fh.read, 1 << 20), b""), origin)

    def ingest_stream(self, chunks: Iterable[bytes], origin: Origin) -> IngestResult:
        """Keep a Part 10 object given as chunks (a file, a zip member, an object being
        written): held in memory while small, streamed into a blob once it is large."""
        held: list[bytes] = []
        size = 0
        writer = None
        try:
            for chunk in chunks:
                if writer is not None:
                    writer.write(chunk)
                    continue
                held.append(chunk)
                size += len(chunk)
                if size > SPOOL_LIMIT:
                    writer = self.store.create(uuid.uuid4().hex)
                    for part in held:
                        writer.write(part)
                    held.clear()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is None:
            return self.ingest_bytes(b"".join(held), origin)
        return self.ingestor.ingest_writer(writer, origin)

    # --- search ----------------------------------------------------------------------------
    def search(self, query: Query, scope: Scope | None = None) -> list[dict[str, Any]]:
        """Matching entities as DICOM JSON, with the level's return attributes; only studies
        in ``scope`` when one is given."""
        if query.limit is None or query.limit > self.settings["query.max_results"]:
            query.limit = self.settings["query.max_results"] if query.limit is None else min(
                query.limit, self.settings["query.max_results"])
        stmt = build_select(query, self.db.dialect, scope)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
            docs = [row_to_json(r, query.level) for r in rows]
            wanted = wanted_tags(query)
            missing = ({t for t in wanted if t not in docs[0]} if docs else set())
            if query.include_all or missing:
                self._fill_from_metadata(conn, query, rows, docs, missing)
        if not query.include_all:
            keep = set(wanted) | {"00080005", "00080056"}
            docs = [{k: v for k, v in d.items() if k in keep} for d in docs]
            for d in docs:
                for t in wanted:
                    if t not in d:
                        d[t] = {"vr": vr_of(t)}
        return [dict(sorted(d.items())) for d in docs]

    def _fill_from_metadata(self, conn: Any, query: Query, rows: list[Any],
                            docs: list[dict[str, Any]], missing: set[str]) -> None:
        """Attributes that are not columns come from one instance of each entity."""
        level = query.level
        for row, doc in zip(rows, docs):
            m = row._mapping
            if level is QueryLevel.INSTANCE:
                blob = m["metadata"]
            else:
                stmt = select(instances.c.metadata).join(
                    series, series.c.id == instances.c.series_pk)
                if level is QueryLevel.SERIES:
                    stmt = stmt.where(instances.c.series_pk == m["id"])
                elif level is QueryLevel.STUDY:
                    stmt = stmt.where(series.c.study_pk == m["id"])
                else:
                    stmt = stmt.join(studies, studies.c.id == series.c.study_pk).where(
                        studies.c.patient_pk == m["id"])
                blob = conn.execute(stmt.order_by(instances.c.id).limit(1)).scalar()
            if blob is None:
                continue
            meta = dicomjson.load(blob)
            for tag, elem in meta.items():
                if tag.startswith("0002") or "BulkDataURI" in elem or "InlineBinary" in elem:
                    continue
                if tag in doc:
                    continue
                if query.include_all and level is not QueryLevel.INSTANCE:
                    # Only attributes of the entity's own level and above belong here.
                    if not _belongs(tag, level) and tag not in missing:
                        continue
                if query.include_all or tag in missing:
                    doc[tag] = elem

    def count(self, level: QueryLevel) -> int:
        table = {QueryLevel.PATIENT: patients, QueryLevel.STUDY: studies,
                 QueryLevel.SERIES: series, QueryLevel.INSTANCE: instances}[level]
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def stats(self) -> dict[str, Any]:
        with self.db.read() as conn:
            counts = {
                "patients": conn.execute(select(func.count()).select_from(patients)).scalar_one(),
                "studies": conn.execute(select(func.count()).select_from(studies)).scalar_one(),
                "series": conn.execute(select(func.count()).select_from(series)).scalar_one(),
                "instances": conn.execute(select(func.count()).select_from(instances)).scalar_one(),
                "size_bytes": conn.execute(
                    select(func.coalesce(func.sum(instances.c.size), 0))).scalar_one(),
            }
        return {k: int(v) for k, v in counts.items()}

    # --- retrieve --------------------------------------------------------------------------
    def instances(self, study_instance_uid: str | Iterable[str] | None = None,
                  series_instance_uid: str | Iterable[str] | None = None,
                  sop_instance_uid: str | Iterable[str] | None = None,
                  scope: Scope | None = None) -> list[InstanceRef]:
        stmt = select(*_REF_COLUMNS).join(series, series.c.id == instances.c.series_pk).join(
            studies, studies.c.id == series.c.study_pk)
        st, se, sop = (_as_list(study_instance_uid), _as_list(series_instance_uid),
                       _as_list(sop_instance_uid))
        if st is None and se is None and sop is None:
            raise ValueError("instances() needs at least one UID")
        if st is not None:
            stmt = stmt.where(studies.c.study_instance_uid.in_(st))
        if se is not None:
            stmt = stmt.where(series.c.series_instance_uid.in_(se))
        if sop is not None:
            stmt = stmt.where(instances.c.sop_instance_uid.in_(sop))
        if scope is not None:
            stmt = stmt.where(scope.condition())
        stmt = stmt.order_by(studies.c.id, series.c.series_number, series.c.id,
                             instances.c.instance_number, instances.c.id)
        with self.db.read() as conn:
            return [InstanceRef(*r) for r in conn.execute(stmt).all()]

    def metadata_documents(self, refs_or_ids: list[int]) -> list[bytes]:
        """Serialized DICOM JSON of instances (placeholders still in), in the given order."""
        if not refs_or_ids:
            return []
        with self.db.read() as conn:
            rows = dict(conn.execute(select(instances.c.id, instances.c.metadata)
                                     .where(instances.c.id.in_(refs_or_ids))).all())
        return [dicomjson.decompress(rows[i]) for i in refs_or_ids if i in rows]

    def instance_metadata(self, ref: InstanceRef) -> dict[str, Any]:
        docs = self.metadata_documents([ref.id])
        if not docs:
            raise NotFound(f"Instance {ref.sop_instance_uid} is not stored")
        return orjson.loads(docs[0])  # type: ignore[no-any-return]

    def read_instance(self, ref: InstanceRef, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self.store.read(ref.blob_key, chunk_size)

    def local_path(self, ref: InstanceRef) -> str | None:
        return self.store.local_path(ref.blob_key)

    # --- delete ----------------------------------------------------------------------------
    def delete(self, study_instance_uid: str | None = None, series_instance_uid: str | None = None,
               sop_instance_uid: str | None = None, *, origin: Origin | None = None,
               scope: Scope | None = None) -> int:
        """Remove instances from the index and their blobs; returns how many."""
        refs = self.instances(study_instance_uid, series_instance_uid, sop_instance_uid,
                              scope=scope)
        if not refs:
            raise NotFound("Nothing stored matches "
                           + ", ".join(f"{k} {v}" for k, v in (
                               ("study", study_instance_uid), ("series", series_instance_uid),
                               ("instance", sop_instance_uid)) if v))
        describe = (origin or Origin("api")).describe()
        with self.db.write() as conn:
            keys = records.delete_instances(conn, [r.id for r in refs], event_origin=describe)
        # Blobs go after the index commit: a crash in between leaves orphan blobs, which
        # `hounsfield verify` reports, never index rows that point at nothing.
        for key in keys:
            try:
                self.store.delete(key)
            except Exception:
                log.exception("Could not delete blob %s", key)
        return len(refs)


_LEVEL_GROUPS = {
    QueryLevel.PATIENT: {"0010"},
    QueryLevel.STUDY: {"0010", "0008", "0020", "0032", "0040"},
    QueryLevel.SERIES: {"0008", "0018", "0020", "0040", "0010"},
}


def _belongs(tag: str, level: QueryLevel) -> bool:
    return tag[:4] in _LEVEL_GROUPS.get(level, set())


class Archive:
    """The asyncio face of the archive core."""

    def __init__(self, core: ArchiveCore, executor: ThreadPoolExecutor) -> None:
        self.core = core
        self.settings = core.settings
        self._executor = executor

    @classmethod
    async def open(cls, settings: Settings) -> "Archive":
        executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="archive")
        loop = asyncio.get_running_loop()
        core = await loop.run_in_executor(executor, ArchiveCore, settings)
        return cls(core, executor)

    async def close(self) -> None:
        await self._run(self.core.close)
        self._executor.shutdown(wait=False)

    async def _run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kw))

    @property
    def listeners(self) -> list[Callable[[IngestResult], None]]:
        return self.core.listeners

    # ingest
    async def begin_ingest(self, origin: Origin) -> IngestSession:
        return IngestSession(self.core.ingestor, origin)

    async def ingest_bytes(self, data: bytes, origin: Origin) -> IngestResult:
        return await self._run(self.core.ingest_bytes, data, origin)

    # search
    # Every read and change below applies the request's access scope (archive.access).
    async def search(self, query: Query) -> list[dict[str, Any]]:
        return await self._run(self.core.search, query, current_scope.get())

    async def stats(self) -> dict[str, Any]:
        return await self._run(self.core.stats)

    # retrieve
    async def instances(self, study_instance_uid: str | Iterable[str] | None = None,
                        series_instance_uid: str | Iterable[str] | None = None,
                        sop_instance_uid: str | Iterable[str] | None = None) -> list[InstanceRef]:
        return await self._run(self.core.instances, study_instance_uid, series_instance_uid,
                               sop_instance_uid, current_scope.get())

    async def read_instance(self, ref: InstanceRef, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        iterator = await self._run(self.core.read_instance, ref, chunk_size)
        sentinel = object()
        while True:
            chunk = await self._run(next, iterator, sentinel)
            if chunk is sentinel:
                return
            yield chunk  # type: ignore[misc]

    def local_path(self, ref: InstanceRef) -> str | None:
        return self.core.local_path(ref)

    async def instance_metadata(self, ref: InstanceRef) -> dict[str, Any]:
        return await self._run(self.core.instance_metadata, ref)

    async def metadata_documents(self, ids: list[int]) -> list[bytes]:
        return await self._run(self.core.metadata_documents, ids)

    async def delete(self, study_instance_uid: str | None = None,
                     series_instance_uid: str | None = None,
                     sop_instance_uid: str | None = None, *, origin: Origin | None = None) -> int:
        return await self._run(self.core.delete, study_instance_uid, series_instance_uid,
                               sop_instance_uid, origin=origin, scope=current_scope.get())

    async def run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run any blocking archive work in the archive's threads."""
        return await self._run(fn, *args, **kw)
