"""Small, valid DICOM objects built in the tests (independent of the demo generator)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"


def make_dataset(*, patient_name: str = "Doe^John", patient_id: str = "P001",
                 study_uid: str | None = None, series_uid: str | None = None,
                 sop_uid: str | None = None, sop_class: str = CT_IMAGE, modality: str = "CT",
                 study_date: str = "20240115", study_time: str = "101500",
                 accession: str = "A001", instance_number: int = 1, series_number: int = 1,
                 rows: int = 8, columns: int = 8, charset: str | None = "ISO_IR 192",
                 transfer_syntax: str = ExplicitVRLittleEndian, **extra: Any) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.ReferringPhysicianName = extra.pop("referring", "Welby^Marcus")
    ds.StudyDescription = extra.pop("study_description", "CT CHEST")
    ds.SeriesDescription = extra.pop("series_description", "AXIAL")
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = extra.pop("birth_date", "19700101")
    ds.PatientSex = extra.pop("sex", "M")
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    for key, value in extra.items():
        setattr(ds, key, value)
    ds.PixelData = (np.arange(rows * columns, dtype=np.uint16) % 4096).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def make_bytes(**kw: Any) -> bytes:
    return to_bytes(make_dataset(**kw))
