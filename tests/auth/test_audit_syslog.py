"""Audit events of the running app reach a syslog receiver as DICOM audit messages
(PS3.15 A.5 over RFC 5424) without holding up the request."""

from __future__ import annotations

import asyncio
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from security_app import open_secure_app  # noqa: E402


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.messages.put_nowait(data)


async def test_events_are_forwarded_as_dicom_audit_messages(sqlite_settings):
    loop = asyncio.get_running_loop()
    transport, receiver = await loop.create_datagram_endpoint(
        Receiver, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    sec = await open_secure_app(sqlite_settings, audit__syslog_address=f"udp://127.0.0.1:{port}")
    try:
        welby = sec.studies["welby"]
        async with sec.client("rad") as client:
            assert (await client.get(f"/dicom-web/studies/{welby}/metadata")).status_code == 200
            assert (await client.get("/dicom-web/studies",
                                     params={"PatientID": "P1"})).status_code == 200
        await sec.app.state.audit.drain()
        found = []
        for _ in range(2):
            data = await asyncio.wait_for(receiver.messages.get(), 10)
            assert data.startswith(b"<") and b"hounsfield" in data  # RFC 5424 header
            xml = data[data.index(b"<AuditMessage"):]
            found.append(ET.fromstring(xml))
        event_ids = [m.find("EventIdentification/EventID").get("csd-code") for m in found]
        assert event_ids == ["110103", "110112"]  # Instances Accessed, Query
        accessed = found[0]
        assert accessed.find("ActiveParticipant").get("UserID") == "rad"
        assert any(o.get("ParticipantObjectID") == welby
                   for o in accessed.iter("ParticipantObjectIdentification"))
    finally:
        await sec.close()
        transport.close()
