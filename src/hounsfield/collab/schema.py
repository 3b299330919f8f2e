"""Collaboration tables: annotations (measurements drawn in the viewer) and comments on
studies, on the index's ``metadata`` so one migration history covers everything.

Both are kept beside the study, never written into its DICOM objects, and name it by
Study Instance UID: they survive a study being deleted and sent again.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from hounsfield.index.schema import UID, JsonType, metadata

__all__ = ["study_annotations", "study_comments"]

study_annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_instance_uid", String(UID), nullable=False),
    Column("series_instance_uid", String(UID), nullable=False),
    Column("sop_instance_uid", String(UID), nullable=False),
    Column("frame", Integer, nullable=True),  # as the viewer numbers frames; None: the image
    Column("tool", String(64), nullable=False),
    Column("label", String(256), nullable=False, server_default=""),
    # The viewer's annotation as it saved it (handles in world coordinates, cached stats).
    Column("data", JsonType, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_annotations_study", "study_instance_uid"),
)

study_comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_instance_uid", String(UID), nullable=False),
    Column("text", Text, nullable=False),
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_comments_study", "study_instance_uid", "created_at"),
)
