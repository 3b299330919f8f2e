"""Export: studies as a zip holding a DICOM File-set (PS3.10 8, with its DICOMDIR,
PS3.3 F.2) in the original form or de-identified (PS3.15 Annex E), and the
``hounsfield anonymize`` folder-to-folder de-identification.

Both are blocking: the HTTP app runs them in the archive's worker threads.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.fileset import (  # type: ignore[attr-defined]
    DIRECTORY_RECORDERS, FileSet, RecordNode, _four_level_record_type,
)

from hounsfield.archive import ArchiveCore, InstanceRef
from hounsfield.auth.deidentify import Deidentifier, DeidentifyOptions, deidentify_file
from hounsfield.config import Settings
from hounsfield.errors import NotFound

__all__ = ["AnonymizeReport", "anonymize_tree", "new_deidentifier", "write_export"]


def new_deidentifier(settings: Settings) -> Deidentifier:
    """A de-identifier for one export: the ``deidentify.*`` options and a fresh salt, so
    two exports of the same study cannot be linked."""
    return Deidentifier(DeidentifyOptions.from_settings(settings), salt=secrets.token_bytes(32))


def write_export(core: ArchiveCore, refs: Iterable[InstanceRef], out_zip: Path, *,
                 deidentifier: Deidentifier | None = None) -> int:
    """Write the instances as a zip of a File-set with a DICOMDIR; returns how many.
    ``BurnedInAnnotation`` (HTTP 403) stops a de-identified export that would leak text
    burned into the pixels."""
    refs = list(refs)
    if not refs:
        raise NotFound("Nothing to export")
    tmp_root = core.settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="export-") as tmp:
        staged = Path(tmp) / "staged"
        staged.mkdir()
        file_set = FileSet()
        for number, ref in enumerate(refs):
            path = staged / f"{number:08d}.dcm"
            if deidentifier is None:
                with open(path, "wb") as fh:
                    for chunk in core.read_instance(ref):
                        fh.write(chunk)
            else:
                data = b"".join(core.read_instance(ref))
                path.write_bytes(deidentify_file(data, deidentifier))
            _add(file_set, path)
        root = Path(tmp) / "fileset"
        file_set.write(str(root))
        with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for folder, _, files in os.walk(root):
                for name in sorted(files):
                    full = Path(folder) / name
                    archive.write(full, full.relative_to(root).as_posix())
    return len(refs)


# Values used in the directory records (not in the files) when an instance lacks a
# Type 1 attribute of its record (PS3.3 F.5): de-identified objects have empty dates.
_RECORD_DEFAULTS = {"PatientID": "UNKNOWN", "StudyDate": "19000101", "StudyTime": "000000",
                    "StudyID": "0", "Modality": "OT", "SeriesNumber": 0, "InstanceNumber": 0}


def _add(file_set: FileSet, path: Path) -> None:
    """Stage one file with PATIENT/STUDY/SERIES/leaf records (PS3.3 F.4) made from its
    header, with neutral values where a record needs one the file does not have."""
    header = dcmread(str(path), stop_before_pixels=True)
    for keyword, value in _RECORD_DEFAULTS.items():
        if keyword not in header or header[keyword].value in (None, ""):
            setattr(header, keyword, value)
    parent: RecordNode | None = None
    leaf_type = _four_level_record_type(header)
    for record_type in ("PATIENT", "STUDY", "SERIES", leaf_type):
        record = DIRECTORY_RECORDERS[record_type](header)
        record.DirectoryRecordType = record_type
        if record_type == leaf_type:
            record.ReferencedSOPClassUIDInFile = header.SOPClassUID
            record.ReferencedSOPInstanceUIDInFile = header.SOPInstanceUID
            record.ReferencedTransferSyntaxUIDInFile = header.file_meta.TransferSyntaxUID
        node = RecordNode(record)
        if parent is not None:
            node.parent = parent
        parent = node
    assert parent is not None
    file_set.add_custom(str(path), parent)


class AnonymizeReport:
    def __init__(self) -> None:
        self.written: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []


def anonymize_tree(source: Path, target: Path, deidentifier: Deidentifier) -> AnonymizeReport:
    """De-identify a file, or every DICOM file under a folder, into ``target`` (a folder;
    the relative layout is kept). Files that are not DICOM or are refused are listed as
    skipped with the reason."""
    report = AnonymizeReport()
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        relative = Path(path.name) if source.is_file() else path.relative_to(source)
        out = target / relative
        try:
            dcmread(str(path), stop_before_pixels=True)
            data = deidentify_file(path, deidentifier)
        except (InvalidDicomError, ValueError, OSError) as exc:
            report.skipped.append((path, str(exc)))
            continue
        except Exception as exc:  # BurnedInAnnotation and other refusals: say why
            report.skipped.append((path, str(exc)))
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        report.written.append(out)
    return report
