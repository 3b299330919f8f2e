"""Security tables: users, groups, grants, API tokens, sessions, login failures, shares and
the audit trail, on the index's ``metadata`` so one migration history covers everything.

Secrets are never stored: passwords as Argon2id hashes, tokens, session ids and share
links as SHA-256 hashes (``auth/tokens.py``). ``audit_events`` is append-only: no code
path updates or deletes it, and migration 0002 adds triggers that refuse both.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from hounsfield.index.schema import PN, JsonType, metadata

__all__ = ["api_tokens", "audit_events", "grants", "groups", "login_failures",
           "memberships", "sessions", "shares", "users"]

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),
    Column("display_name", String(128), nullable=False, server_default=""),
    # Comma-separated role names (permissions.ROLES).
    Column("roles", String(256), nullable=False, server_default=""),
    # The user's own name as DICOM writes it (Family^Given): a referring physician sees
    # the studies whose Referring Physician's Name (0008,0090) matches it.
    Column("dicom_person_name", String(PN), nullable=False, server_default=""),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("password_hash", String(256), nullable=True),  # None: no password login
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
    Index("ix_users_username", "username", unique=True),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("description", String(256), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_groups_name", "name", unique=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"),
           primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_memberships_user", "user_id"),
)

# Study-level access given to a user or a group: every study of an institution, every
# study received from an AE title, or one study (sharing with a user or group).
grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
    Column("kind", String(16), nullable=False),  # institution | source_ae | study
    Column("value", String(PN), nullable=False),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_grants_user", "user_id"),
    Index("ix_grants_group", "group_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False, server_default=""),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_tokens_hash", "token_hash", unique=True),
    Index("ix_api_tokens_user", "user_id"),
)

# Server-side sessions: the cookie carries a signed random id; logout revokes the row.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_hash", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("remote_address", String(64), nullable=False, server_default=""),
    Index("ix_sessions_hash", "session_hash", unique=True),
    Index("ix_sessions_user", "user_id"),
)

# Failed logins per user name and per remote address, for rate limiting and lockout.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "user:<name>" or "addr:<ip>"
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

shares = Table(
    "shares",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    # Backslash-separated Study Instance UIDs, as DICOM writes multiple values.
    Column("study_instance_uids", Text, nullable=False),
    Column("description", String(256), nullable=False, server_default=""),
    Column("deidentify", Boolean, nullable=False, server_default="0"),
    Column("password_hash", String(256), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_shares_hash", "token_hash", unique=True),
    Index("ix_shares_created_by", "created_by"),
)

# The audit trail (append-only). ``study_instance_uids`` holds every study the event
# concerns, backslash-joined with a leading and trailing backslash so that
# LIKE '%\\<uid>\\%' matches one study exactly.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),  # success | failure | denied
    Column("username", String(64), nullable=False, server_default=""),
    Column("remote_address", String(64), nullable=False, server_default=""),
    Column("patient_id", String(64), nullable=False, server_default=""),
    Column("study_instance_uids", Text, nullable=False, server_default=""),
    Column("details", JsonType, nullable=True),
    Index("ix_audit_events_occurred", "occurred_at"),
    Index("ix_audit_events_username", "username", "occurred_at"),
    Index("ix_audit_events_action", "action", "occurred_at"),
)
