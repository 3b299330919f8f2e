"""The permission table: which role may do what. Data, not scattered ``if``s.

A user holds one or more roles; a request is allowed when any of them grants the
permission. Study-level access rules (groups, shares, referring physician) narrow this
further elsewhere; this table only says which kinds of action a role may take at all.
"""

from __future__ import annotations

from typing import Iterable, Mapping

__all__ = ["PERMISSIONS", "ROLES", "ROLE_PERMISSIONS", "has_permission",
           "permissions_table_markdown", "role_permissions"]

# Every permission, with what it allows.
PERMISSIONS: Mapping[str, str] = {
    "study.search": "Search patients, studies, series and instances (QIDO-RS, C-FIND, UI).",
    "study.view": "Open a study: metadata, images, rendered frames, reports.",
    "study.download": "Retrieve original objects (WADO-RS, WADO-URI, zip export).",
    "study.upload": "Store objects (STOW-RS, upload from the browser, import).",
    "study.delete": "Delete studies, series and instances.",
    "study.share": "Create share links and share studies with users and groups.",
    "study.annotate": "Save measurements, annotations and comments on a study.",
    "report.write": "Write and edit draft reports.",
    "report.sign": "Sign reports final and amend signed reports.",
    "admin.users": "Manage users, groups, roles and API tokens of others.",
    "admin.nodes": "Manage remote DICOM nodes and routing rules.",
    "admin.audit": "Read and search the audit trail.",
    "admin.settings": "Change the server's settings.",
    "dicom.echo": "C-ECHO (verification).",
    "dicom.store": "C-STORE into the archive.",
    "dicom.find": "C-FIND queries, including the modality worklist.",
    "dicom.move": "C-MOVE studies to a known node.",
    "dicom.get": "C-GET studies.",
}

_VIEW = {"study.search", "study.view"}
_DICOM_READ = {"dicom.echo", "dicom.find", "dicom.move", "dicom.get"}

# Role -> permissions. The admin role has every permission.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "radiologist": frozenset(_VIEW | _DICOM_READ | {
        "study.download", "study.upload", "study.share", "study.annotate", "report.write",
        "report.sign", "dicom.store"}),
    "technologist": frozenset(_VIEW | _DICOM_READ | {
        "study.download", "study.upload", "study.annotate", "dicom.store"}),
    # A referring physician's workstation may query and retrieve (C-FIND, C-GET) the
    # studies in the physician's scope, as the browser may search and download them.
    "referring_physician": frozenset(_VIEW | {"study.download", "study.share", "study.annotate",
                                              "dicom.echo", "dicom.find", "dicom.get"}),
    "viewer": frozenset(_VIEW),
}

ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)

for _role, _perms in ROLE_PERMISSIONS.items():  # the table must name real permissions
    _unknown = _perms - set(PERMISSIONS)
    if _unknown:
        raise ValueError(f"Role {_role!r} names unknown permissions {sorted(_unknown)}")


def role_permissions(role: str) -> frozenset[str]:
    """The permissions a role grants; an unknown role is an error, not an empty set."""
    try:
        return ROLE_PERMISSIONS[role]
    except KeyError:
        raise KeyError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}") from None


def has_permission(roles: Iterable[str], permission: str) -> bool:
    """Whether any of ``roles`` grants ``permission``. Unknown roles grant nothing."""
    if permission not in PERMISSIONS:
        raise KeyError(f"Unknown permission {permission!r}")
    return any(permission in ROLE_PERMISSIONS.get(role, frozenset()) for role in roles)


def permissions_table_markdown() -> str:
    """The role/permission matrix as the Markdown table kept in docs/security.md."""
    header = "| permission | meaning | " + " | ".join(ROLES) + " |"
    lines = [header, "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |"]
    for name, meaning in PERMISSIONS.items():
        marks = " | ".join("yes" if name in ROLE_PERMISSIONS[r] else "" for r in ROLES)
        lines.append(f"| `{name}` | {meaning} | {marks} |")
    return "\n".join(lines)
