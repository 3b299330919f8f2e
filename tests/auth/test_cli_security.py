"""`hounsfield user|group|token|anonymize` on a real archive folder."""

from __future__ import annotations

import io
import re

import pydicom
from click.testing import CliRunner

from dicom_factory import make_bytes
from hounsfield.archive import ArchiveCore
from hounsfield.auth import accounts, audit, credentials
from hounsfield.cli import main
from hounsfield.config import load_settings

GOOD = "Tr1cky-Passphrase!"


def run(data_dir, *args, input=None):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], input=input,
                                catch_exceptions=False)
    return result


def test_users_groups_grants_and_tokens(tmp_path):
    data = tmp_path / "data"
    r = run(data, "user", "add", "alice", "--role", "radiologist", "--name", "Alice A",
            "--password-stdin", input=GOOD + "\n")
    assert r.exit_code == 0, r.output
    r = run(data, "user", "add", "bob", "--role", "referring_physician", "--dicom-name",
            "Welby^Marcus", "--password-stdin", input="short\n")
    assert r.exit_code != 0 and "at least" in r.output
    assert run(data, "user", "add", "bob", "--role", "viewer", "--no-password").exit_code == 0
    r = run(data, "user", "list")
    assert re.search(r"alice\s+radiologist\s+active\s+Alice A", r.output)
    assert run(data, "group", "add", "oncology").exit_code == 0
    assert run(data, "group", "member", "oncology", "bob").exit_code == 0
    assert run(data, "group", "grant", "oncology", "--institution", "General").exit_code == 0
    assert run(data, "user", "grant", "bob", "--study", "1.2.3").exit_code == 0
    assert run(data, "user", "grant", "bob", "--study", "1.2.3", "--source-ae",
               "CT1").exit_code != 0
    r = run(data, "token", "create", "bob", "--name", "script", "--expires-days", "30")
    assert r.exit_code == 0
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("hf_")
    assert "script" in run(data, "token", "list").output
    assert run(data, "user", "passwd", "alice", "--password-stdin",
               input="An0ther-Passphrase!\n").exit_code == 0
    assert run(data, "user", "disable", "bob").exit_code == 0

    core = ArchiveCore(load_settings(environ={}, data_dir=str(data)))
    try:
        db = core.db
        bob = accounts.get_user(db, "bob")
        assert bob is not None and bob.disabled
        with db.read() as conn:
            scope = accounts.resolve_scope(conn, bob)
        assert scope.institution_names == {"General"} and scope.study_instance_uids == {"1.2.3"}
        limits = {"auth.login_max_failures": 5, "auth.lockout_seconds": 60}
        assert credentials.authenticate_password(db, limits, "alice",
                                                 "An0ther-Passphrase!").username == "alice"
        token_id = credentials.list_tokens(db, "bob")[0]["id"]
        events, _ = audit.search(db, action="admin")
        assert {e["user"].split(":")[0] for e in events} == {"cli"}
        assert {e["details"]["what"] for e in events} >= {
            "user added", "group added", "member added", "grant added", "API token created",
            "password set", "user disabled"}
    finally:
        core.close()
    assert run(data, "token", "revoke", str(token_id)).exit_code == 0
    assert "revoked" in run(data, "token", "list", "--user", "bob").output
    assert run(data, "user", "disable", "nobody").exit_code != 0


def test_anonymize_a_folder(tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    (source / "a.dcm").write_bytes(make_bytes(patient_name="Doe^John", patient_id="P1"))
    (source / "sub" / "b.dcm").write_bytes(make_bytes(patient_name="Doe^John", patient_id="P1"))
    (source / "notes.txt").write_text("not DICOM")
    r = run(tmp_path / "data", "anonymize", str(source), str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert "De-identified 2 files" in r.output and "skipped 1" in r.output
    a = pydicom.dcmread(tmp_path / "out" / "a.dcm")
    b = pydicom.dcmread(io.BytesIO((tmp_path / "out" / "sub" / "b.dcm").read_bytes()))
    assert a.PatientIdentityRemoved == "YES" and "Doe" not in str(a.PatientName)
    assert a.PatientID == b.PatientID != "P1"  # consistent within one run
