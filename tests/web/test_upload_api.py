"""Upload from the browser over the real app with access control on: DICOM files and
zips of them are stored through the archive's ingest, bad files are listed with their
reason and store nothing, PDFs and photos join a study as valid DICOM objects (checked
with dciodvfy) that QIDO-RS finds and the documents list shows."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from security_app import PASSWORD, open_secure_app  # noqa: E402

from dicom_factory import make_bytes  # noqa: E402
from hounsfield.archive.ingest import SPOOL_LIMIT  # noqa: E402
from hounsfield.auth import audit  # noqa: E402
from hounsfield.demo.pdf import minimal_pdf  # noqa: E402
from hounsfield.web.security import CSRF_HEADER  # noqa: E402
from hounsfield.web.upload_api import NEEDS_STUDY  # noqa: E402


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings, password_user=True)
    yield sec
    await sec.close()


def _count(sec) -> int:
    return sec.archive.core.stats()["instances"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _photo(fmt: str, **options) -> bytes:
    rng = np.random.default_rng(7)
    pixels = (rng.random((48, 64, 3)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def _dciodvfy_errors(path: str) -> list[str]:
    out = subprocess.run(["dciodvfy", path], capture_output=True, text=True, timeout=60,
                         check=False)
    return [line for line in (out.stdout + out.stderr).splitlines()
            if line.startswith("Error")]


async def test_dicom_files_and_a_zip_with_bad_members(secure):
    single = make_bytes(patient_id="U1", patient_name="Upload^One")
    inner = make_bytes(patient_id="U2", patient_name="Upload^Two")
    truncated = make_bytes(patient_id="U3")[:300]
    # Past the in-memory limit: streamed from the zip member into the archive.
    large = make_bytes(patient_id="U4", rows=1500, columns=1500)
    assert len(large) > SPOOL_LIMIT
    bundle = _zip({"inner/a.dcm": inner, "big/large.dcm": large, "inner/notes.txt": b"just text",
                   "inner/broken.dcm": truncated, "inner/report.pdf": minimal_pdf("R", []),
                   "DICOMDIR": b"\0" * 128 + b"DICM", "__MACOSX/._a.dcm": b"junk"})
    before = _count(secure)
    async with secure.client("tech") as tech:
        r = await tech.post("/api/upload", files=[
            ("files", ("one.dcm", single, "application/dicom")),
            ("files", ("archive.zip", bundle, "application/zip"))])
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(s["name"], s["kind"]) for s in body["stored"]] == [
            ("one.dcm", "dicom"), ("archive.zip/inner/a.dcm", "dicom"),
            ("archive.zip/big/large.dcm", "dicom")]
        reasons = {x["name"]: x["reason"] for x in body["rejected"]}
        assert set(reasons) == {"archive.zip/inner/notes.txt", "archive.zip/inner/broken.dcm",
                                "archive.zip/inner/report.pdf", "archive.zip/DICOMDIR"}
        assert "Not a DICOM file" in reasons["archive.zip/inner/notes.txt"]
        assert reasons["archive.zip/inner/report.pdf"] == NEEDS_STUDY
        assert reasons["archive.zip/inner/broken.dcm"]
        assert _count(secure) == before + 3
        # The upload's audit row names the studies it stored into.
        events, _ = audit.search(secure.db, action="store", user="tech")
        assert events and events[0]["outcome"] == "success"
        assert set(events[0]["study_instance_uids"]) == \
            {x["study_instance_uid"] for x in body["stored"]}
        for stored in body["stored"]:
            r = await tech.get("/dicom-web/instances",
                               params={"SOPInstanceUID": stored["sop_instance_uid"]})
            assert r.status_code == 200 and len(r.json()) == 1
            assert r.json()[0]["0020000D"]["Value"] == [stored["study_instance_uid"]]


async def test_a_document_without_a_study_is_rejected_and_stores_nothing(secure):
    before = _count(secure)
    async with secure.client("tech") as tech:
        r = await tech.post("/api/upload", files=[
            ("files", ("letter.pdf", minimal_pdf("Letter", ["x"]), "application/pdf")),
            ("files", ("photo.jpg", _photo("JPEG"), "image/jpeg")),
            ("files", ("notes.txt", b"hello", "text/plain"))])
        assert r.status_code == 200
        assert r.json()["stored"] == []
        assert r.json()["rejected"][:2] == [{"name": "letter.pdf", "reason": NEEDS_STUDY},
                                            {"name": "photo.jpg", "reason": NEEDS_STUDY}]
        # Not a form, or a study the caller cannot see: refused as a whole.
        assert (await tech.post("/api/upload", content=b"x")).status_code == 415
        r = await tech.post("/api/upload", data={"study_instance_uid": "1.2.3.999"},
                            files=[("files", ("a.pdf", minimal_pdf("A", []), "application/pdf"))])
        assert r.status_code == 404
    assert _count(secure) == before


async def test_pdf_and_photos_attached_to_a_study(secure):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    welby = secure.studies["welby"]
    small = minimal_pdf("Referral", ["Please assess the left knee."])
    # Larger than the in-memory limit: streamed into the object and out of it.
    large = minimal_pdf("Scan", ["many pages"]) + b"%" + bytes(
        np.random.default_rng(1).integers(0, 256, SPOOL_LIMIT + 1001, dtype=np.uint8))
    jpeg, progressive, png = _photo("JPEG"), _photo("JPEG", progressive=True), _photo("PNG")
    async with secure.client("rad") as rad, secure.client("ref") as referrer:
        r = await rad.post("/api/upload", data={"study_instance_uid": welby,
                                                "title": "Outside documents"}, files=[
            ("files", ("referral.pdf", small, "application/pdf")),
            ("files", ("scan.pdf", large, "application/pdf")),
            ("files", ("knee.jpg", jpeg, "image/jpeg")),
            ("files", ("knee2.jpg", progressive, "image/jpeg")),
            ("files", ("knee.png", png, "image/png"))])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rejected"] == []
        assert [(s["name"], s["kind"], s["study_instance_uid"]) for s in body["stored"]] == [
            ("referral.pdf", "pdf", welby), ("scan.pdf", "pdf", welby),
            ("knee.jpg", "photo", welby), ("knee2.jpg", "photo", welby),
            ("knee.png", "photo", welby)]
        uids = [s["sop_instance_uid"] for s in body["stored"]]
        # QIDO-RS finds them in the study, with the study's patient.
        found = (await rad.get(f"/dicom-web/studies/{welby}/instances")).json()
        assert set(uids) <= {i["00080018"]["Value"][0] for i in found}
        study = (await rad.get("/dicom-web/studies",
                               params={"StudyInstanceUID": welby})).json()[0]
        assert study["00100020"]["Value"] == ["P1"]
        assert {"DOC", "XC"} <= set(study["00080061"]["Value"])
        # The documents list shows them; those who see the study open them.
        docs = (await referrer.get(f"/api/studies/{welby}/documents")).json()
        assert sorted((d["sop_instance_uid"], d["kind"]) for d in docs) == sorted(
            (s["sop_instance_uid"], s["kind"]) for s in body["stored"])
        assert {d["title"] for d in docs} == {"Outside documents"}
        by_uid = {d["sop_instance_uid"]: d for d in docs}
        for uid, original in ((uids[0], small), (uids[1], large)):
            r = await referrer.get(by_uid[uid]["content_url"])
            assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
            assert r.headers["content-disposition"].startswith("inline")
            assert r.content == original
        r = await referrer.get(by_uid[uids[2]]["content_url"])
        assert r.headers["content-type"] == "image/jpeg" and r.content == jpeg  # kept as is
        for uid in uids[3:]:
            r = await referrer.get(by_uid[uid]["content_url"])
            shown = Image.open(io.BytesIO(r.content))
            assert shown.format == "JPEG" and shown.size == (64, 48)
        # Shown on the patient's timeline too.
        timeline = (await rad.get("/api/patients/P1/timeline")).json()
        assert len(timeline["studies"][0]["documents"]) == 5
    for ref in await secure.archive.run(secure.archive.core.instances, welby,
                                        sop_instance_uid=uids):
        path = secure.archive.local_path(ref)
        assert path is not None
        assert _dciodvfy_errors(path) == [], ref.sop_class_uid


async def test_the_browser_uploads_with_its_session_and_csrf_header(secure):
    """As the pages do: a session cookie, and the CSRF header on the state-changing POST;
    without the header the upload is refused and nothing is stored."""
    before = _count(secure)
    files = [("files", ("one.dcm", make_bytes(patient_id="S1"), "application/dicom"))]
    async with secure.client() as browser:
        login = await browser.post("/api/auth/login",
                                   json={"username": "rad", "password": PASSWORD})
        assert login.status_code == 200, login.text
        r = await browser.post("/api/upload", files=files)
        assert r.status_code == 403
        assert _count(secure) == before
        r = await browser.post("/api/upload", files=files,
                               headers={CSRF_HEADER: login.json()["csrf_token"]})
        assert r.status_code == 200 and len(r.json()["stored"]) == 1
    assert _count(secure) == before + 1


async def test_a_large_upload_is_streamed_not_held_in_memory(sqlite_settings, tmp_path):
    """A 32 MB object goes from the request to storage through temporary files: the
    server's Python memory grows by a fraction of it (DESIGN rule 3)."""
    sec = await open_secure_app(sqlite_settings, with_studies=False)
    try:
        path = tmp_path / "big.dcm"
        path.write_bytes(make_bytes(patient_id="BIG", rows=4096, columns=4096))
        size = path.stat().st_size
        async with sec.client("tech") as tech:
            tracemalloc.start()
            try:
                with path.open("rb") as fh:  # the client streams the file too
                    r = await tech.post("/api/upload", files=[
                        ("files", ("big.dcm", fh, "application/dicom"))])
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert r.status_code == 200 and len(r.json()["stored"]) == 1, r.text
        ref = sec.archive.core.instances(sop_instance_uid=r.json()["stored"][0][
            "sop_instance_uid"])[0]
        assert ref.size == size
        assert peak < size / 3, (peak, size)
    finally:
        await sec.close()
