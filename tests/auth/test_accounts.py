"""Accounts, grants, tokens, lockout and the audit trail in the index database, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from hounsfield.archive import ArchiveCore
from hounsfield.archive.access import Scope
from hounsfield.auth import accounts, audit, credentials
from hounsfield.errors import Conflict, InvalidRequest, Unauthorized

GOOD = "Tr1cky-Passphrase!"


@pytest.fixture
def db(settings):
    core = ArchiveCore(settings)
    yield core.db
    core.close()


def test_users_roles_and_policy(db):
    user = accounts.create_user(db, "alice", GOOD, roles=["radiologist"], display_name="A")
    assert user.can("report.sign") and not user.can("admin.users")
    with pytest.raises(Conflict):
        accounts.create_user(db, "alice", GOOD, roles=["viewer"])
    with pytest.raises(InvalidRequest, match="Unknown role"):
        accounts.create_user(db, "bob", GOOD, roles=["wizard"])
    with pytest.raises(InvalidRequest, match="too common|at least"):
        accounts.create_user(db, "bob", "password1", roles=["viewer"])
    with pytest.raises(InvalidRequest, match="User name"):
        accounts.create_user(db, "../etc", GOOD, roles=["viewer"])
    assert [u.username for u in accounts.list_users(db)] == ["alice"]


def test_first_admin_is_created_once_with_a_random_password(db):
    first = accounts.bootstrap_admin(db)
    assert first and len(first) >= 20
    assert accounts.bootstrap_admin(db) is None
    admin = accounts.get_user(db, "admin")
    assert admin is not None and admin.roles == ("admin",)
    settings_like = {"auth.login_max_failures": 5, "auth.lockout_seconds": 60}
    assert credentials.authenticate_password(db, settings_like, "admin", first).username == "admin"


def test_scope_of_each_role(db):
    accounts.create_user(db, "rad", None, roles=["radiologist"])
    accounts.create_user(db, "ref", None, roles=["referring_physician"],
                         dicom_person_name="welby^marcus=ウェルビー")
    accounts.create_user(db, "view", None, roles=["viewer"])
    accounts.create_group(db, "team")
    accounts.add_member(db, "team", "view")
    accounts.add_grant(db, kind="institution", value="General Hospital", group="team")
    accounts.add_grant(db, kind="study", value="1.2.3", user="view")
    accounts.add_grant(db, kind="source_ae", value="CT7", user="ref")
    with db.read() as conn:
        assert accounts.resolve_scope(conn, accounts.get_user(conn, "rad")) is None
        assert accounts.resolve_scope(conn, accounts.get_user(conn, "ref")) == Scope(
            referring_physician_names=frozenset({"WELBY^MARCUS"}),
            source_ae_titles=frozenset({"CT7"}))
        assert accounts.resolve_scope(conn, accounts.get_user(conn, "view")) == Scope(
            institution_names=frozenset({"General Hospital"}),
            study_instance_uids=frozenset({"1.2.3"}))
    accounts.remove_member(db, "team", "view")
    with db.read() as conn:
        assert accounts.resolve_scope(conn, accounts.get_user(conn, "view")) == Scope(
            study_instance_uids=frozenset({"1.2.3"}))
    with pytest.raises(InvalidRequest):
        accounts.add_grant(db, kind="study", value="1.2.3' OR 1=1 --", user="view")


def test_tokens_expire_and_are_revoked(db):
    accounts.create_user(db, "bot", None, roles=["technologist"])
    token, token_id = credentials.create_token(db, "bot", "script")
    assert credentials.authenticate_token(db, token).username == "bot"
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    old, _ = credentials.create_token(db, "bot", "old", past)
    with pytest.raises(Unauthorized, match="expired"):
        credentials.authenticate_token(db, old)
    with pytest.raises(Unauthorized, match="Unknown"):
        credentials.authenticate_token(db, token[:-2] + "xy")
    credentials.revoke_token(db, token_id)
    with pytest.raises(Unauthorized, match="revoked"):
        credentials.authenticate_token(db, token)
    tokens = credentials.list_tokens(db, "bot")
    assert [t["revoked"] for t in tokens] == [True, False] and "token" not in tokens[0]


def test_lockout_after_repeated_failures(db):
    accounts.create_user(db, "carol", GOOD, roles=["viewer"])
    limits = {"auth.login_max_failures": 3, "auth.lockout_seconds": 600}
    for _ in range(3):
        with pytest.raises(Unauthorized) as info:
            credentials.authenticate_password(db, limits, "carol", "wrong-Password-1", "10.0.0.1")
        assert not isinstance(info.value, credentials.LockedOut)
    with pytest.raises(credentials.LockedOut) as locked:
        credentials.authenticate_password(db, limits, "carol", GOOD, "10.0.0.2")
    assert locked.value.http_status == 429 and 0 < locked.value.retry_after <= 601


def test_disabled_user_and_password_change_end_sessions(db):
    user = accounts.create_user(db, "dave", GOOD, roles=["viewer"])
    sid, _ = credentials.create_session(db, user, 3600)
    assert credentials.load_session(db, sid).username == "dave"
    accounts.set_password(db, "dave", "An0ther-Passphrase!")
    with pytest.raises(Unauthorized):
        credentials.load_session(db, sid)
    sid, _ = credentials.create_session(db, user, 3600)
    accounts.set_disabled(db, "dave")
    with pytest.raises(Unauthorized, match="disabled"):
        credentials.load_session(db, sid)


def test_audit_trail_is_searchable_and_append_only(db):
    audit.record(db, action="view", outcome="success", user="rad", remote_address="10.1.1.1",
                 patient_id="P1", study_instance_uid=["1.2.3", "1.2.4"])
    audit.record(db, action="login", outcome="failure", user="eve", remote_address="10.6.6.6")
    events, total = audit.search(db, study_instance_uid="1.2.4")
    assert total == 1 and events[0]["study_instance_uids"] == ["1.2.3", "1.2.4"]
    assert audit.search(db, study_instance_uid="1.2")[1] == 0  # a prefix is not a match
    assert audit.search(db, user="eve", action="login")[0][0]["outcome"] == "failure"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    assert audit.search(db, since=later)[1] == 0
    for statement in ("UPDATE audit_events SET username = 'nobody'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"):
            with db.write() as conn:
                conn.execute(text(statement))
    assert audit.search(db)[1] == 2
    with pytest.raises(ValueError):
        audit.record(db, action="peek", outcome="success", user="x", remote_address="")
