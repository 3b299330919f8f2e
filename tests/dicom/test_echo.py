"""Verification (C-ECHO) in both roles, against pynetdicom and DCMTK."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from hounsfield.dicom import Association, AssociationRejected, DicomServer, verification_context

from dicom_peers import DCMTK_ENV, dicom_settings, requires_dcmtk, wait_until_listening


def _pynetdicom_echo(port: int, called: str = "HOUNSFIELD") -> tuple[bool, int | None]:
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return False, None
    status = assoc.send_c_echo()
    assoc.release()
    return True, status.Status if status else None


async def test_pynetdicom_echoes_our_server(server: DicomServer) -> None:
    established, status = await asyncio.to_thread(_pynetdicom_echo, server.port)
    assert established and status == 0x0000


@requires_dcmtk
async def test_dcmtk_echoscu_echoes_our_server(server: DicomServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        "echoscu", "-aec", "HOUNSFIELD", "-aet", "ECHOSCU", "127.0.0.1", str(server.port),
        env=DCMTK_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()


async def test_our_scu_echoes_our_server(server: DicomServer) -> None:
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "TESTSCU",
                                   [verification_context()]) as assoc:
        assert await assoc.echo() == 0x0000
        assert await assoc.echo() == 0x0000
        [status] = server.associations()
        assert (status["calling_ae_title"], status["established"]) == ("TESTSCU", True)
    assert assoc.dul is not None and assoc.dul.state == "Sta1"
    assert not assoc.aborted


async def test_our_scu_echoes_pynetdicom_scp() -> None:
    ae = AE(ae_title="PYSCP")
    ae.add_supported_context(Verification)
    scp = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        port = scp.server_address[1]
        async with Association.connect("127.0.0.1", port, "PYSCP", "HOUNSFIELD",
                                       [verification_context()]) as assoc:
            assert await assoc.echo() == 0x0000
    finally:
        scp.shutdown()


@requires_dcmtk
async def test_our_scu_echoes_dcmtk_storescp(tmp_path, unused_tcp_port: int) -> None:  # type: ignore[no-untyped-def]
    proc = await asyncio.create_subprocess_exec(
        "storescp", "-aet", "STORESCP", "-od", str(tmp_path), str(unused_tcp_port),
        env=DCMTK_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_until_listening(unused_tcp_port)
        async with Association.connect("127.0.0.1", unused_tcp_port, "STORESCP",
                                       "HOUNSFIELD", [verification_context()]) as assoc:
            assert await assoc.echo() == 0x0000
    finally:
        proc.terminate()
        await proc.wait()


async def test_called_ae_title_check_rejects_other_titles(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__check_called_ae_title=True), archive)
    await srv.start()
    try:
        with pytest.raises(AssociationRejected) as info:
            await Association.connect("127.0.0.1", srv.port, "SOMEONE", "TESTSCU",
                                      [verification_context()])
        assert (info.value.result, info.value.source, info.value.reason) == (1, 1, 7)
        assoc = await Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "TESTSCU",
                                          [verification_context()])
        assert await assoc.echo() == 0
        await assoc.release()
    finally:
        await srv.stop()


async def test_max_associations_rejects_transiently(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__max_associations=1), archive)
    await srv.start()
    try:
        first = await Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "A",
                                          [verification_context()])
        with pytest.raises(AssociationRejected) as info:
            await Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "B",
                                      [verification_context()])
        assert info.value.result == 2  # transient: try again later
        await first.release()
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "B",
                                       [verification_context()]) as again:
            assert await again.echo() == 0
    finally:
        await srv.stop()


async def test_echo_allow_list_rejects_unlisted_calling_ae(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__allow_echo=["FRIEND"]), archive)
    await srv.start()
    try:
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "STRANGER",
                                       [verification_context()]) as assoc:
            assert assoc.contexts == {}
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "FRIEND",
                                       [verification_context()]) as assoc:
            assert await assoc.echo() == 0
    finally:
        await srv.stop()
