"""Helpers of the DICOMweb tests: multipart bodies built and split by hand (so the tests
do not trust the server's own multipart code), and stored test objects."""

from __future__ import annotations

import re
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
    """Parts of a multipart response as (lower-case headers, body), per RFC 2046 5.1.1."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, f"no boundary in {content_type!r}"
    delimiter = b"\r\n--" + match.group(1).encode()
    segments = (b"\r\n" + body).split(delimiter)
    assert segments[0] == b"", "unexpected preamble"
    assert segments[-1].startswith(b"--"), "no closing delimiter"
    parts = []
    for segment in segments[1:-1]:
        assert segment.startswith(b"\r\n"), segment[:40]
        head, sep, payload = segment[2:].partition(b"\r\n\r\n")
        assert sep, "part without a blank line after its headers"
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, payload))
    return parts


def uid_of(doc: dict[str, Any], tag: str) -> str:
    return str(doc[tag]["Value"][0])


def series_of(study: str, series: str, count: int, **kw: Any) -> list[Dataset]:
    return [make_dataset(study_uid=study, series_uid=series, instance_number=i + 1, **kw)
            for i in range(count)]


def part10(ds: Dataset) -> bytes:
    return to_bytes(ds)
