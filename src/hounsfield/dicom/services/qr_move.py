"""Query/Retrieve MOVE SCP (PS3.4 C.4.2): sub-operations are C-STOREs on a new association
to a known destination: a node of ``dicom.remote_nodes`` or of the database (``nodes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hounsfield import nodes

from .. import dimse as D
from ..association import Message, Operation
from ..client import AssociationRejected, open_association
from ..datasets import UNCOMPRESSED, decode_dataset
from ..dul import AssociationClosed
from ..sop_classes import QUERY_RETRIEVE
from ..storage_scu import Part10Source, store_part10
from ..tls import client_ssl_context_from_settings
from .retrieve import SubOperations, instances_for, run_suboperations, send_final

if TYPE_CHECKING:
    from ..association import Association
    from . import Services


def storage_contexts_for(refs: list[Any]) -> list[tuple[str, list[str]]]:
    """Per SOP class: the stored syntaxes, and an uncompressed fallback (PS3.8 7.1.1.13)."""
    contexts: list[tuple[str, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for ref in refs:
        for ts in (ref.transfer_syntax_uid, "uncompressed"):
            key = (ref.sop_class_uid, ts)
            if key in seen or (ts != "uncompressed" and ts in UNCOMPRESSED):
                continue
            seen.add(key)
            contexts.append((ref.sop_class_uid, list(UNCOMPRESSED) if ts == "uncompressed"
                             else [ts]))
    return contexts[:128]


async def c_move(services: "Services", assoc: "Association", message: Message,
                 operation: Operation) -> None:
    rq, ctx = message.command, message.context
    settings = services.settings
    node = await services.archive.run(nodes.find_node, services.archive.core.db, settings,
                                      rq.move_destination or "")
    if node is None:
        await assoc.send_response(rq, ctx, D.REFUSED_MOVE_DESTINATION_UNKNOWN,
                                  error_comment=f"Unknown move destination "
                                                f"{rq.move_destination!r}")
        return
    identifier = decode_dataset(message.data_set or b"", ctx.transfer_syntax)
    refs = await instances_for(services.archive, identifier,
                               QUERY_RETRIEVE[ctx.abstract_syntax][1])
    if not refs:
        await send_final(assoc, message, SubOperations(0), False)
        return
    try:
        sub = await open_association(
            node.host, node.port, node.ae_title, settings["dicom.ae_title"],
            storage_contexts_for(refs), max_pdu_length=settings["dicom.max_pdu_length"],
            timeout=settings["dicom.network_timeout"],
            ssl=client_ssl_context_from_settings(settings) if node.tls else None)
    except (AssociationRejected, AssociationClosed, OSError, TimeoutError) as exc:
        await assoc.send_response(rq, ctx, D.REFUSED_SUBOPS_RESOURCES,
                                  error_comment=f"Cannot reach {node.name}: {exc}",
                                  number_of_completed_suboperations=0,
                                  number_of_failed_suboperations=len(refs),
                                  number_of_warning_suboperations=0)
        return
    try:
        async def store(ref: Any, source: Part10Source) -> int:
            try:
                result = await store_part10(
                    sub, source, timeout=settings["dicom.network_timeout"],
                    move_originator=(assoc.peer_ae_title, rq.message_id or 0),
                    run=services.run)
            except (AssociationClosed, ConnectionError, TimeoutError):
                return D.REFUSED_SUBOPS_RESOURCES
            return result.status
        await run_suboperations(assoc, message, operation, services.archive, refs, store,
                                services.audit, {"service": "C-MOVE",
                                                 "destination": node.name})
    finally:
        await sub.release()
