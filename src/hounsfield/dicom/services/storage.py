"""Storage Service Class SCP (PS3.4 Annex B): each data set streams into the archive's
ingest session as its fragments arrive (DESIGN rules 1 and 3)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hounsfield.archive import Origin
from hounsfield.archive.part10 import part10_header

from ..association import Message

if TYPE_CHECKING:
    from ..association import Association

log = logging.getLogger("hounsfield.dicom.storage")


class IngestSink:
    """Data set fragments -> one archive ingest session, behind a Part 10 header.

    ``finish()`` returns the C-STORE status and comment from the ingest result: success is
    reported only once the archive says the object is durable (DESIGN rule 2)."""

    def __init__(self, session: Any, tally: "StoreTally | None" = None) -> None:
        self.session = session
        self.tally = tally

    async def write(self, data: bytes | memoryview) -> None:
        await self.session.write(data)

    async def finish(self) -> tuple[int, str | None]:
        result = await self.session.finish()
        if not result.ok:
            log.warning("C-STORE of %s refused: %s", result.sop_instance_uid, result.reason)
        if self.tally is not None:
            self.tally.add(result)
        return result.dimse_status, result.reason or result.warning

    async def abort(self) -> None:
        await self.session.abort()


class StoreTally:
    """What one association stored, for its audit events (PS3.15 A.5.3 "DICOM Instances
    Transferred"): objects kept and their studies, failed, and refused as not authorized."""

    def __init__(self) -> None:
        self.stored = 0
        self.failed = 0
        self.denied = 0
        self.study_instance_uids: set[str] = set()

    def add(self, result: Any) -> None:
        if result.ok:
            self.stored += 1
            if result.study_instance_uid:
                self.study_instance_uids.add(result.study_instance_uid)
        else:
            self.failed += 1


async def open_ingest(archive: Any, origin: Origin, sop_class_uid: str, sop_instance_uid: str,
                      transfer_syntax_uid: str, tally: StoreTally | None = None) -> IngestSink:
    """An ingest session already holding the Part 10 header of the coming data set."""
    session = await archive.begin_ingest(origin)
    await session.write(part10_header(sop_class_uid, sop_instance_uid, transfer_syntax_uid,
                                      source_ae_title=origin.calling_ae or None))
    return IngestSink(session, tally)


def origin_of(assoc: "Association") -> Origin:
    return Origin(protocol="dimse", calling_ae=assoc.peer_ae_title, called_ae=assoc.ae_title,
                  remote_address=assoc.peer_host,
                  user=assoc.user.username if assoc.user is not None else None)


async def open_store(archive: Any, assoc: "Association", message: Message,
                     tally: StoreTally | None = None) -> IngestSink:
    """The sink of one C-STORE-RQ data set (PS3.4 B.2.1)."""
    command = message.command
    return await open_ingest(archive, origin_of(assoc),
                             command.affected_sop_class_uid or message.context.abstract_syntax,
                             command.affected_sop_instance_uid or "",
                             message.context.transfer_syntax, tally)


def store_to_archive(archive: Any) -> Any:
    """A ``StoreHandler`` for :func:`~hounsfield.dicom.client.open_association`: C-STORE
    sub-operations of a C-GET we run go into ``archive`` through ingest (DESIGN rule 1)."""

    async def on_store(assoc: "Association", message: Message) -> IngestSink:
        return await open_store(archive, assoc, message)

    return on_store
