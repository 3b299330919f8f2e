"""Every access to patient data and every change of the security configuration leaves an
audit row, through the real app with access control on: who, what, which patient and
study (when the request named one), from where, and the outcome; refused requests too."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import make_bytes
from security_app import PASSWORD, open_secure_app

from hounsfield.auth import audit

REMOTE = "198.51.100.7"
BOUNDARY = "audit-coverage-5e1"


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings, password_user=True)
    yield sec
    await sec.close()


def _client(sec: Any, user: str | None = None, **headers: str) -> httpx.AsyncClient:
    if user is not None:
        headers["Authorization"] = f"Bearer {sec.tokens[user]}"
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sec.app, client=(REMOTE, 4711)),
                             base_url="http://testserver", headers=headers)


class Trail:
    """The audit rows written since the last look."""

    def __init__(self, sec: Any) -> None:
        self.sec = sec
        self.seen = 0

    def new(self) -> list[dict[str, Any]]:
        events, total = audit.search(self.sec.db, limit=1000)
        fresh = events[:total - self.seen]
        self.seen = total
        return fresh[::-1]

    def one(self, action: str, outcome: str, user: str, *, study: str | None = None,
            patient: str | None = None) -> dict[str, Any]:
        events = self.new()
        assert len(events) == 1, events
        event = events[0]
        assert (event["action"], event["outcome"], event["user"]) == (action, outcome, user), \
            event
        assert event["remote_address"] == REMOTE, event
        if study is not None:
            assert event["study_instance_uids"] == [study], event
            assert event["patient_id"] == patient, event
        return event


async def test_every_access_and_change_is_audited(secure):
    st = secure.studies
    welby, other = st["welby"], st["other"]
    trail = Trail(secure)
    trail.new()

    # Logins, good and bad.
    async with _client(secure) as browser:
        r = await browser.post("/api/auth/login", json={"username": "rad",
                                                        "password": "not the password"})
        assert r.status_code == 401
        trail.one("login", "failure", "rad")
        r = await browser.post("/api/auth/login", json={"username": "rad",
                                                        "password": PASSWORD})
        assert r.status_code == 200
        csrf = r.json()["csrf_token"]
        trail.one("login", "success", "rad")

        # Searches, views and retrievals over DICOMweb, with the session.
        r = await browser.get("/dicom-web/studies", params={"PatientID": "P1"})
        assert r.status_code == 200
        assert trail.one("search", "success", "rad")["patient_id"] == "P1"
        r = await browser.get(f"/dicom-web/studies/{welby}/series")
        assert r.status_code == 200
        trail.one("search", "success", "rad", study=welby, patient="P1")
        r = await browser.get(f"/dicom-web/studies/{welby}/metadata")
        assert r.status_code == 200
        trail.one("view", "success", "rad", study=welby, patient="P1")
        meta = r.json()[0]
        series, sop = meta["0020000E"]["Value"][0], meta["00080018"]["Value"][0]
        r = await browser.get(f"/dicom-web/studies/{welby}/series/{series}/instances/{sop}"
                              "/frames/1")
        assert r.status_code == 200
        trail.one("view", "success", "rad", study=welby, patient="P1")
        r = await browser.get(f"/dicom-web/studies/{welby}")
        assert r.status_code == 200
        trail.one("retrieve", "success", "rad", study=welby, patient="P1")

        # Export and share links.
        r = await browser.get("/api/export", params={"study": welby})
        assert r.status_code == 200
        trail.one("export", "success", "rad", study=welby, patient="P1")
        r = await browser.post("/api/shares", json={"study_instance_uids": [welby]},
                               headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201
        token, share_id = r.json()["token"], r.json()["share"]["id"]
        trail.one("share", "success", "rad", study=welby, patient="P1")
        async with _client(secure) as holder:
            r = await holder.get(f"/share/{token}")
            assert r.status_code == 200
            trail.one("share_access", "success", f"share:{share_id}", study=welby,
                      patient="P1")
            r = await holder.get(f"/dicom-web/studies/{welby}/metadata",
                                 headers={"X-Share-Token": r.json()["access"]})
            assert r.status_code == 200
            event = trail.one("view", "success", f"share:{share_id}", study=welby,
                              patient="P1")
            assert event["details"]["share"] == share_id
        r = await browser.delete(f"/api/shares/{share_id}", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        trail.one("share", "success", "rad", study=welby, patient="P1")

        r = await browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        trail.one("logout", "success", "rad")

    # Store and delete.
    stored = make_bytes(patient_id="P9", patient_name="Nine^Patient")
    body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + stored
            + f"\r\n--{BOUNDARY}--\r\n".encode())
    async with _client(secure, "tech") as tech:
        r = await tech.post("/dicom-web/studies", content=body, headers={
            "Content-Type": f'multipart/related; type="application/dicom"; '
                            f'boundary={BOUNDARY}'})
        assert r.status_code == 200, r.text
    new_study = r.json()["00081190"]["Value"][0].rsplit("/", 1)[1]
    trail.one("store", "success", "tech", study=new_study, patient="P9")
    async with _client(secure, "admin") as admin:
        assert (await admin.delete(f"/dicom-web/studies/{other}")).status_code == 204
        trail.one("delete", "success", "admin", study=other, patient="P2")

        # Changes of users and grants.
        r = await admin.patch("/api/admin/users/view", json={"display_name": "Vera"})
        assert r.status_code == 200
        assert trail.one("admin", "success", "admin")["details"]["username"] == "view"
        r = await admin.post("/api/admin/grants", json={"kind": "institution",
                                                        "value": "General Hospital",
                                                        "user": "view"})
        assert r.status_code == 201
        assert trail.one("admin", "success", "admin")["details"]["what"] == "grant added"
        r = await admin.post("/api/admin/grants", json={"kind": "study", "value": welby,
                                                        "user": "view"})
        assert r.status_code == 201
        trail.one("share", "success", "admin", study=welby, patient="P1")

    # Refused requests are on the trail too, as failures.
    async with _client(secure, "view") as viewer:
        assert (await viewer.delete(f"/dicom-web/studies/{welby}")).status_code == 403
        trail.one("delete", "denied", "view", study=welby, patient="P1")
        assert (await viewer.get("/api/export", params={"study": welby})).status_code == 403
        trail.one("export", "denied", "view", study=welby, patient="P1")
        r = await viewer.post("/api/admin/users", json={"username": "mallory"})
        assert r.status_code == 403
        trail.one("admin", "denied", "view")
    async with _client(secure) as anonymous:
        r = await anonymous.get(f"/dicom-web/studies/{welby}/metadata")
        assert r.status_code == 401
        trail.one("view", "denied", "", study=welby, patient="P1")
    async with _client(secure, "rad") as rad:
        # A failure of the handler itself: the study is gone.
        assert (await rad.get(f"/dicom-web/studies/{other}/metadata")).status_code == 404
        trail.one("view", "failure", "rad", study=other, patient="P2")
