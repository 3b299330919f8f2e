"""Attacks through the real app: SQL injection in every QIDO and API parameter, path
traversal in identifiers, markup in patient names, forged and expired credentials. Each is
refused cleanly (no 5xx), changes nothing and leaks nothing outside the caller's scope."""

from __future__ import annotations

import datetime as dt
import sys
from urllib.parse import quote
from pathlib import Path

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
from security_app import open_secure_app  # noqa: E402

from dicom_factory import make_bytes  # noqa: E402
from hounsfield.archive import Origin  # noqa: E402
from hounsfield.auth import accounts, credentials  # noqa: E402
from hounsfield.auth.schema import audit_events, users  # noqa: E402
from hounsfield.auth.tokens import sign  # noqa: E402
from hounsfield.index.schema import instances, patients, series, studies  # noqa: E402

INJECTIONS = (
    "' OR '1'='1", "1' OR 1=1 --", "x'; DROP TABLE studies; --", "\\' OR 1=1 /*",
    "%' OR 'a' LIKE '%", "*') UNION SELECT username, password_hash FROM users --",
    "1.2.3\\1.2.4' OR '1'='1", "\x00", "20240101-' OR 1=1 --", "\" OR \"\"=\"",
)
QIDO_PARAMETERS = (
    "PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
    "StudyInstanceUID", "ModalitiesInStudy", "ReferringPhysicianName", "StudyDescription",
    "InstitutionName", "00100010", "00081030", "SeriesDescription", "limit", "offset",
    "includefield", "fuzzymatching", "orderby",
)
TABLES = (patients, studies, series, instances, users)


def counts(db):
    with db.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in TABLES}


def study_uids(response) -> set[str]:
    if response.status_code != 200:
        return set()
    return {s["0020000D"]["Value"][0] for s in response.json() if "0020000D" in s}


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings)
    yield sec
    await sec.close()


async def test_sql_injection_in_every_qido_parameter(secure):
    before = counts(secure.db)
    allowed = {secure.studies["welby"]}
    async with secure.client("ref") as client:
        for path in ("/dicom-web/studies", "/dicom-web/instances"):
            for name in QIDO_PARAMETERS:
                for payload in INJECTIONS:
                    r = await client.get(path, params={name: payload})
                    assert r.status_code < 500, (path, name, payload, r.text)
                    assert r.status_code in (200, 204, 400), (path, name, payload, r.text)
                    assert study_uids(r) <= allowed, (path, name, payload)
    assert counts(secure.db) == before


async def test_sql_injection_in_api_parameters(secure):
    before = counts(secure.db)
    async with secure.client("admin") as admin, secure.client() as anonymous:
        for payload in INJECTIONS:
            for name in ("user", "action", "outcome", "study", "patient_id", "since", "limit"):
                r = await admin.get("/api/admin/audit", params={name: payload})
                assert r.status_code in (200, 400, 422), (name, payload, r.text)
                if r.status_code == 200:
                    assert r.json()["total"] == 0
            r = await admin.get("/api/export", params={"study": payload})
            assert r.status_code in (400, 404, 422), (payload, r.text)
            r = await admin.post("/api/shares", json={"study_instance_uids": [payload]})
            assert r.status_code in (400, 404, 422), (payload, r.text)
            r = await admin.post("/api/admin/grants", json={"kind": "study", "value": payload,
                                                            "user": "view"})
            assert r.status_code in (400, 404, 422), (payload, r.text)
            r = await admin.patch(f"/api/admin/users/{quote(payload, safe='')}",
                                  json={"disabled": True})
            assert r.status_code in (400, 404, 405, 422), (payload, r.text)
            r = await anonymous.post("/api/auth/login", json={"username": payload,
                                                              "password": payload})
            assert r.status_code in (401, 422, 429), (payload, r.text)
    assert counts(secure.db) == before
    assert not any(u.disabled for u in accounts.list_users(secure.db))


async def test_path_traversal_in_identifiers(secure):
    traversals = ("..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                  "..\\..\\windows\\win.ini", "1.2.3%00.dcm", "1.2.3%2F..%2F..%2Fblobs")
    async with secure.client("admin") as admin, secure.client() as anonymous:
        for bad in traversals:
            for path in (f"/dicom-web/studies/{bad}", f"/dicom-web/studies/{bad}/metadata",
                         f"/dicom-web/studies/1.2/series/{bad}/instances/{bad}/frames/1",
                         f"/dicom-web/studies/1.2/series/1.3/instances/1.4/bulkdata/{bad}",
                         f"/api/shares/{bad}", f"/api/admin/users/{bad}"):
                r = await admin.get(path)
                assert r.status_code in (400, 403, 404, 405), (path, r.status_code, r.text)
                assert b"root:" not in r.content
            r = await admin.get("/wado", params={"requestType": "WADO", "studyUID": bad,
                                                 "seriesUID": bad, "objectUID": bad})
            assert r.status_code in (400, 403, 404), (bad, r.text)
            for path in (f"/share/{bad}", f"/share/{bad}/download", f"/assets/{bad}",
                         f"/{bad}"):
                r = await anonymous.get(path)
                assert r.status_code < 500 and b"root:" not in r.content, path


async def test_markup_in_patient_names_is_returned_as_data(secure):
    evil = "<script>alert(1)</script>^<img src onerror>"  # no "=": it separates PN groups
    result = await secure.archive.ingest_bytes(
        make_bytes(patient_name=evil, patient_id="<b>X</b>", referring="Welby^Marcus"),
        Origin("test"))
    assert result.ok
    async with secure.client("ref") as client:
        r = await client.get("/dicom-web/studies", params={"PatientID": "<b>X</b>"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/dicom+json"
        assert r.json()[0]["00100010"]["Value"][0]["Alphabetic"] == evil
        share = await client.post("/api/shares", json={
            "study_instance_uids": [result.study_instance_uid]})
    async with secure.client() as anonymous:
        r = await anonymous.get(f"/share/{share.json()['token']}")
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["studies"][0]["00100010"]["Value"][0]["Alphabetic"] == evil
    async with secure.client("admin") as admin:
        r = await admin.get("/api/admin/audit", params={"patient_id": "<b>X</b>"})
    # The search, the share link made and the link opened all name the patient.
    assert r.headers["content-type"] == "application/json" and r.json()["total"] == 3


async def test_expired_forged_and_foreign_session_cookies(secure):
    key = credentials.secret_key(secure.settings)
    user = accounts.get_user(secure.db, "rad")
    session_id, _ = credentials.create_session(secure.db, user, 3600)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    cookies = {
        "expired signature": credentials.session_cookie_value(key, session_id, past),
        "foreign key": credentials.session_cookie_value(b"x" * 32, session_id,
                                                        2_000_000_000),
        "unknown session": sign({"sid": "made-up"}, key, 2_000_000_000),
        "not a session": sign({"share": 1}, key, 2_000_000_000),
    }
    valid = credentials.session_cookie_value(key, session_id, 2_000_000_000)
    async with secure.client(cookies={"hounsfield_session": valid}) as client:
        assert (await client.get("/api/auth/me")).status_code == 200
    for why, cookie in cookies.items():
        async with secure.client(cookies={"hounsfield_session": cookie}) as client:
            r = await client.get("/dicom-web/studies")
            assert r.status_code == 401, why
    with secure.db.read() as conn:
        failures = conn.execute(select(func.count()).select_from(audit_events).where(
            audit_events.c.action == "login", audit_events.c.outcome == "failure")).scalar_one()
    assert failures == len(cookies)
