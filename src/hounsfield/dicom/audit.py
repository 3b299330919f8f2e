"""Audit events of the DICOM services (DESIGN: every access to patient data is recorded).

C-FIND is a ``search``, C-GET and C-MOVE a ``retrieve``, and the C-STOREs of one
association one ``store`` event when it ends. The user is the calling AE title
(``AE:CT1``). Events are written by the server's ``AuditTrail`` (auth/audit.py) in the
background, so no DIMSE response waits for the audit database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .association import Association

log = logging.getLogger("hounsfield.dicom.audit")


class DimseAudit:
    """Records events on ``trail`` (an ``AuditTrail``), or nothing when it is None."""

    def __init__(self, trail: Any = None) -> None:
        self.trail = trail
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, assoc: "Association", action: str, outcome: str, *,
               patient_id: str | None = None, study_instance_uids: Iterable[str] = (),
               details: dict[str, Any] | None = None) -> None:
        if self.trail is None:
            return
        host = assoc.peer_address.rsplit(":", 1)[0] if assoc.peer_address else None
        task = asyncio.create_task(self._record(
            action=action, outcome=outcome, user=f"AE:{assoc.peer_ae_title}",
            remote_address=host, patient_id=patient_id,
            study_instance_uid=sorted(set(study_instance_uids)), details=details))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
