"""Writing and removing index rows, keeping counters and study summaries right.

Every function runs inside a write transaction handed in by the caller, so a failure at
any point leaves the index as it was (DESIGN rule 2). Rows are locked in the order
patient → study → series → instance, so concurrent PostgreSQL writers cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hounsfield.index.schema import events, instances, patients, series, studies


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class StoredRow:
    """The identity of an indexed instance and where its blob is."""

    id: int
    series_pk: int
    sop_instance_uid: str
    blob_key: str
    sha256: str
    size: int


def find_instance(conn: Connection, sop_instance_uid: str) -> StoredRow | None:
    row = conn.execute(
        select(instances.c.id, instances.c.series_pk, instances.c.sop_instance_uid,
               instances.c.blob_key, instances.c.sha256, instances.c.size)
        .where(instances.c.sop_instance_uid == sop_instance_uid)).first()
    return StoredRow(*row) if row else None


def existing_instances(conn: Connection, sop_instance_uids: list[str]) -> set[str]:
    """Which of these SOP Instance UIDs are already indexed."""
    found: set[str] = set()
    for start in range(0, len(sop_instance_uids), 500):
        chunk = sop_instance_uids[start:start + 500]
        found.update(conn.execute(select(instances.c.sop_instance_uid)
                                  .where(instances.c.sop_instance_uid.in_(chunk))).scalars())
    return found


def study_patients(conn: Connection, study_instance_uids: set[str]) -> dict[str, tuple[str, str]]:
    """The (Patient ID, Issuer) each of these stored studies belongs to."""
    out: dict[str, tuple[str, str]] = {}
    uids = sorted(study_instance_uids)
    for start in range(0, len(uids), 500):
        rows = conn.execute(select(studies.c.study_instance_uid, studies.c.patient_id,
                                   studies.c.issuer_of_patient_id)
                            .where(studies.c.study_instance_uid.in_(uids[start:start + 500])))
        out.update({r[0]: (r[1], r[2]) for r in rows})
    return out


def study_patient(conn: Connection, study_instance_uid: str) -> tuple[str, str] | None:
    row = conn.execute(select(studies.c.patient_id, studies.c.issuer_of_patient_id)
                       .where(studies.c.study_instance_uid == study_instance_uid)).first()
    return (row[0], row[1]) if row else None


def _join(values: set[str]) -> str:
    return "\\" + "\\".join(sorted(v for v in values if v)) + "\\" if values - {""} else ""


def _split(value: str) -> set[str]:
    return {v for v in value.split("\\") if v}


# Statements built once: building SQLAlchemy constructs per call costs more than running them.
_B = bindparam
_PATIENT_KEYS = ["patient_id", "issuer_of_patient_id"]
_INS_PATIENT = {
    "postgresql": pg_insert(patients).on_conflict_do_nothing(index_elements=_PATIENT_KEYS),
    "sqlite": sqlite_insert(patients).on_conflict_do_nothing(),
}
_SEL_PATIENT = select(patients.c.id).where(
    patients.c.patient_id == _B("b_pid"),
    patients.c.issuer_of_patient_id == _B("b_issuer")).with_for_update()
_SEL_STUDY = select(studies.c.id, studies.c.patient_pk, studies.c.modalities_in_study,
                    studies.c.sop_classes_in_study).where(
    studies.c.study_instance_uid == _B("b_uid")).with_for_update()
_SEL_SERIES = select(series.c.id).where(
    series.c.series_instance_uid == _B("b_uid")).with_for_update()
_INS_STUDY = insert(studies).returning(studies.c.id)
_INS_SERIES = insert(series).returning(series.c.id)
_INS_INSTANCE = insert(instances).returning(instances.c.id)
_INS_EVENT = insert(events)
_UPD_SERIES = update(series).where(series.c.id == _B("b_pk")).values(
    num_instances=series.c.num_instances + 1, size_bytes=series.c.size_bytes + _B("b_size"),
    updated_at=_B("b_t"))
_UPD_STUDY = update(studies).where(studies.c.id == _B("b_pk")).values(
    num_instances=studies.c.num_instances + 1, size_bytes=studies.c.size_bytes + _B("b_size"),
    num_series=studies.c.num_series + _B("b_new_series"),
    modalities_in_study=_B("b_modalities"), sop_classes_in_study=_B("b_classes"),
    updated_at=_B("b_t"))
_UPD_PATIENT = update(patients).where(patients.c.id == _B("b_pk")).values(
    num_instances=patients.c.num_instances + 1, size_bytes=patients.c.size_bytes + _B("b_size"),
    num_series=patients.c.num_series + _B("b_new_series"),
    num_studies=patients.c.num_studies + _B("b_new_study"), updated_at=_B("b_t"))


def insert_instance(conn: Connection, *, patient: dict[str, Any], study: dict[str, Any],
                    series_row: dict[str, Any], instance: dict[str, Any],
                    event_origin: str) -> int:
    """Index one instance (creating its patient, study and series as needed); returns its id."""
    t = now()
    conn.execute(_INS_PATIENT[conn.dialect.name], {**patient, "created_at": t, "updated_at": t})
    patient_pk = conn.execute(_SEL_PATIENT, {"b_pid": patient["patient_id"],
                                             "b_issuer": patient["issuer_of_patient_id"]}).scalar_one()
    # A study keeps the patient it first arrived with.
    st = conn.execute(_SEL_STUDY, {"b_uid": study["study_instance_uid"]}).first()
    new_study = st is None
    if new_study:
        study_pk = conn.execute(_INS_STUDY, {
            **study, **{k: patient[k] for k in ("patient_id", "issuer_of_patient_id",
                                                 "patient_name", "patient_name_search",
                                                 "patient_birth_date", "patient_sex")},
            "patient_pk": patient_pk, "created_at": t, "updated_at": t}).scalar_one()
        modalities: set[str] = set()
        sop_classes: set[str] = set()
    else:
        study_pk, patient_pk = st[0], st[1]
        modalities, sop_classes = _split(st[2]), _split(st[3])
    se = conn.execute(_SEL_SERIES, {"b_uid": series_row["series_instance_uid"]}).first()
    new_series = se is None
    if new_series:
        series_pk = conn.execute(_INS_SERIES, {**series_row, "study_pk": study_pk,
                                               "created_at": t, "updated_at": t}).scalar_one()
    else:
        series_pk = se[0]
    instance_pk = conn.execute(_INS_INSTANCE, {**instance, "series_pk": series_pk,
                                               "received_at": t}).scalar_one()
    size = instance["size"]
    conn.execute(_UPD_SERIES, {"b_pk": series_pk, "b_size": size, "b_t": t})
    conn.execute(_UPD_STUDY, {
        "b_pk": study_pk, "b_size": size, "b_new_series": int(new_series), "b_t": t,
        "b_modalities": _join(modalities | ({series_row["modality"]} if series_row["modality"]
                                            else set())),
        "b_classes": _join(sop_classes | {instance["sop_class_uid"]})})
    conn.execute(_UPD_PATIENT, {"b_pk": patient_pk, "b_size": size,
                                "b_new_series": int(new_series),
                                "b_new_study": int(new_study), "b_t": t})
    conn.execute(_INS_EVENT, {
        "event_type": "instance.stored", "patient_id": patient["patient_id"],
        "study_instance_uid": study["study_instance_uid"],
        "series_instance_uid": series_row["series_instance_uid"],
        "sop_instance_uid": instance["sop_instance_uid"], "origin": event_origin[:128],
        "created_at": t})
    return int(instance_pk)


def delete_instances(conn: Connection, instance_ids: list[int], *, event_origin: str) -> list[str]:
    """Remove instances (and series, studies, patients left empty); returns their blob keys."""
    if not instance_ids:
        return []
    t = now()
    rows = conn.execute(
        select(instances.c.id, instances.c.blob_key, instances.c.size, instances.c.sop_class_uid,
               instances.c.sop_instance_uid, series.c.id, series.c.series_instance_uid,
               studies.c.id, studies.c.study_instance_uid, studies.c.patient_pk,
               studies.c.patient_id)
        .join(series, series.c.id == instances.c.series_pk)
        .join(studies, studies.c.id == series.c.study_pk)
        .where(instances.c.id.in_(instance_ids))).all()
    keys = [r[1] for r in rows]
    by_series: dict[int, list[Any]] = {}
    for r in rows:
        by_series.setdefault(r[5], []).append(r)
    for chunk_start in range(0, len(instance_ids), 500):
        conn.execute(delete(instances).where(
            instances.c.id.in_(instance_ids[chunk_start:chunk_start + 500])))
    touched_studies: dict[int, Any] = {}
    for series_pk, srows in by_series.items():
        n, size = len(srows), sum(r[2] for r in srows)
        left = conn.execute(select(func.count()).select_from(instances)
                            .where(instances.c.series_pk == series_pk)).scalar_one()
        study_pk, patient_pk = srows[0][7], srows[0][9]
        removed_series = left == 0
        if removed_series:
            conn.execute(delete(series).where(series.c.id == series_pk))
        else:
            conn.execute(update(series).where(series.c.id == series_pk).values(
                num_instances=series.c.num_instances - n, size_bytes=series.c.size_bytes - size,
                updated_at=t))
        conn.execute(update(studies).where(studies.c.id == study_pk).values(
            num_instances=studies.c.num_instances - n, size_bytes=studies.c.size_bytes - size,
            num_series=studies.c.num_series - (1 if removed_series else 0), updated_at=t))
        conn.execute(update(patients).where(patients.c.id == patient_pk).values(
            num_instances=patients.c.num_instances - n, size_bytes=patients.c.size_bytes - size,
            num_series=patients.c.num_series - (1 if removed_series else 0), updated_at=t))
        touched_studies[study_pk] = srows[0]
        for r in srows:
            conn.execute(insert(events).values(
                event_type="instance.deleted", patient_id=r[10], study_instance_uid=r[8],
                series_instance_uid=r[6], sop_instance_uid=r[4], origin=event_origin[:128],
                created_at=t))
    for study_pk, r in touched_studies.items():
        left_series = conn.execute(select(series.c.modality).where(series.c.study_pk == study_pk)).all()
        if not left_series:
            conn.execute(delete(studies).where(studies.c.id == study_pk))
            conn.execute(update(patients).where(patients.c.id == r[9]).values(
                num_studies=patients.c.num_studies - 1, updated_at=t))
            remaining = conn.execute(select(patients.c.num_studies)
                                     .where(patients.c.id == r[9])).scalar_one()
            if remaining <= 0:
                conn.execute(delete(patients).where(patients.c.id == r[9]))
            continue
        classes = conn.execute(
            select(instances.c.sop_class_uid).distinct()
            .join(series, series.c.id == instances.c.series_pk)
            .where(series.c.study_pk == study_pk)).scalars().all()
        conn.execute(update(studies).where(studies.c.id == study_pk).values(
            modalities_in_study=_join({m for (m,) in left_series}),
            sop_classes_in_study=_join(set(classes))))
    return keys
