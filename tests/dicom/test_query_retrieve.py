"""Query/Retrieve FIND, MOVE and GET (PS3.4 C.4) with C-CANCEL, against DCMTK and
pynetdicom in both roles."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (CTImageStorage, PatientRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet, Verification)

from hounsfield.dicom import (Association, DicomServer, query_contexts, role_selection,
                              verification_context)
from hounsfield.dicom.datasets import BufferSink

from dicom_peers import (DCMTK_ENV, dicom_settings, populate, requires_dcmtk, run_tool,
                         wait_until_listening)

PREFIX = "1.2.826.0.1.3680043.10.1447.8"


def identifier(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


# --- C-FIND ----------------------------------------------------------------------------

@requires_dcmtk
@pytest.mark.parametrize("model,level,keys,expected", [
    ("-P", "PATIENT", ["PatientID=", "PatientName=DOE^PATIENT1"], 1),
    ("-P", "STUDY", ["PatientID=PAT2", "StudyInstanceUID="], 1),
    ("-S", "STUDY", ["PatientName=DOE*", "StudyInstanceUID=", "StudyDate="], 2),
    ("-S", "SERIES", [f"StudyInstanceUID={PREFIX}.1", "SeriesInstanceUID=", "Modality="], 1),
    ("-S", "IMAGE", [f"StudyInstanceUID={PREFIX}.1", f"SeriesInstanceUID={PREFIX}.1.1",
                     "SOPInstanceUID="], 3),
])
async def test_dcmtk_findscu_at_each_level(server: DicomServer, archive, tmp_path: Path,
                                           model: str, level: str, keys: list[str],
                                           expected: int) -> None:  # type: ignore[no-untyped-def]
    await populate(archive)
    args = ["findscu", model, "-aec", "HOUNSFIELD", "-aet", "FINDSCU", "-X", "-od",
            str(tmp_path), "-k", f"QueryRetrieveLevel={level}"]
    for key in keys:
        args += ["-k", key]
    code, out = await run_tool(*args, "127.0.0.1", str(server.port))
    assert code == 0, out
    responses = sorted(tmp_path.glob("rsp*.dcm"))
    assert len(responses) == expected, out
    first = dcmread(responses[0])
    assert first.QueryRetrieveLevel == level
    for key in keys:
        keyword, value = key.split("=")
        assert keyword in first
        if value and "*" not in value:
            assert str(first.data_element(keyword).value) == value


def _pynetdicom_find(port: int) -> list[tuple[int, str | None]]:
    ae = AE(ae_title="PYFINDSCU")
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="HOUNSFIELD")
    assert assoc.is_established
    out = []
    for status, ds in assoc.send_c_find(identifier("PATIENT", PatientID="PAT1", PatientName=""),
                                        PatientRootQueryRetrieveInformationModelFind):
        out.append((status.Status, str(ds.PatientName) if ds is not None else None))
    assoc.release()
    return out


async def test_pynetdicom_find_patient_root(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    await populate(archive)
    assert await asyncio.to_thread(_pynetdicom_find, server.port) == [
        (0xFF00, "DOE^PATIENT1"), (0x0000, None)]


async def test_our_scu_find_and_cancel(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    await populate(archive, studies=1, per_study=40)
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   query_contexts("study", "find") + [verification_context()]
                                   ) as assoc:
        found = [ds async for ds in assoc.find(identifier("SERIES", StudyInstanceUID=f"{PREFIX}.1",
                                                          SeriesInstanceUID="", Modality=""))]
        assert [ds.Modality for ds in found] == ["CT"]
        seen = 0
        async with contextlib.aclosing(assoc.find(identifier(
                "IMAGE", StudyInstanceUID=f"{PREFIX}.1", SeriesInstanceUID=f"{PREFIX}.1.1",
                SOPInstanceUID=""))) as results:
            async for _ in results:
                seen += 1
                break  # closing sends C-CANCEL and waits for the final response
        assert seen == 1
        assert await assoc.echo() == 0


async def test_find_with_a_bad_identifier_fails_and_the_association_lives(
        server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    from hounsfield.dicom import DIMSEFailure
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   query_contexts("study", "find") + [verification_context()]
                                   ) as assoc:
        with pytest.raises(DIMSEFailure) as info:
            async for _ in assoc.find(identifier("GALAXY", PatientID="")):
                pass
        assert info.value.status in (0xA900, 0xC311)
        assert await assoc.echo() == 0


# --- C-MOVE ----------------------------------------------------------------------------

class PynetdicomStoreSCP:
    """A pynetdicom storage SCP that fails the SOP instance UIDs in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.received: list[tuple[str, str]] = []
        self.refuse = refuse or set()
        ae = AE(ae_title="PYSCP")
        ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian])
        ae.add_supported_context(Verification)
        self.server = ae.start_server(("127.0.0.1", 0), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port = self.server.server_address[1]

    def _on_store(self, event):  # type: ignore[no-untyped-def]
        uid = event.request.AffectedSOPInstanceUID
        if uid in self.refuse:
            return 0xA700
        self.received.append((uid, event.request.MoveOriginatorApplicationEntityTitle or ""))
        return 0x0000

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
async def move_server(tmp_path, archive):  # type: ignore[no-untyped-def]
    scp = PynetdicomStoreSCP()
    nodes = {"pyscp": {"ae_title": "PYSCP", "host": "127.0.0.1", "port": scp.port},
             "storescp": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": 0}}
    srv = DicomServer(dicom_settings(tmp_path, dicom__remote_nodes=nodes), archive)
    await srv.start()
    yield srv, scp
    await srv.stop()
    scp.close()


async def test_our_scu_moves_to_pynetdicom_scp(move_server, archive) -> None:  # type: ignore[no-untyped-def]
    srv, scp = move_server
    datasets = await populate(archive, studies=2, per_study=3)
    scp.refuse = {datasets[1].SOPInstanceUID}
    pending = []
    async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "MOVER",
                                   query_contexts("study", "move")) as assoc:
        result = await assoc.move(identifier("STUDY", StudyInstanceUID=f"{PREFIX}.1"), "PYSCP",
                                  on_pending=pending.append)
        unknown = await assoc.move(identifier("STUDY", StudyInstanceUID=f"{PREFIX}.1"),
                                   "NOBODY")
    assert (result.status, result.completed, result.failed) == (0xB000, 2, 1)
    assert result.failed_sop_instance_uids == [datasets[1].SOPInstanceUID]
    assert len(pending) == 2 and pending[0].completed + pending[0].failed == 1
    assert sorted(uid for uid, _ in scp.received) == sorted(
        [datasets[0].SOPInstanceUID, datasets[2].SOPInstanceUID])
    assert {origin for _, origin in scp.received} == {"MOVER"}
    assert unknown.status == 0xA801


@requires_dcmtk
async def test_dcmtk_movescu_to_dcmtk_storescp(tmp_path, archive, unused_tcp_port: int) -> None:  # type: ignore[no-untyped-def]
    datasets = await populate(archive, studies=1, per_study=4)
    nodes = {"storescp": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": unused_tcp_port}}
    srv = DicomServer(dicom_settings(tmp_path, dicom__remote_nodes=nodes), archive)
    await srv.start()
    out_dir = tmp_path / "received"
    out_dir.mkdir()
    storescp = await asyncio.create_subprocess_exec(
        "storescp", "-aet", "STORESCP", "-od", str(out_dir), str(unused_tcp_port),
        env=DCMTK_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_until_listening(unused_tcp_port)
        code, out = await run_tool("movescu", "-S", "-aec", "HOUNSFIELD", "-aet", "MOVESCU",
                                   "-aem", "STORESCP", "-k", "QueryRetrieveLevel=STUDY",
                                   "-k", f"StudyInstanceUID={PREFIX}.1", "127.0.0.1",
                                   str(srv.port))
        assert code == 0, out
        received = {dcmread(p).SOPInstanceUID for p in out_dir.iterdir()}
        assert received == {ds.SOPInstanceUID for ds in datasets}
    finally:
        storescp.terminate()
        await storescp.wait()
        await srv.stop()


# --- C-GET -----------------------------------------------------------------------------

@requires_dcmtk
async def test_dcmtk_getscu(server: DicomServer, archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    datasets = await populate(archive, studies=2, per_study=3)
    out_dir = tmp_path / "received"
    out_dir.mkdir()
    code, out = await run_tool("getscu", "-S", "-aec", "HOUNSFIELD", "-aet", "GETSCU", "-od",
                               str(out_dir), "-k", "QueryRetrieveLevel=SERIES",
                               "-k", f"StudyInstanceUID={PREFIX}.2",
                               "-k", f"SeriesInstanceUID={PREFIX}.2.1", "127.0.0.1",
                               str(server.port))
    assert code == 0, out
    received = {dcmread(p).SOPInstanceUID for p in out_dir.iterdir()}
    assert received == {ds.SOPInstanceUID for ds in datasets[3:]}


def _pynetdicom_get(port: int, study: str) -> tuple[int, list[str]]:
    received: list[str] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append(event.request.AffectedSOPInstanceUID)
        return 0

    ae = AE(ae_title="PYGETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title="HOUNSFIELD",
                         ext_neg=[build_role(CTImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    statuses = [status.Status for status, _ in assoc.send_c_get(
        identifier("STUDY", StudyInstanceUID=study), StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    return statuses[-1], received


async def test_pynetdicom_get(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    datasets = await populate(archive, studies=1, per_study=3)
    status, received = await asyncio.to_thread(_pynetdicom_get, server.port, f"{PREFIX}.1")
    assert status == 0 and sorted(received) == sorted(ds.SOPInstanceUID for ds in datasets)


async def test_our_scu_gets_and_cancels(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    datasets = await populate(archive, studies=1, per_study=12)
    received: list[bytes] = []

    class Collect(BufferSink):
        async def finish(self):  # type: ignore[no-untyped-def]
            received.append(await super().finish())
            return 0, None

    async def on_store(assoc, message):  # type: ignore[no-untyped-def]
        return Collect()

    contexts = query_contexts("study", "get") + [(CTImageStorage, [ExplicitVRLittleEndian])]
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "GETTER", contexts,
                                   roles=[role_selection(CTImageStorage)],
                                   on_store=on_store) as assoc:
        result = await assoc.get(identifier("STUDY", StudyInstanceUID=f"{PREFIX}.1"))
        assert (result.status, result.completed, result.failed) == (0, 12, 0)
        assert len(received) == 12
        cancel = asyncio.Event()
        result = await assoc.get(identifier("STUDY", StudyInstanceUID=f"{PREFIX}.1"),
                                 on_pending=lambda r: cancel.set(), cancel=cancel)
        assert result.status == 0xFE00 and result.completed < 12
    pixel_data = {ds.PixelData for ds in datasets}
    from hounsfield.dicom.datasets import decode_dataset
    assert {decode_dataset(raw, ExplicitVRLittleEndian).PixelData for raw in received[:12]} \
        == pixel_data


async def test_a_failing_search_is_a_failure_status_not_a_dead_association(
        server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    from hounsfield.dicom import DIMSEFailure

    async def broken_search(query):  # type: ignore[no-untyped-def]
        raise RuntimeError("index unavailable")

    archive.search = broken_search  # fault injection into the real archive
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   query_contexts("study", "find") + [verification_context()]
                                   ) as assoc:
        with pytest.raises(DIMSEFailure) as info:
            async for _ in assoc.find(identifier("STUDY", PatientID="")):
                pass
        assert info.value.status == 0xC311 and "index unavailable" in str(info.value)
        assert await assoc.echo() == 0


async def test_c_cancel_stops_a_c_find(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    from hounsfield.dicom import dimse as D
    from hounsfield.dicom.datasets import encode_dataset

    await populate(archive, studies=1, per_study=40)
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   query_contexts("study", "find")) as assoc:
        ctx = next(iter(assoc.contexts.values()))
        message_id = assoc.next_message_id()
        queue = assoc.expect_responses(message_id)
        query = identifier("IMAGE", StudyInstanceUID=f"{PREFIX}.1",
                           SeriesInstanceUID=f"{PREFIX}.1.1", SOPInstanceUID="")
        await assoc.send(ctx, D.Command(D.C_FIND_RQ, message_id=message_id,
                                        affected_sop_class_uid=ctx.abstract_syntax, priority=0),
                         encode_dataset(query, ctx.transfer_syntax))
        await assoc.send(ctx, D.Command(D.C_CANCEL_RQ, message_id_being_responded_to=message_id))
        statuses = []
        while not statuses or statuses[-1] in (0xFF00, 0xFF01):
            statuses.append((await assoc.next_response(queue, 10)).command.status)
        assert statuses[-1] == 0xFE00
        assert len(statuses) < 41


def _pynetdicom_get_datasets(port: int, study: str) -> tuple[int, list[Dataset]]:
    received: list[Dataset] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append(event.dataset)
        return 0

    ae = AE(ae_title="PYGETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])  # no JPEG 2000
    assoc = ae.associate("127.0.0.1", port, ae_title="HOUNSFIELD",
                         ext_neg=[build_role(CTImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    statuses = [status.Status for status, _ in assoc.send_c_get(
        identifier("STUDY", StudyInstanceUID=study), StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    return statuses[-1], received


async def test_get_decompresses_in_the_imaging_pool_for_a_peer_without_the_syntax(
        tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    from io import BytesIO

    from pydicom.uid import JPEG2000Lossless

    from hounsfield.archive import Origin
    from hounsfield.imaging.pool import RenderPool

    from dicom_peers import make_image

    ds = make_image(study_instance_uid=f"{PREFIX}.77", size=64)
    pixels = ds.PixelData
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert (await archive.ingest_bytes(buffer.getvalue(), Origin(protocol="import"))).ok
    async with RenderPool(1) as pool:
        srv = DicomServer(dicom_settings(tmp_path), archive, pool=pool)
        await srv.start()
        try:
            status, received = await asyncio.to_thread(_pynetdicom_get_datasets, srv.port,
                                                       f"{PREFIX}.77")
        finally:
            await srv.stop()
    assert status == 0 and len(received) == 1
    assert received[0].SOPInstanceUID == ds.SOPInstanceUID
    assert received[0].PixelData == pixels


async def test_patient_level_move_and_an_unreachable_destination(move_server, archive,
                                                                 tmp_path,
                                                                 unused_tcp_port: int) -> None:  # type: ignore[no-untyped-def]
    srv, scp = move_server
    datasets = await populate(archive, studies=2, per_study=2)
    async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "MOVER",
                                   query_contexts("patient", "move")) as assoc:
        result = await assoc.move(identifier("PATIENT", PatientID="PAT2"), "PYSCP",
                                  model="patient")
    assert (result.status, result.completed) == (0, 2)
    assert sorted(uid for uid, _ in scp.received) == sorted(
        ds.SOPInstanceUID for ds in datasets if ds.PatientID == "PAT2")

    nodes = {"down": {"ae_title": "DOWN", "host": "127.0.0.1", "port": unused_tcp_port}}
    other = DicomServer(dicom_settings(tmp_path, dicom__remote_nodes=nodes,
                                       dicom__network_timeout=2.0), archive)
    await other.start()
    try:
        async with Association.connect("127.0.0.1", other.port, "HOUNSFIELD", "MOVER",
                                       query_contexts("study", "move")) as assoc:
            result = await assoc.move(identifier("STUDY", StudyInstanceUID=f"{PREFIX}.1"),
                                      "DOWN")
        assert result.status == 0xA702 and result.failed == 2
        assert "Cannot reach" in (result.error_comment or "")
    finally:
        await other.stop()
