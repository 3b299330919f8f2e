"""STOW-RS over raw HTTP: statuses 200/202/409, Referenced and Failed SOP sequences,
parts that fail alone, bodies streamed in small chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from pydicom.uid import generate_uid

from hounsfield.archive import Archive
from hounsfield.config import load_settings
from hounsfield.web.app import create_app

from dicom_factory import make_bytes, make_dataset, to_bytes
from dicomweb_helpers import BASE, STOW_TYPE, multipart_body

REFERENCED, FAILED, RETRIEVE_URL, FAILURE_REASON = "00081199", "00081198", "00081190", "00081197"


async def _count(archive: Archive) -> int:
    return (await archive.stats())["instances"]


async def _post(client: httpx.AsyncClient, body: bytes | AsyncIterator[bytes],
                path: str = "/studies", content_type: str = STOW_TYPE) -> httpx.Response:
    return await client.post(BASE + path, content=body, headers={"Content-Type": content_type})


async def test_all_stored_is_200_with_retrieve_urls(client: httpx.AsyncClient,
                                                    archive: Archive) -> None:
    study, series = generate_uid(), generate_uid()
    datasets = [make_dataset(study_uid=study, series_uid=series, instance_number=i)
                for i in range(3)]
    response = await _post(client, multipart_body([to_bytes(ds) for ds in datasets]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    body = response.json()
    assert body[RETRIEVE_URL]["Value"] == [f"http://testserver{BASE}/studies/{study}"]
    items = body[REFERENCED]["Value"]
    assert [i["00081155"]["Value"][0] for i in items] == [str(d.SOPInstanceUID) for d in datasets]
    assert items[0][RETRIEVE_URL]["Value"][0].endswith(
        f"/studies/{study}/series/{series}/instances/{datasets[0].SOPInstanceUID}")
    assert FAILED not in body
    assert await _count(archive) == 3
    # Storing the same objects again is still success (duplicates are kept once).
    again = await _post(client, multipart_body([to_bytes(ds) for ds in datasets]))
    assert again.status_code == 200 and await _count(archive) == 3


async def test_corrupt_part_fails_alone(client: httpx.AsyncClient, archive: Archive) -> None:
    good = [make_bytes(), make_bytes()]
    body = multipart_body([good[0], b"DICM? not at all" * 20, good[1]])
    response = await _post(client, body)
    assert response.status_code == 202, response.text
    result = response.json()
    assert len(result[REFERENCED]["Value"]) == 2
    (failed,) = result[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [0xC000]
    assert "Part 2" in response.headers["warning"]
    assert await _count(archive) == 2


async def test_all_failed_is_409_and_changes_nothing(client: httpx.AsyncClient,
                                                     archive: Archive) -> None:
    await _post(client, multipart_body([make_bytes()]))
    truncated = make_bytes()[:300]
    response = await _post(client, multipart_body([b"garbage", truncated]))
    assert response.status_code == 409
    reasons = [i[FAILURE_REASON]["Value"][0] for i in response.json()[FAILED]["Value"]]
    assert reasons == [0xC000, 0xC000]
    assert await _count(archive) == 1


async def test_unsupported_part_type_fails_that_part(client: httpx.AsyncClient,
                                                     archive: Archive) -> None:
    body = multipart_body([make_bytes(), b'{"00100010": {}}'],
                          types=["application/dicom", "application/dicom+json"])
    response = await _post(client, body)
    assert response.status_code == 202
    (failed,) = response.json()[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [0xC000]
    assert "application/dicom+json" in response.headers["warning"]
    assert await _count(archive) == 1


async def test_instance_of_another_study_fails_with_a900(client: httpx.AsyncClient,
                                                         archive: Archive) -> None:
    study = generate_uid()
    mine = make_dataset(study_uid=study)
    other = make_dataset()
    response = await _post(client, multipart_body([to_bytes(mine), to_bytes(other)]),
                           path=f"/studies/{study}")
    assert response.status_code == 202
    result = response.json()
    (failed,) = result[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [0xA900]
    assert failed["00081155"]["Value"] == [str(other.SOPInstanceUID)]
    assert await archive.instances(sop_instance_uid=str(other.SOPInstanceUID)) == []
    assert len(await archive.instances(study)) == 1


async def test_bad_bodies(client: httpx.AsyncClient, archive: Archive) -> None:
    data = make_bytes()
    not_multipart = await _post(client, data, content_type="application/dicom")
    assert not_multipart.status_code == 415
    assert "multipart/related" in not_multipart.json()["message"]
    no_boundary = await _post(client, data, content_type='multipart/related; type="application/dicom"')
    assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["message"]
    no_parts = await _post(client, b"nothing here")
    assert no_parts.status_code == 400
    assert await _count(archive) == 0
    # A body cut short: the parts before the cut are kept, the cut one fails.
    body = multipart_body([make_bytes(), make_bytes()])
    cut = await _post(client, body[:len(body) - 200])
    assert cut.status_code == 202
    assert len(cut.json()[FAILED]["Value"]) == 1
    assert await _count(archive) == 1


async def test_large_object_streamed_in_small_chunks(client: httpx.AsyncClient,
                                                     archive: Archive) -> None:
    # Bigger than the ingest's in-memory limit, sent 64 KB at a time.
    data = make_bytes(rows=1600, columns=1600)
    body = multipart_body([data, make_bytes()])
    assert len(data) > 4 * 1024 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    response = await _post(client, chunks())
    assert response.status_code == 200, response.text
    sop = response.json()[REFERENCED]["Value"][0]["00081155"]["Value"][0]
    (ref,) = await archive.instances(sop_instance_uid=sop)
    read = b"".join([chunk async for chunk in archive.read_instance(ref)])
    assert read == data


async def test_part_without_preamble_is_kept_as_part10(client: httpx.AsyncClient,
                                                       archive: Archive) -> None:
    # pydicom (and so dicomweb-client) writes File Meta Information without the preamble.
    data = make_bytes()[128 + 4:]
    assert data[:2] == b"\x02\x00"
    response = await _post(client, multipart_body([data]))
    assert response.status_code == 200, response.text
    sop = response.json()[REFERENCED]["Value"][0]["00081155"]["Value"][0]
    (ref,) = await archive.instances(sop_instance_uid=sop)
    read = b"".join([chunk async for chunk in archive.read_instance(ref)])
    assert read == bytes(128) + b"DICM" + data


async def test_failure_reasons_in_words_are_safe_header_values(tmp_path) -> None:
    # The archive's reason names the Patient IDs, which may be any Unicode: the Warning
    # header must still be a valid (ASCII, one-line) value.
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), auth__enabled=False,
                             ingest__patient_id_mismatch="reject")
    archive = await Archive.open(settings)
    app = create_app(settings, archive)
    try:
        study = generate_uid()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            first = await _post(client, multipart_body([make_bytes(study_uid=study,
                                                                   patient_id="P1")]))
            assert first.status_code == 200
            other = await _post(client, multipart_body([make_bytes(study_uid=study,
                                                                   patient_id="\u03a91")]))
            assert other.status_code == 409
            warning = other.headers["warning"]
            assert warning.startswith('299 testserver "Part 1') and "?1" in warning
    finally:
        await app.state.dicomweb.pool.close()
        await archive.close()
