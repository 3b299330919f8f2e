"""Audit events of the DICOM services: C-FIND is a search, C-GET a retrieve, and the
C-STOREs of an association one store event, each with the calling AE title as user."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.auth.audit import AuditTrail
from hounsfield.auth.audit import search as search_audit
from hounsfield.dicom import (Association, DicomServer, query_contexts, role_selection)
from hounsfield.dicom.datasets import BufferSink

from dicom_peers import dicom_settings, make_image

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = "1.2.826.0.1.3680043.10.1447.5.1"


async def test_find_get_and_store_are_audited(tmp_path, archive) -> None:  # type: ignore[no-untyped-def]
    settings = dicom_settings(tmp_path)
    trail = AuditTrail(archive.core.db, settings, archive.run)
    srv = DicomServer(settings, archive, audit=trail)
    await srv.start()
    try:
        datasets = [make_image(study_instance_uid=STUDY, patient_id="AUDIT1", instance_number=i)
                    for i in (1, 2)]
        async with Association.connect("127.0.0.1", srv.port, "HOUNSFIELD", "MODALITY",
                                       [(CT, [ExplicitVRLittleEndian])]) as assoc:
            for ds in datasets:
                assert (await assoc.store(ds)).ok

        class Received(BufferSink):
            async def finish(self):  # type: ignore[no-untyped-def]
                await super().finish()
                return 0, None

        async def keep(assoc, message):  # type: ignore[no-untyped-def]
            return Received()

        identifier = Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.PatientID = "AUDIT1"
        identifier.StudyInstanceUID = ""
        async with Association.connect(
                "127.0.0.1", srv.port, "HOUNSFIELD", "VIEWER",
                query_contexts("study", "find", "get") + [(CT, [ExplicitVRLittleEndian])],
                roles=[role_selection(CT)], on_store=keep) as assoc:
            assert [ds.StudyInstanceUID async for ds in assoc.find(identifier)] == [STUDY]
            identifier.StudyInstanceUID = STUDY
            assert (await assoc.get(identifier)).completed == 2
    finally:
        await srv.stop()
    events, _ = await archive.run(search_audit, archive.core.db, study_instance_uid=STUDY)
    seen = {(e["action"], e["outcome"], e["user"]) for e in events}
    assert seen == {("store", "success", "AE:MODALITY"), ("search", "success", "AE:VIEWER"),
                    ("retrieve", "success", "AE:VIEWER")}
    search = next(e for e in events if e["action"] == "search")
    assert search["patient_id"] == "AUDIT1" and "PatientID=AUDIT1" in search["details"]["query"]
    store = next(e for e in events if e["action"] == "store")
    assert store["details"]["stored"] == 2
