"""DICOM JSON (PS3.18 F.2) straight from a parsed header's raw elements.

pydicom's ``Dataset.to_json_dict`` converts every element to a full DataElement first,
which costs milliseconds per small instance; this reads the raw values directly and falls
back to pydicom for anything unusual (sequences, multi-byte character sets with escape
sequences, unknown VRs), so the result is the same document, made several times faster.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Callable

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

STRING_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC", "UI"}
TEXT_VRS = {"LT", "ST", "UT", "UR"}
CHARSET_VRS = {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d",
                  "UV": "Q", "SV": "q"}
PN_DELIMITERS = {0x5C, 0x3D, 0x5E}
TEXT_DELIMITERS = {0x5C}
_SIMPLE_ENCODINGS = {"iso8859", "iso_ir_6", "utf_8", "ascii", "latin_1", "iso8859_2",
                     "iso8859_3", "iso8859_4", "iso8859_5", "iso8859_6", "iso8859_7",
                     "iso8859_8", "iso8859_9", "iso8859_11", "tis_620", "gb18030", "gbk"}


def _vr_of(raw: RawDataElement) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        vr = dictionary_VR(raw.tag)
    except KeyError:
        return "UN"
    if "or" in vr:  # ambiguous (e.g. "US or SS"): let pydicom resolve it
        return ""
    return vr


def _strings(text: str) -> list[Any]:
    return [v if v else None for v in (p.strip(" \x00") for p in text.split("\\"))]


def _pn(text: str) -> list[Any]:
    out: list[Any] = []
    for value in text.split("\\"):
        groups = value.rstrip(" \x00").split("=")
        item = {k: g for k, g in zip(("Alphabetic", "Ideographic", "Phonetic"), groups) if g}
        out.append(item or None)
    return out


def _number(text: str, integer: bool) -> Any:
    t = text.strip()
    if not t:
        return None
    try:
        if integer:
            return int(t)
        f = float(t)
        return int(f) if f.is_integer() and "." not in t and "e" not in t.lower() else f
    except ValueError:
        return None


def dataset_json(ds: Dataset, bulk_uri: Callable[[str], str], threshold: int) -> dict[str, Any]:
    """The DICOM JSON of ``ds`` (no file meta), with binary values over ``threshold`` bytes
    as BulkDataURI and the rest as InlineBinary."""
    encodings = convert_encodings(ds._character_set) if hasattr(ds, "_character_set") else ["iso8859"]
    simple = all(e in _SIMPLE_ENCODINGS for e in encodings) and len(encodings) == 1
    doc: dict[str, Any] = {}
    for tag, elem in ds._dict.items():
        tag_int = int(tag)
        if tag_int >> 16 == 0x0002:
            continue
        key = f"{tag_int:08X}"
        if isinstance(elem, RawDataElement) and elem.value is not None and simple:
            vr = _vr_of(elem)
            if vr and vr != "SQ":
                converted = _raw(elem, vr, encodings[0], key, bulk_uri, threshold)
                if converted is not None:
                    doc[key] = converted
                    continue
        doc[key] = _slow(ds, tag_int, key, bulk_uri, threshold)
    return doc


def _raw(raw: RawDataElement, vr: str, encoding: str, key: str,
         bulk_uri: Callable[[str], str], threshold: int) -> dict[str, Any] | None:
    value: bytes = raw.value
    if not value:
        return {"vr": vr}
    if vr in BINARY_VRS:
        if len(value) > threshold:
            return {"vr": vr, "BulkDataURI": bulk_uri(key)}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    if vr in NUMBER_FORMATS:
        fmt = NUMBER_FORMATS[vr]
        size = struct.calcsize(fmt)
        if len(value) % size:
            return None
        order = "<" if raw.is_little_endian else ">"
        numbers = list(struct.unpack(f"{order}{len(value) // size}{fmt}", value))
        if vr in ("FL", "FD") and any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            return None  # NaN and infinity have no JSON number
        return {"vr": vr, "Value": numbers}
    if vr == "AT":
        return None
    codec = "ascii" if vr not in CHARSET_VRS else encoding
    try:
        text = value.decode(codec if codec != "iso8859" else "latin_1")
    except (UnicodeDecodeError, LookupError):
        return None
    if vr == "PN":
        return {"vr": vr, "Value": _pn(text)}
    if vr in STRING_VRS:
        return {"vr": vr, "Value": _strings(text)}
    if vr in TEXT_VRS:
        return {"vr": vr, "Value": [text.rstrip(" \x00")]}
    if vr in ("IS", "DS"):
        return {"vr": vr, "Value": [_number(t, vr == "IS") for t in text.split("\\")]}
    return None


def _slow(ds: Dataset, tag: int, key: str, bulk_uri: Callable[[str], str],
          threshold: int) -> dict[str, Any]:
    elem = ds[tag]
    if elem.VR == "SQ":
        return {"vr": "SQ", "Value": [dataset_json(item, bulk_uri, threshold)
                                      for item in elem.value]}
    return elem.to_json_dict(bulk_data_element_handler=lambda e: bulk_uri(key),
                             bulk_data_threshold=threshold)


__all__ = ["dataset_json", "decode_bytes", "TEXT_DELIMITERS", "PN_DELIMITERS"]
