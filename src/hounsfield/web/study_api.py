"""The study API of the web application: annotations and comments on a study, its
documents (PDF, CDA, Structured Reports, photos) and a patient's timeline.

Access is decided by the middleware (``web/security.py``) from the route table; every
handler here also looks the study up within the caller's scope (``current_scope``), so a
study the caller may not see answers 404 exactly like one that is not stored.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, JsonValue
from sqlalchemy import Connection, select

from hounsfield import collab
from hounsfield.archive import documents
from hounsfield.archive.access import Scope, current_scope
from hounsfield.archive.dicomjson import load
from hounsfield.dicomweb.service import check_uid
from hounsfield.dicomweb.wado import source_of
from hounsfield.imaging.render import render
from hounsfield.errors import NotFound
from hounsfield.index.schema import UID, instances, series, studies
from hounsfield.web.auth_api import Body, RowId, _db, _principal, _run, _state

router = APIRouter()
StudyUID = Annotated[str, PathParam(max_length=UID)]


# --- visibility ---------------------------------------------------------------------------

def visible_studies(conn: Connection, scope: Scope | None, *conditions: Any) -> list[Any]:
    """Rows of the studies matching ``conditions`` that ``scope`` lets the caller see."""
    stmt = select(studies).where(*conditions)
    if scope is not None:
        stmt = stmt.where(scope.condition())
    return list(conn.execute(stmt))


def require_study(db: Any, scope: Scope | None, study_instance_uid: str) -> Any:
    """The study's row; NotFound when it is not stored or not visible (the same answer)."""
    check_uid(study_instance_uid, "study")
    with db.read() as conn:
        rows = visible_studies(conn, scope, studies.c.study_instance_uid == study_instance_uid)
    if not rows:
        raise NotFound(f"Study {study_instance_uid} is not stored")
    return rows[0]


async def _study(request: Request, study_instance_uid: str) -> Any:
    return await _run(request, require_study, _db(request), current_scope.get(),
                      study_instance_uid)


def _is_admin(request: Request) -> bool:
    return "admin" in _principal(request).roles


# --- annotations --------------------------------------------------------------------------

class AnnotationBody(Body):
    series_instance_uid: str = Field(min_length=1, max_length=UID)
    sop_instance_uid: str = Field(min_length=1, max_length=UID)
    frame: int | None = Field(default=None, ge=0, le=1_000_000)
    tool: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=256)
    data: dict[str, JsonValue]


@router.get("/api/studies/{study_uid}/annotations", tags=["studies"])
async def list_annotations(study_uid: StudyUID, request: Request) -> list[dict[str, Any]]:
    """Annotations (measurements) saved on the study, by anyone who may see it."""
    await _study(request, study_uid)
    return await _run(request, collab.list_annotations, _db(request), study_uid)  # type: ignore[no-any-return]


@router.post("/api/studies/{study_uid}/annotations", tags=["studies"], status_code=201)
async def add_annotation(study_uid: StudyUID, body: AnnotationBody,
                         request: Request) -> dict[str, Any]:
    author = _principal(request).username
    await _study(request, study_uid)
    return await _run(request, collab.add_annotation, _db(request), study_uid,  # type: ignore[no-any-return]
                      body.model_dump(), author)


@router.put("/api/studies/{study_uid}/annotations/{annotation_id}", tags=["studies"])
async def change_annotation(study_uid: StudyUID, annotation_id: RowId, body: AnnotationBody,
                            request: Request) -> dict[str, Any]:
    """Replace an annotation: its author or an administrator."""
    principal = _principal(request)
    await _study(request, study_uid)
    return await _run(request, collab.update_annotation, _db(request), study_uid,  # type: ignore[no-any-return]
                      annotation_id, body.model_dump(), principal.username, _is_admin(request))


@router.delete("/api/studies/{study_uid}/annotations/{annotation_id}", tags=["studies"])
async def remove_annotation(study_uid: StudyUID, annotation_id: RowId,
                            request: Request) -> dict[str, Any]:
    principal = _principal(request)
    await _study(request, study_uid)
    await _run(request, collab.delete_annotation, _db(request), study_uid, annotation_id,
               principal.username, _is_admin(request))
    return {"deleted": annotation_id}


# --- comments -----------------------------------------------------------------------------

class CommentBody(Body):
    text: str = Field(min_length=1, max_length=collab.MAX_COMMENT_CHARS)


@router.get("/api/studies/{study_uid}/comments", tags=["studies"])
async def list_comments(study_uid: StudyUID, request: Request) -> list[dict[str, Any]]:
    """Comments on the study, oldest first."""
    await _study(request, study_uid)
    return await _run(request, collab.list_comments, _db(request), study_uid)  # type: ignore[no-any-return]


@router.post("/api/studies/{study_uid}/comments", tags=["studies"], status_code=201)
async def add_comment(study_uid: StudyUID, body: CommentBody,
                      request: Request) -> dict[str, Any]:
    author = _principal(request).username
    await _study(request, study_uid)
    return await _run(request, collab.add_comment, _db(request), study_uid,  # type: ignore[no-any-return]
                      body.text, author)


@router.delete("/api/studies/{study_uid}/comments/{comment_id}", tags=["studies"])
async def remove_comment(study_uid: StudyUID, comment_id: RowId,
                         request: Request) -> dict[str, Any]:
    principal = _principal(request)
    await _study(request, study_uid)
    await _run(request, collab.delete_comment, _db(request), study_uid, comment_id,
               principal.username, _is_admin(request))
    return {"deleted": comment_id}


# --- documents ----------------------------------------------------------------------------

_DOCUMENT_COLUMNS = (studies.c.study_instance_uid, series.c.series_instance_uid,
                     instances.c.sop_instance_uid, instances.c.sop_class_uid, series.c.modality,
                     instances.c.content_date, studies.c.study_date, instances.c.metadata,
                     instances.c.id)


def study_documents(conn: Connection, study_pks: list[int]) -> dict[str, list[documents.Document]]:
    """The documents of the studies (by primary key), oldest first, per Study Instance UID."""
    out: dict[str, list[documents.Document]] = {}
    if not study_pks:
        return out
    candidates = (instances.c.sop_class_uid.in_(sorted(documents.DOCUMENT_CLASSES))
                  | instances.c.sop_class_uid.like("1.2.840.10008.5.1.4.1.1.88.%")
                  | (series.c.modality == documents.PHOTO_MODALITY))
    rows = conn.execute(
        select(*_DOCUMENT_COLUMNS).join(series, series.c.id == instances.c.series_pk)
        .join(studies, studies.c.id == series.c.study_pk)
        .where(studies.c.id.in_(study_pks), candidates)
        .order_by(instances.c.content_date, instances.c.id))
    for row in rows:
        kind = documents.document_kind(row.sop_class_uid, row.modality)
        if kind is None:
            continue
        title = documents.document_title(kind, load(row.metadata))
        out.setdefault(row.study_instance_uid, []).append(documents.Document(
            row.study_instance_uid, row.series_instance_uid, row.sop_instance_uid,
            row.sop_class_uid, kind, title, row.content_date or row.study_date))
    return out


def _documents_of(db: Any, study_pk: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        found = study_documents(conn, [study_pk])
    return [d.to_json() for docs in found.values() for d in docs]


@router.get("/api/studies/{study_uid}/documents", tags=["studies"])
async def list_documents(study_uid: StudyUID, request: Request) -> list[dict[str, Any]]:
    """Encapsulated PDF and CDA documents, Structured Reports and photos of the study."""
    study = await _study(request, study_uid)
    return await _run(request, _documents_of, _db(request), study.id)  # type: ignore[no-any-return]


@router.get("/api/studies/{study_uid}/documents/{sop_uid}/content", tags=["studies"])
async def document_content(study_uid: StudyUID, request: Request,
                           sop_uid: Annotated[str, PathParam(max_length=UID)]) -> Response:
    """The document as a browser shows it: the PDF, the CDA XML, an SR as plain text, a
    photo as JPEG."""
    archive = _state(request).archive
    await _study(request, study_uid)
    check_uid(sop_uid, "sop_uid")
    refs = await archive.instances(study_uid, sop_instance_uid=sop_uid)
    if not refs:
        raise NotFound(f"Document {sop_uid} is not stored in study {study_uid}")
    ref = refs[0]
    with_series = await _run(request, _modality, _db(request), ref.series_instance_uid)
    kind = documents.document_kind(ref.sop_class_uid, with_series)
    if kind is None:
        raise NotFound(f"Instance {sop_uid} is not a document")
    store = archive.core.store

    def read() -> tuple[str, bytes | tuple[int, int] | None]:
        path = store.local_path(ref.blob_key)
        if path is not None:
            with open(path, "rb") as fp:
                return documents.document_content(kind, fp)
        return documents.document_content(kind, io.BytesIO(store.read_bytes(ref.blob_key)))

    media, content = await _run(request, read)
    if content is None:  # a photo kept uncompressed: rendered out of process (rule 4)
        web = _state(request).dicomweb
        content = await web.pool.run(render, await source_of(web, ref), 0,
                                     media_type="image/jpeg")
    headers = {"Cache-Control": "private, no-cache"}
    if kind == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{sop_uid}.pdf"'
    if isinstance(content, bytes):
        return Response(content, media_type=media, headers=headers)
    offset, length = content
    chunks = store.read_range(ref.blob_key, offset, offset + length)
    headers["Content-Length"] = str(length)

    async def stream() -> Any:
        sentinel = object()
        while (chunk := await _run(request, next, chunks, sentinel)) is not sentinel:
            yield chunk

    return StreamingResponse(stream(), media_type=media, headers=headers)


def _modality(db: Any, series_instance_uid: str) -> str:
    with db.read() as conn:
        return str(conn.execute(select(series.c.modality).where(
            series.c.series_instance_uid == series_instance_uid)).scalar_one())


# --- timeline -----------------------------------------------------------------------------

def timeline(db: Any, scope: Scope | None, patient_id: str) -> dict[str, Any]:
    """The studies of a patient the caller may see, newest first, with their documents,
    comment and annotation counts and a series to show as thumbnail."""
    with db.read() as conn:
        rows = visible_studies(conn, scope, studies.c.patient_id == patient_id)
        if not rows:
            raise NotFound(f"No study of Patient ID {patient_id!r} is stored")
        rows.sort(key=lambda r: (r.study_date, r.study_time, r.id), reverse=True)
        pks = [r.id for r in rows]
        docs = study_documents(conn, pks)
        counts = collab.counts(conn, [r.study_instance_uid for r in rows])
        # The first image series of each study (lowest series number) is its thumbnail.
        thumbs: dict[int, str] = {}
        for study_pk, series_uid in conn.execute(
                select(series.c.study_pk, series.c.series_instance_uid)
                .where(series.c.study_pk.in_(pks), series.c.modality.notin_(
                    ("SR", "DOC", "KO", "PR")))
                .where(select(instances.c.id).where(instances.c.series_pk == series.c.id,
                                                    instances.c.rows.is_not(None))
                       .exists())
                .order_by(series.c.series_number, series.c.id)):
            thumbs.setdefault(study_pk, series_uid)
    newest = rows[0]
    return {
        "patient": {"patient_id": newest.patient_id, "patient_name": newest.patient_name,
                    "birth_date": newest.patient_birth_date, "sex": newest.patient_sex},
        "studies": [{
            "study_instance_uid": r.study_instance_uid, "study_date": r.study_date,
            "study_time": r.study_time, "study_description": r.study_description,
            "accession_number": r.accession_number,
            "modalities": [m for m in r.modalities_in_study.split("\\") if m],
            "series_count": r.num_series, "instance_count": r.num_instances,
            "referring_physician": r.referring_physician_name,
            "documents": [d.to_json() for d in docs.get(r.study_instance_uid, [])],
            "comments_count": counts[r.study_instance_uid][0],
            "annotations_count": counts[r.study_instance_uid][1],
            "thumbnail_series_uid": thumbs.get(r.id),
        } for r in rows],
    }


@router.get("/api/patients/{patient_id:path}/timeline", tags=["studies"])
async def patient_timeline(request: Request,
                           patient_id: Annotated[str, PathParam(min_length=1, max_length=64)]
                           ) -> dict[str, Any]:
    """Every study of a patient (by Patient ID) the caller may see, newest first."""
    return await _run(request, timeline, _db(request), current_scope.get(),  # type: ignore[no-any-return]
                      patient_id)


__all__ = ["require_study", "router", "study_documents", "timeline",
           "visible_studies"]
