"""The DIMSE services we provide as SCP, each a thin handler over the archive core
(DESIGN rules 1 and 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hounsfield.auth.dicom_identity import dicom_permission
from hounsfield.config import Settings
from hounsfield.errors import InvalidRequest

from .. import dimse as D
from ..association import Message, Operation
from ..audit import DimseAudit, query_text
from ..datasets import DataSetSink, RefusingSink, decode_dataset
from ..sop_classes import QUERY_RETRIEVE, service_kind
from . import qr_find, qr_get, qr_move, storage, verification

if TYPE_CHECKING:
    from ..association import Association


class Services:
    """The :class:`~hounsfield.dicom.association.RequestHandler` of the server."""

    def __init__(self, settings: Settings, archive: Any, pool: Any = None,
                 audit: Any = None) -> None:
        self.settings = settings
        self.archive = archive
        self.pool = pool  # imaging RenderPool for conversions, or None (a thread)
        self.audit = DimseAudit(audit)  # audit events on an AuditTrail, or none

    @property
    def run(self) -> Any:
        return self.pool.run if self.pool is not None else None

    def allows(self, kind: str, calling_ae_title: str) -> bool:
        allowed = self.settings[f"dicom.allow_{kind}"]
        return "*" in allowed or calling_ae_title in allowed

    def user_refusal(self, assoc: "Association", kind: str) -> str | None:
        """Why the association's user may not use service ``kind`` (``dicom.<kind>``
        permission), or None. Only with ``auth.enabled`` and a proven User Identity; peers
        without one keep the AE title rules (``dicom.allow_*``)."""
        if assoc.user is None or not self.settings["auth.enabled"] or \
                dicom_permission(assoc.user, kind):
            return None
        return f"User {assoc.user.username} lacks permission dicom.{kind}"

    async def open_store(self, assoc: "Association", message: Message) -> DataSetSink:
        abstract_syntax = message.context.abstract_syntax
        sop_class_uid = message.command.affected_sop_class_uid or abstract_syntax
        if sop_class_uid != abstract_syntax or service_kind(
                abstract_syntax, self.settings["ingest.accept_unknown_sop_classes"]) != "store":
            # PS3.7 9.1.1.1.1: the SOP class is the abstract syntax of the context.
            return RefusingSink(D.SOP_CLASS_NOT_SUPPORTED,
                                f"C-STORE of {sop_class_uid} on a context for "
                                f"{abstract_syntax}")
        tally = getattr(assoc, "store_tally", None)
        refusal = self.user_refusal(assoc, "store")
        if not self.allows("store", assoc.calling_ae_title):
            refusal = f"{assoc.calling_ae_title} may not store"
        if refusal is not None:
            if tally is not None:
                tally.denied += 1
            return RefusingSink(D.NOT_AUTHORIZED, refusal)  # PS3.7 Annex C: Refused: Not Authorized
        if self.archive is None:
            return RefusingSink(D.REFUSED_OUT_OF_RESOURCES, "No archive behind this server")
        return await storage.open_store(self.archive, assoc, message, tally)

    def association_ended(self, assoc: "Association") -> None:
        """The audit events of what the association stored."""
        tally: storage.StoreTally | None = getattr(assoc, "store_tally", None)
        if tally is not None:
            self.audit.record_stores(assoc, tally)

    async def handle(self, assoc: "Association", message: Message, operation: Operation) -> None:
        field = message.command.command_field
        if field == D.C_ECHO_RQ:
            refusal = self.user_refusal(assoc, "echo")
            if refusal is not None:
                await assoc.send_response(message.command, message.context, D.NOT_AUTHORIZED,
                                          error_comment=refusal)
                return
            await verification.c_echo(assoc, message)
            return
        kind = QUERY_RETRIEVE.get(message.context.abstract_syntax, ("", ""))[0]
        handlers = {D.C_FIND_RQ: ("find", qr_find.c_find), D.C_MOVE_RQ: ("move", qr_move.c_move),
                    D.C_GET_RQ: ("get", qr_get.c_get)}
        if field not in handlers or handlers[field][0] != kind:
            await assoc.send_response(message.command, message.context,
                                      D.SOP_CLASS_NOT_SUPPORTED,
                                      error_comment=f"{message.command.name} is not served on "
                                                    "this presentation context")
            return
        if self.archive is None:
            await assoc.send_response(message.command, message.context, D.UNABLE_TO_PROCESS,
                                      error_comment="No archive behind this server")
            return
        action = "search" if kind == "find" else "retrieve"
        refusal = self.user_refusal(assoc, kind)
        if refusal is not None:
            self.audit.record(assoc, action, "denied",
                              **self._audit_keys(message, reason=refusal))
            await assoc.send_response(message.command, message.context, D.NOT_AUTHORIZED,
                                      error_comment=refusal)  # PS3.7 Annex C: Not Authorized
            return
        await self._run_audited(handlers[field][1], assoc, message, operation, action)

    async def _run_audited(self, handler: Any, assoc: "Association", message: Message,
                           operation: Operation, action: str) -> None:
        """Run a query/retrieve handler, whose events name the request's keys; the paths
        that end before any sub-operation (nothing matched, an unknown or unreachable
        destination, a bad identifier) record no event of their own, so one is recorded
        here from the final status or the error."""
        reason = None
        with self.audit.operation(**self._audit_keys(message)) as audited:
            try:
                await handler(self, assoc, message, operation)
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                raise
            finally:
                if not audited.recorded:
                    status = operation.final_status
                    outcome = "success" if reason is None and status is not None and \
                        D.status_category(status) != "failure" else "failure"
                    details: dict[str, Any] = {"completed": 0}
                    if status is not None:
                        details["status"] = f"0x{status:04X}"
                    if reason is not None:
                        details["reason"] = reason
                    self.audit.record(assoc, action, outcome, details=details)

    @staticmethod
    def _audit_keys(message: Message, **details: Any) -> dict[str, Any]:
        """Patient and details of a query/retrieve request for its audit event."""
        command = message.command
        out: dict[str, Any] = {"service": command.name.removesuffix("-RQ")}
        if command.move_destination:
            out["destination"] = command.move_destination
        patient_id = None
        try:
            identifier = decode_dataset(message.data_set or b"",
                                        message.context.transfer_syntax)
            out["query"] = query_text(identifier)
            patient_id = str(identifier.get("PatientID", "") or "")
        except InvalidRequest:  # an undecodable identifier is recorded without its keys
            pass
        out.update({k: v for k, v in details.items() if v is not None})
        return {"patient_id": patient_id, "details": out}
