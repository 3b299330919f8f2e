"""Content negotiation: the Accept header and the ``accept`` query parameter (PS3.18 8.3.3).

A media range keeps its parameters (``type``, ``transfer-syntax``) because DICOMweb
negotiates on them: ``multipart/related; type="application/dicom"; transfer-syntax=*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hounsfield.errors import InvalidRequest


@dataclass(frozen=True)
class MediaRange:
    """One acceptable media type with its parameters and quality value."""

    type: str  # e.g. "multipart/related", "image/*", "*/*"
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        """Whether this range covers ``media_type`` (wildcards as in RFC 9110 12.5.1)."""
        if self.type == "*/*":
            return True
        main, _, sub = self.type.partition("/")
        other_main, _, other_sub = media_type.lower().partition("/")
        return main == other_main and (sub == "*" or sub == other_sub)

    @property
    def part_type(self) -> str | None:
        """The ``type`` parameter of a multipart range (the media type of each part)."""
        value = self.params.get("type")
        return value.lower() if value else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` as (lower-case type, {lower-case name: value})."""
    pieces = _split(text, ";")
    media_type = pieces[0].strip().lower()
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, sep, value = piece.partition("=")
        if not sep:
            continue
        params[name.strip().lower()] = value.strip().strip('"')
    return media_type, params


def parse_accept(values: list[str], *, parameter: str = "Accept") -> list[MediaRange]:
    """Media ranges of one or more Accept values, best first (stable for equal q)."""
    ranges: list[MediaRange] = []
    for value in values:
        for item in _split(value, ","):
            if not item.strip():
                continue
            media_type, params = parse_media_type(item)
            if "/" not in media_type:
                raise InvalidRequest(f'{parameter} value "{item.strip()}" is not a media type')
            q = 1.0
            if "q" in params:
                try:
                    q = float(params.pop("q"))
                except ValueError:
                    raise InvalidRequest(
                        f'{parameter} value "{item.strip()}" has an invalid q value') from None
                if not 0.0 <= q <= 1.0:
                    raise InvalidRequest(
                        f'{parameter} value "{item.strip()}" has q outside 0 to 1')
            if q > 0:
                ranges.append(MediaRange(media_type, params, q))
    ranges.sort(key=lambda r: -r.q)
    return ranges


def requested_ranges(headers: Mapping[str, str], query_accept: list[str],
                     default: str) -> list[MediaRange]:
    """The ranges a request accepts: the ``accept`` query parameter wins over the header
    (PS3.18 8.3.3.1); neither means ``default``."""
    if query_accept:
        return parse_accept(query_accept, parameter='Parameter "accept"')
    header = headers.get("accept")
    if not header:
        return parse_accept([default])
    return parse_accept([header])
