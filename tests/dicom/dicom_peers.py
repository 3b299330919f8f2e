"""Helpers shared by the DICOM tests: settings, DCMTK availability and environment."""

from __future__ import annotations

import os
import shutil

import pytest

from hounsfield.config import load_settings

DCMTK = shutil.which("storescu") is not None
requires_dcmtk = pytest.mark.skipif(not DCMTK, reason="DCMTK tools (storescu) not on PATH")
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")


def dicom_settings(tmp_path, **changes):  # type: ignore[no-untyped-def]
    base = dict(data_dir=str(tmp_path), dicom__host="127.0.0.1", dicom__port=0,
                dicom__artim_timeout=2.0, dicom__idle_timeout=5.0, dicom__network_timeout=10.0,
                storage__fsync=False)
    base.update(changes)
    return load_settings(environ={}, **base)


def make_image(*, study_instance_uid: str | None = None, series_instance_uid: str | None = None,
               patient_id: str = "PAT1", patient_name: str = "DOE^JOHN", bits: int = 16,
               size: int = 32, instance_number: int = 1, study_date: str = "20240102",
               modality: str = "CT"):  # type: ignore[no-untyped-def]
    """A small synthetic image (CT, or secondary capture when ``bits`` is 8)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if bits == 16 else "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC" + patient_id
    ds.StudyID = "1"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    rng = np.random.default_rng(instance_number)
    dtype = np.uint16 if bits == 16 else np.uint8
    pixels = (rng.integers(0, 2 ** (bits - 4), (size, size))).astype(dtype)
    ds.PixelData = pixels.tobytes()
    return ds


def write_file(ds, path):  # type: ignore[no-untyped-def]
    ds.save_as(path, enforce_file_format=True)
    return path


def data_set_bytes(part10: bytes) -> tuple[str, bytes]:
    """(transfer syntax, data set bytes after the file meta) of a Part 10 object."""
    from hounsfield.dicom.datasets import parse_file_meta

    meta = parse_file_meta(part10)
    return meta.transfer_syntax_uid, part10[meta.data_set_offset:]


async def stored_bytes(archive, sop_instance_uid: str) -> bytes:  # type: ignore[no-untyped-def]
    refs = await archive.instances(sop_instance_uid=sop_instance_uid)
    assert len(refs) == 1, f"{sop_instance_uid} stored {len(refs)} times"
    return b"".join([chunk async for chunk in archive.read_instance(refs[0])])


async def run_tool(*args: str, timeout: float = 60) -> tuple[int, str]:
    """Run a DCMTK tool with TCP_NODELAY=1; (return code, output)."""
    import asyncio
    import subprocess

    proc = await asyncio.create_subprocess_exec(*args, env=DCMTK_ENV, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")


async def populate(archive, studies: int = 2, per_study: int = 3,  # type: ignore[no-untyped-def]
                   prefix: str = "1.2.826.0.1.3680043.10.1447.8") -> list:
    """Ingest ``studies`` studies of ``per_study`` CT images through the archive core."""
    from io import BytesIO

    from hounsfield.archive import Origin

    datasets = []
    for s in range(1, studies + 1):
        study = f"{prefix}.{s}"
        series = f"{study}.1"
        for i in range(1, per_study + 1):
            ds = make_image(study_instance_uid=study, series_instance_uid=series,
                            patient_id=f"PAT{s}", patient_name=f"DOE^PATIENT{s}",
                            instance_number=i, study_date=f"2024010{s % 9 + 1}")
            buffer = BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            result = await archive.ingest_bytes(buffer.getvalue(), Origin(protocol="import"))
            assert result.ok, result.reason
            datasets.append(ds)
    return datasets


async def wait_until_listening(port: int, timeout: float = 10) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
