"""DICOM Part 10 file framing (PS3.10 §7.1): preamble, 'DICM' prefix, File Meta Information.

A data set received over DIMSE carries no file meta; the archive keeps complete Part 10
files, so the network layer writes this header first and then the data set bytes exactly
as they arrived.
"""

from __future__ import annotations

import io

from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info

from hounsfield import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

PREAMBLE = b"\x00" * 128 + b"DICM"


def part10_header(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str,
                  source_ae_title: str | None = None) -> bytes:
    """Preamble, prefix and File Meta Information group for one data set."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax_uid
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_ae_title:
        meta.SourceApplicationEntityTitle = source_ae_title.strip()[:16]
    buf = io.BytesIO()
    buf.write(PREAMBLE)
    write_file_meta_info(buf, meta, enforce_standard=True)  # type: ignore[arg-type]
    return buf.getvalue()
