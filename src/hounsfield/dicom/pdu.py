"""Codec of the DICOM upper layer protocol data units (PS3.8 9.3) and their items.

Pure functions: bytes in, dataclasses out and back. Every malformed input raises
:class:`PDUError`, which carries the A-ABORT reason the state machine sends (PS3.8 9.3.8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Union

# PDU types (PS3.8 9.3.1)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07
PDU_TYPES = (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF,
             A_RELEASE_RQ, A_RELEASE_RP, A_ABORT)

# A-ABORT sources and reasons (PS3.8 Table 9-26)
ABORT_SOURCE_USER = 0
ABORT_SOURCE_PROVIDER = 2
REASON_NOT_SPECIFIED = 0
REASON_UNRECOGNIZED_PDU = 1
REASON_UNEXPECTED_PDU = 2
REASON_UNRECOGNIZED_PARAMETER = 4
REASON_UNEXPECTED_PARAMETER = 5
REASON_INVALID_PARAMETER = 6

# A-ASSOCIATE-RJ (PS3.8 Table 9-21)
RJ_RESULT_PERMANENT = 1
RJ_RESULT_TRANSIENT = 2
RJ_SOURCE_USER = 1
RJ_SOURCE_ACSE = 2
RJ_SOURCE_PRESENTATION = 3
RJ_USER_NO_REASON = 1
RJ_USER_APPLICATION_CONTEXT = 2
RJ_USER_CALLING_AE = 3
RJ_USER_CALLED_AE = 7
RJ_ACSE_NO_REASON = 1  # also a refused User Identity (PS3.7 D.3.3.7)
RJ_ACSE_PROTOCOL_VERSION = 2
RJ_PRESENTATION_CONGESTION = 1
RJ_PRESENTATION_LIMIT = 2

# Presentation context results (PS3.8 Table 9-18)
PC_ACCEPTANCE = 0
PC_USER_REJECTION = 1
PC_NO_REASON = 2
PC_ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
PC_TRANSFER_SYNTAXES_NOT_SUPPORTED = 4

APPLICATION_CONTEXT_NAME = "1.2.840.10008.3.1.1.1"  # PS3.7 A.2.1

_HEADER = struct.Struct(">BxL")
_ITEM = struct.Struct(">BxH")
_PDV = struct.Struct(">LBB")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")


class PDUError(ValueError):
    """A PDU that cannot be decoded or encoded; ``reason`` is the A-ABORT reason to send."""

    def __init__(self, message: str, reason: int = REASON_INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.reason = reason


# --- items -------------------------------------------------------------------------------

@dataclass
class PresentationContextRQ:
    """Presentation context item of an A-ASSOCIATE-RQ (PS3.8 9.3.2.2)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: list[str]


@dataclass
class PresentationContextAC:
    """Presentation context item of an A-ASSOCIATE-AC (PS3.8 9.3.3.2)."""

    context_id: int
    result: int
    transfer_syntax: str = ""


@dataclass
class RoleSelection:
    """SCP/SCU role selection sub-item (PS3.7 D.3.3.4)."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool


@dataclass
class SOPClassExtendedNegotiation:
    """SOP class extended negotiation sub-item (PS3.7 D.3.3.5)."""

    sop_class_uid: str
    service_class_application_information: bytes


@dataclass
class SOPClassCommonExtendedNegotiation:
    """SOP class common extended negotiation sub-item (PS3.7 D.3.3.6)."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_uids: list[str] = field(default_factory=list)


@dataclass
class UserIdentityRQ:
    """User identity negotiation request sub-item (PS3.7 D.3.3.7.1)."""

    user_identity_type: int  # 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT
    positive_response_requested: bool
    primary_field: bytes
    secondary_field: bytes = b""


@dataclass
class UserIdentityAC:
    """User identity negotiation response sub-item (PS3.7 D.3.3.7.2)."""

    server_response: bytes


@dataclass
class UserInformation:
    """User information item and its sub-items (PS3.8 9.3.2.3, PS3.7 D.3.3)."""

    max_length: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    asynchronous_operations_window: tuple[int, int] | None = None  # (invoked, performed)
    role_selections: list[RoleSelection] = field(default_factory=list)
    extended_negotiations: list[SOPClassExtendedNegotiation] = field(default_factory=list)
    common_extended_negotiations: list[SOPClassCommonExtendedNegotiation] = field(
        default_factory=list)
    user_identity_rq: UserIdentityRQ | None = None
    user_identity_ac: UserIdentityAC | None = None


# --- PDUs --------------------------------------------------------------------------------

@dataclass
class AAssociateRQ:
    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: list[PresentationContextRQ]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context_name: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1


@dataclass
class AAssociateAC:
    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: list[PresentationContextAC]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context_name: str = APPLICATION_CONTEXT_NAME
    protocol_version: int = 1


@dataclass
class AAssociateRJ:
    result: int
    source: int
    reason: int


@dataclass(slots=True)
class PDV:
    """One presentation data value item (PS3.8 9.3.5.1, E.2): a command or data fragment."""

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | memoryview


@dataclass
class PDataTF:
    pdvs: list[PDV]


@dataclass
class AReleaseRQ:
    pass


@dataclass
class AReleaseRP:
    pass


@dataclass
class AAbort:
    source: int = ABORT_SOURCE_USER
    reason: int = REASON_NOT_SPECIFIED


PDU = Union[AAssociateRQ, AAssociateAC, AAssociateRJ, PDataTF, AReleaseRQ, AReleaseRP, AAbort]


# --- encoding ----------------------------------------------------------------------------

def _ascii(value: str, what: str) -> bytes:
    # latin-1 round-trips what decoding read, so an answer can echo a peer's odd bytes;
    # what we originate is plain ASCII anyway.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise PDUError(f"{what} {value!r} is not ASCII") from None


def _ae(value: str, what: str) -> bytes:
    # latin-1: an A-ASSOCIATE-AC echoes the titles the peer sent, whatever they were.
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise PDUError(f"{what} {value!r} is not ASCII") from None
    if len(raw) > 16:
        raise PDUError(f"{what} {value!r} is longer than 16 characters")
    return raw.ljust(16, b" ")


def _item(item_type: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise PDUError(f"Item 0x{item_type:02X} is longer than 65535 bytes")
    return _ITEM.pack(item_type, len(value)) + value


def _len16(value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise PDUError("Field longer than 65535 bytes")
    return _U16.pack(len(value)) + value


def _encode_user_information(ui: UserInformation) -> bytes:
    parts = [_item(0x51, _U32.pack(ui.max_length))]
    if ui.implementation_class_uid:
        parts.append(_item(0x52, _ascii(ui.implementation_class_uid, "Implementation Class UID")))
    if ui.asynchronous_operations_window is not None:
        invoked, performed = ui.asynchronous_operations_window
        parts.append(_item(0x53, struct.pack(">HH", invoked, performed)))
    for role in ui.role_selections:
        parts.append(_item(0x54, _len16(_ascii(role.sop_class_uid, "SOP Class UID"))
                           + bytes((int(role.scu_role), int(role.scp_role)))))
    if ui.implementation_version_name:
        name = _ascii(ui.implementation_version_name, "Implementation Version Name")
        if len(name) > 16:
            raise PDUError(f"Implementation Version Name {ui.implementation_version_name!r} "
                           "is longer than 16 characters")
        parts.append(_item(0x55, name))
    for ext in ui.extended_negotiations:
        parts.append(_item(0x56, _len16(_ascii(ext.sop_class_uid, "SOP Class UID"))
                           + bytes(ext.service_class_application_information)))
    for common in ui.common_extended_negotiations:
        related = b"".join(_len16(_ascii(u, "Related General SOP Class UID"))
                           for u in common.related_general_sop_class_uids)
        value = (_len16(_ascii(common.sop_class_uid, "SOP Class UID"))
                 + _len16(_ascii(common.service_class_uid, "Service Class UID"))
                 + _len16(related))
        # The sub-item version byte sits where other items keep a reserved byte (D.3.3.6).
        parts.append(_item(0x57, value))
    if ui.user_identity_rq is not None:
        uid = ui.user_identity_rq
        parts.append(_item(0x58, bytes((uid.user_identity_type,
                                        int(uid.positive_response_requested)))
                           + _len16(uid.primary_field) + _len16(uid.secondary_field)))
    if ui.user_identity_ac is not None:
        parts.append(_item(0x59, _len16(ui.user_identity_ac.server_response)))
    return _item(0x50, b"".join(parts))


def _encode_associate(pdu: AAssociateRQ | AAssociateAC) -> bytes:
    rq = isinstance(pdu, AAssociateRQ)
    parts = [struct.pack(">HH", pdu.protocol_version, 0),
             _ae(pdu.called_ae_title, "Called AE Title"),
             _ae(pdu.calling_ae_title, "Calling AE Title"), bytes(32),
             _item(0x10, _ascii(pdu.application_context_name, "Application Context Name"))]
    for pc in pdu.presentation_contexts:
        if not 0 <= pc.context_id <= 255 or (rq and pc.context_id % 2 == 0):
            # PS3.8 9.3.2.2: we propose odd IDs; an answer echoes whatever ID was proposed.
            raise PDUError(f"Presentation context ID {pc.context_id} is not an odd number "
                           "from 1 to 255")
        if isinstance(pc, PresentationContextRQ):
            sub = _item(0x30, _ascii(pc.abstract_syntax, "Abstract Syntax Name")) + b"".join(
                _item(0x40, _ascii(ts, "Transfer Syntax Name")) for ts in pc.transfer_syntaxes)
            parts.append(_item(0x20, bytes((pc.context_id, 0, 0, 0)) + sub))
        else:
            sub = _item(0x40, _ascii(pc.transfer_syntax, "Transfer Syntax Name"))
            parts.append(_item(0x21, bytes((pc.context_id, 0, pc.result, 0)) + sub))
    parts.append(_encode_user_information(pdu.user_information))
    body = b"".join(parts)
    return _HEADER.pack(A_ASSOCIATE_RQ if rq else A_ASSOCIATE_AC, len(body)) + body


def encode_pdata_header(context_id: int, control: int, data_length: int) -> bytes:
    """Header of a P-DATA-TF PDU that carries exactly one PDV of ``data_length`` bytes."""
    return _HEADER.pack(P_DATA_TF, data_length + 6) + _PDV.pack(data_length + 2, context_id,
                                                                 control)


def encode(pdu: PDU) -> bytes:
    """Encode a PDU to bytes, header included."""
    if isinstance(pdu, (AAssociateRQ, AAssociateAC)):
        return _encode_associate(pdu)
    if isinstance(pdu, PDataTF):
        parts = []
        for pdv in pdu.pdvs:
            control = (1 if pdv.is_command else 0) | (2 if pdv.is_last else 0)
            parts.append(_PDV.pack(len(pdv.data) + 2, pdv.context_id, control))
            parts.append(bytes(pdv.data))
        body = b"".join(parts)
        return _HEADER.pack(P_DATA_TF, len(body)) + body
    if isinstance(pdu, AAssociateRJ):
        return _HEADER.pack(A_ASSOCIATE_RJ, 4) + bytes((0, pdu.result, pdu.source, pdu.reason))
    if isinstance(pdu, AReleaseRQ):
        return _HEADER.pack(A_RELEASE_RQ, 4) + bytes(4)
    if isinstance(pdu, AReleaseRP):
        return _HEADER.pack(A_RELEASE_RP, 4) + bytes(4)
    if isinstance(pdu, AAbort):
        return _HEADER.pack(A_ABORT, 4) + bytes((0, 0, pdu.source, pdu.reason))
    raise PDUError(f"Not a PDU: {type(pdu).__name__}")


# --- decoding ----------------------------------------------------------------------------

def _text(raw: bytes | memoryview) -> str:
    # Tolerant when reading: trailing NUL (UID padding) and spaces are not part of the value.
    return bytes(raw).decode("latin-1").rstrip("\x00 ").lstrip(" ")


def _items(data: memoryview, what: str) -> list[tuple[int, memoryview]]:
    """Split a run of items (type, reserved, 16-bit length, value) (PS3.8 9.3.2)."""
    out = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise PDUError(f"Truncated item header in {what}")
        item_type, length = _ITEM.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise PDUError(f"Item 0x{item_type:02X} in {what} claims {length} bytes, "
                           f"only {end - pos} remain")
        out.append((item_type, data[pos:pos + length]))
        pos += length
    return out


def _field16(data: memoryview, pos: int, what: str) -> tuple[memoryview, int]:
    if pos + 2 > len(data):
        raise PDUError(f"Truncated {what} length")
    (length,) = _U16.unpack_from(data, pos)
    pos += 2
    if pos + length > len(data):
        raise PDUError(f"{what} claims {length} bytes, only {len(data) - pos} remain")
    return data[pos:pos + length], pos + length


def _decode_user_information(data: memoryview) -> UserInformation:
    ui = UserInformation()
    seen_max_length = False
    for item_type, value in _items(data, "User Information"):
        if item_type == 0x51:
            if len(value) != 4:
                raise PDUError("Maximum Length sub-item must be 4 bytes long")
            (ui.max_length,) = _U32.unpack_from(value)
            seen_max_length = True
        elif item_type == 0x52:
            ui.implementation_class_uid = _text(value)
        elif item_type == 0x53:
            if len(value) != 4:
                raise PDUError("Asynchronous Operations Window sub-item must be 4 bytes long")
            ui.asynchronous_operations_window = struct.unpack_from(">HH", value)
        elif item_type == 0x54:
            uid, pos = _field16(value, 0, "Role Selection SOP Class UID")
            if len(value) - pos != 2:
                raise PDUError("Role Selection sub-item must end with the two role bytes")
            ui.role_selections.append(RoleSelection(_text(uid), value[pos] == 1,
                                                    value[pos + 1] == 1))
        elif item_type == 0x55:
            ui.implementation_version_name = _text(value)
        elif item_type == 0x56:
            uid, pos = _field16(value, 0, "Extended Negotiation SOP Class UID")
            ui.extended_negotiations.append(
                SOPClassExtendedNegotiation(_text(uid), bytes(value[pos:])))
        elif item_type == 0x57:
            uid, pos = _field16(value, 0, "Common Extended Negotiation SOP Class UID")
            service, pos = _field16(value, pos, "Service Class UID")
            related, pos = _field16(value, pos, "Related General SOP Class Identification")
            uids = []
            rpos = 0
            while rpos < len(related):
                one, rpos = _field16(related, rpos, "Related General SOP Class UID")
                uids.append(_text(one))
            ui.common_extended_negotiations.append(
                SOPClassCommonExtendedNegotiation(_text(uid), _text(service), uids))
        elif item_type == 0x58:
            if len(value) < 2:
                raise PDUError("Truncated User Identity sub-item")
            primary, pos = _field16(value, 2, "User Identity primary field")
            secondary, pos = _field16(value, pos, "User Identity secondary field") \
                if pos < len(value) else (memoryview(b""), pos)
            ui.user_identity_rq = UserIdentityRQ(value[0], value[1] == 1, bytes(primary),
                                                 bytes(secondary))
        elif item_type == 0x59:
            response, _ = _field16(value, 0, "User Identity server response")
            ui.user_identity_ac = UserIdentityAC(bytes(response))
        # Other sub-item types are skipped: PS3.7 D.3.3 lets an acceptor ignore what it
        # does not know, so newer peers keep working.
    if not seen_max_length:
        raise PDUError("User Information has no Maximum Length sub-item (PS3.8 D.1)")
    return ui


def _decode_associate(pdu_type: int, body: memoryview) -> AAssociateRQ | AAssociateAC:
    rq = pdu_type == A_ASSOCIATE_RQ
    name = "A-ASSOCIATE-RQ" if rq else "A-ASSOCIATE-AC"
    if len(body) < 68:
        raise PDUError(f"{name} is {len(body)} bytes long, at least 68 are required")
    (version,) = _U16.unpack_from(body, 0)
    called = _text(body[4:20])
    calling = _text(body[20:36])
    app_context = None
    contexts: list[Any] = []
    user_info = None
    for item_type, value in _items(body[68:], name):
        if item_type == 0x10:
            app_context = _text(value)
        elif item_type == 0x20 and rq or item_type == 0x21 and not rq:
            if len(value) < 4:
                raise PDUError("Truncated Presentation Context item")
            context_id = value[0]
            abstract = None
            syntaxes = []
            for sub_type, sub in _items(value[4:], "Presentation Context"):
                if sub_type == 0x30 and rq and abstract is None:
                    abstract = _text(sub)
                elif sub_type == 0x40:
                    syntaxes.append(_text(sub))
                else:
                    raise PDUError(f"Unexpected sub-item 0x{sub_type:02X} in Presentation "
                                   "Context item", REASON_UNEXPECTED_PARAMETER)
            if rq:
                if abstract is None or not syntaxes:
                    raise PDUError(f"Presentation Context {context_id} lacks an abstract "
                                   "syntax or a transfer syntax")
                contexts.append(PresentationContextRQ(context_id, abstract, syntaxes))
            else:
                contexts.append(PresentationContextAC(context_id, value[2],
                                                      syntaxes[0] if syntaxes else ""))
        elif item_type == 0x50:
            user_info = _decode_user_information(value)
        elif item_type in (0x20, 0x21):
            raise PDUError(f"Item 0x{item_type:02X} does not belong in {name}",
                           REASON_UNEXPECTED_PARAMETER)
        # PS3.8 9.3.1: items of unrecognized types are ignored and skipped.
    if app_context is None:
        raise PDUError(f"{name} has no Application Context item")
    if user_info is None:
        raise PDUError(f"{name} has no User Information item")
    if rq and not contexts:
        raise PDUError("A-ASSOCIATE-RQ proposes no presentation context")
    cls = AAssociateRQ if rq else AAssociateAC
    return cls(called, calling, contexts, user_info, app_context, version)


def decode_pdvs(body: memoryview) -> list[PDV]:
    """Split the body of a P-DATA-TF PDU into PDVs whose data are views of ``body``."""
    pdvs = []
    pos = 0
    end = len(body)
    while pos < end:
        if end - pos < 6:
            raise PDUError("Truncated PDV item in P-DATA-TF")
        length, context_id, control = _PDV.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            raise PDUError(f"PDV item length {length} does not fit its P-DATA-TF PDU")
        pdvs.append(PDV(context_id, bool(control & 1), bool(control & 2),
                        body[pos + 6:pos + 4 + length]))
        pos += 4 + length
    if not pdvs:
        raise PDUError("P-DATA-TF holds no PDV item")
    return pdvs


def decode_header(header: bytes | memoryview) -> tuple[int, int]:
    """(pdu_type, length) of a 6-byte PDU header; unknown types raise (PS3.8 9.3.1)."""
    if len(header) < 6:
        raise PDUError("Truncated PDU header")
    pdu_type, length = _HEADER.unpack_from(header)
    if pdu_type not in PDU_TYPES:
        raise PDUError(f"Unrecognized PDU type 0x{pdu_type:02X}", REASON_UNRECOGNIZED_PDU)
    return pdu_type, length


def decode_body(pdu_type: int, body: bytes | memoryview) -> PDU:
    """Decode the variable part of a PDU of ``pdu_type``."""
    view = memoryview(body)
    try:
        if pdu_type in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC):
            return _decode_associate(pdu_type, view)
        if pdu_type == P_DATA_TF:
            return PDataTF(decode_pdvs(view))
        if len(view) != 4:
            raise PDUError(f"PDU type 0x{pdu_type:02X} must have a 4-byte body, "
                           f"not {len(view)}")
        if pdu_type == A_ASSOCIATE_RJ:
            return AAssociateRJ(view[1], view[2], view[3])
        if pdu_type == A_RELEASE_RQ:
            return AReleaseRQ()
        if pdu_type == A_RELEASE_RP:
            return AReleaseRP()
        if pdu_type == A_ABORT:
            return AAbort(view[2], view[3])
    except PDUError:
        raise
    except (struct.error, IndexError, ValueError) as exc:  # defensive: never leak these
        raise PDUError(f"Malformed PDU 0x{pdu_type:02X}: {exc}") from None
    raise PDUError(f"Unrecognized PDU type 0x{pdu_type:02X}", REASON_UNRECOGNIZED_PDU)


def decode(data: bytes | memoryview) -> PDU:
    """Decode one complete PDU (header included); trailing or missing bytes raise."""
    pdu_type, length = decode_header(data)
    if len(data) != 6 + length:
        raise PDUError(f"PDU length field says {length} bytes, {len(data) - 6} present")
    return decode_body(pdu_type, memoryview(data)[6:])
