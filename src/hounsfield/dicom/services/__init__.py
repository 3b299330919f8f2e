"""The DIMSE services we provide as SCP, each a thin handler over the archive core
(DESIGN rules 1 and 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hounsfield.config import Settings

from .. import dimse as D
from ..association import Message, Operation
from ..audit import DimseAudit
from ..datasets import DataSetSink, RefusingSink
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

    async def open_store(self, assoc: "Association", message: Message) -> DataSetSink:
        abstract_syntax = message.context.abstract_syntax
        sop_class_uid = message.command.affected_sop_class_uid or abstract_syntax
        if sop_class_uid != abstract_syntax or service_kind(
                abstract_syntax, self.settings["ingest.accept_unknown_sop_classes"]) != "store":
            # PS3.7 9.1.1.1.1: the SOP class is the abstract syntax of the context.
            return RefusingSink(D.SOP_CLASS_NOT_SUPPORTED,
                                f"C-STORE of {sop_class_uid} on a context for "
                                f"{abstract_syntax}")
        if not self.allows("store", assoc.calling_ae_title):
            return RefusingSink(D.NOT_AUTHORIZED, f"{assoc.calling_ae_title} may not store")
        if self.archive is None:
            return RefusingSink(D.REFUSED_OUT_OF_RESOURCES, "No archive behind this server")
        tally = getattr(assoc, "store_tally", None)
        return await storage.open_store(self.archive, assoc, message, tally)

    def association_ended(self, assoc: "Association") -> None:
        """One audit event for what the association stored."""
        tally: storage.StoreTally | None = getattr(assoc, "store_tally", None)
        if tally is not None and (tally.stored or tally.failed):
            self.audit.record(assoc, "store", "success" if tally.stored else "failure",
                              study_instance_uids=tally.study_instance_uids,
                              details={"service": "C-STORE", "stored": tally.stored,
                                       "failed": tally.failed})

    async def handle(self, assoc: "Association", message: Message, operation: Operation) -> None:
        field = message.command.command_field
        if field == D.C_ECHO_RQ:
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
        await handlers[field][1](self, assoc, message, operation)
