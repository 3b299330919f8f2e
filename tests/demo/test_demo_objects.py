"""Each generated object is a valid Part 10 file of its SOP class, with the geometry,
pixel values and frames it claims."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
)

from hounsfield import IMPLEMENTATION_CLASS_UID
from hounsfield.demo import (
    CT_TISSUES,
    Patient,
    Study,
    cr_image,
    ct_slice_labels,
    ct_volume,
    encapsulated_pdf,
    mr_series,
    secondary_capture,
    us_multiframe,
    write,
    xa_multiframe,
)

RoundTrip = Callable[[Dataset], Dataset]


def small_objects(patient: Patient, study: Study) -> dict[str, tuple[Dataset, str, str]]:
    """name -> (dataset, SOP Class UID, Transfer Syntax UID) of one small object of each kind."""
    return {
        "ct": (next(ct_volume(patient, study, slices=1, rows=64, columns=64)),
               CTImageStorage, ExplicitVRLittleEndian),
        "ct_signed_rle": (next(ct_volume(patient, study, slices=1, rows=64, columns=64,
                                         signed=True, transfer_syntax=RLELossless)),
                          CTImageStorage, RLELossless),
        "mr": (next(mr_series(patient, study, slices=1, rows=64, columns=64)),
               MRImageStorage, ExplicitVRLittleEndian),
        "cr": (cr_image(patient, study, rows=120, columns=100),
               ComputedRadiographyImageStorage, ExplicitVRLittleEndian),
        "us_jpeg": (us_multiframe(patient, study, frames=3, rows=48, columns=64),
                    UltrasoundMultiFrameImageStorage, JPEGBaseline8Bit),
        "us_rgb": (us_multiframe(patient, study, frames=3, rows=48, columns=64,
                                 transfer_syntax=ExplicitVRLittleEndian),
                   UltrasoundMultiFrameImageStorage, ExplicitVRLittleEndian),
        "xa": (xa_multiframe(patient, study, frames=4, size=32),
               XRayAngiographicImageStorage, ExplicitVRLittleEndian),
        "sc": (secondary_capture(patient, study, rows=48, columns=64),
               SecondaryCaptureImageStorage, ExplicitVRLittleEndian),
        "pdf": (encapsulated_pdf(patient, study), EncapsulatedPDFStorage,
                ExplicitVRLittleEndian),
    }


@pytest.mark.parametrize("name", ["ct", "ct_signed_rle", "mr", "cr", "us_jpeg", "us_rgb", "xa",
                                  "sc", "pdf"])
def test_object_round_trips_with_its_sop_class_and_transfer_syntax(
        name: str, patient: Patient, study: Study, round_trip: RoundTrip) -> None:
    ds, sop_class, syntax = small_objects(patient, study)[name]
    back = round_trip(ds)
    assert back.SOPClassUID == sop_class
    assert back.file_meta.MediaStorageSOPClassUID == sop_class
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert back.file_meta.TransferSyntaxUID == syntax
    assert back.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert back.PatientID == patient.patient_id
    assert back.StudyInstanceUID == study.study_instance_uid
    for uid in (back.SOPInstanceUID, back.SeriesInstanceUID, back.StudyInstanceUID):
        assert UID(uid).is_valid
    if "PixelData" in back:
        frames = int(back.get("NumberOfFrames", 1))
        assert back.pixel_array.size == (frames * back.Rows * back.Columns
                                         * back.SamplesPerPixel)
        if not syntax == JPEGBaseline8Bit:
            assert np.array_equal(back.pixel_array, ds.pixel_array)


@pytest.mark.parametrize("name", ["us_jpeg", "us_rgb", "xa"])
def test_multiframe_has_number_of_frames(name: str, patient: Patient, study: Study,
                                         round_trip: RoundTrip) -> None:
    ds, _, syntax = small_objects(patient, study)[name]
    back = round_trip(ds)
    frames = int(back.NumberOfFrames)
    assert frames > 1
    assert back.pixel_array.shape[0] == frames
    assert back.FrameIncrementPointer == 0x00181063  # Frame Time
    assert float(back.FrameTime) > 0
    if syntax == JPEGBaseline8Bit:
        fragments = list(generate_frames(back.PixelData, number_of_frames=frames))
        assert len(fragments) == frames
        assert all(f.startswith(b"\xff\xd8") for f in fragments)
        assert back.PhotometricInterpretation == "YBR_FULL_422"
        assert back.LossyImageCompression == "01"
    # The loop moves: consecutive frames differ.
    assert not np.array_equal(back.pixel_array[0], back.pixel_array[1])


def test_ct_slices_step_by_slice_thickness_along_the_normal(
        patient: Patient, study: Study, round_trip: RoundTrip) -> None:
    slices = [round_trip(ds) for ds in ct_volume(patient, study, slices=4, rows=64, columns=64,
                                                 slice_thickness=1.25)]
    orientation = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([s.ImagePositionPatient for s in slices], dtype=float)
    steps = np.diff(positions, axis=0)
    for step in steps:
        assert np.linalg.norm(step) == pytest.approx(1.25)
        assert abs(np.dot(step, normal)) == pytest.approx(np.linalg.norm(step))
    assert [int(s.InstanceNumber) for s in slices] == [1, 2, 3, 4]
    assert [float(s.SliceLocation) for s in slices] == pytest.approx(positions[:, 2])
    assert len({s.SeriesInstanceUID for s in slices}) == 1
    assert len({s.FrameOfReferenceUID for s in slices}) == 1
    assert len({s.SOPInstanceUID for s in slices}) == 4
    # The image is centred on the patient axis: first and last pixel centres are symmetric.
    spacing = float(slices[0].PixelSpacing[1])
    assert positions[0, 0] + (slices[0].Columns - 1) * spacing == pytest.approx(-positions[0, 0])


def test_mr_slices_step_by_thickness_plus_gap(patient: Patient, study: Study,
                                              round_trip: RoundTrip) -> None:
    slices = [round_trip(ds) for ds in mr_series(patient, study, slices=3, rows=32, columns=32,
                                                 slice_thickness=5.0, slice_gap=1.0)]
    z = [float(s.ImagePositionPatient[2]) for s in slices]
    assert np.diff(z) == pytest.approx([-6.0, -6.0])
    assert all(float(s.SpacingBetweenSlices) == 6.0 for s in slices)
    assert all(s.pixel_array.dtype == np.uint16 for s in slices)


def _hu_at(ds: Dataset, x: float, y: float) -> float:
    """Rescaled value of the pixel whose centre is nearest the patient point (x, y)."""
    origin = [float(v) for v in ds.ImagePositionPatient]
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    column = round((x - origin[0]) / column_spacing)
    row = round((y - origin[1]) / row_spacing)
    return float(ds.pixel_array[row, column]) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept)


@pytest.mark.parametrize("signed", [False, True])
def test_ct_regions_have_their_hounsfield_units(signed: bool, patient: Patient, study: Study,
                                                round_trip: RoundTrip) -> None:
    middle = round_trip(list(ct_volume(patient, study, slices=2, rows=128, columns=128,
                                       signed=signed))[0])
    assert middle.pixel_array.dtype == (np.int16 if signed else np.uint16)
    # Points chosen in the phantom's anatomy at z ~ 0 (LPS millimetres); +-5 sigma of noise.
    probes = {"air": (-190, -190, -1000), "lung": (-72, 45, -820), "nodule": (-78, -5, 30),
              "fat": (-157, 10, -100), "soft tissue": (-60, 80, 40),
              "spinous process": (0, 112, 1150)}
    for name, (x, y, expected) in probes.items():
        assert _hu_at(middle, x, y) == pytest.approx(expected, abs=60), name
    # At z = -100 the right upper abdomen is liver.
    low = round_trip(list(ct_volume(patient, study, slices=5, rows=128, columns=128,
                                    slice_thickness=50.0))[4])
    assert float(low.ImagePositionPatient[2]) == pytest.approx(-100.0)
    assert _hu_at(low, -50, 5) == pytest.approx(60, abs=60)


def test_every_ct_tissue_has_its_nominal_value(patient: Patient, study: Study,
                                               round_trip: RoundTrip) -> None:
    seen: dict[str, list[float]] = {}
    for ds in ct_volume(patient, study, slices=7, rows=128, columns=128, slice_thickness=40.0):
        back = round_trip(ds)
        spacing = float(back.PixelSpacing[0])
        x0, y0, z = (float(v) for v in back.ImagePositionPatient)
        xs = (x0 + np.arange(back.Columns) * spacing).astype(np.float32)
        ys = (y0 + np.arange(back.Rows) * spacing).astype(np.float32)
        labels = ct_slice_labels(xs, ys, z)
        hu = back.pixel_array * float(back.RescaleSlope) + float(back.RescaleIntercept)
        for tissue in CT_TISSUES:
            seen.setdefault(tissue.name, []).extend(hu[labels == tissue.label].tolist())
    for tissue in CT_TISSUES:
        values = np.array(seen[tissue.name])
        assert values.size >= 10, f"{tissue.name} is missing from the phantom"
        assert values.mean() == pytest.approx(tissue.hu, abs=8), tissue.name
        assert np.all(np.abs(values - tissue.hu) < 80), tissue.name
    assert -900 <= CT_TISSUES[3].hu <= -700 and CT_TISSUES[3].name == "lung"
    bone = [t.hu for t in CT_TISSUES if t.name.endswith("bone")]
    assert all(700 <= hu <= 1200 for hu in bone)


def test_cr_is_monochrome1_with_lungs_darker_than_the_spine(
        patient: Patient, study: Study, round_trip: RoundTrip) -> None:
    back = round_trip(cr_image(patient, study, rows=500, columns=400))
    assert back.PhotometricInterpretation == "MONOCHROME1"
    assert list(back.PatientOrientation) == ["L", "F"]
    pixels = back.pixel_array.astype(float)
    spacing = float(back.ImagerPixelSpacing[0])

    def at(x: float, z: float) -> float:  # the image spans x in +-215 mm, z from 210 mm down
        column = round(x / spacing + back.Columns / 2 - 0.5)
        row = round((210 - z) / spacing - 0.5)
        return float(pixels[row - 3:row + 4, column - 3:column + 4].mean())

    # MONOCHROME1: high values display dark, as exposed film does behind the lungs.
    assert at(-75, 60) > at(0, 60) + 300
    assert at(-200, -150) > at(-75, 60)  # direct exposure beside the body is darkest


def test_encapsulated_pdf_is_a_pdf_with_a_consistent_cross_reference_table(
        patient: Patient, study: Study, round_trip: RoundTrip) -> None:
    back = round_trip(encapsulated_pdf(patient, study, title="Report (test)",
                                       lines=["Line with \\ and (brackets)"]))
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    document = bytes(back.EncapsulatedDocument)[:int(back.EncapsulatedDocumentLength)]
    assert len(back.EncapsulatedDocument) % 2 == 0
    assert document.startswith(b"%PDF-1.4") and document.endswith(b"%%EOF\n")
    start = int(re.search(rb"startxref\n(\d+)\n", document).group(1))  # type: ignore[union-attr]
    assert document[start:start + 4] == b"xref"
    offsets = re.findall(rb"(\d{10}) 00000 n ", document[start:])
    assert len(offsets) == 5
    for number, offset in enumerate(offsets, start=1):
        assert document[int(offset):].startswith(f"{number} 0 obj".encode())
    assert b"(Report \\(test\\)) Tj" in document


def _dciodvfy() -> str | None:
    return shutil.which("dciodvfy")


@pytest.mark.skipif(_dciodvfy() is None, reason="dciodvfy (dicom3tools) is not installed")
@pytest.mark.parametrize("name", ["ct", "ct_signed_rle", "mr", "cr", "us_jpeg", "us_rgb", "xa",
                                  "sc", "pdf"])
def test_dciodvfy_finds_no_errors_or_warnings(name: str, patient: Patient, study: Study,
                                              tmp_path: Path) -> None:
    ds, _, _ = small_objects(patient, study)[name]
    path = write(ds, tmp_path / f"{name}.dcm")
    result = subprocess.run([str(_dciodvfy()), str(path)], capture_output=True, text=True,
                            timeout=60)
    findings = [line for line in (result.stdout + result.stderr).splitlines()
                if line.startswith(("Error", "Warning"))]
    assert findings == []
