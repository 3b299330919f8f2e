"""P-DATA is fragmented to the receiver's maximum PDU length (PS3.8 9.3.5, D.1) in both
directions: a PDU above the maximum would make the receiving side abort."""

from __future__ import annotations

import socket

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.dicom import (Association, DicomServer, query_contexts, role_selection,
                              verification_context)
from hounsfield.dicom.datasets import BufferSink

from dicom_peers import dicom_settings, make_image

CT = "1.2.840.10008.5.1.4.1.1.2"


async def test_both_directions_respect_the_peer_maximum(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__max_pdu_length=4096), archive)
    await srv.start()
    try:
        ds = make_image(size=128)  # a 32 KiB data set: eight PDUs at least
        got: list[bytes] = []

        class Keep(BufferSink):
            async def finish(self):  # type: ignore[no-untyped-def]
                got.append(await super().finish())
                return 0, None

        async def on_store(assoc, message):  # type: ignore[no-untyped-def]
            return Keep()

        contexts = [(CT, [ExplicitVRLittleEndian]), verification_context()] + \
            query_contexts("study", "get")
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "SMALLPDU",
                                       contexts, max_pdu_length=2048,
                                       roles=[role_selection(CT, scu=True, scp=True)],
                                       on_store=on_store) as assoc:
            assert assoc.dul is not None and assoc.dul.peer_max_pdu_length == 4096
            sock = assoc.dul.writer.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert (await assoc.store(ds)).ok  # we fragment to the server's 4096
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "IMAGE"
            identifier.SOPInstanceUID = ds.SOPInstanceUID
            result = await assoc.get(identifier)  # the server fragments to our 2048
            assert (result.status, result.completed) == (0, 1)
            assert await assoc.echo() == 0
        assert len(got) == 1 and len(got[0]) > 32768
    finally:
        await srv.stop()
