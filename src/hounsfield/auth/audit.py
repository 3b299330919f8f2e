"""The audit trail: who did what to which patient's data, when, from where, with what
outcome. Append-only in the index database, searchable, and optionally forwarded as DICOM
audit messages (PS3.15 A.5) over syslog (RFC 5424).

``record(db, ...)`` is the one synchronous way to write an event (DICOM services, the
command line). ``AuditTrail`` is the asyncio face used by the HTTP app: concurrent events
are written in one transaction (group commit, so a storm of frame requests costs one
write per batch) and the request waits until its event is committed; forwarding to syslog
runs in a background task with a bounded queue and never delays a request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Any, Awaitable, Callable, Iterable, Mapping

from sqlalchemy import Connection, func, insert, select

from hounsfield.auth import audit_message as am
from hounsfield.auth.accounts import aware, now
from hounsfield.auth.schema import audit_events
from hounsfield.auth.syslog import SyslogSender
from hounsfield.config import Settings
from hounsfield.errors import InvalidRequest
from hounsfield.index import Database
from hounsfield.index.schema import studies

__all__ = ["ACTIONS", "OUTCOMES", "AuditTrail", "audit_xml", "record", "search"]

log = logging.getLogger(__name__)

# What can happen to patient data or to the security configuration.
ACTIONS: Mapping[str, str] = {
    "login": "A login (outcome failure: wrong credentials or locked out).",
    "logout": "A logout.",
    "search": "A search of patients, studies, series or instances (QIDO-RS, C-FIND, UI).",
    "view": "Metadata, frames or rendered images of a study were read.",
    "retrieve": "Original objects were retrieved (WADO-RS, WADO-URI, C-GET, C-MOVE).",
    "store": "Objects were stored (STOW-RS, C-STORE, upload, import).",
    "delete": "Studies, series or instances were deleted.",
    "export": "Studies left the system as a download (zip with DICOMDIR).",
    "share": "A share link or grant was created or revoked.",
    "share_access": "A share link was used.",
    "report_sign": "A report was signed.",
    "annotate": "Annotations, measurements or comments of a study were saved or deleted.",
    "configure": "Remote DICOM nodes were added, changed, removed or tested.",
    "admin": "A change of users, groups, grants, tokens or settings.",
}
OUTCOMES: tuple[str, ...] = ("success", "failure", "denied")
_OUTCOME_CODES = {"success": am.OUTCOME_SUCCESS, "failure": am.OUTCOME_MINOR_FAILURE,
                  "denied": am.OUTCOME_SERIOUS_FAILURE}
_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_PATIENT_CACHE_SIZE = 4096


def _uids(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return list(dict.fromkeys(u.strip() for u in items if u and u.strip()))


def _event(action: str, outcome: str, user: str | None, remote_address: str | None,
           patient_id: str | None, study_instance_uid: str | Iterable[str] | None,
           details: Mapping[str, Any] | None, occurred_at: dt.datetime | None
           ) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f'Argument "action" must be one of {", ".join(ACTIONS)}, '
                         f'not {action!r}')
    if outcome not in OUTCOMES:
        raise ValueError(f'Argument "outcome" must be one of {", ".join(OUTCOMES)}, '
                         f'not {outcome!r}')
    uids = _uids(study_instance_uid)
    return {"occurred_at": occurred_at or now(), "action": action, "outcome": outcome,
            "username": (user or "")[:64], "remote_address": (remote_address or "")[:64],
            "patient_id": (patient_id or "")[:64],
            "study_instance_uids": ("\\" + "\\".join(uids) + "\\") if uids else "",
            "details": dict(details) if details else None}


def _insert(conn: Connection, events: list[dict[str, Any]]) -> None:
    conn.execute(insert(audit_events), events)


def record(db: Database, *, action: str, outcome: str, user: str | None,
           remote_address: str | None, patient_id: str | None = None,
           study_instance_uid: str | Iterable[str] | None = None,
           details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append one event to the audit trail and return it. ``user`` is a user name, or for
    DICOM the calling AE title (e.g. ``"AE:CT1"``); ``study_instance_uid`` one UID or
    several; ``details`` any JSON object (query, counts, reason)."""
    event = _event(action, outcome, user, remote_address, patient_id, study_instance_uid,
                   details, None)
    with db.write() as conn:
        _insert(conn, [event])
    return event


def _row(r: Any) -> dict[str, Any]:
    m = r._mapping
    occurred = aware(m["occurred_at"])
    return {"id": m["id"], "occurred_at": occurred.isoformat() if occurred else None,
            "action": m["action"], "outcome": m["outcome"], "user": m["username"],
            "remote_address": m["remote_address"], "patient_id": m["patient_id"],
            "study_instance_uids": [u for u in m["study_instance_uids"].split("\\") if u],
            "details": m["details"]}


def search(db: Database, *, user: str | None = None, action: str | None = None,
           outcome: str | None = None, study_instance_uid: str | None = None,
           patient_id: str | None = None, since: dt.datetime | None = None,
           until: dt.datetime | None = None, limit: int = 100,
           offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events matching every given criterion, newest first: ``(page, total)``."""
    if not 1 <= limit <= 1000:
        raise InvalidRequest("Parameter \"limit\" must be between 1 and 1000")
    if offset < 0:
        raise InvalidRequest("Parameter \"offset\" must not be negative")
    conds: list[Any] = []
    if user:
        conds.append(audit_events.c.username == user)
    if action:
        if action not in ACTIONS:
            raise InvalidRequest(f"Unknown audit action {action!r}; actions are "
                                 + ", ".join(ACTIONS))
        conds.append(audit_events.c.action == action)
    if outcome:
        conds.append(audit_events.c.outcome == outcome)
    if patient_id:
        conds.append(audit_events.c.patient_id == patient_id)
    if study_instance_uid:
        if not re.fullmatch(r"[0-9.]{1,64}", study_instance_uid):
            raise InvalidRequest("Parameter \"study\" must be a Study Instance UID")
        # ESCAPE names a character UIDs never hold: PostgreSQL's default escape is the
        # backslash that separates the values.
        conds.append(audit_events.c.study_instance_uids.like(
            f"%\\{study_instance_uid}\\%", escape="!"))
    if since:
        conds.append(audit_events.c.occurred_at >= since)
    if until:
        conds.append(audit_events.c.occurred_at < until)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(audit_events)
                             .where(*conds)).scalar_one()
        rows = conn.execute(select(audit_events).where(*conds)
                            .order_by(audit_events.c.occurred_at.desc(),
                                      audit_events.c.id.desc())
                            .limit(limit).offset(offset)).all()
    return [_row(r) for r in rows], int(total)


# --- DICOM audit messages -----------------------------------------------------------------

def audit_xml(event: Mapping[str, Any], source_id: str) -> str:
    """The PS3.15 A.5 audit message of one event."""
    source = am.AuditSource(source_id)
    outcome = _OUTCOME_CODES[event["outcome"]]
    when = aware(event["occurred_at"])
    user = am.ActiveParticipant(event["username"] or "anonymous", True,
                                network_access_point=event["remote_address"] or None)
    server = am.ActiveParticipant(source_id, False)
    studies = [am.study_object(u) for u in event["study_instance_uids"].split("\\") if u]
    patient = am.patient_object(event["patient_id"] or "unknown")
    action = event["action"]
    if action in ("login", "logout"):
        return am.user_authentication(source, user, login=action == "login", outcome=outcome,
                                      when=when)
    if action == "search":
        query = str((event["details"] or {}).get("query", "")).encode("utf-8")
        return am.query(source, user, server, sop_class_uid=_STUDY_ROOT_FIND,
                        query_bytes=query, outcome=outcome, when=when)
    if action in ("view", "annotate"):
        # Annotations are kept beside the study, never in its objects: an update (U) of
        # what belongs to the instances.
        return am.instances_accessed(source, user, action="R" if action == "view" else "U",
                                     patient=patient,
                                     studies=studies, outcome=outcome, when=when)
    if action in ("retrieve", "store"):
        sender, receiver = (server, user) if action == "retrieve" else (user, server)
        return am.instances_transferred(
            source, am.ActiveParticipant(**{**sender.__dict__, "is_requestor": False}),
            am.ActiveParticipant(**{**receiver.__dict__, "is_requestor": False}),
            action="R" if action == "retrieve" else "C", patient=patient, studies=studies,
            requestor=user, outcome=outcome, when=when)
    if action == "delete":
        return am.study_deleted(source, user, patient=patient, studies=studies,
                                outcome=outcome, when=when)
    if action in ("export", "share_access"):
        media = am.ActiveParticipant(event["remote_address"] or "download", False)
        return am.export(source, user, media, patient=patient, studies=studies,
                         outcome=outcome, when=when)
    alert = {"share": am.OBJECT_SECURITY_ATTRIBUTES_CHANGED,
             "report_sign": am.USE_OF_RESTRICTED_FUNCTION}.get(action, am.SECURITY_CONFIGURATION)
    return am.security_alert(source, user, alert=alert, objects=studies, outcome=outcome,
                             description=str((event["details"] or {}).get("what", action)),
                             when=when)


class AuditTrail:
    """The audit trail of one running server: group-committed writes and syslog
    forwarding. ``run`` runs a blocking function in a worker thread (``Archive.run``)."""

    QUEUE_SIZE = 1000

    def __init__(self, db: Database, settings: Settings,
                 run: Callable[..., Awaitable[Any]]) -> None:
        self.db = db
        self._run = run
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.sender = SyslogSender.from_settings(settings)
        self.source_id = settings["dicom.ae_title"]
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._forwarder: asyncio.Task[None] | None = None
        self.dropped = 0
        self._patient_of: dict[str, str] = {}  # Study Instance UID -> Patient ID

    def remember_patients(self, uids: Iterable[str], conn: Connection | None = None) -> None:
        """Look up (blocking) the Patient IDs of studies that events will name: an event
        without a Patient ID gets those of its studies, even once they are deleted."""
        wanted = [u for u in uids if u not in self._patient_of]
        if not wanted:
            return
        if conn is None:
            with self.db.read() as reader:
                return self.remember_patients(wanted, reader)
        found = dict(conn.execute(select(studies.c.study_instance_uid, studies.c.patient_id)
                                  .where(studies.c.study_instance_uid.in_(wanted))).all())
        if len(self._patient_of) + len(found) > _PATIENT_CACHE_SIZE:
            self._patient_of.clear()
        self._patient_of.update(found)

    async def record(self, *, action: str, outcome: str, user: str | None,
                     remote_address: str | None, patient_id: str | None = None,
                     study_instance_uid: str | Iterable[str] | None = None,
                     details: Mapping[str, Any] | None = None) -> None:
        """Append an event; returns once it is committed (same arguments as ``record``)."""
        event = _event(action, outcome, user, remote_address, patient_id, study_instance_uid,
                       details, None)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(future)
        self._forward(event)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._run(self._insert_batch, [e for e, _ in batch])
            except BaseException as exc:  # every waiter learns that its event is not kept
                log.exception("Could not write %d audit events", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception)
                                             else RuntimeError("audit write cancelled"))
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _insert_batch(self, events: list[dict[str, Any]]) -> None:
        with self.db.write() as conn:
            for event in events:
                uids = [u for u in event["study_instance_uids"].split("\\") if u]
                if uids and not event["patient_id"]:
                    self.remember_patients(uids, conn)
                    event["patient_id"] = "\\".join(dict.fromkeys(
                        self._patient_of[u] for u in uids if self._patient_of.get(u)))[:64]
            _insert(conn, events)

    def _forward(self, event: dict[str, Any]) -> None:
        if self.sender is None:
            return
        if self._queue is None:
            self._queue = asyncio.Queue(self.QUEUE_SIZE)
        if self._forwarder is None or self._forwarder.done():
            self._forwarder = asyncio.create_task(self._send_forever(self._queue))
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # The database holds the record; the syslog copy is best effort.
            self.dropped += 1
            log.warning("Audit syslog queue full; %d messages not forwarded", self.dropped)

    async def _send_forever(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        assert self.sender is not None
        while True:
            event = await queue.get()
            try:
                await self.sender.send(audit_xml(event, self.source_id),
                                       when=aware(event["occurred_at"]))
            except Exception:
                log.warning("Could not send an audit message to syslog", exc_info=True)
            finally:
                queue.task_done()

    async def drain(self) -> None:
        """Wait until every forwarded message left (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        if self._writer is not None and not self._writer.done():
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._forwarder is not None and not self._forwarder.done():
            await self.drain()
            self._forwarder.cancel()
            await asyncio.gather(self._forwarder, return_exceptions=True)
        if self.sender is not None:
            await self.sender.close()
