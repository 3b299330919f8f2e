"""Reading and checking the header of an incoming DICOM Part 10 object.

Strict about what the archive needs to keep an object (UIDs, structure, lengths), tolerant
about the rest (DESIGN rule 8): odd character sets and minor VR errors are accepted and
logged, never repaired in the stored bytes.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from hounsfield.archive import dicomjson
from hounsfield.errors import DataSetMismatch, InvalidObject

log = logging.getLogger(__name__)

UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PIXEL_TAGS = {0x7FE00010: "7FE00010", 0x7FE00008: "7FE00008", 0x7FE00009: "7FE00009"}
BIG_ENDIAN = "1.2.840.10008.1.2.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}

# Tags held in index columns; kept out of the searchable JSON so it stays small.
COLUMN_TAGS = frozenset({
    "00080016", "00080018", "00080020", "00080030", "00080050", "00080060", "00080080",
    "00080090", "00081010", "00081030", "0008103E", "00080021", "00080031", "00080023",
    "00080033", "00100010", "00100020", "00100021", "00100030", "00100040", "0020000D",
    "0020000E", "00200010", "00200011", "00200013", "00280008", "00280010", "00280011",
    "00280100", "00180015", "00400244", "00400245", "00080201", "00080005",
})


@dataclass
class ParsedInstance:
    """Everything the index needs from one object's header."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    patient: dict[str, Any]
    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any]
    metadata: dict[str, Any]
    attributes: dict[str, Any]
    pixel_data_offset: int = -1
    pixel_data_length: int = -1
    source_ae_title: str = ""
    warnings: list[str] = field(default_factory=list)


def _text(ds: Dataset, keyword: str, limit: int = 0) -> str:
    try:
        value = ds.get(keyword)
    except Exception as exc:  # a malformed value must not stop ingest (rule 8)
        log.warning("Unreadable %s: %s", keyword, exc)
        return ""
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().replace("\x00", "")
    return text[:limit] if limit else text


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            value = value[0]
        return int(value)
    except Exception:
        return None


def person_name_search(name: str) -> str:
    """The matching form of a PN: its alphabetic group, upper-cased."""
    return name.split("=", 1)[0].upper()


def check_uid(value: str, keyword: str) -> str:
    if not value:
        raise InvalidObject(f"{keyword} is missing")
    if len(value) > 64 or not UID_RE.match(value):
        raise InvalidObject(f"{keyword} {value[:80]!r} is not a valid UID")
    return value


def _pixel_element(fp: BinaryIO, start: int, total: int, transfer_syntax: str,
                   max_element: int) -> tuple[str, str, int, int] | None:
    """The Pixel Data element after the header: (tag, VR, value offset, value length; -1 if
    undefined). Checks that the value fits in the file."""
    fp.seek(start)
    head = fp.read(12)
    if len(head) < 8:
        return None
    little = transfer_syntax != BIG_ENDIAN
    end = "<" if little else ">"
    group, elem = struct.unpack(end + "HH", head[:4])
    tag = (group << 16) | elem
    if tag not in PIXEL_TAGS:
        if tag == 0xFFFCFFFC:  # Data Set Trailing Padding
            return None
        raise InvalidObject(f"Unexpected element ({group:04X},{elem:04X}) after the header")
    if transfer_syntax == IMPLICIT_LE:
        (length,) = struct.unpack("<I", head[4:8])
        vr = "OW" if tag == 0x7FE00010 else ("OF" if tag == 0x7FE00008 else "OD")
        offset = start + 8
    else:
        vr_bytes = head[4:6]
        if len(head) < 12 and vr_bytes in LONG_VRS:
            raise InvalidObject("File is truncated inside the Pixel Data element header")
        vr = vr_bytes.decode("ascii", "replace")
        if vr_bytes in LONG_VRS:
            (length,) = struct.unpack(end + "I", head[8:12])
            offset = start + 12
        else:
            (length,) = struct.unpack(end + "H", head[6:8])
            offset = start + 8
    if length == 0xFFFFFFFF:
        # Encapsulated: the last item must be the Sequence Delimitation Item (PS3.5 A.4).
        fp.seek(max(total - 8, offset))
        tail = fp.read(8)
        if tail[:4] != b"\xfe\xff\xdd\xe0":
            raise InvalidObject("File is truncated: encapsulated Pixel Data has no "
                                "sequence delimiter")
        return PIXEL_TAGS[tag], vr, offset, -1
    if length > max_element:
        raise InvalidObject(f"Pixel Data length {length} is larger than allowed ({max_element})")
    if offset + length > total:
        raise InvalidObject(f"File is truncated: Pixel Data declares {length} bytes, "
                            f"{max(total - offset, 0)} present")
    return PIXEL_TAGS[tag], vr, offset, length


def parse_header(fp: BinaryIO, total: int, *, max_header: int, max_element: int) -> ParsedInstance:
    """Parse and check a Part 10 object read from ``fp`` (``total`` bytes long)."""
    fp.seek(0)
    prefix = fp.read(132)
    if len(prefix) < 132 or prefix[128:132] != b"DICM":
        raise InvalidObject("Not a DICOM Part 10 file (no 'DICM' prefix)")
    fp.seek(0)
    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=True)
    except (InvalidDicomError, EOFError) as exc:
        raise InvalidObject(f"Not a readable DICOM file: {exc}") from None
    except Exception as exc:
        raise InvalidObject(f"Unreadable DICOM header: {exc}") from None
    header_end = fp.tell()
    if header_end > max_header:
        raise InvalidObject(f"DICOM header is {header_end} bytes, more than allowed ({max_header})")

    meta = ds.file_meta
    ts = str(meta.get("TransferSyntaxUID", "") or "")
    check_uid(ts, "TransferSyntaxUID")
    sop_class = check_uid(_text(ds, "SOPClassUID"), "SOPClassUID")
    sop = check_uid(_text(ds, "SOPInstanceUID"), "SOPInstanceUID")
    study_uid = check_uid(_text(ds, "StudyInstanceUID"), "StudyInstanceUID")
    series_uid = check_uid(_text(ds, "SeriesInstanceUID"), "SeriesInstanceUID")
    meta_sop = str(meta.get("MediaStorageSOPInstanceUID", "") or "")
    if meta_sop and meta_sop != sop:
        raise DataSetMismatch(f"MediaStorageSOPInstanceUID {meta_sop} differs from "
                              f"SOPInstanceUID {sop}")
    meta_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
    if meta_class and meta_class != sop_class:
        raise DataSetMismatch(f"MediaStorageSOPClassUID {meta_class} differs from "
                              f"SOPClassUID {sop_class}")

    pixel = _pixel_element(fp, header_end, total, ts, max_element) if header_end < total else None

    warnings: list[str] = []
    if not UID(sop).is_valid:
        warnings.append(f"SOPInstanceUID {sop} has components with leading zeros")
    try:
        metadata = dicomjson.to_dicom_json(
            ds, study=study_uid, series=series_uid, sop=sop, transfer_syntax_uid=ts,
            pixel_data=(pixel[0], pixel[1]) if pixel else None)
    except Exception as exc:
        raise InvalidObject(f"DICOM header cannot be represented as DICOM JSON: {exc}") from None

    patient_name = _text(ds, "PatientName", 324)
    referring = _text(ds, "ReferringPhysicianName", 324)
    patient = {
        "patient_id": _text(ds, "PatientID", 64),
        "issuer_of_patient_id": _text(ds, "IssuerOfPatientID", 64),
        "patient_name": patient_name,
        "patient_name_search": person_name_search(patient_name),
        "patient_birth_date": _text(ds, "PatientBirthDate", 8),
        "patient_sex": _text(ds, "PatientSex", 16),
    }
    charset = _text(ds, "SpecificCharacterSet", 128)
    study = {
        "study_instance_uid": study_uid,
        "study_date": _text(ds, "StudyDate", 8),
        "study_time": _text(ds, "StudyTime", 16),
        "accession_number": _text(ds, "AccessionNumber", 16),
        "study_id": _text(ds, "StudyID", 16),
        "study_description": _text(ds, "StudyDescription", 64),
        "referring_physician_name": referring,
        "referring_physician_name_search": person_name_search(referring),
        "institution_name": _text(ds, "InstitutionName", 64),
        "timezone_offset_from_utc": _text(ds, "TimezoneOffsetFromUTC", 16),
        "specific_character_set": charset,
    }
    series = {
        "series_instance_uid": series_uid,
        "modality": _text(ds, "Modality", 16),
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _text(ds, "SeriesDescription", 64),
        "series_date": _text(ds, "SeriesDate", 8),
        "series_time": _text(ds, "SeriesTime", 16),
        "body_part_examined": _text(ds, "BodyPartExamined", 16),
        "station_name": _text(ds, "StationName", 16),
        "institution_name": _text(ds, "InstitutionName", 64),
        "performed_procedure_step_start_date": _text(ds, "PerformedProcedureStepStartDate", 8),
        "performed_procedure_step_start_time": _text(ds, "PerformedProcedureStepStartTime", 16),
    }
    instance = {
        "sop_instance_uid": sop,
        "sop_class_uid": sop_class,
        "instance_number": _int(ds, "InstanceNumber"),
        "transfer_syntax_uid": ts,
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "bits_allocated": _int(ds, "BitsAllocated"),
        "number_of_frames": _int(ds, "NumberOfFrames"),
        "content_date": _text(ds, "ContentDate", 8),
        "content_time": _text(ds, "ContentTime", 16),
    }
    return ParsedInstance(
        sop_class_uid=sop_class, sop_instance_uid=sop, study_instance_uid=study_uid,
        series_instance_uid=series_uid, transfer_syntax_uid=ts, patient=patient, study=study,
        series=series, instance=instance, metadata=metadata,
        attributes=dicomjson.searchable(metadata, COLUMN_TAGS),
        pixel_data_offset=pixel[2] if pixel else -1,
        pixel_data_length=pixel[3] if pixel else -1,
        source_ae_title=str(meta.get("SourceApplicationEntityTitle", "") or "").strip(),
        warnings=warnings,
    )
