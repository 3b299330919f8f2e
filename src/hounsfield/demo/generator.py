"""Synthetic DICOM objects of the main storage SOP classes, valid against their IODs
(PS3.3 Annex A) and reproducible from a seed: CT, MR, CR, US and XA multi-frame,
Secondary Capture and Encapsulated PDF."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
)

from hounsfield.demo.common import (
    demo_uid,
    new_dataset,
    rng_for,
    set_content_time,
    set_equipment,
    set_pixels,
    set_series,
)
from hounsfield.demo.files import NATIVE_SYNTAXES, compress
from hounsfield.demo.patients import Patient, Study, apply_patient_study
from hounsfield.demo.pdf import minimal_pdf
from hounsfield.demo.phantoms import ct_hu_slice, mr_head_slice
from hounsfield.demo.pictures import cr_chest, sc_screen, us_frames, xa_frames

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _finish(ds: Dataset, transfer_syntax: str) -> Dataset:
    """Put ``ds`` in ``transfer_syntax`` (compressing when needed)."""
    if transfer_syntax == ds.file_meta.TransferSyntaxUID:
        return ds
    if transfer_syntax in NATIVE_SYNTAXES:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        return ds
    # Created compressed (as an ultrasound device does), so it stays an original image.
    return compress(ds, transfer_syntax, keep_sop_instance_uid=True)


def _start(patient: Patient, study: Study, sop_class_uid: str, series_uid: str,
           number: int) -> Dataset:
    ds = new_dataset(sop_class_uid, demo_uid("instance", series_uid, number))
    apply_patient_study(ds, patient, study)
    ds.InstanceNumber = number
    return ds


def _grid(count: int, spacing: float) -> np.ndarray:
    """Centre coordinates (mm) of ``count`` pixels of ``spacing`` centred on 0."""
    return ((np.arange(count) - count / 2 + 0.5) * spacing).astype(np.float32)


def ct_slice(patient: Patient, study: Study, *, series_uid: str, frame_of_reference_uid: str,
             instance_number: int, z: float, rows: int, columns: int, pixel_spacing: float,
             slice_thickness: float, rng: np.random.Generator, series_number: int = 1,
             series_description: str = "Chest CT", signed: bool = False,
             lesion_scale: float = 1.0) -> Dataset:
    """Return one axial slice of the chest phantom at height ``z`` (CT Image Storage),
    centred on the z axis with square pixels of ``pixel_spacing`` mm."""
    spacing = pixel_spacing
    xs, ys = _grid(columns, spacing), _grid(rows, spacing)
    intercept = 0.0 if signed else -1024.0
    dtype, low, high = (np.int16, -32768, 32767) if signed else (np.uint16, 0, 4095)
    ds = _start(patient, study, CTImageStorage, series_uid, instance_number)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    set_series(ds, modality="CT", series_instance_uid=series_uid,
               series_number=series_number, series_description=series_description,
               series_date=study.study_date, series_time=study.study_time,
               body_part="CHEST", patient_position="HFS")
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    set_equipment(ds, station_name="HF-CT-01", institution_name=study.institution_name)
    set_content_time(ds, study.study_date, study.study_time, 60 + instance_number * 0.05)
    ds.AcquisitionNumber = 1
    ds.BurnedInAnnotation = "NO"
    # Image Plane (PS3.3 C.7.6.2): the position is the centre of the first pixel.
    ds.PixelSpacing = [round(spacing, 6), round(spacing, 6)]
    ds.ImageOrientationPatient = AXIAL
    ds.ImagePositionPatient = [round(-(columns / 2 - 0.5) * spacing, 4),
                               round(-(rows / 2 - 0.5) * spacing, 4), round(z, 4)]
    ds.SliceThickness = slice_thickness
    ds.SliceLocation = round(z, 4)
    hu = ct_hu_slice(xs, ys, z, rng, lesion_scale)
    stored = np.clip(np.rint(hu - intercept), low, high).astype(dtype)
    set_pixels(ds, stored, photometric="MONOCHROME2", bits_stored=16 if signed else 12)
    # CT Image module (PS3.3 C.8.2.1).
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = 1.0
    ds.RescaleType = "HU"
    ds.KVP = 120.0
    ds.DataCollectionDiameter = 500.0
    ds.ReconstructionDiameter = round(columns * spacing, 4)
    ds.DistanceSourceToDetector = 1085.6
    ds.DistanceSourceToPatient = 595.0
    ds.GantryDetectorTilt = 0.0
    ds.TableHeight = 160.0
    ds.RotationDirection = "CW"
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 200
    ds.Exposure = 100
    ds.ConvolutionKernel = "STANDARD"
    ds.ScanOptions = "HELICAL MODE"
    ds.WindowCenter = [40.0, -600.0]
    ds.WindowWidth = [400.0, 1500.0]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]
    return ds


def ct_volume(patient: Patient, study: Study, *, slices: int = 220, rows: int = 512,
              columns: int = 512, slice_thickness: float = 1.25,
              transfer_syntax: str = ExplicitVRLittleEndian, seed: int = 0,
              series_number: int = 1, series_description: str = "Chest CT",
              signed: bool = False, lesion_scale: float = 1.0,
              field_of_view: float = 400.0) -> Iterator[Dataset]:
    """Yield an axial chest CT series (CT Image Storage), top slice first.

    Slices are contiguous: ImagePositionPatient steps by ``slice_thickness`` along the
    normal of ImageOrientationPatient, centred on z = 0. Unsigned data is 12 bits stored
    with RescaleIntercept -1024; ``signed`` gives int16 with 16 bits stored and
    intercept 0 (both common in practice).
    """
    if slices < 1 or rows < 8 or columns < 8:
        raise ValueError("Arguments \"slices\", \"rows\" and \"columns\" are too small")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "CT")
    frame_of_reference = demo_uid("frame-of-reference", seed, study.study_instance_uid,
                                  series_number)
    rng = rng_for("ct", seed, series_uid)
    for i in range(slices):
        z = ((slices - 1) / 2 - i) * slice_thickness
        ds = ct_slice(patient, study, series_uid=series_uid,
                      frame_of_reference_uid=frame_of_reference, instance_number=i + 1, z=z,
                      rows=rows, columns=columns, pixel_spacing=field_of_view / columns,
                      slice_thickness=slice_thickness, rng=rng,
                      series_number=series_number, series_description=series_description,
                      signed=signed, lesion_scale=lesion_scale)
        yield _finish(ds, transfer_syntax)


def mr_slice(patient: Patient, study: Study, *, series_uid: str, frame_of_reference_uid: str,
             instance_number: int, z: float, rows: int, columns: int, pixel_spacing: float,
             slice_thickness: float, slice_spacing: float, rng: np.random.Generator,
             series_number: int = 1, series_description: str = "AX T1 SE") -> Dataset:
    """Return one axial slice of the head phantom at height ``z`` (MR Image Storage)."""
    spacing = pixel_spacing
    xs, ys = _grid(columns, spacing), _grid(rows, spacing)
    ds = _start(patient, study, MRImageStorage, series_uid, instance_number)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    set_series(ds, modality="MR", series_instance_uid=series_uid,
               series_number=series_number, series_description=series_description,
               series_date=study.study_date, series_time=study.study_time,
               body_part="HEAD", patient_position="HFS")
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    set_equipment(ds, station_name="HF-MR-01", institution_name=study.institution_name)
    set_content_time(ds, study.study_date, study.study_time, 120 + instance_number * 4.0)
    ds.AcquisitionNumber = 1
    ds.BurnedInAnnotation = "NO"
    ds.PixelSpacing = [round(spacing, 6), round(spacing, 6)]
    ds.ImageOrientationPatient = AXIAL
    ds.ImagePositionPatient = [round(-(columns / 2 - 0.5) * spacing, 4),
                               round(-(rows / 2 - 0.5) * spacing, 4), round(z, 4)]
    ds.SliceThickness = slice_thickness
    ds.SpacingBetweenSlices = slice_spacing
    ds.SliceLocation = round(z, 4)
    signal = mr_head_slice(xs, ys, z, rng)
    set_pixels(ds, np.clip(np.rint(signal), 0, 4095).astype(np.uint16),
               photometric="MONOCHROME2", bits_stored=12)
    # MR Image module (PS3.3 C.8.3.1).
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "se2d1"
    ds.RepetitionTime = 500.0
    ds.EchoTime = 15.0
    ds.EchoTrainLength = 1
    ds.NumberOfAverages = 1.0
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = 1.5
    ds.FlipAngle = 90.0
    ds.PixelBandwidth = 130.0
    ds.WindowCenter = 1200.0
    ds.WindowWidth = 2400.0
    return ds


def mr_series(patient: Patient, study: Study, *, slices: int = 20, rows: int = 256,
              columns: int = 256, slice_thickness: float = 5.0, slice_gap: float = 1.0,
              transfer_syntax: str = ExplicitVRLittleEndian, seed: int = 0,
              series_number: int = 1,
              series_description: str = "AX T1 SE") -> Iterator[Dataset]:
    """Yield an axial T1-weighted head MR series (MR Image Storage, uint16, 12 bits)."""
    if slices < 1 or rows < 8 or columns < 8:
        raise ValueError("Arguments \"slices\", \"rows\" and \"columns\" are too small")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "MR")
    frame_of_reference = demo_uid("frame-of-reference", seed, study.study_instance_uid,
                                  series_number)
    step = slice_thickness + slice_gap
    rng = rng_for("mr", seed, series_uid)
    for i in range(slices):
        z = 20.0 + ((slices - 1) / 2 - i) * step
        ds = mr_slice(patient, study, series_uid=series_uid,
                      frame_of_reference_uid=frame_of_reference, instance_number=i + 1, z=z,
                      rows=rows, columns=columns, pixel_spacing=240.0 / columns,
                      slice_thickness=slice_thickness, slice_spacing=step, rng=rng,
                      series_number=series_number, series_description=series_description)
        yield _finish(ds, transfer_syntax)


def cr_image(patient: Patient, study: Study, *, rows: int = 2500, columns: int = 2048,
             transfer_syntax: str = ExplicitVRLittleEndian, seed: int = 0,
             series_number: int = 1) -> Dataset:
    """Return a PA chest radiograph (CR Image Storage, MONOCHROME1, 12 bits stored)."""
    if rows < 8 or columns < 8:
        raise ValueError("Arguments \"rows\" and \"columns\" are too small")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "CR")
    ds = _start(patient, study, ComputedRadiographyImageStorage, series_uid, 1)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    set_series(ds, modality="CR", series_instance_uid=series_uid, series_number=series_number,
               series_description="Chest PA", series_date=study.study_date,
               series_time=study.study_time, body_part="CHEST")
    ds.ViewPosition = "PA"  # CR Series module (PS3.3 C.8.1.1)
    set_equipment(ds, station_name="HF-CR-01", institution_name=study.institution_name)
    set_content_time(ds, study.study_date, study.study_time, 30)
    ds.AcquisitionNumber = 1
    # Without an Image Plane module, Patient Orientation is required (PS3.3 C.7.6.1.1.1):
    # rows run to the patient's left, columns to the feet, as a PA film is viewed.
    ds.PatientOrientation = ["L", "F"]
    ds.BurnedInAnnotation = "NO"
    pixels, spacing = cr_chest(rows, columns, rng_for("cr", seed, series_uid))
    set_pixels(ds, pixels, photometric="MONOCHROME1", bits_stored=12)
    ds.ImagerPixelSpacing = [round(spacing, 6), round(spacing, 6)]
    ds.KVP = 125.0
    ds.DistanceSourceToDetector = 1800.0
    ds.ExposureTime = 8
    ds.XRayTubeCurrent = 320
    ds.PlateID = "HF-PLATE-7"
    ds.WindowCenter = 2000.0
    ds.WindowWidth = 3200.0
    return _finish(ds, transfer_syntax)


def _set_cine(ds: Dataset, frames: int, frame_time_ms: float) -> None:
    """Cine and Multi-frame modules (PS3.3 C.7.6.5, C.7.6.6)."""
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = round(frame_time_ms, 3)
    ds.CineRate = int(round(1000.0 / frame_time_ms))
    ds.RecommendedDisplayFrameRate = ds.CineRate
    ds.ActualFrameDuration = int(round(frame_time_ms))
    ds.StartTrim = 1
    ds.StopTrim = frames


def us_multiframe(patient: Patient, study: Study, *, frames: int = 30, rows: int = 480,
                  columns: int = 640, frame_time_ms: float = 33.3,
                  transfer_syntax: str = JPEGBaseline8Bit, seed: int = 0,
                  series_number: int = 1) -> Dataset:
    """Return an echocardiography cine loop (Ultrasound Multi-frame Image Storage).

    The default JPEG Baseline gives YBR_FULL_422 frames; Explicit VR Little Endian
    gives uncompressed RGB.
    """
    if frames < 1 or rows < 16 or columns < 16:
        raise ValueError("Arguments \"frames\", \"rows\" and \"columns\" are too small")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "US")
    ds = _start(patient, study, UltrasoundMultiFrameImageStorage, series_uid, 1)
    set_series(ds, modality="US", series_instance_uid=series_uid, series_number=series_number,
               series_description="Echocardiography", series_date=study.study_date,
               series_time=study.study_time, body_part="HEART")
    set_equipment(ds, station_name="HF-US-01", institution_name=study.institution_name)
    set_content_time(ds, study.study_date, study.study_time, 300)
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    pixels = us_frames(frames, rows, columns, rng_for("us", seed, series_uid))
    set_pixels(ds, pixels, photometric="RGB", bits_stored=8)
    _set_cine(ds, frames, frame_time_ms)
    # US Image module (PS3.3 C.8.5.6).
    # Value 4 is a bit map of the modes shown: 2D (0001) with colour Doppler (0010).
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CHEST", "0011"]
    ds.LossyImageCompression = "00"
    ds.UltrasoundColorDataPresent = 1
    ds.TransducerData = ["S5-1", "", ""]
    ds.HeartRate = int(round(60000.0 / (frames * frame_time_ms)))
    region = Dataset()  # US Region Calibration module (PS3.3 C.8.5.5): the whole sector.
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = int(columns * 0.15)
    region.RegionLocationMinY0 = int(rows * 0.08)
    region.RegionLocationMaxX1 = int(columns * 0.85)
    region.RegionLocationMaxY1 = int(rows * 0.94)
    region.ReferencePixelX0 = columns // 2
    region.ReferencePixelY0 = int(rows * 0.08)
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = round(16.0 / rows, 6)
    region.PhysicalDeltaY = round(16.0 / rows, 6)
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    return _finish(ds, transfer_syntax)


def xa_multiframe(patient: Patient, study: Study, *, frames: int = 20, size: int = 512,
                  frame_time_ms: float = 66.7, transfer_syntax: str = ExplicitVRLittleEndian,
                  seed: int = 0, series_number: int = 1) -> Dataset:
    """Return a coronary angiography run (X-Ray Angiographic Image Storage, 8 bits)."""
    if frames < 1 or size < 16:
        raise ValueError("Arguments \"frames\" and \"size\" are too small")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "XA")
    ds = _start(patient, study, XRayAngiographicImageStorage, series_uid, 1)
    set_series(ds, modality="XA", series_instance_uid=series_uid, series_number=series_number,
               series_description="Left coronary artery", series_date=study.study_date,
               series_time=study.study_time, body_part="HEART")
    set_equipment(ds, station_name="HF-XA-01", institution_name=study.institution_name)
    set_content_time(ds, study.study_date, study.study_time, 600)
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    pixels = xa_frames(frames, size, rng_for("xa", seed, series_uid))
    set_pixels(ds, pixels, photometric="MONOCHROME2", bits_stored=8)
    _set_cine(ds, frames, frame_time_ms)
    # X-Ray Image module (PS3.3 C.8.7.1).
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.PixelIntensityRelationship = "LIN"
    ds.LossyImageCompression = "00"
    # Contrast/Bolus (PS3.3 C.7.6.4) and X-Ray Acquisition (C.8.7.2).
    ds.ContrastBolusAgent = "Iodixanol 320"
    ds.ContrastBolusRoute = "INTRA-ARTERIAL"
    ds.KVP = 80.0
    ds.RadiationSetting = "GR"
    ds.XRayTubeCurrent = 600
    ds.ExposureTime = 7
    ds.ImagerPixelSpacing = [round(200.0 / size, 6)] * 2
    # XA Positioner (PS3.3 C.8.7.5): a left anterior oblique, cranial view.
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = 30.0
    ds.PositionerSecondaryAngle = 20.0
    ds.DistanceSourceToDetector = 1100.0
    ds.DistanceSourceToPatient = 750.0
    ds.WindowCenter = 128.0
    ds.WindowWidth = 256.0
    return _finish(ds, transfer_syntax)


def secondary_capture(patient: Patient, study: Study, *, rows: int = 512, columns: int = 640,
                      transfer_syntax: str = ExplicitVRLittleEndian, seed: int = 0,
                      series_number: int = 900) -> Dataset:
    """Return an RGB screen capture (Secondary Capture Image Storage)."""
    if rows < 32 or columns < 32:
        raise ValueError("Arguments \"rows\" and \"columns\" must be at least 32")
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "SC")
    ds = _start(patient, study, SecondaryCaptureImageStorage, series_uid, 1)
    set_series(ds, modality="OT", series_instance_uid=series_uid, series_number=series_number,
               series_description="Key images", series_date=study.study_date,
               series_time=study.study_time, body_part="HEAD")
    set_equipment(ds, station_name="HF-WS-01", institution_name=study.institution_name)
    ds.ConversionType = "WSD"  # SC Equipment module (PS3.3 C.8.6.1)
    ds.SecondaryCaptureDeviceManufacturer = "Hounsfield"
    set_content_time(ds, study.study_date, study.study_time, 1800)
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    pixels = sc_screen(rows, columns, rng_for("sc", seed, series_uid))
    set_pixels(ds, pixels, photometric="RGB", bits_stored=8)
    ds.DateOfSecondaryCapture = ds.ContentDate
    ds.TimeOfSecondaryCapture = ds.ContentTime
    return _finish(ds, transfer_syntax)


def encapsulated_pdf(patient: Patient, study: Study, *, title: str = "Radiology report",
                     lines: list[str] | None = None, seed: int = 0,
                     series_number: int = 999) -> Dataset:
    """Return a report as Encapsulated PDF Storage (PS3.3 A.45.1), the PDF made here."""
    series_uid = demo_uid("series", seed, study.study_instance_uid, series_number, "DOC")
    ds = _start(patient, study, EncapsulatedPDFStorage, series_uid, 1)
    set_series(ds, modality="DOC", series_instance_uid=series_uid,
               series_number=series_number, series_description="Reports",
               series_date=study.study_date, series_time=study.study_time)
    set_equipment(ds, station_name="HF-RIS-01", institution_name=study.institution_name)
    ds.ConversionType = "WSD"
    set_content_time(ds, study.study_date, study.study_time, 7200)
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    del ds.AcquisitionDate, ds.AcquisitionTime  # not in this IOD; the DT above replaces them
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    concept = Dataset()  # LOINC "Diagnostic imaging study" report (PS3.16 CID 7000).
    concept.CodeValue = "18748-4"
    concept.CodingSchemeDesignator = "LN"
    concept.CodeMeaning = "Diagnostic imaging report"
    ds.ConceptNameCodeSequence = Sequence([concept])
    if lines is None:
        lines = [f"Patient: {patient.name.split('=')[0].replace('^', ' ')}",
                 f"Patient ID: {patient.patient_id}   Born: {patient.birth_date}",
                 f"Study: {study.study_description}   Date: {study.study_date}",
                 f"Accession: {study.accession_number}", "",
                 "Findings: synthetic phantom study generated for demonstration.",
                 "Impression: no real patient data."]
    document = minimal_pdf(title, lines)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # The value is padded to even length; the length attribute keeps the true size.
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    return ds
