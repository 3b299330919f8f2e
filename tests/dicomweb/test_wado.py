"""WADO-RS and WADO-URI over raw HTTP: multipart framing, transfer syntax negotiation,
metadata with working BulkDataURIs, frames, bulk data, rendered images, caching, delete."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.uid import RLELossless, generate_uid

from hounsfield.archive import Archive, Origin
from hounsfield.demo.files import compress

from dicom_factory import make_dataset, to_bytes
from dicomweb_helpers import BASE, split_multipart

ELE = "1.2.840.10008.1.2.1"


@pytest.fixture
async def stored(archive: Archive) -> dict[str, object]:
    """A study: series 1 with two native 8x8 images, series 2 with a 3-frame image and an
    RLE-compressed image."""
    study, s1, s2 = generate_uid(), generate_uid(), generate_uid()
    native = [make_dataset(study_uid=study, series_uid=s1, instance_number=i + 1)
              for i in range(2)]
    multi = make_dataset(study_uid=study, series_uid=s2, instance_number=1, rows=4, columns=4)
    frames = np.arange(48, dtype=np.uint16).reshape(3, 4, 4) * 50
    multi.NumberOfFrames = 3
    multi.PixelData = frames.tobytes()
    rle = compress(make_dataset(study_uid=study, series_uid=s2, instance_number=2), RLELossless)
    files = {}
    for ds in [*native, multi, rle]:
        data = to_bytes(ds)
        result = await archive.ingest_bytes(data, Origin("test"))
        assert result.ok, result.reason
        files[str(ds.SOPInstanceUID)] = data
    return {"study": study, "s1": s1, "s2": s2, "native": native, "multi": multi,
            "rle": rle, "files": files, "frames": frames}


def _url(d: dict[str, object], ds: object, suffix: str = "") -> str:
    return (f"{BASE}/studies/{d['study']}/series/{ds.SeriesInstanceUID}/instances/"  # type: ignore[attr-defined]
            f"{ds.SOPInstanceUID}{suffix}")  # type: ignore[attr-defined]


async def test_study_retrieval_is_multipart_of_the_stored_files(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    response = await client.get(
        f"{BASE}/studies/{stored['study']}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
    parts = split_multipart(content_type, response.content)
    files = stored["files"]
    assert len(parts) == 4
    for headers, body in parts:
        sop = str(dcmread(io.BytesIO(body)).SOPInstanceUID)
        assert body == files[sop]  # type: ignore[index]
        syntax = headers["content-type"].split("transfer-syntax=")[1]
        assert syntax == str(dcmread(io.BytesIO(body)).file_meta.TransferSyntaxUID)
    assert response.headers["etag"]


async def test_default_syntax_transcodes_compressed_objects(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    rle = stored["rle"]
    response = await client.get(_url(stored, rle))
    (headers, body), = split_multipart(response.headers["content-type"], response.content)
    assert headers["content-type"] == f"application/dicom; transfer-syntax={ELE}"
    ds = dcmread(io.BytesIO(body))
    assert ds.file_meta.TransferSyntaxUID == ELE
    assert np.array_equal(ds.pixel_array, rle.pixel_array)  # type: ignore[attr-defined]


async def test_series_with_explicit_syntax_and_single_part(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    response = await client.get(
        f"{BASE}/studies/{stored['study']}/series/{stored['s1']}",
        headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ELE}'})
    assert len(split_multipart(response.headers["content-type"], response.content)) == 2
    native = stored["native"][0]  # type: ignore[index]
    single = await client.get(_url(stored, native), headers={"Accept": "application/dicom"})
    assert single.headers["content-type"] == f"application/dicom; transfer-syntax={ELE}"
    assert single.content == stored["files"][str(native.SOPInstanceUID)]  # type: ignore[index]


async def test_impossible_syntax_or_media_type_gets_406(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    native = stored["native"][0]  # type: ignore[index]
    jpeg_lossless = "1.2.840.10008.1.2.4.70"  # no encoder for it here
    response = await client.get(_url(stored, native), headers={
        "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={jpeg_lossless}'})
    assert response.status_code == 406
    assert jpeg_lossless in response.json()["message"]
    response = await client.get(_url(stored, native), headers={"Accept": "text/html"})
    assert response.status_code == 406 and response.json()["error"] == "not_acceptable"


async def test_metadata_bulkdata_uris_work(client: httpx.AsyncClient,
                                           stored: dict[str, object]) -> None:
    response = await client.get(f"{BASE}/studies/{stored['study']}/series/{stored['s1']}/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom+json"
    docs = response.json()
    assert [d["00200013"]["Value"][0] for d in docs] == [1, 2]
    uri = docs[0]["7FE00010"]["BulkDataURI"]
    assert uri.startswith(f"http://testserver{BASE}/studies/")
    bulk = await client.get(uri)
    (_, pixels), = split_multipart(bulk.headers["content-type"], bulk.content)
    assert pixels == stored["native"][0].PixelData  # type: ignore[index]
    study_docs = (await client.get(f"{BASE}/studies/{stored['study']}/metadata")).json()
    assert len(study_docs) == 4
    instance_docs = (await client.get(_url(stored, stored["multi"], "/metadata"))).json()
    assert instance_docs[0]["00280008"]["Value"] == [3]


async def test_etag_gives_304(client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    url = f"{BASE}/studies/{stored['study']}/series/{stored['s1']}/metadata"
    first = await client.get(url)
    again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


async def test_native_frames(client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    frames = stored["frames"]
    response = await client.get(_url(stored, stored["multi"], "/frames/3,2"))
    assert response.headers["content-type"].startswith(
        'multipart/related; type="application/octet-stream"')
    parts = split_multipart(response.headers["content-type"], response.content)
    assert [h["content-type"] for h, _ in parts] == [
        f"application/octet-stream; transfer-syntax={ELE}"] * 2
    assert parts[0][1] == frames[2].tobytes()  # type: ignore[index]
    assert parts[1][1] == frames[1].tobytes()  # type: ignore[index]
    missing = await client.get(_url(stored, stored["multi"], "/frames/4"))
    assert missing.status_code == 404 and "Frame 4" in missing.json()["message"]
    bad = await client.get(_url(stored, stored["multi"], "/frames/0"))
    assert bad.status_code == 400 and '"frames"' in bad.json()["message"]


async def test_compressed_frames_as_stored_or_decoded(client: httpx.AsyncClient,
                                                      stored: dict[str, object]) -> None:
    rle = stored["rle"]
    as_stored = await client.get(_url(stored, rle, "/frames/1"), headers={
        "Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
    (headers, body), = split_multipart(as_stored.headers["content-type"], as_stored.content)
    assert headers["content-type"] == f"application/octet-stream; transfer-syntax={RLELossless}"
    from pydicom.encaps import generate_frames

    expected = next(generate_frames(rle.PixelData, number_of_frames=1))  # type: ignore[attr-defined]
    assert body == expected
    decoded = await client.get(_url(stored, rle, "/frames/1"))
    (headers, body), = split_multipart(decoded.headers["content-type"], decoded.content)
    assert headers["content-type"] == f"application/octet-stream; transfer-syntax={ELE}"
    assert body == rle.pixel_array.astype("<u2").tobytes()  # type: ignore[attr-defined]


async def test_rendered_and_thumbnails(client: httpx.AsyncClient,
                                       stored: dict[str, object]) -> None:
    native = stored["native"][0]  # type: ignore[index]
    jpeg = await client.get(_url(stored, native, "/rendered"))
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (8, 8)
    png = await client.get(_url(stored, native, "/rendered?viewport=32,32&window=100,200"),
                           headers={"Accept": "image/png"})
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (32, 32)
    frame = await client.get(_url(stored, stored["multi"], "/frames/2/rendered?accept=image/png"))
    assert Image.open(io.BytesIO(frame.content)).format == "PNG"
    bad = await client.get(_url(stored, native, "/rendered?window=abc"))
    assert bad.status_code == 400 and '"window"' in bad.json()["message"]
    gif = await client.get(_url(stored, native, "/rendered"), headers={"Accept": "image/gif"})
    assert gif.status_code == 406
    series_url = f"{BASE}/studies/{stored['study']}/series/{stored['s1']}/rendered"
    series = await client.get(series_url)  # */*: every image, as multipart
    parts = split_multipart(series.headers["content-type"], series.content)
    assert [h["content-type"] for h, _ in parts] == ["image/jpeg", "image/jpeg"]
    png_parts = await client.get(series_url,
                                 headers={"Accept": 'multipart/related; type="image/png"'})
    parts = split_multipart(png_parts.headers["content-type"], png_parts.content)
    assert [h["content-type"] for h, _ in parts] == ["image/png", "image/png"]
    one = await client.get(series_url, headers={"Accept": "image/jpeg"})
    assert one.headers["content-type"] == "image/jpeg"  # a single image asked for
    for url in (f"{BASE}/studies/{stored['study']}/thumbnail",
                f"{BASE}/studies/{stored['study']}/series/{stored['s2']}/thumbnail",
                _url(stored, native, "/thumbnail?viewport=64,64")):
        thumb = await client.get(url)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"


async def test_wado_uri(client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    native = stored["native"][0]  # type: ignore[index]
    ids = (f"requestType=WADO&studyUID={stored['study']}&seriesUID={native.SeriesInstanceUID}"
           f"&objectUID={native.SOPInstanceUID}")
    dicom = await client.get(f"/wado?{ids}&contentType=application/dicom")
    assert dicom.headers["content-type"] == "application/dicom"
    assert dicom.content == stored["files"][str(native.SOPInstanceUID)]  # type: ignore[index]
    jpeg = await client.get(f"{BASE}/wado?{ids}")
    assert jpeg.headers["content-type"] == "image/jpeg"
    png = await client.get(f"/wado?{ids}&contentType=image/png&rows=16&columns=16")
    assert Image.open(io.BytesIO(png.content)).size == (16, 16)
    missing = await client.get(f"/wado?requestType=WADO&studyUID={stored['study']}")
    assert missing.status_code == 400 and '"seriesUID"' in missing.json()["message"]
    wrong = await client.get(f"/wado?{ids}".replace("WADO", "WADO-X", 1))
    assert wrong.status_code == 400 and '"requestType"' in wrong.json()["message"]


async def test_errors_name_what_is_wrong(client: httpx.AsyncClient,
                                         stored: dict[str, object]) -> None:
    unknown = await client.get(f"{BASE}/studies/1.2.3.999/metadata")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "message": "Study 1.2.3.999 is not stored"}
    bad = await client.get(f"{BASE}/studies/not-a-uid")
    assert bad.status_code == 400 and '"study"' in bad.json()["message"]


async def test_delete(client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    native = stored["native"]
    assert (await client.delete(_url(stored, native[0]))).status_code == 204  # type: ignore[index]
    left = await client.get(f"{BASE}/studies/{stored['study']}/instances")
    assert len(left.json()) == 3
    assert (await client.delete(
        f"{BASE}/studies/{stored['study']}/series/{stored['s1']}")).status_code == 204
    assert (await client.delete(f"{BASE}/studies/{stored['study']}")).status_code == 204
    assert (await client.get(f"{BASE}/studies")).json() == []
    again = await client.delete(f"{BASE}/studies/{stored['study']}")
    assert again.status_code == 404 and again.json()["error"] == "not_found"


async def test_bulkdata_of_other_elements(client: httpx.AsyncClient, archive: Archive) -> None:
    profile = bytes(range(256)) * 8  # above the inline threshold, so a BulkDataURI
    ds = make_dataset(ICCProfile=profile)
    await archive.ingest_bytes(to_bytes(ds), Origin("test"))
    url = (f"{BASE}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}")
    (doc,) = (await client.get(url + "/metadata")).json()
    uri = doc["00282000"]["BulkDataURI"]
    response = await client.get(uri)
    (headers, body), = split_multipart(response.headers["content-type"], response.content)
    assert body == profile
    assert headers["content-type"].startswith("application/octet-stream")
    missing = await client.get(url + "/bulkdata/00091010")
    assert missing.status_code == 404


async def test_json_is_gzipped_when_accepted(client: httpx.AsyncClient,
                                             stored: dict[str, object]) -> None:
    url = f"{BASE}/studies/{stored['study']}/metadata"
    zipped = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.json() == plain.json()


async def test_access_scope_applies_to_every_read(client: httpx.AsyncClient,
                                                  stored: dict[str, object]) -> None:
    # The security layer sets the caller's scope; a study outside it does not exist for
    # QIDO-RS, metadata, retrieval, frames or rendering.
    from hounsfield.archive.access import Scope, current_scope

    study, native = stored["study"], stored["native"][0]  # type: ignore[index]
    token = current_scope.set(Scope(study_instance_uids=frozenset({"1.2.3.4"})))
    try:
        assert (await client.get(f"{BASE}/studies")).json() == []
        for url in (f"{BASE}/studies/{study}/metadata", f"{BASE}/studies/{study}",
                    _url(stored, native, "/frames/1"), _url(stored, native, "/rendered"),
                    f"{BASE}/studies/{study}/series/{stored['s1']}/metadata"):
            response = await client.get(url)
            assert response.status_code == 404, url
    finally:
        current_scope.reset(token)
    assert (await client.get(f"{BASE}/studies/{study}/metadata")).status_code == 200


async def test_unknown_resource_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/studies/1.2.3/nonsense")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and "nonsense" in response.json()["message"]


async def test_large_objects_stream_in_chunks(client: httpx.AsyncClient,
                                              stored: dict[str, object],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Objects above the whole-read limit are streamed chunk by chunk from storage.
    from hounsfield.dicomweb import wado

    monkeypatch.setattr(wado, "WHOLE_READ_LIMIT", 100)
    monkeypatch.setattr(wado, "CHUNK_SIZE", 64)
    native = stored["native"][0]  # type: ignore[index]
    expected = stored["files"][str(native.SOPInstanceUID)]  # type: ignore[index]
    any_syntax = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    single = await client.get(_url(stored, native), headers={"Accept": "application/dicom"})
    assert single.content == expected
    assert single.headers["content-length"] == str(len(expected))
    series = await client.get(f"{BASE}/studies/{stored['study']}/series/{stored['s1']}",
                              headers={"Accept": any_syntax})
    parts = split_multipart(series.headers["content-type"], series.content)
    assert parts[0][1] == expected and len(parts) == 2


async def test_metadata_and_search_as_native_dicom_model_xml(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    from xml.etree import ElementTree

    ns = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}
    xml_type = 'multipart/related; type="application/dicom+xml"'
    response = await client.get(f"{BASE}/studies/{stored['study']}/series/{stored['s1']}/metadata",
                                headers={"Accept": xml_type})
    assert response.headers["content-type"].startswith(xml_type)
    parts = split_multipart(response.headers["content-type"], response.content)
    assert len(parts) == 2 and parts[0][0]["content-type"] == "application/dicom+xml"
    root = ElementTree.fromstring(parts[0][1])
    name = root.find("d:DicomAttribute[@keyword='PatientName']/d:PersonName/d:Alphabetic", ns)
    assert name is not None
    assert name.find("d:FamilyName", ns).text == "Doe"  # type: ignore[union-attr]
    assert name.find("d:GivenName", ns).text == "John"  # type: ignore[union-attr]
    bulk = root.find("d:DicomAttribute[@tag='7FE00010']/d:BulkData", ns)
    assert bulk is not None and bulk.get("uri", "").startswith("http://testserver/dicom-web/")
    search = await client.get(f"{BASE}/studies", headers={"Accept": xml_type})
    (part,) = split_multipart(search.headers["content-type"], search.content)
    root = ElementTree.fromstring(part[1])
    uid = root.find("d:DicomAttribute[@keyword='StudyInstanceUID']/d:Value", ns)
    assert uid is not None and uid.get("number") == "1" and uid.text == stored["study"]


async def test_one_bit_frames_not_byte_aligned(client: httpx.AsyncClient,
                                               archive: Archive) -> None:
    # 4 x 5 one-bit frames start mid-byte (PS3.5 8.1.1): they are cut out bit by bit.
    bits = np.random.default_rng(0).integers(0, 2, size=60, dtype=np.uint8)
    packed = np.packbits(bits, bitorder="little").tobytes()
    ds = make_dataset(rows=4, columns=5)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.NumberOfFrames = 3
    ds.PixelData = packed + b"\0" * (len(packed) % 2)
    await archive.ingest_bytes(to_bytes(ds), Origin("test"))
    url = (f"{BASE}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}/frames/2")
    response = await client.get(url)
    (_, body), = split_multipart(response.headers["content-type"], response.content)
    assert body == np.packbits(bits[20:40], bitorder="little").tobytes()


async def test_native_objects_transcoded_to_a_compressed_syntax(
        client: httpx.AsyncClient, stored: dict[str, object]) -> None:
    native = stored["native"][0]  # type: ignore[index]
    response = await client.get(_url(stored, native), headers={
        "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={RLELossless}'})
    (headers, body), = split_multipart(response.headers["content-type"], response.content)
    assert headers["content-type"] == f"application/dicom; transfer-syntax={RLELossless}"
    ds = dcmread(io.BytesIO(body))
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert ds.SOPInstanceUID == native.SOPInstanceUID
    assert np.array_equal(ds.pixel_array, native.pixel_array)
