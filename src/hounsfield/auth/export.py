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
from pydicom.fileset import FileSet

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
            file_set.add(str(path))
        root = Path(tmp) / "fileset"
        file_set.write(str(root))
        with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for folder, _, files in os.walk(root):
                for name in sorted(files):
                    full = Path(folder) / name
                    archive.write(full, full.relative_to(root).as_posix())
    return len(refs)


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
