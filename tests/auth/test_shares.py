"""Share links end to end over real HTTP (uvicorn): expiry, revocation, password, and a
de-identified link browsed with dicomweb-client through the ``X-Share-Token`` header,
with no original name, Patient ID or UID anywhere in what it answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import socket
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
import uvicorn
from dicomweb_client.api import DICOMwebClient
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import SC_IMAGE, make_bytes, make_dataset, to_bytes
from security_app import open_secure_app

from hounsfield.archive import Origin
from hounsfield.auth import audit, shares
from hounsfield.auth.schema import shares as share_table

NAME, PATIENT_ID, ACCESSION = "Leakwell^Prudence", "PID-77813", "ACC-55120"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
PRIVATE = b"PRIVATE-VENDOR-SECRET-" * 100  # a private bulk data element of the first image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The secure app served by uvicorn in the test's own event loop."""

    def __init__(self, sec: Any) -> None:
        self.sec = sec
        self.port = sec.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(sec.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Server:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await self.task


@pytest.fixture
async def secure(settings):
    # dicomweb-client sends a Host header without the port: the public URL says it.
    port = _free_port()
    sec = await open_secure_app(settings,
                                dicomweb__public_url=f"http://127.0.0.1:{port}/dicom-web")
    sec.port = port  # type: ignore[attr-defined]
    study = "1.2.826.0.1.3680043.10.511.7.1"
    spec = dict(patient_name=NAME, patient_id=PATIENT_ID, accession=ACCESSION, study_uid=study,
                referring="Welby^Marcus", birth_date="19610203")
    series = [f"{study}.1", f"{study}.2", f"{study}.3"]
    first = make_dataset(**spec, series_uid=series[0], sop_uid=f"{series[0]}.1", rows=32,
                         columns=32, instance_number=1)
    first.private_block(0x0009, "LEAKCORP", create=True).add_new(0x10, "OB", PRIVATE)
    objects = [  # two CT series, an US image that may carry burned-in text, an SC image
        # that says so
        to_bytes(first),
        make_bytes(**spec, series_uid=series[0], sop_uid=f"{series[0]}.2", instance_number=2),
        make_bytes(**spec, series_uid=series[1], sop_uid=f"{series[1]}.1", series_number=2),
        make_bytes(**spec, series_uid=series[2], sop_uid=f"{series[2]}.1", series_number=3,
                   modality="US", sop_class=US_IMAGE),
        make_bytes(**spec, series_uid=series[1], sop_uid=f"{series[1]}.9", series_number=2,
                   instance_number=9, sop_class=SC_IMAGE, BurnedInAnnotation="YES"),
    ]
    for data in objects:
        assert (await sec.archive.ingest_bytes(data, Origin("test"))).ok
    sec.studies["leaky"] = study
    sec.originals = [pydicom.dcmread(io.BytesIO(d)) for d in objects]  # type: ignore[attr-defined]
    yield sec
    await sec.close()


async def _share(sec: Any, **body: Any) -> tuple[str, int]:
    async with sec.client("rad") as client:
        r = await client.post("/api/shares", json={
            "study_instance_uids": [sec.studies["leaky"]], **body})
        assert r.status_code == 201, r.text
        return r.json()["token"], r.json()["share"]["id"]


def _browse(url: str, access: str, sec: Any, token: str) -> dict[str, Any]:
    """What a share viewer does with dicomweb-client (blocking: runs in a thread). Every
    answer body is kept to look for leaks."""
    bodies: list[bytes] = []
    client = DICOMwebClient(url=f"{url}/dicom-web", headers={"X-Share-Token": access})
    client._session.hooks["response"].append(lambda r, *a, **k: bodies.append(r.content))
    out: dict[str, Any] = {"bodies": bodies}
    studies = client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"})
    assert len(studies) == 1
    study = studies[0]["0020000D"]["Value"][0]
    out["study"], out["study_doc"] = study, studies[0]
    out["series"] = client.search_for_series(study)
    out["instances"] = client.search_for_instances(study)
    out["metadata"] = client.retrieve_study_metadata(study)
    first = next(m for m in out["metadata"] if m["00280010"]["Value"] == [32])
    series, sop = first["0020000E"]["Value"][0], first["00080018"]["Value"][0]
    out["bulk"] = client.retrieve_bulkdata(first["7FE00010"]["BulkDataURI"])[0]
    assert "00091010" not in first  # private: removed, and not to be fetched by guessing
    out["private_bulk"] = client._session.get(
        first["7FE00010"]["BulkDataURI"].replace("7FE00010", "00091010"))
    out["frame"] = client.retrieve_instance_frames(study, series, sop, [1])[0]
    out["rendered"] = client.retrieve_instance_rendered(
        study, series, sop, params={"quality": 60, "window": "100,400,linear"})
    out["instance"] = client.retrieve_instance(study, series, sop)
    out["series_instances"] = client.retrieve_series(study, series)
    session = client._session
    out["thumbnail"] = session.get(f"{url}/dicom-web/studies/{study}/thumbnail",
                                   params={"viewport": "64,64"})
    out["series_rendered"] = session.get(
        f"{url}/dicom-web/studies/{study}/series/{series}/rendered",
        headers={"Accept": 'multipart/related; type="image/jpeg"'})
    out["by_patient"] = session.get(f"{url}/dicom-web/studies",
                                    params={"PatientName": "Leak*"})
    out["xml"] = session.get(f"{url}/dicom-web/studies/{study}/metadata",
                             headers={"Accept": 'multipart/related; type="application/dicom+xml"'})
    real = sec.studies["leaky"]
    out["real_uid"] = session.get(f"{url}/dicom-web/studies/{real}/metadata")
    out["other_study"] = session.get(f"{url}/dicom-web/studies/{sec.studies['welby']}/series")
    out["wado_uri"] = session.get(f"{url}/wado", params={
        "requestType": "WADO", "studyUID": study, "seriesUID": series, "objectUID": sop})
    out["download"] = requests.get(f"{url}/share/{token}/download", params={"access": access})
    bodies.append(out["download"].content)
    return out


async def test_deidentified_share_browsed_with_dicomweb_client(secure):
    token, share_id = await _share(secure, deidentify=True, password="open sesame 42")
    async with Server(secure) as server:
        opened = await asyncio.to_thread(requests.post, f"{server.url}/share/{token}",
                                         json={"password": "open sesame 42"})
        assert opened.status_code == 200, opened.text
        access = opened.json()["access"]
        seen = await asyncio.to_thread(_browse, server.url, access, secure, token)
        # The same link shows the same pseudonyms every time.
        again = await asyncio.to_thread(lambda: requests.get(
            f"{server.url}/dicom-web/studies", headers={"X-Share-Token": access}).json())
    originals = secure.originals
    real = secure.studies["leaky"]
    study = seen["study"]
    assert study != real and again[0]["0020000D"]["Value"] == [study]
    assert opened.json()["studies"][0]["0020000D"]["Value"] == [study]

    # The US image (no Burned In Annotation NO) and the SC image (YES) are left out.
    assert len(seen["series"]) == 2 and len(seen["instances"]) == 3
    assert len(seen["metadata"]) == 3
    assert seen["study_doc"]["00201208"]["Value"] == [3]
    assert seen["study_doc"]["00201206"]["Value"] == [2]
    assert seen["study_doc"]["00080061"]["Value"] == ["CT"]
    counts = sorted(s["00201209"]["Value"][0] for s in seen["series"])
    assert counts == [1, 2]

    for doc in seen["metadata"]:
        assert doc["00120062"]["Value"] == ["YES"]  # Patient Identity Removed
        assert doc["00100020"]["Value"][0].startswith("ANON")
        assert "00100030" not in doc.get("00100030", {}).get("Value", [])  # birth date emptied
    for doc in seen["instances"] + seen["series"]:
        assert doc["00081190"]["Value"][0].startswith("http://127.0.0.1:")
        assert f"/studies/{study}/" in doc["00081190"]["Value"][0] + "/"

    # Pixels as stored: the bulk data, the frame and the de-identified Part 10 agree.
    big = originals[0]
    assert seen["bulk"] == big.PixelData == seen["frame"]
    ds = seen["instance"]
    assert ds.PatientIdentityRemoved == "YES" and ds.StudyInstanceUID == study
    assert np.array_equal(ds.pixel_array, big.pixel_array)
    assert len(seen["series_instances"]) == 2
    assert seen["rendered"][:2] == b"\xff\xd8"
    assert seen["thumbnail"].status_code == 200
    assert seen["thumbnail"].headers["content-type"] == "image/jpeg"
    assert seen["series_rendered"].status_code == 200

    # The download holds the same pseudonyms and leaves out the same images.
    assert seen["download"].status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(seen["download"].content))
    files = [pydicom.dcmread(io.BytesIO(archive.read(n))) for n in archive.namelist()
             if n != "DICOMDIR"]
    assert sorted(f.SOPInstanceUID for f in files) == sorted(
        m["00080018"]["Value"][0] for m in seen["metadata"])
    assert {f.StudyInstanceUID for f in files} == {study}

    # Refused: matching on identity, XML, stored UIDs, other studies, WADO-URI.
    assert seen["by_patient"].status_code == 400
    assert seen["xml"].status_code == 406
    assert seen["real_uid"].status_code == 404
    assert seen["other_study"].status_code == 404
    assert seen["wado_uri"].status_code == 403
    assert seen["private_bulk"].status_code == 404
    deidentifier = shares.deidentifier(secure.settings, _key(secure),
                                       _share_of(secure, share_id))
    left_out = deidentifier.pseudonymous_uid(originals[3].SOPInstanceUID)
    us_series = deidentifier.pseudonymous_uid(originals[3].SeriesInstanceUID)
    async with secure.client(headers={"X-Share-Token": access}) as client:
        r = await client.get(f"/dicom-web/studies/{study}/series/{us_series}/instances/"
                             f"{left_out}/frames/1")
        assert r.status_code == 404
        seen["bodies"].append(r.content)
        # A series with a left-out image renders image by image only.
        sc_series = deidentifier.pseudonymous_uid(originals[4].SeriesInstanceUID)
        r = await client.get(f"/dicom-web/studies/{study}/series/{sc_series}/rendered")
        assert r.status_code == 403
        seen["bodies"].append(r.content)

    # Nothing that names the patient or the stored objects, in any answer.
    secrets = [NAME, "Leakwell", "Prudence", PATIENT_ID, ACCESSION, "19610203", real,
               "PRIVATE-VENDOR-SECRET"]
    secrets += [o.SeriesInstanceUID for o in originals]
    secrets += [o.SOPInstanceUID for o in originals]
    for body in seen["bodies"]:
        for secret in secrets:
            assert secret.encode() not in body, secret

    # Every use is on the audit trail, under the share, naming the stored study.
    events, _ = audit.search(secure.db, user=f"share:{share_id}", limit=1000)
    by_action = {e["action"] for e in events}
    assert {"search", "view", "retrieve", "share_access"} <= by_action
    for event in events:
        if event["action"] != "share_access":
            assert event["details"]["share"] == share_id
        if event["outcome"] == "success" and event["action"] != "search":
            assert event["study_instance_uids"] == [real], event
            assert event["patient_id"] == PATIENT_ID
    assert any(e["outcome"] == "denied" for e in events)


def _key(sec: Any) -> bytes:
    from hounsfield.auth.credentials import secret_key

    return secret_key(sec.settings)


def _share_of(sec: Any, share_id: int) -> shares.Share:
    return next(s for s in shares.list_shares(sec.db) if s.id == share_id)


async def test_expiry_revocation_and_password(secure):
    token, share_id = await _share(secure, password="open sesame 42")
    other_token, other_id = await _share(secure)
    async with Server(secure) as server:
        def get(path: str, **kw: Any) -> requests.Response:
            return requests.get(server.url + path, **kw)

        r = await asyncio.to_thread(get, f"/share/{token}")
        assert r.status_code == 401 and r.json()["error"] == "share_password_required"
        r = await asyncio.to_thread(get, f"/share/{token}",
                                    headers={"X-Share-Password": "open sesame 43"})
        assert r.status_code == 401
        r = await asyncio.to_thread(get, f"/share/{token}",
                                    headers={"X-Share-Password": "open sesame 42"})
        assert r.status_code == 200
        access = r.json()["access"]
        header = {"X-Share-Token": access}
        r = await asyncio.to_thread(get, "/dicom-web/studies", headers=header)
        assert r.status_code == 200
        assert {s["0020000D"]["Value"][0] for s in r.json()} == {secure.studies["leaky"]}
        assert PATIENT_ID in r.text  # not de-identified: the link shows the study as stored
        # The token of a password link is not an access value by itself.
        r = await asyncio.to_thread(get, "/dicom-web/studies", headers={"X-Share-Token": token})
        assert r.status_code == 401

        # Revoked: the link and every access value it gave stop at once.
        async with secure.client("rad") as client:
            assert (await client.delete(f"/api/shares/{share_id}")).status_code == 200
        r = await asyncio.to_thread(get, "/dicom-web/studies", headers=header)
        assert r.status_code == 401 and "revoked" in r.json()["message"]
        r = await asyncio.to_thread(get, f"/share/{token}",
                                    headers={"X-Share-Password": "open sesame 42"})
        assert r.status_code == 401

        # Expired: the same.
        r = await asyncio.to_thread(get, f"/share/{other_token}")
        other_access = r.json()["access"]
        assert (await asyncio.to_thread(get, "/dicom-web/studies",
                                        headers={"X-Share-Token": other_access})).status_code == 200
        with secure.db.write() as conn:
            conn.execute(update(share_table).where(share_table.c.id == other_id).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        r = await asyncio.to_thread(get, "/dicom-web/studies",
                                    headers={"X-Share-Token": other_access})
        assert r.status_code == 401 and "expired" in r.json()["message"]
        r = await asyncio.to_thread(get, f"/share/{other_token}/download")
        assert r.status_code == 401
    events, _ = audit.search(secure.db, action="share_access", limit=1000)
    assert {"success", "denied"} <= {e["outcome"] for e in events}
    refused, _ = audit.search(secure.db, action="login", outcome="failure", limit=1000)
    assert any("revoked" in (e["details"] or {}).get("reason", "") for e in refused)


async def test_odd_requests_under_a_deidentified_share(secure):
    token, _ = await _share(secure, deidentify=True)
    async with secure.client() as client:
        access = (await client.get(f"/share/{token}")).json()["access"]
        client.headers["X-Share-Token"] = access
        study = (await client.get("/dicom-web/studies")).json()[0]["0020000D"]["Value"][0]
        one = (await client.get(f"/dicom-web/studies/{study}/instances")).json()[0]
        instance = (f"/dicom-web/studies/{study}/series/{one['0020000E']['Value'][0]}"
                    f"/instances/{one['00080018']['Value'][0]}")
        for path, status in ((f"/dicom-web/studies/{study}/s%C3%A9ries", 403),
                             (f"{instance}/frames/%C3%A9", 400),
                             (f"{instance}/bulkdata/zz%C3%A9", 400),
                             ("/dicom-web/studies/%C3%A9/metadata", 404),
                             (f"/dicom-web/studies/{study}/series?Nonsense=1", 400),
                             (f"/dicom-web/studies/{study}/series?00091010=x", 400),
                             (f"/dicom-web/studies/{study}/series?StudyDate=2024", 400),
                             (f"/dicom-web/studies/{study}/series?Modality=CT", 200)):
            r = await client.get(path)
            assert r.status_code == status, (path, r.text)
            assert PATIENT_ID.encode() not in r.content


async def test_the_share_viewer_requests(secure):
    """The requests the browser's share viewer makes (web/src/dicomweb.ts), with the
    identifying fields it asks for answered de-identified."""
    token, _ = await _share(secure, deidentify=True)
    fields = [("includefield", f) for f in ("00100030", "00100040", "00081030", "00080061",
                                            "00201206", "00201208")]
    async with secure.client() as client:
        client.headers["X-Share-Token"] = (await client.get(f"/share/{token}")).json()["access"]
        listed = (await client.get("/dicom-web/studies", params=[("limit", "200")] + fields))
        assert listed.status_code == 200 and len(listed.json()) == 1
        study = listed.json()[0]["0020000D"]["Value"][0]
        one = await client.get("/dicom-web/studies",
                               params=[("StudyInstanceUID", study)] + fields)
        assert one.json() == listed.json()
        assert "Value" not in one.json()[0]["00100030"]  # birth date emptied
        series = await client.get(f"/dicom-web/studies/{study}/series", params=[
            ("includefield", f) for f in ("0008103E", "00201209", "00080021", "00080031")])
        assert series.status_code == 200 and len(series.json()) == 2
        for found in series.json():
            uid = found["0020000E"]["Value"][0]
            meta = await client.get(f"/dicom-web/studies/{study}/series/{uid}/metadata")
            assert meta.status_code == 200
            assert len(meta.json()) == found["00201209"]["Value"][0]
            for body in (listed.content, series.content, meta.content):
                assert b"19610203" not in body and PATIENT_ID.encode() not in body
