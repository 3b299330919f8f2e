"""Collaboration on studies: annotations (measurements drawn in the viewer) and comments.

Synchronous functions over the index database (the web API runs them in the archive's
threads). Whether the caller may see the study is decided before these are called; here
only who may change a record: its author, or an administrator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from hounsfield.collab.schema import study_annotations as annotations_table
from hounsfield.collab.schema import study_comments as comments_table
from hounsfield.errors import Forbidden, InvalidRequest, NotFound
from hounsfield.index import Database
from hounsfield.index.schema import instances, series, studies

__all__ = ["MAX_ANNOTATION_BYTES", "MAX_COMMENT_CHARS", "add_annotation", "add_comment",
           "counts", "delete_annotation", "delete_comment", "list_annotations",
           "list_comments", "update_annotation"]

MAX_ANNOTATION_BYTES = 256 * 1024
MAX_COMMENT_CHARS = 4000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()


def _annotation_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "study_instance_uid": row.study_instance_uid,
            "series_instance_uid": row.series_instance_uid,
            "sop_instance_uid": row.sop_instance_uid, "frame": row.frame, "tool": row.tool,
            "label": row.label, "data": row.data, "created_by": row.created_by,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def list_annotations(db: Database, study_instance_uid: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(annotations_table).where(
            annotations_table.c.study_instance_uid == study_instance_uid)
            .order_by(annotations_table.c.id))
        return [_annotation_json(r) for r in rows]


def _check_annotation(conn: Connection, study_instance_uid: str,
                      values: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(values.get("data"), dict):
        raise InvalidRequest('Argument "data" must be a JSON object.')
    size = len(orjson.dumps(values["data"]))
    if size > MAX_ANNOTATION_BYTES:
        raise InvalidRequest(f'Argument "data" holds {size} bytes; an annotation holds at most '
                             f'{MAX_ANNOTATION_BYTES}.')
    found = conn.execute(
        select(instances.c.id).join(series, series.c.id == instances.c.series_pk)
        .join(studies, studies.c.id == series.c.study_pk)
        .where(studies.c.study_instance_uid == study_instance_uid,
               series.c.series_instance_uid == values["series_instance_uid"],
               instances.c.sop_instance_uid == values["sop_instance_uid"])).first()
    if found is None:
        raise NotFound(f"Instance {values['sop_instance_uid']} of series "
                       f"{values['series_instance_uid']} is not stored in study "
                       f"{study_instance_uid}")
    return {k: values[k] for k in ("series_instance_uid", "sop_instance_uid", "frame", "tool",
                                   "label", "data")}


def add_annotation(db: Database, study_instance_uid: str, values: dict[str, Any],
                   author: str) -> dict[str, Any]:
    """Save a new annotation on an instance of the study."""
    now = _now()
    with db.write() as conn:
        row = _check_annotation(conn, study_instance_uid, values)
        new_id = conn.execute(insert(annotations_table).values(
            **row, study_instance_uid=study_instance_uid, created_by=author, created_at=now,
            updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
        return _annotation_json(conn.execute(
            select(annotations_table).where(annotations_table.c.id == new_id)).one())


def _own(conn: Connection, table: Any, author_column: str, study_instance_uid: str,
         record_id: int, user: str, is_admin: bool, what: str) -> Any:
    row = conn.execute(select(table).where(table.c.id == record_id,
                                           table.c.study_instance_uid == study_instance_uid)
                       ).first()
    if row is None:
        raise NotFound(f"{what.capitalize()} {record_id} of study {study_instance_uid} "
                       "does not exist")
    if getattr(row, author_column) != user and not is_admin:
        raise Forbidden(f"Only the author of {what} {record_id} or an administrator may "
                        "change it.")
    return row


def update_annotation(db: Database, study_instance_uid: str, annotation_id: int,
                      values: dict[str, Any], user: str, is_admin: bool) -> dict[str, Any]:
    with db.write() as conn:
        _own(conn, annotations_table, "created_by", study_instance_uid, annotation_id, user,
             is_admin, "annotation")
        row = _check_annotation(conn, study_instance_uid, values)
        conn.execute(update(annotations_table).where(annotations_table.c.id == annotation_id)
                     .values(**row, updated_at=_now()))
        return _annotation_json(conn.execute(
            select(annotations_table).where(annotations_table.c.id == annotation_id)).one())


def delete_annotation(db: Database, study_instance_uid: str, annotation_id: int, user: str,
                      is_admin: bool) -> None:
    with db.write() as conn:
        _own(conn, annotations_table, "created_by", study_instance_uid, annotation_id, user,
             is_admin, "annotation")
        conn.execute(delete(annotations_table).where(annotations_table.c.id == annotation_id))


def _comment_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "text": row.text, "author": row.author,
            "created_at": _iso(row.created_at)}


def list_comments(db: Database, study_instance_uid: str) -> list[dict[str, Any]]:
    """The comments of a study, oldest first."""
    with db.read() as conn:
        rows = conn.execute(select(comments_table).where(
            comments_table.c.study_instance_uid == study_instance_uid)
            .order_by(comments_table.c.created_at, comments_table.c.id))
        return [_comment_json(r) for r in rows]


def add_comment(db: Database, study_instance_uid: str, text: str,
                author: str) -> dict[str, Any]:
    if not text.strip() or len(text) > MAX_COMMENT_CHARS:
        raise InvalidRequest(f'Argument "text" must hold 1 to {MAX_COMMENT_CHARS} characters.')
    with db.write() as conn:
        new_id = conn.execute(insert(comments_table).values(
            study_instance_uid=study_instance_uid, text=text, author=author,
            created_at=_now())).inserted_primary_key[0]  # type: ignore[index]
        return _comment_json(conn.execute(
            select(comments_table).where(comments_table.c.id == new_id)).one())


def delete_comment(db: Database, study_instance_uid: str, comment_id: int, user: str,
                   is_admin: bool) -> None:
    with db.write() as conn:
        _own(conn, comments_table, "author", study_instance_uid, comment_id, user, is_admin,
             "comment")
        conn.execute(delete(comments_table).where(comments_table.c.id == comment_id))


def counts(conn: Connection, study_instance_uids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(comments, annotations) per study."""
    uids = sorted(set(study_instance_uids))
    out = {uid: (0, 0) for uid in uids}
    if not uids:
        return out
    for table, position in ((comments_table, 0), (annotations_table, 1)):
        for uid, number in conn.execute(
                select(table.c.study_instance_uid, func.count())
                .where(table.c.study_instance_uid.in_(uids))
                .group_by(table.c.study_instance_uid)):
            pair = list(out[uid])
            pair[position] = int(number)
            out[uid] = (pair[0], pair[1])
    return out
