"""Store, find and get through the DICOM services on each index database, SQLite and
PostgreSQL (DESIGN rule 10); the other DICOM tests use SQLite."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from hounsfield.archive import Archive
from hounsfield.config import Settings
from hounsfield.dicom import Association, DicomServer, query_contexts, role_selection
from hounsfield.dicom.datasets import BufferSink

from dicom_peers import make_image

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = "1.2.826.0.1.3680043.10.1447.4.1"


async def test_store_find_get_round_trip(settings: Settings) -> None:
    archive = await Archive.open(settings.replace(storage__fsync=False))
    server = DicomServer(settings.replace(dicom__port=0, dicom__host="127.0.0.1"), archive)
    await server.start()
    try:
        datasets = [make_image(study_instance_uid=STUDY, patient_name="ROUND^TRIP",
                               patient_id="RT1", instance_number=i) for i in (1, 2, 3)]
        received: list[bytes] = []

        class Received(BufferSink):
            async def finish(self):  # type: ignore[no-untyped-def]
                received.append(await super().finish())
                return 0, None

        async def on_store(assoc, message):  # type: ignore[no-untyped-def]
            return Received()

        contexts = [(CT, [ExplicitVRLittleEndian])] + query_contexts("study", "find", "get")
        async with Association.connect("127.0.0.1", server.port, "HOUNSFIELD", "ROUNDTRIP",
                                       contexts, roles=[role_selection(CT, scu=True, scp=True)],
                                       on_store=on_store) as assoc:
            for ds in datasets:
                assert (await assoc.store(ds)).ok
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.PatientName = "ROUND*"
            query.StudyInstanceUID = ""
            query.NumberOfStudyRelatedInstances = ""
            found = [ds async for ds in assoc.find(query)]
            assert [(ds.StudyInstanceUID, int(ds.NumberOfStudyRelatedInstances))
                    for ds in found] == [(STUDY, 3)]
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = STUDY
            result = await assoc.get(query)
            assert (result.status, result.completed) == (0, 3)
        assert len(received) == 3
    finally:
        await server.stop()
        await archive.close()
