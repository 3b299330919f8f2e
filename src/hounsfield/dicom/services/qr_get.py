"""Query/Retrieve GET SCP (PS3.4 C.4.3): sub-operations are C-STOREs on the same
association, on contexts where the requestor took the SCP role (PS3.7 D.3.3.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import dimse as D
from ..association import Message, Operation
from ..datasets import decode_dataset
from ..dul import AssociationClosed
from ..sop_classes import QUERY_RETRIEVE
from ..storage_scu import Part10Source, store_part10
from .retrieve import SubOperations, instances_for, run_suboperations, send_final

if TYPE_CHECKING:
    from ..association import Association
    from . import Services


async def c_get(services: "Services", assoc: "Association", message: Message,
                operation: Operation) -> None:
    ctx = message.context
    identifier = decode_dataset(message.data_set or b"", ctx.transfer_syntax)
    refs = await instances_for(services.archive, identifier,
                               QUERY_RETRIEVE[ctx.abstract_syntax][1])
    if not refs:
        await send_final(assoc, message, SubOperations(0), False)
        return
    timeout = services.settings["dicom.network_timeout"]

    async def store(ref: Any, source: Part10Source) -> int:
        try:
            result = await store_part10(assoc, source, timeout=timeout, run=services.run)
        except TimeoutError:
            return D.REFUSED_SUBOPS_RESOURCES
        except AssociationClosed:
            raise
        return result.status

    await run_suboperations(assoc, message, operation, services.archive, refs, store,
                            services.audit, {"service": "C-GET"})
