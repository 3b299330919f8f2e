"""A seeded fuzzer against the live server: valid associations followed by mutated,
misplaced and random PDUs. Nothing may escape as an internal error, every association
ends, and the server keeps answering."""

from __future__ import annotations

import asyncio
import logging
import os
import random

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.dicom import Association, DicomServer, verification_context
from hounsfield.dicom import dimse as D
from hounsfield.dicom import pdu as P

from dicom_peers import dicom_settings

CT = "1.2.840.10008.5.1.4.1.1.2"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _rq() -> bytes:
    return P.encode(P.AAssociateRQ("HOUNSFIELD", "FUZZ", [
        P.PresentationContextRQ(1, "1.2.840.10008.1.1", [ExplicitVRLittleEndian]),
        P.PresentationContextRQ(3, CT, [ExplicitVRLittleEndian]),
        P.PresentationContextRQ(5, "1.2.840.10008.5.1.4.1.2.2.1", [ExplicitVRLittleEndian])],
        P.UserInformation(max_length=16384)))


def _candidates(rng: random.Random) -> list[bytes]:
    echo = D.encode_command(D.Command(D.C_ECHO_RQ, message_id=rng.randrange(1, 65535),
                                      affected_sop_class_uid="1.2.840.10008.1.1"))
    store = D.encode_command(D.Command(D.C_STORE_RQ, message_id=rng.randrange(1, 65535),
                                       affected_sop_class_uid=CT,
                                       affected_sop_instance_uid="1.2.3.4.5", priority=0,
                                       command_data_set_type=D.DATA_SET_PRESENT))
    find = D.encode_command(D.Command(D.C_FIND_RQ, message_id=rng.randrange(1, 65535),
                                      affected_sop_class_uid="1.2.840.10008.5.1.4.1.2.2.1",
                                      priority=0, command_data_set_type=D.DATA_SET_PRESENT))
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    return [
        P.encode(P.PDataTF([P.PDV(1, True, True, echo)])),
        P.encode(P.PDataTF([P.PDV(3, True, True, store)])),
        P.encode(P.PDataTF([P.PDV(3, False, rng.random() < 0.5, noise)])),
        P.encode(P.PDataTF([P.PDV(5, True, True, find), P.PDV(5, False, True, noise)])),
        P.encode(P.PDataTF([P.PDV(rng.choice([1, 3, 5, 7, 2]), rng.random() < 0.5,
                                  rng.random() < 0.5, noise)])),
        P.encode(P.PDataTF([P.PDV(1, True, True, noise)])),
        P.encode(P.AReleaseRQ()), P.encode(P.AReleaseRP()), P.encode(P.AAbort(0, 0)),
        _rq(), bytes([rng.randrange(1, 9), 0]) + noise,
    ]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randrange(0, 3)):
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    if rng.random() < 0.2:
        raw = raw[:rng.randrange(len(raw) + 1)]
    return bytes(raw)


async def _session(port: int, rng: random.Random) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_mutate(rng, _rq()) if rng.random() < 0.2 else _rq())
        for _ in range(rng.randrange(1, 8)):
            writer.write(_mutate(rng, rng.choice(_candidates(rng))))
        await writer.drain()
        async with asyncio.timeout(5):
            while await reader.read(65536):  # the server answers, aborts or closes
                if rng.random() < 0.3:
                    break
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def fuzz_server(tmp_path, archive):  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__artim_timeout=0.3,
                                     dicom__idle_timeout=0.5, dicom__network_timeout=0.5,
                                     dicom__max_pdu_length=16384), archive)
    await srv.start()
    yield srv
    await srv.stop()


async def test_fuzzed_sessions_never_break_the_server(fuzz_server: DicomServer, archive,
                                                      caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="hounsfield.dicom")
    rng = random.Random(int(os.environ.get("HOUNSFIELD_FUZZ_SEED", "20261129")))
    for batch in range(6):
        await asyncio.gather(*(_session(fuzz_server.port, random.Random(rng.random()))
                               for _ in range(8)))
    async with asyncio.timeout(10):
        while fuzz_server.established:  # every fuzzed association ends
            await asyncio.sleep(0.05)
    async with Association.connect("127.0.0.1", fuzz_server.port, "HOUNSFIELD", "AFTER",
                                   [verification_context()]) as assoc:
        assert await assoc.echo() == 0
    internal = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not internal, [r.getMessage() for r in internal]
    assert await archive.instances(sop_instance_uid="1.2.3.4.5") == []
