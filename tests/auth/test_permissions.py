"""The permission table: each role has exactly its documented permissions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hounsfield.auth.permissions import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    has_permission,
    permissions_table_markdown,
    role_permissions,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"

# The policy, stated once more here on purpose: changing a role's rights must change
# both the data and this test.
EXPECTED = {
    "admin": set(PERMISSIONS),
    "radiologist": {"study.search", "study.view", "study.download", "study.upload",
                    "study.share", "study.annotate", "report.write", "report.sign", "dicom.echo",
                    "dicom.store", "dicom.find", "dicom.move", "dicom.get"},
    "technologist": {"study.search", "study.view", "study.download", "study.upload",
                     "study.annotate", "dicom.echo", "dicom.store", "dicom.find", "dicom.move", "dicom.get"},
    "referring_physician": {"study.search", "study.view", "study.download", "study.share",
                            "study.annotate", "dicom.echo", "dicom.find", "dicom.get"},
    "viewer": {"study.search", "study.view"},
}


def _documented() -> dict[str, set[str]]:
    text = DOCS.read_text()
    block = text.split("<!-- permissions:start -->")[1].split("<!-- permissions:end -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("| `")]
    header = [c.strip() for c in block.strip().splitlines()[0].strip("|").split("|")]
    roles = header[2:]
    documented: dict[str, set[str]] = {role: set() for role in roles}
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(.+)`", cells[0]).group(1)
        for role, mark in zip(roles, cells[2:]):
            if mark == "yes":
                documented[role].add(name)
    return documented


def test_roles_have_exactly_their_permissions():
    assert set(ROLES) == set(EXPECTED)
    for role, permissions in EXPECTED.items():
        assert role_permissions(role) == permissions, role


def test_docs_table_is_generated_from_the_data():
    text = DOCS.read_text()
    assert permissions_table_markdown() in text, (
        "docs/security.md is out of date: paste permissions_table_markdown() between "
        "the permissions markers")
    assert _documented() == {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()}


def test_has_permission():
    assert has_permission(["viewer"], "study.view")
    assert not has_permission(["viewer"], "study.download")
    assert has_permission(["viewer", "technologist"], "dicom.store")
    assert not has_permission([], "study.search")
    assert not has_permission(["no-such-role"], "study.search")
    assert not has_permission(["radiologist"], "admin.users")
    with pytest.raises(KeyError):
        has_permission(["admin"], "study.fly")
    with pytest.raises(KeyError, match="Unknown role"):
        role_permissions("superuser")
