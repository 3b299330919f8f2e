"""What C-MOVE and C-GET share (PS3.4 C.4.2, C.4.3): the instances an identifier names,
and the sub-operation bookkeeping with its pending and final responses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from hounsfield.archive.query import Query, QueryLevel
from hounsfield.errors import InvalidRequest

from .. import dimse as D
from ..association import Message, Operation
from ..datasets import encode_dataset
from ..storage_scu import Part10Source

if TYPE_CHECKING:
    from ..association import Association

log = logging.getLogger("hounsfield.dicom.retrieve")


def _uids(identifier: Dataset, keyword: str) -> list[str]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.split("\\") if v]
    return [str(v) for v in value if v]


async def instances_for(archive: Any, identifier: Dataset, root: str) -> list[Any]:
    """The stored instances a C-MOVE/C-GET identifier names (PS3.4 C.4.2.1.4: unique keys
    of the retrieve level and above)."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level == "PATIENT":
        if root != "PATIENT":
            raise InvalidRequest("The Study Root model has no PATIENT level")
        patient_ids = _uids(identifier, "PatientID")
        if not patient_ids:
            raise InvalidRequest("A PATIENT level retrieve needs PatientID")
        studies: list[str] = []
        for patient_id in patient_ids:
            query = Query(level=QueryLevel.STUDY)
            query.add("PatientID", patient_id)
            for result in await archive.search(query):
                studies += result.get("0020000D", {}).get("Value", [])
        return await archive.instances(study_instance_uid=studies) if studies else []
    if level == "STUDY":
        studies = _uids(identifier, "StudyInstanceUID")
        if not studies:
            raise InvalidRequest("A STUDY level retrieve needs StudyInstanceUID")
        return await archive.instances(study_instance_uid=studies)  # type: ignore[no-any-return]
    if level == "SERIES":
        series = _uids(identifier, "SeriesInstanceUID")
        if not series:
            raise InvalidRequest("A SERIES level retrieve needs SeriesInstanceUID")
        return await archive.instances(series_instance_uid=series)  # type: ignore[no-any-return]
    if level == "IMAGE":
        sops = _uids(identifier, "SOPInstanceUID")
        if not sops:
            raise InvalidRequest("An IMAGE level retrieve needs SOPInstanceUID")
        return await archive.instances(sop_instance_uid=sops)  # type: ignore[no-any-return]
    raise InvalidRequest(f"Invalid QueryRetrieveLevel {level!r}")


@dataclass
class SubOperations:
    """Counts of sub-operations (PS3.4 C.4.2.1.6 - C.4.2.1.9) and the failed instances."""

    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)
    study_instance_uids: set[str] = field(default_factory=set)  # of what was delivered

    def record(self, status: int, sop_instance_uid: str, study_instance_uid: str = "") -> None:
        self.remaining -= 1
        category = D.status_category(status)
        if category in ("success", "warning"):
            self.study_instance_uids.add(study_instance_uid)
        if category == "success":
            self.completed += 1
        elif category == "warning":
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(sop_instance_uid)

    def counts(self, *, final: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"number_of_completed_suboperations": self.completed,
                               "number_of_failed_suboperations": self.failed,
                               "number_of_warning_suboperations": self.warning}
        if not final:
            out["number_of_remaining_suboperations"] = self.remaining
        return out

    def final_status(self, cancelled: bool) -> int:
        if cancelled:
            return D.CANCEL
        if self.failed == 0 and self.warning == 0:
            return D.SUCCESS
        if self.completed == 0 and self.warning == 0:
            return D.REFUSED_SUBOPS_RESOURCES  # every sub-operation failed
        return D.WARNING_SUBOPS


async def send_pending(assoc: "Association", message: Message, subops: SubOperations) -> None:
    await assoc.send_response(message.command, message.context, D.PENDING,
                              **subops.counts(final=False))


async def send_final(assoc: "Association", message: Message, subops: SubOperations,
                     cancelled: bool) -> None:
    """Final response; a Failed SOP Instance UID List when some failed (PS3.4 C.4.2.1.5)."""
    status = subops.final_status(cancelled)
    data_set = None
    if subops.failed_uids:
        ds = Dataset()
        ds.FailedSOPInstanceUIDList = subops.failed_uids
        data_set = encode_dataset(ds, message.context.transfer_syntax)
    counts = subops.counts(final=not cancelled)
    if cancelled:
        counts["number_of_remaining_suboperations"] = subops.remaining
    await assoc.send_response(message.command, message.context, status, data_set=data_set,
                              **counts)


PREFETCH_LIMIT = 8 << 20  # instances up to this size are read whole, ahead of their turn


async def load_source(archive: Any, ref: Any) -> Part10Source:
    """The stored object of ``ref``; small ones are read in one go (DESIGN rule 4: in a
    thread) so the next one is ready while the peer answers the current C-STORE."""
    if 0 < ref.size <= PREFETCH_LIMIT:
        path = archive.local_path(ref)
        if path is not None:
            data = await asyncio.to_thread(Path(path).read_bytes)
        else:
            data = b"".join([chunk async for chunk in archive.read_instance(ref)])
        return Part10Source.from_bytes(data, ref.sop_instance_uid)
    return Part10Source.from_archive(archive, ref)


async def run_suboperations(assoc: "Association", message: Message, operation: Operation,
                            archive: Any, refs: list[Any],
                            store: Callable[[Any, Part10Source], Awaitable[int]],
                            audit: Any = None, details: dict[str, Any] | None = None) -> None:
    """Call ``store(ref, source) -> status`` for each instance, with a pending response
    after each and C-CANCEL checked between them (PS3.4 C.4.2.2.2)."""
    subops = SubOperations(len(refs))
    loading: asyncio.Task[Part10Source] | None = None
    try:
        for index, ref in enumerate(refs):
            if loading is None:
                loading = asyncio.create_task(load_source(archive, ref))
            await asyncio.sleep(0)
            if operation.cancelled:
                break
            try:
                source = await loading
            except Exception as exc:
                log.warning("Cannot read stored instance %s: %s", ref.sop_instance_uid, exc)
                source = None
            loading = asyncio.create_task(load_source(archive, refs[index + 1])) \
                if index + 1 < len(refs) else None
            status = D.REFUSED_SUBOPS_RESOURCES if source is None else await store(ref, source)
            subops.record(status, ref.sop_instance_uid, ref.study_instance_uid)
            if subops.remaining:
                await send_pending(assoc, message, subops)
    finally:
        if loading is not None and not loading.done():
            loading.cancel()
        if audit is not None:
            audit.record(assoc, "retrieve", "success" if subops.completed + subops.warning
                         else "failure", study_instance_uids=subops.study_instance_uids,
                         details=dict(details or {}, completed=subops.completed,
                                      failed=subops.failed, warning=subops.warning))
    await send_final(assoc, message, subops, operation.cancelled and subops.remaining > 0)
