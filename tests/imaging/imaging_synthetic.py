"""Synthetic images for the imaging tests, built here with pydicom and numpy."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import set_pixel_data
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid


def build_image(pixels: np.ndarray, photometric: str = "MONOCHROME2", *,
                bits_stored: int | None = None, sop_class_uid: str = CTImageStorage,
                **attributes: Any) -> Dataset:
    """A minimal Part 10 image (Explicit VR Little Endian) holding ``pixels``.

    A 3-D monochrome or 4-D colour array is a multi-frame image.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Phantom^Imaging"
    ds.PatientID = "IMG-1"
    ds.Modality = "OT"
    if bits_stored is None:
        bits_stored = pixels.dtype.itemsize * 8
    if pixels.dtype.itemsize == 4:
        # pydicom's set_pixel_data stops at 16 bits; fill the Image Pixel module by hand.
        set_pixel_data(ds, pixels.astype(np.uint16), photometric, 16)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, bits_stored, bits_stored - 1
        ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
        ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    else:
        set_pixel_data(ds, pixels, photometric, bits_stored)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reread(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def ramp(rows: int, columns: int, low: int, high: int, dtype: Any = np.int16) -> np.ndarray:
    """Values spread evenly from low to high in raster order (deterministic)."""
    return np.linspace(low, high, rows * columns).round().astype(dtype).reshape(rows, columns)
