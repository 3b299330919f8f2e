"""Storage SCP and SCU (PS3.4 Annex B) against DCMTK and pynetdicom: what is stored is
byte for byte what was sent, in every transfer syntax."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import (JPEG2000Lossless, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         RLELossless)
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage

from hounsfield.dicom import Association, DicomServer

from dicom_peers import (data_set_bytes, dicom_settings, make_image, requires_dcmtk, run_tool,
                         stored_bytes, write_file)


def _pynetdicom_store(port: int, datasets: list, transfer_syntax: str) -> list[int]:  # type: ignore[type-arg]
    ae = AE(ae_title="PYSTORESCU")
    ae.add_requested_context(CTImageStorage, [transfer_syntax])
    assoc = ae.associate("127.0.0.1", port, ae_title="HOUNSFIELD")
    assert assoc.is_established
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
async def test_pynetdicom_stores_and_bytes_are_kept(server: DicomServer, archive,
                                                    transfer_syntax: str) -> None:  # type: ignore[no-untyped-def]
    study = "1.2.826.0.1.3680043.10.1447.9.1"
    datasets = [make_image(study_instance_uid=study, instance_number=i) for i in range(1, 4)]
    statuses = await asyncio.to_thread(_pynetdicom_store, server.port, datasets, transfer_syntax)
    assert statuses == [0, 0, 0]
    assert len(await archive.instances(study_instance_uid=study)) == 3
    for ds in datasets:
        ts, body = data_set_bytes(await stored_bytes(archive, ds.SOPInstanceUID))
        assert ts == transfer_syntax
        stored = await dcmread_stored(archive, ds.SOPInstanceUID)
        assert stored.PixelData == ds.PixelData and stored.SOPInstanceUID == ds.SOPInstanceUID
        assert len(body) > len(ds.PixelData)


def _compressed_files(folder: Path) -> dict[str, Path]:
    """Test files in several transfer syntaxes (pydicom encoders, DCMTK dcmcjpeg)."""
    folder.mkdir(exist_ok=True)
    files = {}
    study = "1.2.826.0.1.3680043.10.1447.9.2"
    plain = write_file(make_image(study_instance_uid=study, instance_number=1),
                       folder / "explicit.dcm")
    files[ExplicitVRLittleEndian] = plain
    for n, ts in enumerate((JPEG2000Lossless, RLELossless), start=2):
        ds = make_image(study_instance_uid=study, instance_number=n)
        ds.compress(ts, generate_instance_uid=False)
        files[ts] = write_file(ds, folder / f"{ts}.dcm")
    if shutil.which("dcmcjpeg"):
        import subprocess
        eight = write_file(make_image(study_instance_uid=study, bits=8, instance_number=9),
                           folder / "eight.raw")
        for flag, ts in (("+eb", "1.2.840.10008.1.2.4.50"), ("+e1", "1.2.840.10008.1.2.4.70")):
            source = eight if flag == "+eb" else plain
            target = folder / f"{ts}.dcm"
            ds = dcmread(source)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = \
                f"{study}.{len(files) + 10}"
            ds.save_as(folder / "tmp.raw", enforce_file_format=True)
            subprocess.run(["dcmcjpeg", flag, str(folder / "tmp.raw"), str(target)], check=True)
            files[ts] = target
        (folder / "tmp.raw").unlink()
        eight.unlink()
    return files


# storescu proposes one compressed syntax per run, chosen by an option (DCMTK storescu -x*).
_STORESCU_OPTIONS = {"1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.70": "-xs",
                     JPEG2000Lossless: "-xv", RLELossless: "-xr", ExplicitVRLittleEndian: "-xe"}


@requires_dcmtk
async def test_dcmtk_storescu_in_several_transfer_syntaxes_keeps_bytes(
        server: DicomServer, archive, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = await asyncio.to_thread(_compressed_files, tmp_path / "in")
    assert set(_STORESCU_OPTIONS) <= set(files)
    for ts, path in files.items():
        code, out = await run_tool("storescu", "-aec", "HOUNSFIELD", "-aet", "STORESCU", "-R",
                                   _STORESCU_OPTIONS[ts], "127.0.0.1", str(server.port),
                                   str(path))
        assert code == 0, out
        sent_ts, sent_body = data_set_bytes(path.read_bytes())
        assert sent_ts == ts
        stored_ts, stored_body = data_set_bytes(
            await stored_bytes(archive, dcmread(path).SOPInstanceUID))
        assert stored_ts == ts, f"{path.name} stored as {stored_ts}"
        assert stored_body == sent_body, f"{path.name}: stored bytes differ from the sent ones"


@requires_dcmtk
async def test_dcmtk_storescu_sends_a_folder_on_one_association(
        server: DicomServer, archive, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "series"
    (folder / "sub").mkdir(parents=True)
    study = "1.2.826.0.1.3680043.10.1447.9.3"
    for i in range(1, 13):
        write_file(make_image(study_instance_uid=study, instance_number=i),
                   folder / ("sub" if i % 2 else ".") / f"{i}.dcm")
    code, out = await run_tool("storescu", "-aec", "HOUNSFIELD", "-aet", "STORESCU", "+sd",
                               "+r", "127.0.0.1", str(server.port), str(folder))
    assert code == 0, out
    assert len(await archive.instances(study_instance_uid=study)) == 12


async def test_our_scu_stores_to_pynetdicom_scp_converting_when_needed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    received: list = []  # type: ignore[type-arg]

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append((event.context.transfer_syntax, event.dataset))
        return 0x0000

    ae = AE(ae_title="PYSCP")
    ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian])
    scp = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        plain = make_image(instance_number=1)
        j2k = make_image(instance_number=2)
        pixels = j2k.PixelData
        j2k.compress(JPEG2000Lossless, generate_instance_uid=False)
        path = write_file(j2k, tmp_path / "j2k.dcm")
        contexts = [(CTImageStorage, [JPEG2000Lossless]),
                    (CTImageStorage, [ExplicitVRLittleEndian])]
        async with Association.connect("127.0.0.1", scp.server_address[1], "PYSCP",
                                       "HOUNSFIELD", contexts) as assoc:
            first = await assoc.store(plain)
            second = await assoc.store(path)
        assert first.status == 0 and second.status == 0, (first, second)
        assert [ts for ts, _ in received] == [ExplicitVRLittleEndian] * 2
        assert received[0][1].PixelData == plain.PixelData
        assert received[1][1].PixelData == pixels  # decompressed for a peer without J2K
        assert received[1][1].SOPInstanceUID == j2k.SOPInstanceUID
    finally:
        scp.shutdown()


async def test_our_scu_stores_to_our_server(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    ds = make_image()
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
        result = await assoc.store(ds)
        assert result.ok and result.sop_instance_uid == ds.SOPInstanceUID
        again = await assoc.store(b"not dicom at all")
        assert again.status == 0xC000 and "Part 10" in (again.reason or "")
        assert await assoc.store(ds) is not None  # the association still works
    assert (await dcmread_stored(archive, ds.SOPInstanceUID)).PatientID == ds.PatientID


async def dcmread_stored(archive, uid):  # type: ignore[no-untyped-def]
    return dcmread(io.BytesIO(await stored_bytes(archive, uid)))


async def test_store_refused_for_calling_ae_not_allowed(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, dicom__allow_store=["MODALITY"]), archive)
    await srv.start()
    try:
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "INTRUDER",
                                       [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
            assert assoc.contexts == {}
            result = await assoc.store(make_image())
            assert not result.ok and "accepted no presentation context" in (result.reason or "")
        ds = make_image()
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "MODALITY",
                                       [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
            assert (await assoc.store(ds)).ok
        assert len(await archive.instances(sop_instance_uid=ds.SOPInstanceUID)) == 1
    finally:
        await srv.stop()


async def test_a_data_set_that_is_not_dicom_fails_and_the_association_lives(
        server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    from hounsfield.dicom import dimse as D
    async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "OURSCU",
                                   [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
        ctx = next(iter(assoc.contexts.values()))
        message_id = assoc.next_message_id()
        queue = assoc.expect_responses(message_id)
        await assoc.send(ctx, D.Command(D.C_STORE_RQ, message_id=message_id,
                                        affected_sop_class_uid=CTImageStorage,
                                        affected_sop_instance_uid="1.2.3.4", priority=0),
                         b"\x08\x00\x18\x00UI\xff\xff garbage")
        response = await assoc.next_response(queue, 10)
        assert D.status_category(response.command.status) == "failure"
        # A SOP class other than the context's abstract syntax is refused (PS3.7 9.1.1).
        message_id = assoc.next_message_id()
        queue = assoc.expect_responses(message_id)
        await assoc.send(ctx, D.Command(D.C_STORE_RQ, message_id=message_id,
                                        affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
                                        affected_sop_instance_uid="1.2.3.5", priority=0),
                         b"\x08\x00\x16\x00\x1a\x00\x00\x00" + b"1.2.840.10008.5.1.4.1.1.4\x00")
        response = await assoc.next_response(queue, 10)
        assert response.command.status == 0x0122
        assert (await assoc.store(make_image())).ok
    assert await archive.instances(sop_instance_uid=["1.2.3.4", "1.2.3.5"]) == []


PRIVATE_SOP_CLASS = "1.2.826.0.1.3680043.10.1447.99.1"


@pytest.mark.parametrize("accept_unknown", [True, False])
async def test_private_sop_classes_follow_the_setting(tmp_path, archive,
                                                      accept_unknown: bool) -> None:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path, ingest__accept_unknown_sop_classes=accept_unknown),
                      archive)
    await srv.start()
    try:
        ds = make_image()
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = PRIVATE_SOP_CLASS
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "PRIVATE",
                                       [(PRIVATE_SOP_CLASS, [ExplicitVRLittleEndian])]) as assoc:
            assert bool(assoc.contexts) is accept_unknown
            if accept_unknown:
                assert (await assoc.store(ds)).ok
        stored = await archive.instances(sop_instance_uid=ds.SOPInstanceUID)
        assert len(stored) == (1 if accept_unknown else 0)
    finally:
        await srv.stop()
