"""Our SCU against pynetdicom SCPs: C-FIND, C-GET into the archive, C-MOVE to our server."""

from __future__ import annotations

import asyncio

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import (CTImageStorage, StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove)

from hounsfield.dicom import Association, DicomServer, query_contexts, role_selection
from hounsfield.dicom.services.storage import store_to_archive

from dicom_peers import make_image

STUDY = "1.2.826.0.1.3680043.10.1447.6.1"


class QueryRetrieveSCP:
    """pynetdicom as a Study Root FIND/GET/MOVE SCP over a list of datasets."""

    def __init__(self, datasets: list[Dataset], destinations: dict[str, tuple[str, int]]):
        self.datasets = datasets
        self.destinations = destinations
        self.requests: list[Dataset] = []
        ae = AE(ae_title="PYQRSCP")
        for uid in (StudyRootQueryRetrieveInformationModelFind,
                    StudyRootQueryRetrieveInformationModelGet,
                    StudyRootQueryRetrieveInformationModelMove):
            ae.add_supported_context(uid)
        ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian], scu_role=True,
                                 scp_role=True)
        ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[
            (evt.EVT_C_FIND, self.on_find), (evt.EVT_C_GET, self.on_get),
            (evt.EVT_C_MOVE, self.on_move)])
        self.port = self.server.server_address[1]

    def _matches(self, identifier: Dataset) -> list[Dataset]:
        self.requests.append(identifier)
        return [ds for ds in self.datasets if ds.StudyInstanceUID == identifier.StudyInstanceUID]

    def on_find(self, event):  # type: ignore[no-untyped-def]
        for ds in self._matches(event.identifier):
            rsp = Dataset()
            rsp.QueryRetrieveLevel = "IMAGE"
            rsp.SOPInstanceUID = ds.SOPInstanceUID
            rsp.StudyInstanceUID = ds.StudyInstanceUID
            yield 0xFF00, rsp

    def on_get(self, event):  # type: ignore[no-untyped-def]
        matches = self._matches(event.identifier)
        yield len(matches)
        for ds in matches:
            yield 0xFF00, ds

    def on_move(self, event):  # type: ignore[no-untyped-def]
        matches = self._matches(event.identifier)
        yield self.destinations.get(event.move_destination, (None, None))
        yield len(matches)
        for ds in matches:
            yield 0xFF00, ds

    def close(self) -> None:
        self.server.shutdown()


def _identifier() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = STUDY
    return ds


async def test_find_get_and_move_against_pynetdicom(server: DicomServer, archive) -> None:  # type: ignore[no-untyped-def]
    datasets = [make_image(study_instance_uid=STUDY, instance_number=i) for i in range(1, 4)]
    for ds in datasets:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    scp = QueryRetrieveSCP(datasets, {"HOUNSFIELD": ("127.0.0.1", server.port)})
    try:
        async with Association.connect("127.0.0.1", scp.port, "PYQRSCP", "HOUNSFIELD",
                                       query_contexts("study", "find")) as assoc:
            found = [ds.SOPInstanceUID async for ds in assoc.find(_identifier())]
        assert sorted(found) == sorted(ds.SOPInstanceUID for ds in datasets)

        contexts = query_contexts("study", "get") + [(CTImageStorage, [ExplicitVRLittleEndian])]
        async with Association.connect("127.0.0.1", scp.port, "PYQRSCP", "HOUNSFIELD",
                                       contexts, roles=[role_selection(CTImageStorage)],
                                       on_store=store_to_archive(archive)) as assoc:
            result = await assoc.get(_identifier())
        assert (result.status, result.completed, result.failed) == (0, 3, 0)
        assert len(await archive.instances(study_instance_uid=STUDY)) == 3

        await archive.delete(study_instance_uid=STUDY)
        async with Association.connect("127.0.0.1", scp.port, "PYQRSCP", "MOVER",
                                       query_contexts("study", "move")) as assoc:
            result = await assoc.move(_identifier(), "HOUNSFIELD")
            unknown = await assoc.move(_identifier(), "NOWHERE")
        assert (result.status, result.completed) == (0, 3)
        assert unknown.status == 0xA801
        assert len(await archive.instances(study_instance_uid=STUDY)) == 3
    finally:
        await asyncio.to_thread(scp.close)
