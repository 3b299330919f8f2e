"""DIMSE command sets (PS3.7 9.3, 10.3, Annex E): encoded in implicit VR little endian.

A command set is small, so it is decoded in one go into a :class:`Command`; data sets are
not handled here (they stream to a sink chosen by the service, see ``association.py``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields

# Command Field values (PS3.7 E.1)
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_GET_RQ = 0x0010
C_GET_RSP = 0x8010
C_FIND_RQ = 0x0020
C_FIND_RSP = 0x8020
C_MOVE_RQ = 0x0021
C_MOVE_RSP = 0x8021
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF

COMMAND_NAMES = {
    C_STORE_RQ: "C-STORE-RQ", C_STORE_RSP: "C-STORE-RSP", C_GET_RQ: "C-GET-RQ",
    C_GET_RSP: "C-GET-RSP", C_FIND_RQ: "C-FIND-RQ", C_FIND_RSP: "C-FIND-RSP",
    C_MOVE_RQ: "C-MOVE-RQ", C_MOVE_RSP: "C-MOVE-RSP", C_ECHO_RQ: "C-ECHO-RQ",
    C_ECHO_RSP: "C-ECHO-RSP", C_CANCEL_RQ: "C-CANCEL-RQ",
}

NO_DATA_SET = 0x0101  # Command Data Set Type: no data set present (PS3.7 E.1)
DATA_SET_PRESENT = 0x0000

PRIORITY_MEDIUM = 0x0000

# Status codes shared by several services (PS3.7 C, PS3.4 B.2.3, C.4)
SUCCESS = 0x0000
PENDING = 0xFF00
PENDING_WARNING = 0xFF01
CANCEL = 0xFE00
WARNING_SUBOPS = 0xB000
REFUSED_OUT_OF_RESOURCES = 0xA700
REFUSED_SUBOPS_RESOURCES = 0xA702
REFUSED_MOVE_DESTINATION_UNKNOWN = 0xA801
IDENTIFIER_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
UNABLE_TO_PROCESS = 0xC311  # C-FIND / C-MOVE / C-GET failure
NOT_AUTHORIZED = 0x0124
SOP_CLASS_NOT_SUPPORTED = 0x0122


def status_category(status: int) -> str:
    """'success', 'pending', 'cancel', 'warning' or 'failure' (PS3.7 C.1)."""
    if status == SUCCESS:
        return "success"
    if status in (PENDING, PENDING_WARNING):
        return "pending"
    if status == CANCEL:
        return "cancel"
    if status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF:
        return "warning"
    return "failure"


class DIMSEError(ValueError):
    """A command set that cannot be decoded or encoded."""


# (group 0000 element) -> (attribute name, VR). Only what C-services use (PS3.7 E.1).
_ELEMENTS: dict[int, tuple[str, str]] = {
    0x0002: ("affected_sop_class_uid", "UI"),
    0x0003: ("requested_sop_class_uid", "UI"),
    0x0100: ("command_field", "US"),
    0x0110: ("message_id", "US"),
    0x0120: ("message_id_being_responded_to", "US"),
    0x0600: ("move_destination", "AE"),
    0x0700: ("priority", "US"),
    0x0800: ("command_data_set_type", "US"),
    0x0900: ("status", "US"),
    0x0901: ("offending_element", "AT"),
    0x0902: ("error_comment", "LO"),
    0x0903: ("error_id", "US"),
    0x1000: ("affected_sop_instance_uid", "UI"),
    0x1001: ("requested_sop_instance_uid", "UI"),
    0x1020: ("number_of_remaining_suboperations", "US"),
    0x1021: ("number_of_completed_suboperations", "US"),
    0x1022: ("number_of_failed_suboperations", "US"),
    0x1023: ("number_of_warning_suboperations", "US"),
    0x1030: ("move_originator_application_entity_title", "AE"),
    0x1031: ("move_originator_message_id", "US"),
}
_BY_NAME = {name: (element, vr) for element, (name, vr) in _ELEMENTS.items()}
_ORDER = sorted(_ELEMENTS)
_ELEMENT_HEADER = struct.Struct("<HHL")
_US = struct.Struct("<H")


@dataclass(slots=True)
class Command:
    """A DIMSE command set; ``None`` fields are absent from the encoding."""

    command_field: int
    message_id: int | None = None
    message_id_being_responded_to: int | None = None
    affected_sop_class_uid: str | None = None
    requested_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    requested_sop_instance_uid: str | None = None
    priority: int | None = None
    command_data_set_type: int = NO_DATA_SET
    status: int | None = None
    offending_element: list[int] | None = None
    error_comment: str | None = None
    error_id: int | None = None
    move_destination: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    move_originator_application_entity_title: str | None = None
    move_originator_message_id: int | None = None
    extra: dict[int, bytes] = field(default_factory=dict)  # elements we do not interpret

    @property
    def has_data_set(self) -> bool:
        return self.command_data_set_type != NO_DATA_SET

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command_field, f"0x{self.command_field:04X}")

    @property
    def is_request(self) -> bool:
        return not self.command_field & 0x8000


def _encode_value(value: object, vr: str) -> bytes:
    if vr == "US":
        return _US.pack(int(value))  # type: ignore[call-overload]
    if vr == "AT":
        return b"".join(struct.pack("<HH", tag >> 16, tag & 0xFFFF)
                        for tag in value)  # type: ignore[attr-defined]
    # latin-1, not ascii: a response echoes UIDs and titles exactly as the request had them.
    raw = str(value).encode("latin-1")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return raw


def encode_command(command: Command) -> bytes:
    """Encode a command set with its CommandGroupLength (0000,0000) first (PS3.7 E.1)."""
    parts = []
    for element in _ORDER:
        name, vr = _ELEMENTS[element]
        value = getattr(command, name)
        if value is None:
            continue
        try:
            raw = _encode_value(value, vr)
        except (UnicodeEncodeError, struct.error, TypeError, ValueError) as exc:
            raise DIMSEError(f"Cannot encode {name} = {value!r}: {exc}") from None
        parts.append(_ELEMENT_HEADER.pack(0, element, len(raw)))
        parts.append(raw)
    body = b"".join(parts)
    return _ELEMENT_HEADER.pack(0, 0, 4) + struct.pack("<L", len(body)) + body


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Decode an implicit VR little endian command set; unknown group 0000 elements are kept
    raw in ``extra``."""
    view = memoryview(data)
    values: dict[str, object] = {}
    extra: dict[int, bytes] = {}
    pos = 0
    end = len(view)
    while pos < end:
        if end - pos < 8:
            raise DIMSEError("Truncated element header in command set")
        group, element, length = _ELEMENT_HEADER.unpack_from(view, pos)
        pos += 8
        if group != 0 or length == 0xFFFFFFFF or pos + length > end:
            raise DIMSEError(f"Invalid command element ({group:04X},{element:04X}) "
                             f"of length {length}")
        raw = view[pos:pos + length]
        pos += length
        if element == 0:
            continue
        known = _ELEMENTS.get(element)
        if known is None:
            extra[element] = bytes(raw)
            continue
        name, vr = known
        if vr == "US":
            if length != 2:
                raise DIMSEError(f"{name} must be 2 bytes long, not {length}")
            values[name] = _US.unpack_from(raw)[0]
        elif vr == "AT":
            values[name] = [(g << 16) | e for g, e in struct.iter_unpack("<HH", raw[:length // 4 * 4])]
        else:
            values[name] = bytes(raw).decode("latin-1").rstrip("\x00 ").lstrip(" ")
    if "command_field" not in values:
        raise DIMSEError("Command set has no Command Field (0000,0100)")
    values.setdefault("command_data_set_type", NO_DATA_SET)
    return Command(extra=extra, **values)  # type: ignore[arg-type]


COMMAND_FIELDS = tuple(f.name for f in fields(Command))
