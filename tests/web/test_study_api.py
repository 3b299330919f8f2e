"""The study API of the web application over the real app with access control on:
annotations and comments shared between the users who may see a study, hidden (404) from
those who may not, changed only by their author or an administrator; documents; the
timeline of a patient."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from security_app import open_secure_app  # noqa: E402

from dicom_factory import make_bytes, make_dataset  # noqa: E402
from hounsfield.archive import Origin  # noqa: E402
from hounsfield.auth import audit  # noqa: E402

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings)
    yield sec
    await sec.close()


async def _instance(sec, key: str):
    refs = await sec.archive.run(sec.archive.core.instances, sec.studies[key])
    return refs[0]


def _body(ref, **changes):
    body = {"series_instance_uid": ref.series_instance_uid,
            "sop_instance_uid": ref.sop_instance_uid, "frame": None, "tool": "Length",
            "label": "12.3 mm",
            "data": {"handles": {"points": [[0, 0, 0], [12.3, 0, 0]]},
                     "cachedStats": {"length": 12.3, "unit": "mm"}}}
    body.update(changes)
    return body


async def test_annotations_are_shared_with_those_who_see_the_study(secure):
    welby = secure.studies["welby"]
    ref = await _instance(secure, "welby")
    async with secure.client("rad") as rad, secure.client("ref") as referrer, \
            secure.client("view") as viewer, secure.client("admin") as admin:
        r = await rad.post(f"/api/studies/{welby}/annotations", json=_body(ref))
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["created_by"] == "rad" and created["tool"] == "Length"
        assert created["data"]["cachedStats"]["length"] == 12.3
        assert created["study_instance_uid"] == welby and created["frame"] is None
        # The referring physician sees the study, so the annotation; a viewer granted no
        # study sees neither.
        listed = (await referrer.get(f"/api/studies/{welby}/annotations")).json()
        assert [a["id"] for a in listed] == [created["id"]]
        assert listed[0]["data"] == created["data"]
        assert (await viewer.get(f"/api/studies/{welby}/annotations")).status_code == 404
        # Only the author or an administrator changes it.
        r = await referrer.put(f"/api/studies/{welby}/annotations/{created['id']}",
                               json=_body(ref, label="mine now"))
        assert r.status_code == 403, r.text
        r = await referrer.delete(f"/api/studies/{welby}/annotations/{created['id']}")
        assert r.status_code == 403
        r = await rad.put(f"/api/studies/{welby}/annotations/{created['id']}",
                          json=_body(ref, label="13 mm", frame=1))
        assert r.status_code == 200 and r.json()["label"] == "13 mm" and r.json()["frame"] == 1
        assert r.json()["updated_at"] >= created["updated_at"]
        # A viewer holds no study.annotate.
        assert (await viewer.post(f"/api/studies/{welby}/annotations",
                                  json=_body(ref))).status_code == 403
        r = await admin.delete(f"/api/studies/{welby}/annotations/{created['id']}")
        assert r.status_code == 200 and r.json() == {"deleted": created["id"]}
        assert (await rad.get(f"/api/studies/{welby}/annotations")).json() == []
    events, _ = audit.search(secure.db, action="annotate", study_instance_uid=welby)
    assert {e["user"] for e in events} >= {"rad", "admin"}


async def test_annotations_of_a_study_out_of_scope_answer_404(secure):
    other = secure.studies["other"]  # referred by another physician: not the "ref" user's
    ref = await _instance(secure, "other")
    async with secure.client("rad") as rad, secure.client("ref") as referrer:
        r = await rad.post(f"/api/studies/{other}/annotations", json=_body(ref))
        assert r.status_code == 201
        annotation_id = r.json()["id"]
        for method, path, body in (
                ("GET", f"/api/studies/{other}/annotations", None),
                ("POST", f"/api/studies/{other}/annotations", _body(ref)),
                ("PUT", f"/api/studies/{other}/annotations/{annotation_id}", _body(ref)),
                ("DELETE", f"/api/studies/{other}/annotations/{annotation_id}", None),
                ("GET", f"/api/studies/{other}/comments", None),
                ("POST", f"/api/studies/{other}/comments", {"text": "hello"}),
                ("GET", f"/api/studies/{other}/documents", None)):
            r = await referrer.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"] == "not_found"
        # The same answer as for a study that is not stored at all.
        missing = await referrer.get("/api/studies/1.2.3.999/annotations")
        assert missing.status_code == 404
        assert len((await rad.get(f"/api/studies/{other}/annotations")).json()) == 1


async def test_an_annotation_must_name_an_instance_of_the_study_and_stay_small(secure):
    welby = secure.studies["welby"]
    foreign = await _instance(secure, "other")
    ref = await _instance(secure, "welby")
    async with secure.client("rad") as rad:
        r = await rad.post(f"/api/studies/{welby}/annotations", json=_body(foreign))
        assert r.status_code == 404 and foreign.sop_instance_uid in r.json()["message"]
        big = {"points": "x" * (256 * 1024)}
        r = await rad.post(f"/api/studies/{welby}/annotations", json=_body(ref, data=big))
        assert r.status_code == 400 and "256" not in r.json()["error"]
        r = await rad.post(f"/api/studies/{welby}/annotations", json=_body(ref, data=[1, 2]))
        assert r.status_code == 422
        assert (await rad.get(f"/api/studies/{welby}/annotations")).json() == []


async def test_comments_oldest_first_deleted_by_author_or_admin(secure):
    welby = secure.studies["welby"]
    async with secure.client("rad") as rad, secure.client("ref") as referrer, \
            secure.client("tech") as tech:
        first = (await rad.post(f"/api/studies/{welby}/comments",
                                json={"text": "Please compare with 2023."})).json()
        r = await referrer.post(f"/api/studies/{welby}/comments", json={"text": "Thanks ✓"})
        assert r.status_code == 201
        second = r.json()
        listed = (await tech.get(f"/api/studies/{welby}/comments")).json()
        assert [c["id"] for c in listed] == [first["id"], second["id"]]
        assert listed[1] == {"id": second["id"], "text": "Thanks ✓", "author": "ref",
                             "created_at": second["created_at"]}
        assert (await rad.post(f"/api/studies/{welby}/comments",
                               json={"text": ""})).status_code == 422
        assert (await rad.post(f"/api/studies/{welby}/comments",
                               json={"text": "x" * 4001})).status_code == 422
        assert (await tech.delete(f"/api/studies/{welby}/comments/{first['id']}")
                ).status_code == 403
        assert (await rad.delete(f"/api/studies/{welby}/comments/{first['id']}")).json() == \
            {"deleted": first["id"]}
        assert [c["id"] for c in (await rad.get(f"/api/studies/{welby}/comments")).json()] \
            == [second["id"]]


def _report(study_instance_uid: str) -> bytes:
    """A Basic Text SR of the study of patient P1."""
    ds = make_dataset(patient_id="P1", patient_name="Doe^John",
                      study_uid=study_instance_uid, sop_class=BASIC_TEXT_SR,
                      modality="SR", referring="Welby^Marcus")
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation",
                    "PixelData"):
        delattr(ds, keyword)

    def code(value: str, meaning: str) -> Sequence:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "LN", meaning
        return Sequence([item])

    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = code("18748-4", "Diagnostic imaging report")
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    finding = Dataset()
    finding.RelationshipType, finding.ValueType = "CONTAINS", "TEXT"
    finding.ConceptNameCodeSequence = code("121071", "Finding")
    finding.TextValue = "No focal lesion."
    ds.ContentSequence = Sequence([finding])
    from hounsfield.demo.files import to_bytes

    return to_bytes(ds)


async def test_documents_list_and_render_a_structured_report(secure):
    welby = secure.studies["welby"]
    ref = await _instance(secure, "welby")
    result = await secure.archive.ingest_bytes(_report(welby), Origin("test"))
    assert result.ok, result
    async with secure.client("ref") as referrer:
        docs = (await referrer.get(f"/api/studies/{welby}/documents")).json()
        assert [(d["kind"], d["title"], d["sop_instance_uid"]) for d in docs] == [
            ("sr", "Diagnostic imaging report", result.sop_instance_uid)]
        r = await referrer.get(docs[0]["content_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
        assert "Finding: No focal lesion." in r.text
        assert "Diagnostic imaging report" in r.text.splitlines()[0]
        # An image is not a document.
        r = await referrer.get(f"/api/studies/{welby}/documents/{ref.sop_instance_uid}/content")
        assert r.status_code == 404


async def test_timeline_of_a_patient_newest_first_within_scope(secure):
    # A second, older study of patient P1 referred by someone else.
    older = make_bytes(patient_id="P1", patient_name="Doe^John", referring="Kildare^James",
                       study_date="20200101", modality="MR", InstitutionName="Elsewhere")
    stored = await secure.archive.ingest_bytes(older, Origin("test"))
    welby = secure.studies["welby"]
    async with secure.client("rad") as rad, secure.client("ref") as referrer, \
            secure.client("view") as viewer:
        await rad.post(f"/api/studies/{welby}/comments", json={"text": "seen"})
        r = await rad.get("/api/patients/P1/timeline")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["patient"] == {"patient_id": "P1", "patient_name": "Doe^John",
                                   "birth_date": "19700101", "sex": "M"}
        uids = [s["study_instance_uid"] for s in body["studies"]]
        assert uids == [welby, stored.study_instance_uid]
        newest = body["studies"][0]
        assert newest["modalities"] == ["CT"] and newest["series_count"] == 1
        assert newest["instance_count"] == 1 and newest["comments_count"] == 1
        assert newest["annotations_count"] == 0 and newest["documents"] == []
        assert newest["referring_physician"] == "Welby^Marcus"
        ref = await _instance(secure, "welby")
        assert newest["thumbnail_series_uid"] == ref.series_instance_uid
        # The referring physician sees only the study referred by him.
        body = (await referrer.get("/api/patients/P1/timeline")).json()
        assert [s["study_instance_uid"] for s in body["studies"]] == [welby]
        # A Patient ID holding "/" is one percent-encoded path segment.
        slashed = await secure.archive.ingest_bytes(
            make_bytes(patient_id="P/7", patient_name="Slash^Sam"), Origin("test"))
        r = await rad.get("/api/patients/P%2F7/timeline")
        assert r.status_code == 200, r.text
        assert [s["study_instance_uid"] for s in r.json()["studies"]] == \
            [slashed.study_instance_uid]
        events, _ = audit.search(secure.db, action="search", user="rad", patient_id="P/7")
        assert events and events[0]["details"]["path"] == "/api/patients/P/7/timeline"
        # Nothing visible: 404, as for an unknown patient.
        assert (await referrer.get("/api/patients/P2/timeline")).status_code == 404
        assert (await viewer.get("/api/patients/NOBODY/timeline")).status_code == 404
