"""Error classes that carry both an HTTP status and a DIMSE status.

One table gives each error its meaning on every protocol, so a protocol handler turns
any core error into its own response without deciding anything (DESIGN.md rule 9).
"""

from __future__ import annotations


class HounsfieldError(Exception):
    """Base error. ``http_status`` and ``dimse_status`` say how each protocol reports it."""

    http_status: int = 500
    dimse_status: int = 0xC000  # Failure: unable to process (PS3.4 Annex B.2.3 / C-STORE)
    code: str = "internal_error"

    def __init__(self, message: str, *, http_status: int | None = None,
                 dimse_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status
        if dimse_status is not None:
            self.dimse_status = dimse_status

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message}


class InvalidRequest(HounsfieldError):
    """The request itself is malformed (bad query parameter, bad identifier)."""

    http_status = 400
    dimse_status = 0xA900  # Identifier does not match SOP class
    code = "invalid_request"


class InvalidObject(HounsfieldError):
    """A DICOM object that cannot be kept: not DICOM, truncated, missing or bad UIDs."""

    http_status = 400
    dimse_status = 0xC000  # Cannot understand
    code = "invalid_object"


class DataSetMismatch(InvalidObject):
    """The data set does not match the SOP class, or its UIDs disagree with the request."""

    dimse_status = 0xA900
    code = "dataset_mismatch"


class NotFound(HounsfieldError):
    http_status = 404
    dimse_status = 0xA801  # Move destination / SOP instance unknown (C-MOVE/C-GET context)
    code = "not_found"


class Conflict(HounsfieldError):
    """The object conflicts with what is stored (e.g. a refused duplicate)."""

    http_status = 409
    dimse_status = 0xA700
    code = "conflict"


class OutOfResources(HounsfieldError):
    http_status = 507
    dimse_status = 0xA700  # Refused: out of resources (PS3.4 B.2.3)
    code = "out_of_resources"


class NotAcceptable(HounsfieldError):
    """The requested representation (media type, transfer syntax) cannot be produced."""

    http_status = 406
    dimse_status = 0xC000
    code = "not_acceptable"


class Forbidden(HounsfieldError):
    http_status = 403
    dimse_status = 0xA801
    code = "forbidden"


class Unauthorized(HounsfieldError):
    http_status = 401
    dimse_status = 0xA801
    code = "unauthorized"


class StorageError(HounsfieldError):
    """The blob store failed (I/O error, object store unreachable)."""

    http_status = 503
    dimse_status = 0xA700
    code = "storage_error"
