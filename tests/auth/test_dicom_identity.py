"""DICOM User Identity Negotiation against the accounts, and the DICOM permissions."""

from __future__ import annotations

import pytest

from hounsfield.archive import ArchiveCore
from hounsfield.archive.access import Scope
from hounsfield.auth import accounts, credentials
from hounsfield.auth.dicom_identity import (
    authenticate_user_identity, dicom_permission, user_scope,
)
from hounsfield.errors import Unauthorized

GOOD = "Tr1cky-Passphrase!"
LIMITS = {"auth.login_max_failures": 3, "auth.lockout_seconds": 600}


@pytest.fixture
def db(sqlite_settings):
    core = ArchiveCore(sqlite_settings)
    yield core.db
    core.close()


def test_username_and_passcode(db):
    accounts.create_user(db, "modality", GOOD, roles=["technologist"])
    accounts.create_user(db, "ref", None, roles=["referring_physician"],
                         dicom_person_name="Welby^Marcus")
    token, _ = credentials.create_token(db, "ref")
    user = authenticate_user_identity(db, LIMITS, 2, b"modality", GOOD.encode())
    assert dicom_permission(user, "store") and user_scope(db, user) is None
    ref = authenticate_user_identity(db, LIMITS, 2, b"ref", token.encode())
    assert not dicom_permission(ref, "store") and dicom_permission(ref, "echo")
    # Query and retrieve to the physician's own workstation, not to other nodes.
    assert dicom_permission(ref, "find") and dicom_permission(ref, "get")
    assert not dicom_permission(ref, "move")
    assert user_scope(db, ref) == Scope(referring_physician_names=frozenset({"WELBY^MARCUS"}))
    for identity in ((1, b"modality", b""), (5, b"eyJ...", b""), (2, b"modality", b"wrong"),
                     (2, b"modality", b"\xff\xfe"), (2, b"modality", token.encode())):
        with pytest.raises(Unauthorized):
            authenticate_user_identity(db, LIMITS, *identity)
    for _ in range(2):  # one wrong password above and two now: locked
        with pytest.raises(Unauthorized):
            authenticate_user_identity(db, LIMITS, 2, b"modality", b"wrong again")
    with pytest.raises(credentials.LockedOut):
        authenticate_user_identity(db, LIMITS, 2, b"modality", GOOD.encode())
    with pytest.raises(ValueError):
        dicom_permission(user, "print")
