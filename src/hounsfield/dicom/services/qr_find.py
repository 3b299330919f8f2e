"""Query/Retrieve FIND SCP, Patient Root and Study Root (PS3.4 C.4.1): the identifier
becomes a query of the archive core (DESIGN rule 5); each match is a pending response."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from hounsfield.archive.query import identifier_from_result, query_from_identifier

from .. import dimse as D
from ..association import Message, Operation
from ..audit import query_text
from ..datasets import decode_dataset, encode_dataset
from ..sop_classes import QUERY_RETRIEVE

if TYPE_CHECKING:
    from ..association import Association
    from . import Services


def archive_identifier(identifier: Dataset) -> Dataset:
    """The identifier with the DICOM level name IMAGE spelled as the core's INSTANCE."""
    if str(identifier.get("QueryRetrieveLevel", "")).strip().upper() == "IMAGE":
        identifier = copy.deepcopy(identifier)
        identifier.QueryRetrieveLevel = "INSTANCE"
    return identifier


async def c_find(services: "Services", assoc: "Association", message: Message,
                 operation: Operation) -> None:
    rq, ctx = message.command, message.context
    root = QUERY_RETRIEVE[ctx.abstract_syntax][1]
    identifier = decode_dataset(message.data_set or b"", ctx.transfer_syntax)
    details: dict[str, Any] = {"service": "C-FIND", "query": query_text(identifier),
                               "level": str(identifier.get("QueryRetrieveLevel", ""))}
    studies: set[str] = set()
    outcome = "failure"
    try:
        query = query_from_identifier(archive_identifier(identifier), root)
        archive: Any = services.archive
        results = await archive.search(query)
        details["matches"] = len(results)
        for result in results:
            studies.update(result.get("0020000D", {}).get("Value", []))
            await asyncio.sleep(0)  # let the reader see a C-CANCEL (PS3.4 C.4.1.2.3)
            if operation.cancelled:
                break
            response = identifier_from_result(result, identifier)
            await assoc.send_response(rq, ctx, D.PENDING,
                                      data_set=encode_dataset(response, ctx.transfer_syntax))
        await assoc.send_response(rq, ctx, D.CANCEL if operation.cancelled else D.SUCCESS)
        outcome = "success"
    finally:
        services.audit.record(assoc, "search", outcome,
                              patient_id=str(identifier.get("PatientID", "") or ""),
                              study_instance_uids=studies, details=details)
