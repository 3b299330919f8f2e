"""Upload from the browser: DICOM files are stored, a PDF is attached to the study the page
was opened for, and a file that is neither is listed with the reason it was refused."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.uid import generate_uid

from hounsfield.demo.pdf import minimal_pdf

pytestmark = pytest.mark.browser


def another_series(phantom) -> tuple[bytes, str]:
    """A new series of one slice in the phantom's study, as a Part 10 file."""
    ds = pydicom.dcmread(next(phantom.folder.glob("*.dcm")))
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 2
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), ds.SOPInstanceUID


def test_upload_stores_files_and_lists_the_rejected(server, login):
    # The study of the South Clinic: the other tests do not count its series.
    phantom = server.phantoms["secret"]
    dicom, sop_uid = another_series(phantom)
    tab = login("rad1").tab()
    page = tab.open(f"/upload?study={phantom.study_uid}")
    assert tab.hf("hf.route") == "upload"
    page.get_by_test_id("upload-title").fill("Referral letter")
    page.get_by_test_id("upload-files").set_input_files([
        {"name": "slice.dcm", "mimeType": "application/dicom", "buffer": dicom},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image at all\n"},
        {"name": "referral.pdf", "mimeType": "application/pdf",
         "buffer": minimal_pdf("Referral", ["Please see the patient."])},
    ])
    page.locator('[data-testid="upload"][data-state="done"]').wait_for(timeout=30_000)
    assert page.get_by_test_id("upload-stored-count").inner_text() == "2"
    assert page.get_by_test_id("upload-study-link").evaluate_all(
        "links => links.map(a => a.dataset.studyUid)") == [phantom.study_uid]
    rejected = page.get_by_test_id("upload-rejected")
    assert rejected.count() == 1
    assert rejected.get_by_test_id("upload-rejected-name").inner_text() == "notes.txt"
    assert "Not a DICOM file" in rejected.get_by_test_id("upload-rejected-reason").inner_text()

    # Stored on the server: the image is found by DICOMweb, the PDF among the documents.
    found = page.request.get(f"{server.base_url}/dicom-web/instances?SOPInstanceUID={sop_uid}",
                             headers={"Accept": "application/dicom+json"})
    assert found.status == 200 and len(found.json()) == 1
    documents = page.request.get(
        f"{server.base_url}/api/studies/{phantom.study_uid}/documents").json()
    assert [(d["kind"], d["title"]) for d in documents] == [("pdf", "Referral letter")]

    # The study page shows both: the new series and the document.
    page.get_by_test_id("upload-study-link").click()
    tab.wait_ready()
    assert tab.hf("hf.route") == "study"
    assert page.get_by_test_id("series-card").count() == 3
    assert page.locator('[data-testid="document"][data-kind="pdf"]').count() == 1
    tab.assert_clean()
    page.close()
