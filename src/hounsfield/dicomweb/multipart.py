"""multipart/related (RFC 2387, RFC 2046 5.1) as DICOMweb uses it: written part by part,
and read incrementally so a STOW body of any size never sits in memory (DESIGN rule 3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hounsfield.errors import InvalidRequest

CRLF = b"\r\n"
MAX_HEADER_BYTES = 16 * 1024


def new_boundary() -> str:
    return uuid.uuid4().hex


def content_type(part_type: str, boundary: str, **params: str) -> str:
    """The Content-Type of a multipart/related body whose parts are ``part_type``."""
    extra = "".join(f"; {k.replace('_', '-')}={v}" for k, v in params.items())
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def part_head(boundary: str, part_content_type: str, *, length: int | None = None,
              location: str | None = None, first: bool = False) -> bytes:
    """Delimiter and headers that open one part (the body follows)."""
    lines = [("" if first else "\r\n") + f"--{boundary}", f"Content-Type: {part_content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if location is not None:
        lines.append(f"Content-Location: {location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


# --- reading ------------------------------------------------------------------------------

@dataclass
class PartStart:
    headers: dict[str, str]  # lower-case names


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


class MultipartParser:
    """Incremental multipart parser: ``feed`` bytes as they arrive, get events back.

    Memory holds at most one chunk plus a delimiter's length of the body. ``close`` reports
    a body that ended before its closing delimiter.
    """

    def __init__(self, boundary: str) -> None:
        if not boundary or len(boundary) > 200:
            raise InvalidRequest("The multipart boundary must be 1 to 200 characters "
                                 "(RFC 2046 5.1.1)")
        self._dash_boundary = b"--" + boundary.encode("latin-1")
        self._delimiter = CRLF + self._dash_boundary
        self._buffer = bytearray()
        self._state = "preamble"  # preamble, after_delimiter, headers, body, done
        self.finished = False

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            progressed = getattr(self, "_" + self._state)(events)
            if not progressed:
                return events

    def close(self) -> None:
        """Raise InvalidRequest when the body did not end with its closing delimiter."""
        if not self.finished:
            where = "inside a part" if self._state in ("body", "headers") else "before any part"
            raise InvalidRequest(f"The multipart body ended {where}, without its closing "
                                 "delimiter")

    # Each state consumes what it can and returns whether it made progress.
    def _preamble(self, events: list[Event]) -> bool:
        buf = self._buffer
        if buf.startswith(self._dash_boundary):
            del buf[:len(self._dash_boundary)]
            self._state = "after_delimiter"
            return True
        index = buf.find(self._delimiter)
        if index < 0:
            # Keep what could be the start of a delimiter.
            keep = len(self._delimiter) - 1
            if len(buf) > keep:
                del buf[:len(buf) - keep]
            return False
        del buf[:index + len(self._delimiter)]
        self._state = "after_delimiter"
        return True

    def _after_delimiter(self, events: list[Event]) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        if buf[:2] == b"--":
            self._state = "done"
            self.finished = True
            buf.clear()
            return False
        end = buf.find(CRLF)
        if end < 0:
            if len(buf) > 256:
                raise InvalidRequest("Garbage after a multipart delimiter")
            return False
        if buf[:end].strip(b" \t"):
            raise InvalidRequest("Garbage after a multipart delimiter")
        del buf[:end + 2]
        self._state = "headers"
        return True

    def _headers(self, events: list[Event]) -> bool:
        buf = self._buffer
        if buf.startswith(CRLF):
            end, skip = 0, 2  # no headers at all
        else:
            end = buf.find(b"\r\n\r\n")
            skip = 4
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise InvalidRequest(f"A multipart part has more than {MAX_HEADER_BYTES} "
                                     "bytes of headers")
            return False
        headers: dict[str, str] = {}
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n") if end else []
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise InvalidRequest(f"Malformed multipart part header {line!r}")
            headers[name.strip().lower()] = value.strip()
        del buf[:end + skip]
        events.append(PartStart(headers))
        self._state = "body"
        return True

    def _body(self, events: list[Event]) -> bool:
        buf = self._buffer
        index = buf.find(self._delimiter)
        if index < 0:
            safe = len(buf) - (len(self._delimiter) - 1)
            if safe > 0:
                events.append(PartData(bytes(buf[:safe])))
                del buf[:safe]
            return False
        if index:
            events.append(PartData(bytes(buf[:index])))
        del buf[:index + len(self._delimiter)]
        events.append(PartEnd())
        self._state = "after_delimiter"
        return True

    def _done(self, events: list[Event]) -> bool:
        self._buffer.clear()  # the epilogue is ignored (RFC 2046 5.1.1)
        return False
