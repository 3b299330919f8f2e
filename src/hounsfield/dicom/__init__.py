"""Hounsfield's DICOM network service: an asyncio DICOM upper layer (PS3.8) and the DIMSE
services (PS3.7, PS3.4) over the archive core."""

from .association import AcceptedContext, Association
from .client import (AssociationRejected, ClientAssociation, DIMSEFailure, RetrieveResult,
                     connect, open_association, query_contexts, role_selection,
                     verification_context)
from .server import DicomServer
from .storage_scu import Part10Source, StoreResult

__all__ = ["AcceptedContext", "Association", "AssociationRejected", "ClientAssociation",
           "DIMSEFailure", "DicomServer", "Part10Source", "RetrieveResult", "StoreResult",
           "connect", "open_association", "query_contexts", "role_selection",
           "verification_context"]
