"""The streaming multipart parser and Accept parsing, on their own."""

from __future__ import annotations

import pytest

from hounsfield.dicomweb.accept import parse_accept, parse_media_type
from hounsfield.dicomweb.multipart import MultipartParser, PartData, PartEnd, PartStart
from hounsfield.errors import InvalidRequest

from dicomweb_helpers import multipart_body


def _parse(body: bytes, boundary: str, step: int) -> list[tuple[dict[str, str], bytes]]:
    parser = MultipartParser(boundary)
    parts: list[tuple[dict[str, str], bytearray]] = []
    for start in range(0, len(body), step):
        for event in parser.feed(body[start:start + step]):
            if isinstance(event, PartStart):
                parts.append((event.headers, bytearray()))
            elif isinstance(event, PartData):
                parts[-1][1].extend(event.data)
            else:
                assert isinstance(event, PartEnd)
    parser.close()
    return [(h, bytes(b)) for h, b in parts]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_parts_survive_any_chunking(step: int) -> None:
    # Bodies that contain CR LF, dashes and near-boundaries must come back unchanged.
    payloads = [b"\r\n--b\r\n--boun\r\n-", b"", b"x" * 300 + b"\r\n--boun", b"\r\n"]
    body = b"preamble\r\n" + multipart_body(payloads, boundary="bound",
                                            part_type="application/dicom")
    parts = _parse(body, "bound", step)
    assert [p[1] for p in parts] == payloads
    assert all(h["content-type"] == "application/dicom" for h, _ in parts)


def test_leading_crlf_and_no_part_headers() -> None:
    body = b"\r\n--b\r\n\r\nabc\r\n--b--"
    assert _parse(body, "b", 5) == [({}, b"abc")]


def test_truncated_body_is_reported() -> None:
    parser = MultipartParser("b")
    parser.feed(b"--b\r\nContent-Type: application/dicom\r\n\r\nabc")
    with pytest.raises(InvalidRequest, match="closing delimiter"):
        parser.close()


def test_garbage_after_delimiter() -> None:
    with pytest.raises(InvalidRequest, match="Garbage"):
        MultipartParser("b").feed(b"--bxyz\r\n")


def test_accept_orders_by_quality_and_keeps_parameters() -> None:
    ranges = parse_accept(['multipart/related; type="application/dicom"; '
                           'transfer-syntax=1.2.840.10008.1.2.4.90; q=0.5, '
                           'multipart/related; type="application/dicom"; transfer-syntax=*, '
                           "image/png;q=0"])
    assert [r.transfer_syntax for r in ranges] == ["*", "1.2.840.10008.1.2.4.90"]
    assert ranges[0].part_type == "application/dicom"


def test_accept_rejects_bad_values() -> None:
    with pytest.raises(InvalidRequest, match="q value"):
        parse_accept(["image/png; q=abc"])
    with pytest.raises(InvalidRequest, match="not a media type"):
        parse_accept(["png"])


def test_media_type_with_quoted_semicolon() -> None:
    media_type, params = parse_media_type('multipart/related; type="a;b"; boundary=x')
    assert media_type == "multipart/related" and params == {"type": "a;b", "boundary": "x"}
