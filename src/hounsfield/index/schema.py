"""The index schema: patients, studies, series, instances, and the event outbox.

The attributes that C-FIND (PS3.4 C.6) and QIDO-RS (PS3.18 §10.6) match and return are
columns; everything else is matched on ``instances.attributes`` (JSON). Text columns hold
the decoded Unicode value; ``*_search`` columns hold the form used for case-insensitive
matching (upper-cased alphabetic person-name group). Multi-valued attributes that are
searched as a set (ModalitiesInStudy, SOPClassesInStudy) are stored backslash-joined, as
DICOM writes them, with a leading and trailing backslash so that ``LIKE '%\\CT\\%'``
matches one value exactly.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSONB on PostgreSQL (indexable, compressed by TOAST), JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")

UID = 64  # PS3.5 6.2: UI values are at most 64 characters
PN = 324  # 5 components x 64 chars x 3 groups + separators; kept generous

patients = Table(
    "patients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("issuer_of_patient_id", String(64), nullable=False, server_default=""),
    Column("patient_name", String(PN), nullable=False, server_default=""),
    Column("patient_name_search", String(PN), nullable=False, server_default=""),
    Column("patient_birth_date", String(8), nullable=False, server_default=""),
    Column("patient_sex", String(16), nullable=False, server_default=""),
    Column("num_studies", Integer, nullable=False, server_default="0"),
    Column("num_series", Integer, nullable=False, server_default="0"),
    Column("num_instances", Integer, nullable=False, server_default="0"),
    Column("size_bytes", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_patients_identity", "patient_id", "issuer_of_patient_id", unique=True),
    Index("ix_patients_name", "patient_name_search"),
)

studies = Table(
    "studies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_pk", Integer, ForeignKey("patients.id"), nullable=False),
    Column("study_instance_uid", String(UID), nullable=False),
    # Patient attributes as received with this study (a study keeps the name it came with).
    Column("patient_id", String(64), nullable=False, server_default=""),
    Column("issuer_of_patient_id", String(64), nullable=False, server_default=""),
    Column("patient_name", String(PN), nullable=False, server_default=""),
    Column("patient_name_search", String(PN), nullable=False, server_default=""),
    Column("patient_birth_date", String(8), nullable=False, server_default=""),
    Column("patient_sex", String(16), nullable=False, server_default=""),
    Column("study_date", String(8), nullable=False, server_default=""),
    Column("study_time", String(16), nullable=False, server_default=""),
    Column("accession_number", String(16), nullable=False, server_default=""),
    Column("study_id", String(16), nullable=False, server_default=""),
    Column("study_description", String(64), nullable=False, server_default=""),
    Column("referring_physician_name", String(PN), nullable=False, server_default=""),
    Column("referring_physician_name_search", String(PN), nullable=False, server_default=""),
    Column("institution_name", String(64), nullable=False, server_default=""),
    Column("timezone_offset_from_utc", String(16), nullable=False, server_default=""),
    Column("specific_character_set", String(128), nullable=False, server_default=""),
    Column("modalities_in_study", String(256), nullable=False, server_default=""),
    Column("sop_classes_in_study", Text, nullable=False, server_default=""),
    Column("num_series", Integer, nullable=False, server_default="0"),
    Column("num_instances", Integer, nullable=False, server_default="0"),
    Column("size_bytes", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_studies_uid", "study_instance_uid", unique=True),
    Index("ix_studies_patient", "patient_pk"),
    Index("ix_studies_patient_name", "patient_name_search"),
    Index("ix_studies_patient_id", "patient_id"),
    Index("ix_studies_date", "study_date"),
    Index("ix_studies_accession", "accession_number"),
    Index("ix_studies_updated", "updated_at"),
)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_pk", Integer, ForeignKey("studies.id"), nullable=False),
    Column("series_instance_uid", String(UID), nullable=False),
    Column("modality", String(16), nullable=False, server_default=""),
    Column("series_number", Integer, nullable=True),
    Column("series_description", String(64), nullable=False, server_default=""),
    Column("series_date", String(8), nullable=False, server_default=""),
    Column("series_time", String(16), nullable=False, server_default=""),
    Column("body_part_examined", String(16), nullable=False, server_default=""),
    Column("station_name", String(16), nullable=False, server_default=""),
    Column("institution_name", String(64), nullable=False, server_default=""),
    Column("performed_procedure_step_start_date", String(8), nullable=False, server_default=""),
    Column("performed_procedure_step_start_time", String(16), nullable=False, server_default=""),
    Column("source_ae_title", String(16), nullable=False, server_default=""),
    Column("num_instances", Integer, nullable=False, server_default="0"),
    Column("size_bytes", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_series_uid", "series_instance_uid", unique=True),
    Index("ix_series_study", "study_pk"),
    Index("ix_series_modality", "modality"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("series_pk", Integer, ForeignKey("series.id"), nullable=False),
    Column("sop_instance_uid", String(UID), nullable=False),
    Column("sop_class_uid", String(UID), nullable=False),
    Column("instance_number", Integer, nullable=True),
    Column("transfer_syntax_uid", String(UID), nullable=False),
    Column("rows", Integer, nullable=True),
    Column("columns", Integer, nullable=True),
    Column("bits_allocated", Integer, nullable=True),
    Column("number_of_frames", Integer, nullable=True),
    Column("content_date", String(8), nullable=False, server_default=""),
    Column("content_time", String(16), nullable=False, server_default=""),
    # Where the blob is, how big, and its checksum (DESIGN rule 2).
    Column("blob_key", String(512), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    # Byte offset of the Pixel Data element's value in the blob (-1 when absent), so frames
    # are read with ranged reads and no parsing.
    Column("pixel_data_offset", BigInteger, nullable=False, server_default="-1"),
    Column("pixel_data_length", BigInteger, nullable=False, server_default="-1"),
    # DICOM JSON (PS3.18 F.2), bulk data as BulkDataURI, zlib-compressed: WADO-RS metadata.
    Column("metadata", LargeBinary, nullable=False),
    # The searchable attributes that are not columns (no bulk data): matched with JSON
    # functions (DESIGN rule 5).
    Column("attributes", JsonType, nullable=True),
    Column("source_ae_title", String(16), nullable=False, server_default=""),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_instances_uid", "sop_instance_uid", unique=True),
    Index("ix_instances_series", "series_pk", "instance_number"),
    Index("ix_instances_blob", "blob_key"),
)

# Durable outbox of what happened (stored, deleted, ...), written in the same transaction as
# the change, so later listeners (routing, jobs, audit shipping) never miss an event.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_type", String(32), nullable=False),
    Column("patient_id", String(64), nullable=False, server_default=""),
    Column("study_instance_uid", String(UID), nullable=False, server_default=""),
    Column("series_instance_uid", String(UID), nullable=False, server_default=""),
    Column("sop_instance_uid", String(UID), nullable=False, server_default=""),
    Column("origin", String(128), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_events_created", "created_at"),
)
