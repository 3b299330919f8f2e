"""Upload from the browser: DICOM files, zips of them, PDFs and photos, in one
``multipart/form-data`` request.

The form is parsed as it arrives, each file spooled to a temporary file (never the whole
body in memory); zips are read member by member. Every object goes through the archive's
one way in (DESIGN rule 1): small ones gathered into batches kept with one group commit
(``ingest_batch``, as STOW-RS does), large ones streamed (``ingest_stream``). PDFs and
photos become DICOM objects of the study named by ``study_instance_uid``
(``archive/documents.py``). A file that cannot be kept is listed with the reason and
stores nothing.
"""

from __future__ import annotations

import itertools
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, Iterable, Iterator

from fastapi import APIRouter, Request
from pydicom.uid import generate_uid
from starlette.datastructures import UploadFile

from hounsfield.archive import ArchiveCore, IngestResult, Origin
from hounsfield.archive.access import Scope, current_scope
from hounsfield.archive.documents import pdf_object, photo_object, sniff, study_template
from hounsfield.archive.ingest import SPOOL_LIMIT
from hounsfield.dicomweb.accept import parse_media_type
from hounsfield.dicomweb.stow import BATCH_BYTES, BATCH_PARTS
from hounsfield.errors import HounsfieldError, InvalidRequest
from hounsfield.web.auth_api import _run, _state
from hounsfield.web.security import client_address
from hounsfield.web.study_api import require_study

router = APIRouter()

NEEDS_STUDY = ("A document needs a study to attach to: open the study and upload there.")
MAX_FILES = 10_000
MAX_PHOTO_BYTES = 64 << 20
_HEAD = 132  # enough to recognise a Part 10 preamble and "DICM"
_CHUNK = 1 << 20


@dataclass
class _Study:
    """The study documents are attached to, and the series they get."""

    template: Any
    title: str
    next_series_number: int
    series: dict[str, tuple[str, int]] = field(default_factory=dict)  # kind -> (uid, number)
    counts: dict[str, int] = field(default_factory=dict)

    def place(self, kind: str) -> tuple[str, int, int]:
        """(series UID, series number, instance number) of the next document of a kind."""
        if kind not in self.series:
            self.series[kind] = (str(generate_uid()), self.next_series_number)
            self.next_series_number += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        uid, number = self.series[kind]
        return uid, number, self.counts[kind]


class Upload:
    """One upload: files in, ``{stored, rejected}`` out, in the order the files came."""

    def __init__(self, core: ArchiveCore, origin: Origin, study: _Study | None) -> None:
        self.core = core
        self.origin = origin
        self.study = study
        # (position of the file, answer); batches are kept after later large files.
        self.stored: list[tuple[int, dict[str, Any]]] = []
        self.rejected: list[tuple[int, dict[str, str]]] = []
        self.position = 0
        self.batch: list[tuple[int, str, str, bytes]] = []  # (position, name, kind, bytes)
        self.batch_bytes = 0

    def answer(self) -> dict[str, Any]:
        self.flush()
        return {"stored": [item for _, item in sorted(self.stored, key=lambda x: x[0])],
                "rejected": [item for _, item in sorted(self.rejected, key=lambda x: x[0])]}

    # --- what each file is ---------------------------------------------------------------
    def add_file(self, name: str, fp: BinaryIO, size: int) -> None:
        self.position += 1
        head = fp.read(_HEAD)
        kind = sniff(head)
        if kind == "zip":
            fp.seek(0)
            self._zip(name, fp)
            return
        self._add(name, kind, itertools.chain([head], iter(partial(fp.read, _CHUNK), b"")),
                  size)

    def _zip(self, name: str, fp: BinaryIO) -> None:
        try:
            archive = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, OSError) as exc:
            self.reject(name, f"Not a readable zip file: {exc}")
            return
        with archive:
            for info in archive.infolist():
                inner = info.filename
                if info.is_dir() or inner.startswith("__MACOSX/") or \
                        inner.rsplit("/", 1)[-1].startswith("."):
                    continue  # folders and the desktop's own metadata files
                member_name = f"{name}/{inner}"
                self.position += 1
                if inner.rsplit("/", 1)[-1].upper() == "DICOMDIR":
                    self.reject(member_name, "A DICOMDIR is the index of a medium, not an "
                                             "object: the files it lists are stored instead.")
                    continue
                try:
                    with archive.open(info) as member:
                        head = member.read(_HEAD)
                        kind = sniff(head)
                        if kind == "zip":
                            self.reject(member_name, "A zip inside a zip is not opened: "
                                                     "upload it on its own.")
                            continue
                        chunks = itertools.chain([head], iter(partial(member.read, _CHUNK), b""))
                        self._add(member_name, kind, chunks, info.file_size)
                except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError,
                        NotImplementedError) as exc:
                    # Damaged, encrypted or compressed with a method we cannot read.
                    self.reject(member_name, f"Cannot read this zip member: {exc}")

    def _add(self, name: str, kind: str | None, chunks: Iterator[bytes], size: int) -> None:
        try:
            if kind == "dicom":
                self._dicom(name, "dicom", chunks, size)
            elif kind == "pdf":
                self._pdf(name, chunks, size)
            elif kind in ("jpeg", "png"):
                self._photo(name, chunks, size)
            else:
                self.reject(name, "Not a DICOM file, a zip, a PDF, a JPEG or a PNG photo.")
        except HounsfieldError as exc:
            self.reject(name, exc.message)

    # --- keeping --------------------------------------------------------------------------
    def _dicom(self, name: str, kind: str, chunks: Iterable[bytes], size: int) -> None:
        if size <= SPOOL_LIMIT:
            data = b"".join(chunks)
            self.batch.append((self.position, name, kind, data))
            self.batch_bytes += len(data)
            if len(self.batch) >= BATCH_PARTS or self.batch_bytes >= BATCH_BYTES:
                self.flush()
        else:
            self.record(self.position, name, kind,
                        self.core.ingest_stream(chunks, self.origin))

    def _pdf(self, name: str, chunks: Iterator[bytes], size: int) -> None:
        if self.study is None:
            self.reject(name, NEEDS_STUDY)
            return
        series_uid, series_number, number = self.study.place("pdf")
        _, wrapped = pdf_object(self.study.template, chunks, size,
                                title=self.study.title or _stem(name),
                                series_instance_uid=series_uid, series_number=series_number,
                                instance_number=number)
        # The object is the PDF plus a header of a few kilobytes.
        self._dicom(name, "pdf", wrapped, size + 4096)

    def _photo(self, name: str, chunks: Iterator[bytes], size: int) -> None:
        if self.study is None:
            self.reject(name, NEEDS_STUDY)
            return
        if size > MAX_PHOTO_BYTES:
            self.reject(name, f"The photo has {size} bytes; at most {MAX_PHOTO_BYTES} are "
                              "taken.")
            return
        series_uid, series_number, number = self.study.place("photo")
        _, data = photo_object(self.study.template, b"".join(chunks),
                               title=self.study.title or _stem(name),
                               series_instance_uid=series_uid, series_number=series_number,
                               instance_number=number)
        self._dicom(name, "photo", [data], len(data))

    def flush(self) -> None:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        if batch:
            results = self.core.ingestor.ingest_batch([data for *_, data in batch],
                                                      self.origin)
            for (position, name, kind, _), result in zip(batch, results):
                self.record(position, name, kind, result)

    def record(self, position: int, name: str, kind: str, result: IngestResult) -> None:
        if result.ok:
            self.stored.append((position, {
                "name": name, "sop_instance_uid": result.sop_instance_uid,
                "study_instance_uid": result.study_instance_uid, "kind": kind}))
        else:
            self.reject(name, result.reason or "The object could not be stored.", position)

    def reject(self, name: str, reason: str, position: int | None = None) -> None:
        self.rejected.append((self.position if position is None else position,
                              {"name": name, "reason": reason}))


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _attach_to(core: ArchiveCore, scope: Scope | None, study_instance_uid: str,
               title: str) -> _Study:
    study = require_study(core.db, scope, study_instance_uid)
    refs = core.instances(study_instance_uid, scope=scope)
    template = study_template(core.instance_metadata(refs[0]))
    return _Study(template, title, int(study.num_series) + 1)


def _text_field(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f'Form field "{name}" must be text, not a file.')
    if len(value) > limit or "\x00" in value:
        raise InvalidRequest(f'Form field "{name}" must be at most {limit} characters '
                             "without NUL.")
    return value.strip()


@router.post("/api/upload", tags=["studies"])
async def upload(request: Request) -> dict[str, Any]:
    """Store DICOM files, zips of them, PDFs and photos (form field ``files``, repeated);
    PDFs and photos join the study ``study_instance_uid`` under ``title``."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != "multipart/form-data":
        raise HounsfieldError(f"Upload takes multipart/form-data, not "
                              f"{media_type or 'a body without Content-Type'!r}",
                              http_status=415)
    core: ArchiveCore = _state(request).archive.core
    principal = request.scope.get("user")
    origin = Origin("upload", remote_address=client_address(request.scope),
                    user=getattr(principal, "username", None))
    async with request.form(max_files=MAX_FILES, max_fields=20) as form:
        study_uid = _text_field(form, "study_instance_uid", 64)
        title = _text_field(form, "title", 64)
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise InvalidRequest('The form holds no file in the field "files".')
        study = await _run(request, _attach_to, core, current_scope.get(), study_uid, title) \
            if study_uid else None
        run = Upload(core, origin, study)

        def keep_all() -> dict[str, Any]:
            for index, item in enumerate(files):
                name = item.filename or f"file {index + 1}"
                item.file.seek(0, 2)
                size = item.file.tell()
                item.file.seek(0)
                run.add_file(name, item.file, size)
            return run.answer()

        return await _run(request, keep_all)  # type: ignore[no-any-return]


__all__ = ["NEEDS_STUDY", "Upload", "router"]
