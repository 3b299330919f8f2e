"""The PDU codec (PS3.8 9.3): round trips, known encodings, and malformed input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hounsfield.dicom import pdu as P

UIDS = st.from_regex(r"1\.2(\.[1-9][0-9]{0,5}){1,8}", fullmatch=True)
AE = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)


def user_information() -> st.SearchStrategy[P.UserInformation]:
    return st.builds(
        P.UserInformation,
        max_length=st.integers(0, 2**32 - 1),
        implementation_class_uid=UIDS,
        implementation_version_name=st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True),
        asynchronous_operations_window=st.none() | st.tuples(st.integers(0, 65535),
                                                             st.integers(0, 65535)),
        role_selections=st.lists(st.builds(P.RoleSelection, UIDS, st.booleans(),
                                           st.booleans()), max_size=3),
        extended_negotiations=st.lists(st.builds(P.SOPClassExtendedNegotiation, UIDS,
                                                 st.binary(max_size=8)), max_size=3),
        common_extended_negotiations=st.lists(st.builds(
            P.SOPClassCommonExtendedNegotiation, UIDS, UIDS, st.lists(UIDS, max_size=3)),
            max_size=2),
        user_identity_rq=st.none() | st.builds(P.UserIdentityRQ, st.integers(1, 5),
                                               st.booleans(), st.binary(max_size=20),
                                               st.binary(max_size=20)),
        user_identity_ac=st.none() | st.builds(P.UserIdentityAC, st.binary(max_size=20)),
    )


ODD_IDS = st.integers(0, 127).map(lambda i: 2 * i + 1)
PDUS = st.one_of(
    st.builds(P.AAssociateRQ, AE, AE,
              st.lists(st.builds(P.PresentationContextRQ, ODD_IDS, UIDS,
                                 st.lists(UIDS, min_size=1, max_size=4)), min_size=1,
                       max_size=5),
              user_information()),
    st.builds(P.AAssociateAC, AE, AE,
              st.lists(st.builds(P.PresentationContextAC, ODD_IDS, st.integers(0, 4), UIDS),
                       max_size=5),
              user_information()),
    st.builds(P.AAssociateRJ, st.integers(1, 2), st.integers(1, 3), st.integers(0, 7)),
    st.builds(P.PDataTF, st.lists(st.builds(P.PDV, ODD_IDS, st.booleans(), st.booleans(),
                                            st.binary(max_size=64)), min_size=1, max_size=4)),
    st.just(P.AReleaseRQ()), st.just(P.AReleaseRP()),
    st.builds(P.AAbort, st.sampled_from([0, 2]), st.integers(0, 6)),
)


@given(PDUS)
@settings(max_examples=150, deadline=None)
def test_round_trip(pdu: P.PDU) -> None:
    decoded = P.decode(P.encode(pdu))
    if isinstance(decoded, P.PDataTF):
        for pdv in decoded.pdvs:
            pdv.data = bytes(pdv.data)
    assert decoded == pdu


@given(st.binary(max_size=300))
@settings(max_examples=1000, deadline=None)
def test_random_bytes_raise_only_pdu_error(data: bytes) -> None:
    try:
        P.decode(data)
    except P.PDUError:
        pass


@given(PDUS, st.data())
@settings(max_examples=200, deadline=None)
def test_corrupted_pdus_raise_only_pdu_error(pdu: P.PDU, data: st.DataObject) -> None:
    raw = bytearray(P.encode(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            P.decode(candidate)
        except P.PDUError:
            pass


def test_associate_rq_layout_matches_the_standard() -> None:
    rq = P.AAssociateRQ("CALLED", "CALLING", [P.PresentationContextRQ(
        1, "1.2.840.10008.1.1", ["1.2.840.10008.1.2"])], P.UserInformation(max_length=16384))
    raw = P.encode(rq)
    assert raw[0] == 0x01 and struct.unpack(">L", raw[2:6])[0] == len(raw) - 6
    assert raw[6:8] == b"\x00\x01"  # protocol version 1
    assert raw[10:26] == b"CALLED          " and raw[26:42] == b"CALLING         "
    assert raw[74:78] == b"\x10\x00\x00\x15" and raw[78:99] == b"1.2.840.10008.3.1.1.1"
    assert b"\x51\x00\x00\x04\x00\x00\x40\x00" in raw  # maximum length 16384


def test_pdata_flags_and_views() -> None:
    raw = P.encode(P.PDataTF([P.PDV(3, True, False, b"abc"), P.PDV(3, False, True, b"de")]))
    assert raw == (b"\x04\x00\x00\x00\x00\x11" b"\x00\x00\x00\x05\x03\x01abc"
                   b"\x00\x00\x00\x04\x03\x02de")
    pdvs = P.decode_pdvs(memoryview(raw)[6:])
    assert [(p.context_id, p.is_command, p.is_last, bytes(p.data)) for p in pdvs] == [
        (3, True, False, b"abc"), (3, False, True, b"de")]


def test_unknown_pdu_type_is_unrecognized() -> None:
    with pytest.raises(P.PDUError) as info:
        P.decode(b"\x09\x00\x00\x00\x00\x04\x00\x00\x00\x00")
    assert info.value.reason == P.REASON_UNRECOGNIZED_PDU


def test_unknown_user_information_sub_items_are_skipped() -> None:
    rq = P.AAssociateRQ("A", "B", [P.PresentationContextRQ(1, "1.2.3", ["1.2.840.10008.1.2"])],
                        P.UserInformation(max_length=1000))
    raw = bytearray(P.encode(rq))
    user_info_at = raw.index(b"\x50\x00")
    extra = b"\x7e\x00\x00\x03xyz"
    (length,) = struct.unpack_from(">H", raw, user_info_at + 2)
    raw[user_info_at + 2:user_info_at + 4] = struct.pack(">H", length + len(extra))
    raw += extra
    raw[2:6] = struct.pack(">L", len(raw) - 6)
    decoded = P.decode(bytes(raw))
    assert isinstance(decoded, P.AAssociateRQ) and decoded.user_information.max_length == 1000


def test_missing_user_information_is_an_error() -> None:
    body = b"\x00\x01\x00\x00" + b"A".ljust(16) + b"B".ljust(16) + bytes(32)
    body += P._item(0x10, P.APPLICATION_CONTEXT_NAME.encode())
    body += P._item(0x20, b"\x01\x00\x00\x00" + P._item(0x30, b"1.2") + P._item(0x40, b"1.2"))
    with pytest.raises(P.PDUError, match="User Information"):
        P.decode(struct.pack(">BxL", 1, len(body)) + body)


def test_item_length_beyond_the_pdu_is_an_error() -> None:
    raw = bytearray(P.encode(P.AAssociateRQ("A", "B", [P.PresentationContextRQ(
        1, "1.2.3", ["1.2.840.10008.1.2"])])))
    raw[76:78] = b"\xff\xff"  # application context item length
    with pytest.raises(P.PDUError, match="claims"):
        P.decode(bytes(raw))
