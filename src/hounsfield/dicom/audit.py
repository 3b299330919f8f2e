"""Audit events of the DICOM services (DESIGN: every access to patient data is recorded).

C-FIND is a ``search``, C-GET and C-MOVE a ``retrieve``, and the C-STOREs of one
association ``store`` events when it ends. A User Identity, accepted or refused, is a
``login``. The user is the peer's account when it proved a User Identity, otherwise
the calling AE title (``AE:CT1``). Events are written by the server's ``AuditTrail``
(auth/audit.py) in the background, so no DIMSE response waits for the audit database.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .association import Association
    from .services.storage import StoreTally

log = logging.getLogger("hounsfield.dicom.audit")


@dataclass
class OperationAudit:
    """The operation being served (see ``DimseAudit.operation``): what its events name
    unless they say otherwise, and whether it recorded one."""

    patient_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False


_operation: contextvars.ContextVar[OperationAudit | None] = contextvars.ContextVar(
    "hounsfield_dimse_operation_audit", default=None)


def audit_user(assoc: "Association") -> str:
    """Who the peer is on the audit trail: its user, else its calling AE title."""
    return assoc.user.username if assoc.user is not None else f"AE:{assoc.peer_ae_title}"


class DimseAudit:
    """Records events on ``trail`` (an ``AuditTrail``), or nothing when it is None."""

    def __init__(self, trail: Any = None) -> None:
        self.trail = trail
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, assoc: "Association", action: str, outcome: str, *,
               patient_id: str | None = None, study_instance_uids: Iterable[str] = (),
               details: dict[str, Any] | None = None, user: str | None = None) -> None:
        """``user`` names who when the association has no user yet (a refused login)."""
        details = dict(details or {})
        marker = _operation.get()
        if marker is not None:
            marker.recorded = True
            patient_id = patient_id or marker.patient_id
            details = {**marker.details, **details}
        if self.trail is None:
            return
        if assoc.user is not None or user is not None:
            details.setdefault("calling_ae_title", assoc.peer_ae_title)
        task = asyncio.create_task(self._record(
            action=action, outcome=outcome, user=user if user is not None else audit_user(assoc),
            remote_address=assoc.peer_host, patient_id=patient_id,
            study_instance_uid=sorted(set(study_instance_uids)), details=details))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def record_stores(self, assoc: "Association", tally: "StoreTally") -> None:
        """The C-STOREs of an association: one event for the objects kept, naming their
        studies (the trail adds their patients), and one for those refused or failed."""
        if tally.stored:
            self.record(assoc, "store", "success", study_instance_uids=tally.study_instance_uids,
                        details={"service": "C-STORE", "stored": tally.stored})
        if tally.failed or tally.denied:
            self.record(assoc, "store", "denied" if tally.denied and not tally.failed
                        else "failure", details={"service": "C-STORE", "failed": tally.failed,
                                                 "denied": tally.denied})

    @contextmanager
    def operation(self, patient_id: str | None = None,
                  details: dict[str, Any] | None = None) -> Iterator[OperationAudit]:
        """Around one DIMSE operation: its events also name ``patient_id`` and ``details``
        (the request's keys), and the caller learns whether its handler recorded one, to
        record one for the paths that end early."""
        marker = OperationAudit(patient_id, dict(details or {}))
        token = _operation.set(marker)
        try:
            yield marker
        finally:
            _operation.reset(token)

    async def _record(self, **event: Any) -> None:
        try:
            await self.trail.record(**event)
        except Exception:  # the operation already happened; its record failing is logged
            log.exception("Could not record the audit event %s", event.get("action"))

    async def drain(self) -> None:
        """Wait for the events still being written (server stop, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def query_text(identifier: Any) -> str:
    """The matching keys of a C-FIND identifier as ``Keyword=value`` pairs."""
    parts = []
    for element in identifier:
        if element.value not in (None, "") and element.VR != "SQ":
            parts.append(f"{element.keyword or element.tag}={element.value}")
    return "&".join(parts)[:2000]
