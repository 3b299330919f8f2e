"""Building blocks shared by the synthetic objects: deterministic UIDs and random streams,
file meta, and the modules every image IOD repeats (SOP Common, General Series, ...)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta

import numpy as np
from pydicom import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from hounsfield import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

# Name-based UUIDs (RFC 4122 version 5) give stable UIDs for a seed; a UUID written as an
# integer under the root 2.25 is a valid UID without a registered root (PS3.5 B.2).
_UID_NAMESPACE = uuid.UUID("6f1c2b1e-5d0a-4a7e-9b63-0b4f8a1d2c3e")

MANUFACTURER = "Hounsfield"
MANUFACTURER_MODEL = "Synthetic Phantom"
SOFTWARE_VERSION = "hounsfield-demo 1"


def demo_uid(*parts: object) -> UID:
    """Return a UID that depends only on ``parts`` (seed, role, numbers)."""
    name = "/".join(str(p) for p in parts)
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}")


def rng_for(*parts: object) -> np.random.Generator:
    """Return a random generator seeded from ``parts``, so every object is reproducible
    on its own (generating one series never shifts the random stream of another)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def new_dataset(sop_class_uid: str, sop_instance_uid: str,
                transfer_syntax_uid: str = ExplicitVRLittleEndian) -> Dataset:
    """Return a dataset with SOP Common (PS3.3 C.12.1) and File Meta (PS3.10 7.1) set."""
    meta = Dataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds = Dataset()
    ds.file_meta = meta  # type: ignore[assignment]
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid)
    return ds


def set_series(ds: Dataset, *, modality: str, series_instance_uid: str, series_number: int,
               series_description: str, series_date: str, series_time: str,
               body_part: str = "", patient_position: str | None = None) -> None:
    """Fill the General Series module (PS3.3 C.7.3.1)."""
    ds.Modality = modality
    ds.SeriesInstanceUID = UID(series_instance_uid)
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.SeriesDate = series_date
    ds.SeriesTime = series_time
    if body_part:
        ds.BodyPartExamined = body_part
    # Patient Position is Type 2C: required for CT and MR (PS3.3 C.7.3.1.1.2).
    if patient_position is not None:
        ds.PatientPosition = patient_position


def set_equipment(ds: Dataset, *, station_name: str = "HF-SIM-01",
                  institution_name: str = "") -> None:
    """Fill the General Equipment module (PS3.3 C.7.5.1)."""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER_MODEL
    ds.SoftwareVersions = SOFTWARE_VERSION
    ds.DeviceSerialNumber = "0001"
    ds.StationName = station_name
    if institution_name:
        ds.InstitutionName = institution_name


def set_content_time(ds: Dataset, study_date: str, study_time: str,
                     seconds_after: float) -> None:
    """Set Content/Acquisition Date and Time a little after the study started."""
    start = datetime.strptime(study_date + (study_time or "080000")[:6], "%Y%m%d%H%M%S")
    moment = start + timedelta(seconds=seconds_after)
    ds.ContentDate = moment.strftime("%Y%m%d")
    ds.ContentTime = moment.strftime("%H%M%S.%f")[:13]
    ds.AcquisitionDate = ds.ContentDate
    ds.AcquisitionTime = ds.ContentTime


def set_pixels(ds: Dataset, pixels: np.ndarray, *, photometric: str, bits_stored: int) -> None:
    """Fill the Image Pixel module (PS3.3 C.7.6.3) from a native array.

    ``pixels`` is (rows, columns), (rows, columns, 3), (frames, rows, columns) or
    (frames, rows, columns, 3); colour data is stored colour-by-pixel.
    """
    color = photometric in ("RGB", "YBR_FULL")
    if color and pixels.shape[-1] != 3:
        raise ValueError(f"Argument \"pixels\" must end in 3 samples for {photometric}")
    frame_shape = pixels.shape[-3:-1] if color else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric
    if color:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(frame_shape[0]), int(frame_shape[1])
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()


def years_before(day: str, years: int, days: int = 0) -> str:
    """Return the DA ``day`` moved back by whole years and some days (for priors)."""
    d = datetime.strptime(day, "%Y%m%d").date()
    try:
        moved = d.replace(year=d.year - years)
    except ValueError:  # 29 February
        moved = date(d.year - years, 2, 28)
    return (moved - timedelta(days=days)).strftime("%Y%m%d")
