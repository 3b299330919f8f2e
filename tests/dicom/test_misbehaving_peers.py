"""Peers that break the protocol (PS3.8 9.3, DESIGN rule 9): each mistake aborts that
association only, nothing half-received is stored, and the server answers the next echo."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.dicom import Association, DicomServer, verification_context
from hounsfield.dicom import dimse as D
from hounsfield.dicom import pdu as P

from dicom_peers import dicom_settings, make_image

CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
async def strict_server(tmp_path, archive):  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__artim_timeout=0.5,
                                     dicom__idle_timeout=0.5, dicom__network_timeout=1.0,
                                     dicom__max_pdu_length=16384), archive)
    await srv.start()
    yield srv
    await srv.stop()


async def assert_echo(server: DicomServer) -> None:
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "CHECK",
                                   [verification_context()], timeout=5) as assoc:
        assert await assoc.echo() == 0


async def read_pdu(reader: asyncio.StreamReader, timeout: float = 5) -> P.PDU | None:
    """The next PDU from the server, or None when it closed the connection."""
    try:
        async with asyncio.timeout(timeout):
            header = await reader.readexactly(6)
            pdu_type, length = P.decode_header(header)
            return P.decode_body(pdu_type, await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        return None


async def closed(reader: asyncio.StreamReader, timeout: float = 5) -> bool:
    async with asyncio.timeout(timeout):
        while await reader.read(65536):
            pass
    return True


def associate_rq(user_information: P.UserInformation | None = None) -> P.AAssociateRQ:
    return P.AAssociateRQ("HOUNSFIELD", "RAWPEER", [
        P.PresentationContextRQ(1, "1.2.840.10008.1.1", [ExplicitVRLittleEndian]),
        P.PresentationContextRQ(3, CT, [ExplicitVRLittleEndian])],
        user_information or P.UserInformation(max_length=16384))


async def raw_associate(server: DicomServer):  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(P.encode(associate_rq()))
    ac = await read_pdu(reader)
    assert isinstance(ac, P.AAssociateAC)
    return reader, writer


async def test_random_bytes_abort_and_the_server_lives(strict_server: DicomServer) -> None:
    for seed in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
        writer.write(bytes([seed % 7 + 1, 0]) + os.urandom(200))
        answer = await read_pdu(reader)
        assert answer is None or isinstance(answer, (P.AAbort, P.AAssociateRJ))
        assert await closed(reader)
        writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(b"\x42" + os.urandom(50))
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and (answer.source, answer.reason) == (2, 1)
    writer.close()
    await assert_echo(strict_server)


async def test_truncated_pdu_then_silence_is_aborted(strict_server: DicomServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    raw = P.encode(associate_rq())
    writer.write(raw[:40])  # header promises more; the peer goes quiet
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and answer.source == 2
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(raw[:40])
    writer.close()  # truncated, then gone
    await assert_echo(strict_server)


async def test_impossible_lengths_are_refused_without_reading_them(
        strict_server: DicomServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(b"\x01\x00\xff\xff\xff\xff" + bytes(100))
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and (answer.source, answer.reason) == (2, 6)
    writer.close()
    # An item whose length runs past its PDU.
    raw = bytearray(P.encode(associate_rq()))
    raw[76:78] = b"\xff\xf0"
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(bytes(raw))
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and answer.source == 2
    writer.close()
    await assert_echo(strict_server)


async def test_unknown_user_information_item_is_skipped(strict_server: DicomServer) -> None:
    raw = bytearray(P.encode(associate_rq()))
    at = raw.index(b"\x50\x00")
    extra = b"\x6f\x00\x00\x02ok"
    (length,) = struct.unpack_from(">H", raw, at + 2)
    raw[at + 2:at + 4] = struct.pack(">H", length + len(extra))
    raw += extra
    raw[2:6] = struct.pack(">L", len(raw) - 6)
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(bytes(raw))
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAssociateAC)
    writer.write(P.encode(P.AReleaseRQ()))
    assert isinstance(await read_pdu(reader), P.AReleaseRP)
    writer.close()


async def test_unknown_pdu_type_after_association_aborts(strict_server: DicomServer) -> None:
    reader, writer = await raw_associate(strict_server)
    writer.write(b"\x0a\x00\x00\x00\x00\x02xx")
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and (answer.source, answer.reason) == (2, 1)
    writer.close()
    await assert_echo(strict_server)


async def test_pdu_above_the_negotiated_maximum_aborts(strict_server: DicomServer) -> None:
    reader, writer = await raw_associate(strict_server)
    big = P.encode(P.PDataTF([P.PDV(1, True, True, bytes(16384))]))  # 16390 > 16384
    writer.write(big)
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and (answer.source, answer.reason) == (2, 6)
    writer.close()
    await assert_echo(strict_server)


async def test_unexpected_pdu_aborts(strict_server: DicomServer) -> None:
    reader, writer = await raw_associate(strict_server)
    writer.write(P.encode(associate_rq()))  # A-ASSOCIATE-RQ in Sta6: AA-8
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and (answer.source, answer.reason) == (2, 2)
    writer.close()
    await assert_echo(strict_server)


@pytest.mark.parametrize("ending", ["abort", "close"])
async def test_abort_in_the_middle_of_a_data_set_stores_nothing(
        strict_server: DicomServer, archive, ending: str) -> None:  # type: ignore[no-untyped-def]
    ds = make_image(size=128)
    from hounsfield.dicom.datasets import encode_dataset
    body = encode_dataset(ds, ExplicitVRLittleEndian)
    reader, writer = await raw_associate(strict_server)
    command = D.encode_command(D.Command(
        D.C_STORE_RQ, message_id=1, affected_sop_class_uid=CT,
        affected_sop_instance_uid=ds.SOPInstanceUID, priority=0,
        command_data_set_type=D.DATA_SET_PRESENT))
    writer.write(P.encode(P.PDataTF([P.PDV(3, True, True, command)])))
    for start in range(0, len(body) // 2, 8000):
        writer.write(P.encode(P.PDataTF([P.PDV(3, False, False, body[start:start + 8000])])))
    await writer.drain()
    await asyncio.sleep(0.1)
    if ending == "abort":
        writer.write(P.encode(P.AAbort(0, 0)))
    writer.close()
    await assert_echo(strict_server)
    assert await archive.instances(sop_instance_uid=ds.SOPInstanceUID) == []


async def test_silent_peer_before_association_hits_artim(strict_server: DicomServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    assert await closed(reader, timeout=5)  # ARTIM (0.5 s) closes the connection
    writer.close()
    await assert_echo(strict_server)


async def test_silent_peer_after_association_hits_idle_timeout(
        strict_server: DicomServer) -> None:
    reader, writer = await raw_associate(strict_server)
    answer = await read_pdu(reader)
    assert isinstance(answer, P.AAbort) and answer.source == 2
    writer.close()
    await assert_echo(strict_server)


async def test_release_collision_as_requestor() -> None:
    """PS3.8 9.2.2.2: both sides send A-RELEASE-RQ; the requestor answers first."""
    seen: list[str] = []

    async def acceptor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rq = await read_pdu(reader)
        assert isinstance(rq, P.AAssociateRQ)
        writer.write(P.encode(P.AAssociateAC(rq.called_ae_title, rq.calling_ae_title, [
            P.PresentationContextAC(1, 0, ExplicitVRLittleEndian)],
            P.UserInformation(max_length=16384))))
        seen.append(type(await read_pdu(reader)).__name__)  # A-RELEASE-RQ
        writer.write(P.encode(P.AReleaseRQ()))  # collision
        seen.append(type(await read_pdu(reader)).__name__)  # requestor's A-RELEASE-RP
        writer.write(P.encode(P.AReleaseRP()))
        await writer.drain()
        seen.append("closed" if await closed(reader) else "open")
        writer.close()

    peer = await asyncio.start_server(acceptor, "127.0.0.1", 0)
    port = peer.sockets[0].getsockname()[1]
    try:
        assoc = await Association.connect("127.0.0.1", port, "PEER", "US",
                                          [verification_context()], timeout=5)
        await assoc.release()
        await asyncio.sleep(0.1)
        assert seen == ["AReleaseRQ", "AReleaseRP", "closed"]
        assert assoc.dul is not None and assoc.dul.state == "Sta1" and not assoc.aborted
        assert [h[0] for h in assoc.dul.history][-4:] == ["Sta6", "Sta7", "Sta9", "Sta11"]
    finally:
        peer.close()
        await peer.wait_closed()
