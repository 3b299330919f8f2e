"""Helpers of the DICOMweb tests: multipart bodies built and split by hand (so the tests
do not trust the server's own multipart code), and stored test objects."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any

from pydicom.dataset import Dataset

from dicom_factory import make_dataset, to_bytes

BASE = "/dicom-web"
BOUNDARY = "test-boundary-7d1f"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def multipart_body(parts: list[bytes], *, boundary: str = BOUNDARY,
                   part_type: str = "application/dicom",
                   types: list[str] | None = None) -> bytes:
    """A multipart/related body with one part per item (RFC 2046 5.1.1)."""
    out = []
    for index, part in enumerate(parts):
        content_type = types[index] if types else part_type
        out.append(f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + part
                   + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart response as (headers, body), parsed by the standard library."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart(), content_type
    parts = []
    for part in message.iter_parts():
        headers = {k.lower(): str(v) for k, v in part.items()}
        parts.append((headers, part.get_payload(decode=True)))
    return parts


def uid_of(doc: dict[str, Any], tag: str) -> str:
    return str(doc[tag]["Value"][0])


def series_of(study: str, series: str, count: int, **kw: Any) -> list[Dataset]:
    return [make_dataset(study_uid=study, series_uid=series, instance_number=i + 1, **kw)
            for i in range(count)]


def part10(ds: Dataset) -> bytes:
    return to_bytes(ds)
