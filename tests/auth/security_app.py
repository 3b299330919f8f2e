"""The real app with access control on, users of every role with API tokens, and a few
studies from different physicians, institutions and modalities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from dicom_factory import make_bytes
from hounsfield.archive import Archive, Origin
from hounsfield.auth import accounts, credentials
from hounsfield.config import Settings
from hounsfield.web.app import create_app

# (user name, roles, DICOM person name). "nobody" holds no role at all.
USERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("admin", ("admin",), ""),
    ("rad", ("radiologist",), ""),
    ("tech", ("technologist",), ""),
    ("ref", ("referring_physician",), "Welby^Marcus"),
    ("view", ("viewer",), ""),
    ("nobody", (), ""),
)
PASSWORD = "Tr1cky-Passphrase!"


@dataclass
class SecureApp:
    app: Any
    archive: Archive
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    studies: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.archive.core.db

    def client(self, user: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url=kw.pop("base_url", "http://testserver"),
                                 headers=headers, **kw)

    async def close(self) -> None:
        await self.app.state.audit.close()
        await self.app.state.dicomweb.pool.close()
        await self.archive.close()


async def open_secure_app(settings: Settings, *, with_studies: bool = True,
                          password_user: bool = False, **overrides: Any) -> SecureApp:
    settings = settings.replace(auth__enabled=True, **overrides)
    archive = await Archive.open(settings)
    app = create_app(settings, archive)
    sec = SecureApp(app, archive, settings)
    for name, roles, person_name in USERS:
        accounts.create_user(sec.db, name, PASSWORD if password_user and name == "rad" else None,
                             roles=roles, dicom_person_name=person_name)
        sec.tokens[name], _ = credentials.create_token(sec.db, name, "tests")
    if with_studies:
        # welby: referred by Welby (the "ref" user), at General; other: another physician
        # at St Elsewhere, sent by CT7.
        specs = {
            "welby": dict(patient_id="P1", patient_name="Doe^John", referring="Welby^Marcus",
                          InstitutionName="General Hospital"),
            "other": dict(patient_id="P2", patient_name="Roe^Jane", referring="Kildare^James",
                          InstitutionName="St Elsewhere"),
            "sent": dict(patient_id="P3", patient_name="Poe^Edgar", referring="House^Greg",
                         InstitutionName="Princeton"),
        }
        for key, spec in specs.items():
            data = make_bytes(**spec)  # type: ignore[arg-type]
            origin = Origin("test", calling_ae="CT7" if key == "sent" else "MR1")
            result = await archive.ingest_bytes(data, origin)
            assert result.ok, result
            sec.studies[key] = result.study_instance_uid  # type: ignore[attr-defined]
    return sec
