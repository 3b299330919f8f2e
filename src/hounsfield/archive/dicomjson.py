"""DICOM JSON model (PS3.18 F.2) of a stored instance, without bulk data.

Binary values above a small threshold become BulkDataURI references. The URI is stored
with the placeholder ``BULKDATA_BASE`` for the DICOMweb base URL, which the DICOMweb layer
replaces in the serialized bytes when it serves metadata, so a stored document is valid
behind any host name.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from pydicom.dataset import Dataset

from hounsfield.archive.fastjson import dataset_json

BULKDATA_BASE = "%%HOUNSFIELD_BASE%%"
BULK_THRESHOLD = 1024
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def instance_path(study: str, series: str, sop: str) -> str:
    return f"{BULKDATA_BASE}/studies/{study}/series/{series}/instances/{sop}"


def to_dicom_json(ds: Dataset, *, study: str, series: str, sop: str,
                  transfer_syntax_uid: str, pixel_data: tuple[str, str] | None) -> dict[str, Any]:
    """The instance's DICOM JSON; ``pixel_data`` is (tag hex, VR) of the Pixel Data element
    that follows the parsed header, if any."""
    base = instance_path(study, series, sop)

    def bulk(tag: str) -> str:
        return f"{base}/bulkdata/{tag}"

    doc = dataset_json(ds, bulk, BULK_THRESHOLD)
    # Transfer Syntax UID tells a viewer how frames are encoded (kept from the file meta).
    doc["00020010"] = {"vr": "UI", "Value": [transfer_syntax_uid]}
    if pixel_data is not None:
        tag, vr = pixel_data
        doc[tag] = {"vr": vr, "BulkDataURI": f"{base}/bulkdata/{tag}"}
    return dict(sorted(doc.items()))


def searchable(doc: dict[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    """The part of a DICOM JSON document kept for attribute matching: no bulk data, no
    group 0002, nothing already in a column, nothing long."""
    out: dict[str, Any] = {}
    for tag, elem in doc.items():
        if tag in skip or tag.startswith("0002") or elem.get("vr") in BINARY_VRS:
            continue
        if "BulkDataURI" in elem or "InlineBinary" in elem:
            continue
        if len(orjson.dumps(elem)) > 2048:
            continue
        out[tag] = elem
    return out


def compress(doc: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(doc), 1)


def decompress(blob: bytes) -> bytes:
    """Serialized JSON bytes of a stored document (still with the BULKDATA_BASE placeholder)."""
    return zlib.decompress(blob)


def load(blob: bytes) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(blob))  # type: ignore[no-any-return]
