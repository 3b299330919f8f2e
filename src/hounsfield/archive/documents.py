"""Documents of a study: PDFs and photos made into DICOM objects attached to a stored
study, the list of a study's documents (Encapsulated PDF and CDA, Structured Reports,
photos), and their content in the form a browser shows.

A PDF becomes Encapsulated PDF Storage (PS3.3 A.45.1) and a JPEG or PNG photo Secondary
Capture Image Storage (PS3.3 A.8.1; Modality XC, external-camera photography): the
smallest IOD that holds any photo. Patient and study attributes are copied from the
study, so the object joins it; each upload makes a new series. The PDF is streamed into
the object, never held whole; a baseline JPEG is kept as it is (JPEG Baseline transfer
syntax), anything else is decoded once and kept uncompressed.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from typing import Any, BinaryIO, Iterable, Iterator

from PIL import Image, ImageOps, JpegImagePlugin
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID, DeflatedExplicitVRLittleEndian, EncapsulatedPDFStorage, ExplicitVRLittleEndian,
    JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid,
)

from hounsfield import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from hounsfield.errors import InvalidObject

__all__ = ["DOCUMENT_CLASSES", "MAX_PHOTO_PIXELS", "Document", "document_content",
           "document_kind", "document_title", "pdf_object", "photo_object", "sniff",
           "study_template"]

ENCAPSULATED_CDA = "1.2.840.10008.5.1.4.1.1.104.2"
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"  # a list of images, not a report
# SOP classes that are documents whatever their modality; photos also include Secondary
# Capture objects of modality XC (what an uploaded photo becomes).
DOCUMENT_CLASSES = {EncapsulatedPDFStorage: "pdf", ENCAPSULATED_CDA: "cda",
                    VL_PHOTOGRAPHIC: "photo"}
PHOTO_MODALITY = "XC"
MAX_PHOTO_PIXELS = 30_000_000
_ENCAPSULATED_DOCUMENT = 0x00420011

# Patient and General Study module attributes a document copies from its study (and
# the institution, which study-level access rules look at).
_STUDY_KEYWORDS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                   "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
                   "ReferringPhysicianName", "StudyID", "AccessionNumber", "StudyDescription",
                   "InstitutionName")
_TYPE_2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
           "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


class Document:
    """One document of a study, as listed by the web application."""

    def __init__(self, study_instance_uid: str, series_instance_uid: str,
                 sop_instance_uid: str, sop_class_uid: str, kind: str, title: str,
                 date: str) -> None:
        self.study_instance_uid = study_instance_uid
        self.series_instance_uid = series_instance_uid
        self.sop_instance_uid = sop_instance_uid
        self.sop_class_uid = sop_class_uid
        self.kind = kind
        self.title = title
        self.date = date

    def to_json(self) -> dict[str, Any]:
        return {"sop_instance_uid": self.sop_instance_uid,
                "series_instance_uid": self.series_instance_uid,
                "sop_class_uid": self.sop_class_uid, "kind": self.kind, "title": self.title,
                "date": self.date,
                "content_url": f"/api/studies/{self.study_instance_uid}/documents/"
                               f"{self.sop_instance_uid}/content"}


def document_kind(sop_class_uid: str, modality: str) -> str | None:
    """pdf, cda, sr or photo; None for an object that is not a document."""
    if sop_class_uid in DOCUMENT_CLASSES:
        return DOCUMENT_CLASSES[sop_class_uid]
    if sop_class_uid.startswith(_SR_PREFIX) and sop_class_uid != _KEY_OBJECT_SELECTION:
        return "sr"
    if sop_class_uid == SecondaryCaptureImageStorage and modality == PHOTO_MODALITY:
        return "photo"
    return None


def _first(meta: dict[str, Any], tag: str) -> Any:
    values = meta.get(tag, {}).get("Value") or [None]
    return values[0]


def document_title(kind: str, meta: dict[str, Any]) -> str:
    """The title of a document from its DICOM JSON: Document Title, the SR's concept name,
    a photo's Image Comments or series description."""
    if kind in ("pdf", "cda") and _first(meta, "00420010"):
        return str(_first(meta, "00420010"))
    if kind == "sr":
        concept = _first(meta, "0040A043") or {}
        if _first(concept, "00080104"):
            return str(_first(concept, "00080104"))
    for tag in ("00204000", "0008103E"):
        if _first(meta, tag):
            return str(_first(meta, tag))
    return {"pdf": "PDF document", "cda": "Clinical document", "sr": "Structured report",
            "photo": "Photo"}[kind]


# --- content ------------------------------------------------------------------------------

def document_content(kind: str, fp: BinaryIO) -> tuple[str, bytes | tuple[int, int] | None]:
    """(media type, content) of a stored document read from ``fp``. For an encapsulated
    document the content is its (offset, length) in the file, so it can be streamed from
    storage; for an SR its text; for a photo kept as JPEG that JPEG, and None for a photo
    that must be rendered."""
    if kind in ("pdf", "cda"):
        media = "application/pdf" if kind == "pdf" else "text/xml"
        ds = dcmread(fp, defer_size=1024)
        declared = ds.get("EncapsulatedDocumentLength")
        raw = ds.get_item(_ENCAPSULATED_DOCUMENT, keep_deferred=True)
        if raw is None:
            raise InvalidObject("The document holds no Encapsulated Document (0042,0011)")
        deflated = ds.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        if isinstance(raw, RawDataElement) and raw.value is None and not deflated:
            length = raw.length if declared is None else min(int(declared), raw.length)
            return media, (raw.value_tell, length)
        value = bytes(ds.EncapsulatedDocument)
        return media, value if declared is None else value[:int(declared)]
    ds = dcmread(fp)
    if kind == "sr":
        return "text/plain; charset=utf-8", sr_text(ds).encode("utf-8")
    if ds.file_meta.get("TransferSyntaxUID") == JPEGBaseline8Bit and \
            int(ds.get("NumberOfFrames", 1) or 1) == 1:
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        end = frame.rfind(b"\xff\xd9")  # the fragment is padded to even length
        return "image/jpeg", frame[:end + 2] if end >= 0 else frame
    return "image/jpeg", None


def _item_value(item: Dataset) -> str:
    kind = item.get("ValueType", "")
    if kind == "TEXT":
        return str(item.get("TextValue", ""))
    if kind == "CODE" and item.get("ConceptCodeSequence"):
        return str(item.ConceptCodeSequence[0].get("CodeMeaning", ""))
    if kind == "NUM" and item.get("MeasuredValueSequence"):
        measured = item.MeasuredValueSequence[0]
        units = measured.get("MeasurementUnitsCodeSequence")
        unit = f" {units[0].get('CodeValue', '')}" if units else ""
        return f"{measured.get('NumericValue', '')}{unit}"
    if kind in ("DATE", "TIME", "DATETIME", "UIDREF", "PNAME"):
        keyword = {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime", "UIDREF": "UID",
                   "PNAME": "PersonName"}[kind]
        return str(item.get(keyword, ""))
    if kind in ("IMAGE", "COMPOSITE") and item.get("ReferencedSOPSequence"):
        return f"(object {item.ReferencedSOPSequence[0].get('ReferencedSOPInstanceUID', '')})"
    if kind in ("SCOORD", "SCOORD3D", "TCOORD", "WAVEFORM"):
        return f"({kind.lower()})"
    return ""


def _walk(items: Iterable[Dataset], depth: int, lines: list[str]) -> None:
    for item in items:
        concept = item.get("ConceptNameCodeSequence")
        name = str(concept[0].get("CodeMeaning", "")) if concept else ""
        value = _item_value(item)
        indent = "  " * depth
        if item.get("ValueType") == "CONTAINER":
            lines.append(f"{indent}{name}" if name else "")
        else:
            lines.append(f"{indent}{name}: {value}" if name else f"{indent}{value}")
        if item.get("ContentSequence"):
            _walk(item.ContentSequence, depth + 1, lines)


def sr_text(ds: Dataset) -> str:
    """A plain-text rendering of a Structured Report's content tree (PS3.3 C.17.3)."""
    concept = ds.get("ConceptNameCodeSequence")
    lines = [str(concept[0].get("CodeMeaning", "")) if concept else "Structured report",
             f"Patient: {ds.get('PatientName', '')} ({ds.get('PatientID', '')})",
             f"Date: {ds.get('ContentDate', '')} {ds.get('ContentTime', '')}".rstrip()]
    for flag in ("CompletionFlag", "VerificationFlag"):
        if ds.get(flag):
            lines.append(f"{flag.replace('Flag', '')}: {ds.get(flag)}")
    lines.append("")
    _walk(ds.get("ContentSequence", []), 0, lines)
    return "\n".join(lines).rstrip() + "\n"


# --- making documents ---------------------------------------------------------------------

def sniff(head: bytes) -> str | None:
    """What a file is from its first bytes: dicom, zip, pdf, jpeg, png or None."""
    if head[128:132] == b"DICM" or head[:4] == b"\x02\x00\x00\x00":
        return "dicom"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:5] == b"%PDF-":
        return "pdf"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def study_template(meta: dict[str, Any]) -> Dataset:
    """Patient and study attributes of a stored study, from one of its instances' DICOM
    JSON; written in UTF-8 whatever the study's character set."""
    wanted = {f"{tag_for_keyword(k):08X}" for k in _STUDY_KEYWORDS}
    ds = Dataset.from_json({t: e for t, e in meta.items() if t in wanted
                            and "Value" in e})
    for keyword in _TYPE_2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def _new_object(template: Dataset, sop_class_uid: str, transfer_syntax_uid: str, *,
                series_instance_uid: str, series_number: int, instance_number: int,
                modality: str, series_description: str, conversion_type: str) -> Dataset:
    now = dt.datetime.now()
    sop_instance_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.update(template)
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.Modality = modality
    ds.SeriesInstanceUID = UID(series_instance_uid)
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description[:64]
    ds.SeriesDate = ds.InstanceCreationDate
    ds.SeriesTime = ds.InstanceCreationTime
    ds.Manufacturer = "Hounsfield"  # General Equipment (PS3.3 C.7.5.1)
    ds.ConversionType = conversion_type  # SC Equipment (PS3.3 C.8.6.1)
    ds.InstanceNumber = instance_number
    ds.ContentDate = ds.InstanceCreationDate
    ds.ContentTime = ds.InstanceCreationTime
    return ds


def _encoded(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def pdf_object(template: Dataset, pdf: Iterable[bytes], size: int, *, title: str,
               series_instance_uid: str, series_number: int,
               instance_number: int = 1) -> tuple[str, Iterator[bytes]]:
    """(SOP Instance UID, the Part 10 bytes) of an Encapsulated PDF of ``pdf`` (chunks
    that add up to ``size`` bytes).

    The data set is written around the document, in tag order: the elements before
    Encapsulated Document (0042,0011), its value streamed from ``pdf``, then the rest."""
    ds = _new_object(template, EncapsulatedPDFStorage, ExplicitVRLittleEndian,
                     series_instance_uid=series_instance_uid, series_number=series_number,
                     instance_number=instance_number, modality="DOC",
                     series_description=title or "Documents", conversion_type="WSD")
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.BurnedInAnnotation = "YES"  # a scanned or printed page may show the patient's name
    ds.DocumentTitle = title[:1024]
    ds.ConceptNameCodeSequence = Sequence()
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = size
    head = Dataset()
    head.file_meta = ds.file_meta
    tail = Dataset()
    for element in ds:
        (head if element.tag < _ENCAPSULATED_DOCUMENT else tail).add(element)
    start = io.BytesIO()
    head.save_as(start, enforce_file_format=True)
    padded = size + size % 2
    value_header = struct.pack("<HH2sHI", 0x0042, 0x0011, b"OB", 0, padded)

    def chunks() -> Iterator[bytes]:
        yield start.getvalue() + value_header
        written = 0
        for chunk in pdf:
            written += len(chunk)
            if written > size:
                raise InvalidObject("The PDF is longer than its announced size")
            yield chunk
        if written != size:
            raise InvalidObject("The PDF ended before its announced size")
        yield (b"\0" if size % 2 else b"") + _encoded(tail)

    return str(ds.SOPInstanceUID), chunks()


def _first_frame_marker(data: bytes) -> int | None:
    """The SOFn marker of a JPEG stream (0xC0 is baseline, PS3.5 10.2 process 1)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None


def photo_object(template: Dataset, data: bytes, *, title: str, series_instance_uid: str,
                 series_number: int, instance_number: int = 1) -> tuple[str, bytes]:
    """(SOP Instance UID, Part 10 bytes) of a Secondary Capture of a JPEG or PNG photo."""
    Image.MAX_IMAGE_PIXELS = None  # our own limit below gives the clearer answer
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise InvalidObject(f"The photo cannot be read: {exc}") from None
    if image.width * image.height > MAX_PHOTO_PIXELS:
        raise InvalidObject(f"The photo has {image.width}x{image.height} pixels; at most "
                            f"{MAX_PHOTO_PIXELS} are kept")
    was_jpeg = image.format == "JPEG"
    orientation = image.getexif().get(0x0112, 1)
    keep_jpeg = (was_jpeg and image.mode in ("L", "RGB") and orientation == 1
                 and image.info.get("adobe_transform") != 0
                 and _first_frame_marker(data) == 0xC0)
    ds = _new_object(template, SecondaryCaptureImageStorage,
                     JPEGBaseline8Bit if keep_jpeg else ExplicitVRLittleEndian,
                     series_instance_uid=series_instance_uid, series_number=series_number,
                     instance_number=instance_number, modality=PHOTO_MODALITY,
                     series_description=title or "Photos", conversion_type="DI")
    ds.Laterality = ""  # unknown: a photo may show a paired body part (PS3.3 C.7.3.1)
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if title:
        ds.ImageComments = title[:10240]
    if not keep_jpeg:
        image = ImageOps.exif_transpose(image)
        image = image.convert("L" if image.mode in ("1", "L", "LA", "I", "I;16") else "RGB")
    ds.SamplesPerPixel = 1 if image.mode == "L" else 3
    if keep_jpeg:
        sampling = JpegImagePlugin.get_sampling(image)
        ds.PhotometricInterpretation = ("MONOCHROME2" if image.mode == "L" else
                                        "YBR_FULL" if sampling == 0 else "YBR_FULL_422")
    else:
        ds.PhotometricInterpretation = "MONOCHROME2" if image.mode == "L" else "RGB"
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = image.height, image.width
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if was_jpeg:
        # The photo was JPEG-compressed before it came here (PS3.3 C.7.6.1.1.5).
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        ds.LossyImageCompression = "00"
    if keep_jpeg:
        ds.PixelData = encapsulate([data])
        ds["PixelData"].VR = "OB"
    else:
        pixels = image.tobytes()
        ds.PixelData = pixels + (b"\0" if len(pixels) % 2 else b"")
        ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return str(ds.SOPInstanceUID), buffer.getvalue()
