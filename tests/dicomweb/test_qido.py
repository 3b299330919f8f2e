"""QIDO-RS over raw HTTP, on SQLite and PostgreSQL: every matching type, includefield,
paging and the Warning header, errors that name the parameter."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from hounsfield.archive import Archive, Origin
from hounsfield.config import load_settings
from hounsfield.web.app import create_app

from dicom_factory import make_bytes
from dicomweb_helpers import BASE, uid_of

ST, SE, SOP = "0020000D", "0020000E", "00080018"


@pytest.fixture
async def studies(search_client: httpx.AsyncClient) -> dict[str, str]:
    """Three studies of three patients; A has two series, one of them with two instances."""
    archive: Archive = search_client.archive  # type: ignore[attr-defined]
    uids = {k: generate_uid() for k in ("A", "B", "C", "A1", "A2", "B1", "C1")}
    objects = [
        dict(patient_name="Doe^John", patient_id="P001", study_uid=uids["A"],
             series_uid=uids["A1"], study_date="20240115", accession="A001", instance_number=1),
        dict(patient_name="Doe^John", patient_id="P001", study_uid=uids["A"],
             series_uid=uids["A1"], study_date="20240115", accession="A001", instance_number=2),
        dict(patient_name="Doe^John", patient_id="P001", study_uid=uids["A"],
             series_uid=uids["A2"], study_date="20240115", accession="A001", series_number=2),
        dict(patient_name="Smith^Anna", patient_id="P002", study_uid=uids["B"],
             series_uid=uids["B1"], study_date="20230610", accession="B002", modality="MR",
             sop_class="1.2.840.10008.5.1.4.1.1.4", Manufacturer="ACME",
             study_description="MR HEAD"),
        dict(patient_name="Dupont^Jeanne", patient_id="P003", study_uid=uids["C"],
             series_uid=uids["C1"], study_date="20220101", accession="C003"),
    ]
    for kw in objects:
        result = await archive.ingest_bytes(make_bytes(**kw), Origin("test"))
        assert result.ok, result.reason
    return uids


async def _studies(client: httpx.AsyncClient, query: str) -> set[str]:
    response = await client.get(f"{BASE}/studies?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    return {uid_of(doc, ST) for doc in response.json()}


async def test_matching_types(search_client: httpx.AsyncClient, studies: dict[str, str]) -> None:
    a, b, c = studies["A"], studies["B"], studies["C"]
    assert await _studies(search_client, "PatientID=P002") == {b}  # single value
    assert await _studies(search_client, "PatientName=Do*") == {a}  # wildcard
    assert await _studies(search_client, "PatientName=do*") == {a}  # case-insensitive PN
    assert await _studies(search_client, "AccessionNumber=?00?") == {a, b, c}
    assert await _studies(search_client, "AccessionNumber=A00?") == {a}
    assert await _studies(search_client, "StudyDate=20230101-20231231") == {b}  # range
    assert await _studies(search_client, "StudyDate=20230101-") == {a, b}  # open range
    assert await _studies(search_client, f"StudyInstanceUID={a}%5C{c}") == {a, c}  # UID list
    assert await _studies(search_client, "PatientName=") == {a, b, c}  # universal
    assert await _studies(search_client, "ModalitiesInStudy=MR") == {b}
    assert await _studies(search_client, "00100020=P003") == {c}  # hex tag key
    assert await _studies(search_client, "Manufacturer=ACME") == {b}  # not a column
    assert await _studies(search_client, "PatientName=jeanne&fuzzymatching=true") == {c}
    assert await _studies(search_client, "PatientName=jeanne") == set()


async def test_study_attributes_and_includefield(search_client: httpx.AsyncClient,
                                                 studies: dict[str, str]) -> None:
    response = await search_client.get(f"{BASE}/studies?PatientID=P001")
    (doc,) = response.json()
    assert doc["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    assert doc["00201206"]["Value"] == [2]  # NumberOfStudyRelatedSeries
    assert doc["00080061"]["Value"] == ["CT"]  # ModalitiesInStudy
    assert doc["00081190"]["Value"] == [f"http://testserver{BASE}/studies/{studies['A']}"]
    assert "00081030" in doc  # StudyDescription is a default return key
    assert "00080070" not in doc  # Manufacturer only on request
    response = await search_client.get(f"{BASE}/studies?PatientID=P002&includefield=Manufacturer")
    assert response.json()[0]["00080070"]["Value"] == ["ACME"]
    response = await search_client.get(f"{BASE}/studies?PatientID=P002&includefield=all")
    assert response.json()[0]["00080070"]["Value"] == ["ACME"]


async def test_series_and_instances(search_client: httpx.AsyncClient,
                                    studies: dict[str, str]) -> None:
    a = studies["A"]
    response = await search_client.get(f"{BASE}/studies/{a}/series")
    docs = response.json()
    assert {uid_of(d, SE) for d in docs} == {studies["A1"], studies["A2"]}
    first = next(d for d in docs if uid_of(d, SE) == studies["A1"])
    assert first["00201209"]["Value"] == [2]  # NumberOfSeriesRelatedInstances
    response = await search_client.get(f"{BASE}/series?Modality=MR")
    assert [uid_of(d, SE) for d in response.json()] == [studies["B1"]]
    response = await search_client.get(
        f"{BASE}/studies/{a}/series/{studies['A1']}/instances?InstanceNumber=2")
    (instance,) = response.json()
    assert instance["00200013"]["Value"] == [2]
    assert instance["00081190"]["Value"][0].endswith(
        f"/studies/{a}/series/{studies['A1']}/instances/{uid_of(instance, SOP)}")
    response = await search_client.get(f"{BASE}/instances?PatientID=P001")
    assert len(response.json()) == 3
    response = await search_client.get(f"{BASE}/studies/{a}/instances")
    assert len(response.json()) == 3


async def test_limit_and_offset_page_through(search_client: httpx.AsyncClient,
                                             studies: dict[str, str]) -> None:
    first = await search_client.get(f"{BASE}/studies?limit=2")
    rest = await search_client.get(f"{BASE}/studies?limit=2&offset=2")
    pages = [uid_of(d, ST) for d in first.json()] + [uid_of(d, ST) for d in rest.json()]
    assert len(first.json()) == 2 and len(rest.json()) == 1
    assert set(pages) == {studies["A"], studies["B"], studies["C"]}
    assert "warning" not in first.headers  # the client's own limit is not a cut


BAD_PARAMETERS = [
    ("limit=abc", "limit"), ("offset=-1", "offset"), ("fuzzymatching=maybe", "fuzzymatching"),
    ("NoSuchKeyword=1", "NoSuchKeyword"), ("StudyDate=2024", "StudyDate"),
    ("includefield=Nonsense", "includefield"), ("StudyInstanceUID=1.2.*", "StudyInstanceUID"),
]


async def test_bad_parameters_get_400_naming_them(search_client: httpx.AsyncClient,
                                                  studies: dict[str, str]) -> None:
    for query, parameter in BAD_PARAMETERS:
        response = await search_client.get(f"{BASE}/studies?{query}")
        assert response.status_code == 400, (query, response.text)
        body = response.json()
        assert body["error"] == "invalid_request"
        assert f'"{parameter}"' in body["message"], (query, body)
    # Nothing was changed by the bad requests.
    assert len((await search_client.get(f"{BASE}/studies")).json()) == 3


async def test_unsupported_accept_gets_406(search_client: httpx.AsyncClient) -> None:
    response = await search_client.get(
        f"{BASE}/studies", headers={"Accept": 'text/html, multipart/related; type="image/png"'})
    assert response.status_code == 406
    assert response.json()["error"] == "not_acceptable"
    response = await search_client.get(f"{BASE}/studies?accept=application/json")
    assert response.status_code == 200


async def test_warning_when_the_server_maximum_cuts(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), auth__enabled=False,
                             query__max_results=2)
    archive = await Archive.open(settings)
    app = create_app(settings, archive)
    try:
        for n in range(3):
            await archive.ingest_bytes(make_bytes(patient_id=f"P{n}"), Origin("test"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            cut = await client.get(f"{BASE}/studies")
            assert len(cut.json()) == 2
            assert cut.headers["warning"].startswith("299 testserver")
            assert "Additional results can be requested" in cut.headers["warning"]
            rest = await client.get(f"{BASE}/studies?offset=2")
            assert len(rest.json()) == 1 and "warning" not in rest.headers
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()
