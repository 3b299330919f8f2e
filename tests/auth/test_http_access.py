"""Study-level access through DICOMweb, the audit of every access, share links and export,
with the real app (DICOMweb router included)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

sys.path.insert(0, str(Path(__file__).parent))
from security_app import open_secure_app  # noqa: E402

from hounsfield.auth import accounts, audit  # noqa: E402

STUDY_UID = "0020000D"


def uids(response) -> set[str]:
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.text
    return {s[STUDY_UID]["Value"][0] for s in response.json()}


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings)
    yield sec
    await sec.close()


async def test_each_role_sees_its_studies(secure):
    st = secure.studies
    for user, expected in (("admin", set(st.values())), ("rad", set(st.values())),
                           ("tech", set(st.values())), ("ref", {st["welby"]}),
                           ("view", set())):
        async with secure.client(user) as client:
            assert uids(await client.get("/dicom-web/studies")) == expected, user
    accounts.create_group(secure.db, "princeton")
    accounts.add_member(secure.db, "princeton", "view")
    accounts.add_grant(secure.db, kind="institution", value="Princeton", group="princeton")
    accounts.add_grant(secure.db, kind="source_ae", value="CT7", user="ref")
    accounts.add_grant(secure.db, kind="study", value=st["other"], user="view")
    async with secure.client("view") as client:
        assert uids(await client.get("/dicom-web/studies")) == {st["sent"], st["other"]}
    async with secure.client("ref") as client:
        assert uids(await client.get("/dicom-web/studies")) == {st["welby"], st["sent"]}


async def test_retrieval_and_delete_outside_the_scope_find_nothing(secure):
    other = secure.studies["other"]
    async with secure.client("ref") as client:
        assert (await client.get(f"/dicom-web/studies/{other}/metadata")).status_code == 404
        assert (await client.get(f"/dicom-web/studies/{other}")).status_code == 404
        r = await client.get(f"/dicom-web/studies/{secure.studies['welby']}/metadata")
        assert r.status_code == 200
    events, _ = audit.search(secure.db, user="ref", study_instance_uid=other)
    assert {(e["action"], e["outcome"]) for e in events} == {("view", "denied"),
                                                             ("retrieve", "denied")}


async def test_every_access_to_patient_data_is_audited(secure):
    welby = secure.studies["welby"]
    async with secure.client("rad") as client:
        await client.get("/dicom-web/studies", params={"PatientID": "P1"})
        await client.get(f"/dicom-web/studies/{welby}/metadata")
        await client.get(f"/dicom-web/studies/{welby}")
        await client.get("/wado", params={"requestType": "WADO", "studyUID": welby,
                                          "seriesUID": "1.2", "objectUID": "1.3"})
    async with secure.client("view") as client:  # no permission: denied, and recorded
        assert (await client.delete(f"/dicom-web/studies/{welby}")).status_code == 403
    async with secure.client("admin") as client:
        assert (await client.delete(f"/dicom-web/studies/{welby}")).status_code == 204
        r = await client.get("/api/admin/audit", params={"study": welby, "limit": 50})
    assert r.status_code == 200
    seen = [(e["user"], e["action"], e["outcome"]) for e in reversed(r.json()["events"])]
    assert seen == [("rad", "view", "success"), ("rad", "retrieve", "success"),
                    ("rad", "retrieve", "failure"), ("view", "delete", "denied"),
                    ("admin", "delete", "success")]
    search, _ = audit.search(secure.db, action="search", user="rad")
    assert search[0]["patient_id"] == "P1" and "PatientID=P1" in search[0]["details"]["query"]
    async with secure.client("rad") as client:  # the trail is for administrators only
        assert (await client.get("/api/admin/audit")).status_code == 403


async def test_share_link_opens_exactly_the_shared_study_read_only(secure):
    welby, other = secure.studies["welby"], secure.studies["other"]
    async with secure.client("ref") as client:
        r = await client.post("/api/shares", json={"study_instance_uids": [other]})
        assert r.status_code == 404  # not the referring physician's study to share
        r = await client.post("/api/shares", json={"study_instance_uids": [welby],
                                                   "expires_in_hours": 2})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        share_id = r.json()["share"]["id"]
        assert r.json()["url"] == f"/s/{token}"  # the page, which opens the JSON below
    async with secure.client() as anonymous:
        opened = await anonymous.get(f"/share/{token}")
        assert opened.status_code == 200, opened.text
        access = opened.json()["access"]
        assert opened.json()["studies"][0]["00100010"]["Value"][0]["Alphabetic"] == "Doe^John"
        headers = {"X-Share-Token": access}
        assert uids(await anonymous.get("/dicom-web/studies", headers=headers)) == {welby}
        assert uids(await anonymous.get("/dicom-web/studies",
                                        params={"share": token})) == {welby}
        assert (await anonymous.get(f"/dicom-web/studies/{other}/metadata",
                                    headers=headers)).status_code == 404
        assert (await anonymous.delete(f"/dicom-web/studies/{welby}",
                                       headers=headers)).status_code == 403
        assert (await anonymous.get("/api/stats", headers=headers)).status_code == 403
        download = await anonymous.get(f"/share/{token}/download")
        assert download.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
        assert "DICOMDIR" in names and len(names) == 2
    async with secure.client("ref") as client:
        assert (await client.delete(f"/api/shares/{share_id}")).status_code == 200
    async with secure.client() as anonymous:
        r = await anonymous.get(f"/share/{token}")
        assert r.status_code == 401 and "revoked" in r.json()["message"]
        r = await anonymous.get("/dicom-web/studies", headers={"X-Share-Token": access})
        assert r.status_code == 401
    events, _ = audit.search(secure.db, action="share_access")
    assert {e["outcome"] for e in events} == {"success", "denied"}
    assert audit.search(secure.db, user=f"share:{share_id}", action="search",
                        outcome="success")[1] == 2
    # The refused requests are on the trail too: the other study, the delete, the counts.
    denied, _ = audit.search(secure.db, user=f"share:{share_id}", outcome="denied")
    assert sorted(e["action"] for e in denied) == ["delete", "search", "view"]


async def test_password_protected_and_deidentified_share(secure):
    welby = secure.studies["welby"]
    async with secure.client("rad") as client:
        r = await client.post("/api/shares", json={
            "study_instance_uids": [welby], "password": "open sesame 42", "deidentify": True})
        token = r.json()["token"]
    async with secure.client() as anonymous:
        r = await anonymous.get(f"/share/{token}")
        assert r.status_code == 401 and r.json()["error"] == "share_password_required"
        r = await anonymous.get(f"/share/{token}", headers={"X-Share-Password": "wrong pass"})
        assert r.status_code == 401
        r = await anonymous.post(f"/share/{token}", json={"password": "open sesame 42"})
        assert r.status_code == 200
        described = r.json()
        assert "study_instance_uids" not in described["share"]
        assert "00100010" not in described["studies"][0]
        assert (await anonymous.get(f"/share/{token}/download")).status_code == 401
        # Browsed de-identified, with the UIDs of the download.
        r = await anonymous.get("/dicom-web/studies",
                                headers={"X-Share-Token": described["access"]})
        assert r.status_code == 200 and welby not in r.text and "Doe" not in r.text
        pseudonym = r.json()[0]["0020000D"]["Value"][0]
        assert described["studies"][0]["0020000D"]["Value"] == [pseudonym]
        r = await anonymous.get(f"/share/{token}/download",
                                params={"access": described["access"]})
        assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    member = next(n for n in archive.namelist() if n != "DICOMDIR")
    ds = pydicom.dcmread(io.BytesIO(archive.read(member)))
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientID.startswith("ANON")
    assert str(ds.PatientName) != "Doe^John" and ds.StudyInstanceUID == pseudonym


async def test_expired_and_forged_share_links_are_refused(secure):
    import datetime as dt

    from sqlalchemy import update

    from hounsfield.auth import shares
    from hounsfield.auth.schema import shares as share_table
    from hounsfield.auth.tokens import sign

    welby = secure.studies["welby"]
    token, share = shares.create_share(
        secure.db, created_by="rad", study_instance_uids=[welby],
        expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    forged_access = sign({"share": share.id}, b"k" * 32, 2_000_000_000)
    async with secure.client() as anonymous:
        for value in (forged_access, "hf_" + "B" * 43, "not-a-token"):
            r = await anonymous.get("/dicom-web/studies", headers={"X-Share-Token": value})
            assert r.status_code == 401, value
        r = await anonymous.get(f"/share/{token}",
                                headers={"X-Forwarded-For": "ignored"})
        assert r.status_code == 200
    # The link's time passes (the row is not append-only; only the audit trail is).
    with secure.db.write() as conn:
        conn.execute(update(share_table).where(share_table.c.id == share.id).values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    async with secure.client() as anonymous:
        r = await anonymous.get(f"/share/{token}")
        assert r.status_code == 401 and "expired" in r.json()["message"]


async def test_export_zip_with_dicomdir_original_and_deidentified(secure, tmp_path):
    welby, sent = secure.studies["welby"], secure.studies["sent"]
    async with secure.client("rad") as client:
        r = await client.get("/api/export", params={"study": [welby, sent]})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        original = zipfile.ZipFile(io.BytesIO(r.content))
        r = await client.get("/api/export", params={"study": welby, "deidentify": "true"})
        anonymous = zipfile.ZipFile(io.BytesIO(r.content))
    async with secure.client("view") as client:
        assert (await client.get("/api/export", params={"study": welby})).status_code == 403
    async with secure.client("ref") as client:  # another physician's study is not found
        assert (await client.get("/api/export", params={"study": sent})).status_code == 404
    original.extractall(tmp_path / "media")
    file_set = FileSet(tmp_path / "media" / "DICOMDIR")
    assert {i.StudyInstanceUID for i in file_set} == {welby, sent}
    names = {str(i.PatientName) for i in file_set}
    assert names == {"Doe^John", "Poe^Edgar"}
    member = next(n for n in anonymous.namelist() if n != "DICOMDIR")
    ds = pydicom.dcmread(io.BytesIO(anonymous.read(member)))
    assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName) != "Doe^John"
    events, _ = audit.search(secure.db, action="export", user="rad")
    assert [e["details"]["deidentify"] for e in events] == [True, False]


async def test_sharing_a_study_with_a_user_and_a_group(secure):
    welby, other = secure.studies["welby"], secure.studies["other"]
    accounts.create_group(secure.db, "tumour-board")
    async with secure.client("ref") as ref:
        r = await ref.post("/api/shares/grants", json={"study_instance_uids": [other],
                                                       "user": "view"})
        assert r.status_code == 404  # not visible to the referring physician
        r = await ref.post("/api/shares/grants", json={"study_instance_uids": [welby],
                                                       "user": "view"})
        assert r.status_code == 201, r.text
        grant_id = r.json()[0]["id"]
        assert (await ref.post("/api/shares/grants", json={
            "study_instance_uids": [welby], "group": "tumour-board"})).status_code == 201
        assert [g["value"] for g in (await ref.get("/api/shares/grants")).json()] == [welby] * 2
    async with secure.client("view") as view:
        assert uids(await view.get("/dicom-web/studies")) == {welby}
        # A viewer may not share (no study.share) nor end someone else's share.
        assert (await view.delete(f"/api/shares/grants/{grant_id}")).status_code == 403
    async with secure.client("rad") as rad:  # not the radiologist's share to end
        assert (await rad.delete(f"/api/shares/grants/{grant_id}")).status_code == 404
    async with secure.client("ref") as ref:
        assert (await ref.delete(f"/api/shares/grants/{grant_id}")).status_code == 200
    async with secure.client("view") as view:
        assert uids(await view.get("/dicom-web/studies")) == set()
    events, _ = audit.search(secure.db, action="share", user="ref")
    assert [e["details"]["what"] for e in events] == ["unshared", "shared with", "shared with"]


async def test_guessing_a_share_password_locks_the_link(sqlite_settings):
    sec = await open_secure_app(sqlite_settings, auth__login_max_failures=3)
    try:
        async with sec.client("rad") as client:
            r = await client.post("/api/shares", json={
                "study_instance_uids": [sec.studies["welby"]], "password": "open sesame 42"})
            token = r.json()["token"]
        async with sec.client() as anonymous:
            for guess in ("guess one", "guess two", "guess three"):
                r = await anonymous.post(f"/share/{token}", json={"password": guess})
                assert r.status_code == 401
            r = await anonymous.post(f"/share/{token}", json={"password": "open sesame 42"})
            assert r.status_code == 429 and r.json()["error"] == "locked_out"
    finally:
        await sec.close()


async def test_the_scope_reaches_the_endpoint(sqlite_settings):
    """The middleware sets the caller's scope for the endpoint and resets it afterwards;
    routes without a caller (pages, share links) see nothing unless they say so."""
    import httpx
    import orjson

    from hounsfield.archive.access import Scope, current_scope
    from hounsfield.web.security import SecurityMiddleware

    async def probe(scope, receive, send):
        seen = current_scope.get()
        body = orjson.dumps(None if seen is None else sorted(seen.referring_physician_names)
                            if seen.referring_physician_names else "nothing"
                            if seen == Scope() else "other")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sec = await open_secure_app(sqlite_settings, with_studies=False)
    try:
        app = SecurityMiddleware(probe, settings=sec.settings, db=sec.db, run=sec.archive.run,
                                 audit=sec.app.state.audit)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            def auth(user):
                return {"Authorization": f"Bearer {sec.tokens[user]}"}
            assert (await client.get("/", headers=auth("rad"))).json() == "nothing"
            assert (await client.get("/share/hf_x")).json() == "nothing"
            assert (await client.get("/dicom-web/studies", headers=auth("rad"))).json() is None
            assert (await client.get("/dicom-web/studies", headers=auth("ref"))).json() == [
                "WELBY^MARCUS"]
        assert current_scope.get() is None
    finally:
        await sec.close()


async def test_stow_is_audited_with_the_stored_studies(sqlite_settings):
    from dicom_factory import make_bytes

    boundary = "b-7d1f"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + make_bytes(study_uid="1.2.826.0.1.99.7") + f"\r\n--{boundary}--\r\n".encode())
    sec = await open_secure_app(sqlite_settings, with_studies=False)
    try:
        async with sec.client("tech") as client:
            r = await client.post("/dicom-web/studies", content=body, headers={
                "Content-Type": f'multipart/related; type="application/dicom"; '
                                f"boundary={boundary}"})
            assert r.status_code == 200, r.text
        events, _ = audit.search(sec.db, action="store", user="tech")
        assert events[0]["study_instance_uids"] == ["1.2.826.0.1.99.7"]
        assert events[0]["outcome"] == "success"
    finally:
        await sec.close()
