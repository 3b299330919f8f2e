"""Round trips with dicomweb-client (a client nobody here wrote) against a real uvicorn
server: store, search with each matching type, retrieve, metadata, frames, rendered,
delete."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import RLELossless, generate_uid
from requests.exceptions import HTTPError

from hounsfield.demo.files import compress

from dicom_factory import make_dataset


def test_store_search_retrieve_delete(server_url: str) -> None:
    client = DICOMwebClient(url=server_url)
    study, ct_series, mr_series = generate_uid(), generate_uid(), generate_uid()
    ct = [make_dataset(study_uid=study, series_uid=ct_series, instance_number=i + 1,
                       patient_name="Doe^John", patient_id="P9", study_date="20240301",
                       accession="ACC77", ContentDate=f"2024030{i + 1}",
                       series_description="AXIAL 1mm") for i in range(3)]
    mr = compress(make_dataset(study_uid=study, series_uid=mr_series, modality="MR",
                               sop_class="1.2.840.10008.5.1.4.1.1.4", patient_name="Doe^John",
                               patient_id="P9", study_date="20240301", accession="ACC77",
                               series_number=2), RLELossless)
    other = make_dataset(patient_name="Roe^Richard", patient_id="P10", study_date="20190505")

    stored = client.store_instances([*ct, mr, other])
    assert len(stored.ReferencedSOPSequence) == 5
    assert "FailedSOPSequence" not in stored

    def studies(**filters: object) -> set[str]:
        found = client.search_for_studies(search_filters=filters)
        return {r["0020000D"]["Value"][0] for r in found}

    assert studies(PatientID="P9") == {study}  # single value
    assert studies(PatientName="Doe*") == {study}  # wildcard
    assert studies(StudyDate="20240101-20241231") == {study}  # range
    assert studies(StudyInstanceUID=f"{study}\\{other.StudyInstanceUID}") == {
        study, str(other.StudyInstanceUID)}  # UID list
    assert len(studies()) == 2  # universal
    found = client.search_for_studies(search_filters={"PatientName": "richard"},
                                      fuzzymatching=True)
    assert [r["00100020"]["Value"][0] for r in found] == ["P10"]
    page = client.search_for_studies(limit=1, offset=1)
    assert len(page) == 1
    series = client.search_for_series(study_instance_uid=study,
                                      search_filters={"Modality": "MR"})
    assert [s["0020000E"]["Value"][0] for s in series] == [mr_series]
    instances = client.search_for_instances(study_instance_uid=study,
                                            series_instance_uid=ct_series,
                                            fields=["ImageType"])
    assert len(instances) == 3
    series = client.search_for_series(search_filters={"SeriesDescription": "AXIAL 1*"})
    assert [s["0020000E"]["Value"][0] for s in series] == [ct_series]  # wildcard
    series = client.search_for_series(search_filters={"SeriesInstanceUID": mr_series,
                                                      "PatientID": "P9"})
    assert len(series) == 1  # single values, one of them a study attribute
    def sops(**filters: object) -> set[str]:
        found = client.search_for_instances(search_filters=filters)
        return {r["00080018"]["Value"][0] for r in found}

    first, second = str(ct[0].SOPInstanceUID), str(ct[1].SOPInstanceUID)
    assert sops(SOPInstanceUID=f"{first}\\{second}") == {first, second}  # UID list
    assert sops(ContentDate="20240302-20240303") == {second, str(ct[2].SOPInstanceUID)}
    assert sops(InstanceNumber="1", Modality="MR") == {str(mr.SOPInstanceUID)}
    assert len(sops()) == 5  # universal

    instance = client.retrieve_instance(study, ct_series, str(ct[0].SOPInstanceUID))
    assert instance.SOPInstanceUID == ct[0].SOPInstanceUID
    assert np.array_equal(instance.pixel_array, ct[0].pixel_array)
    assert len(client.retrieve_series(study, ct_series)) == 3
    whole = client.retrieve_study(study, media_types=(("application/dicom", "*"),))
    assert {str(ds.file_meta.TransferSyntaxUID) for ds in whole} == {
        "1.2.840.10008.1.2.1", RLELossless}

    metadata = client.retrieve_series_metadata(study, ct_series)
    assert [m["00200013"]["Value"][0] for m in metadata] == [1, 2, 3]
    assert client.retrieve_study_metadata(study)[0]["0020000D"]["Value"] == [study]
    assert client.retrieve_instance_metadata(study, mr_series, str(mr.SOPInstanceUID))

    (frame,) = client.retrieve_instance_frames(study, ct_series, str(ct[1].SOPInstanceUID),
                                               frame_numbers=[1])
    assert frame == ct[1].PixelData
    (rle_frame,) = client.retrieve_instance_frames(
        study, mr_series, str(mr.SOPInstanceUID), frame_numbers=[1],
        media_types=(("application/octet-stream", "*"),))
    assert rle_frame == next(generate_frames(mr.PixelData, number_of_frames=1))

    uri = metadata[0]["7FE00010"]["BulkDataURI"]
    assert uri.startswith(server_url + "/studies/")
    assert client.retrieve_bulkdata(uri)[0] == ct[0].PixelData
    rendered_series = client.retrieve_series_rendered(study, ct_series,
                                                      media_types=("image/jpeg",))
    assert Image.open(io.BytesIO(rendered_series)).format == "JPEG"

    jpeg = client.retrieve_instance_rendered(study, ct_series, str(ct[0].SOPInstanceUID),
                                             media_types=("image/jpeg",))
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"

    client.delete_instance(study, ct_series, str(ct[2].SOPInstanceUID))
    assert len(client.search_for_instances(study_instance_uid=study)) == 3
    client.delete_series(study, mr_series)
    client.delete_study(study)
    assert studies() == {str(other.StudyInstanceUID)}
    with pytest.raises(HTTPError):
        client.retrieve_study_metadata(study)
