"""The one way in: what is kept, what is refused, and that refusals leave nothing behind."""

from __future__ import annotations

import hashlib

import pytest
from pydicom.uid import generate_uid

from dicom_factory import make_bytes, make_dataset, to_bytes
from hounsfield.archive import ArchiveCore, IngestStatus, Origin, Query, QueryLevel

ORIGIN = Origin("test", calling_ae="TESTSCU")


@pytest.fixture
def core(settings):
    core = ArchiveCore(settings)
    yield core
    core.close()


def blobs(core: ArchiveCore) -> list[str]:
    return sorted(core.store.list())


def test_stored_object_is_kept_byte_for_byte_with_its_checksum(core):
    data = make_bytes()
    result = core.ingest_bytes(data, ORIGIN)
    assert result.status is IngestStatus.STORED and result.ok
    assert result.dimse_status == 0x0000 and result.http_status == 200
    [ref] = core.instances(result.study_instance_uid)
    assert core.store.read_bytes(ref.blob_key) == data
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert ref.pixel_data_offset > 0 and data[ref.pixel_data_offset:] == \
        make_dataset_pixels(data)


def make_dataset_pixels(data: bytes) -> bytes:
    import io
    import pydicom

    return pydicom.dcmread(io.BytesIO(data)).PixelData


def test_counters_and_study_summaries_follow_what_is_stored(core):
    study = generate_uid()
    s1, s2 = generate_uid(), generate_uid()
    for i, (series, modality, cls) in enumerate([(s1, "CT", "1.2.840.10008.5.1.4.1.1.2"),
                                                  (s1, "CT", "1.2.840.10008.5.1.4.1.1.2"),
                                                  (s2, "SR", "1.2.840.10008.5.1.4.1.1.88.22")]):
        assert core.ingest_bytes(make_bytes(study_uid=study, series_uid=series, modality=modality,
                                            sop_class=cls, instance_number=i), ORIGIN).ok
    [doc] = core.search(Query(QueryLevel.STUDY).add("StudyInstanceUID", study)
                        .add_return("SOPClassesInStudy"))
    assert doc["00201206"]["Value"] == [2]  # NumberOfStudyRelatedSeries
    assert doc["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    assert doc["00080061"]["Value"] == ["CT", "SR"]  # ModalitiesInStudy
    assert doc["00080062"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2",
                                        "1.2.840.10008.5.1.4.1.1.88.22"]
    series_docs = core.search(Query(QueryLevel.SERIES).add("StudyInstanceUID", study))
    assert sorted(d["00201209"]["Value"][0] for d in series_docs) == [1, 2]
    [patient] = core.search(Query(QueryLevel.PATIENT).add("PatientID", "P001"))
    assert patient["00201200"]["Value"] == [1] and patient["00201204"]["Value"] == [3]


def test_duplicate_keep_first_reports_success_and_keeps_the_original(core):
    ds = make_dataset(PatientComments="first")
    first = to_bytes(ds)
    ds.PatientComments = "second"
    second = to_bytes(ds)
    assert core.ingest_bytes(first, ORIGIN).status is IngestStatus.STORED
    again = core.ingest_bytes(second, ORIGIN)
    assert again.status is IngestStatus.DUPLICATE and again.ok and again.dimse_status == 0
    [ref] = core.instances(sop_instance_uid=ds.SOPInstanceUID)
    assert core.store.read_bytes(ref.blob_key) == first
    assert len(blobs(core)) == 1


@pytest.mark.parametrize("policy", ["overwrite", "overwrite_if_different"])
def test_duplicate_overwrite_replaces_blob_and_row(settings, policy):
    core = ArchiveCore(settings.replace(ingest__duplicates=policy))
    try:
        ds = make_dataset(PatientComments="first")
        first = to_bytes(ds)
        ds.PatientComments = "second"
        second = to_bytes(ds)
        assert core.ingest_bytes(first, ORIGIN).ok
        identical = core.ingest_bytes(first, ORIGIN)
        assert identical.status is (IngestStatus.DUPLICATE if policy == "overwrite_if_different"
                                    else IngestStatus.OVERWRITTEN)
        result = core.ingest_bytes(second, ORIGIN)
        assert result.status is IngestStatus.OVERWRITTEN
        [ref] = core.instances(sop_instance_uid=ds.SOPInstanceUID)
        assert core.store.read_bytes(ref.blob_key) == second
        assert blobs(core) == [ref.blob_key]
        assert core.stats()["instances"] == 1
    finally:
        core.close()


def test_study_with_another_patient_id_is_accepted_with_a_warning(core):
    study = generate_uid()
    assert core.ingest_bytes(make_bytes(study_uid=study, patient_id="A"), ORIGIN).ok
    result = core.ingest_bytes(make_bytes(study_uid=study, patient_id="B"), ORIGIN)
    assert result.ok and "Patient ID" in (result.warning or "")


def test_study_with_another_patient_id_is_rejected_when_configured(settings):
    core = ArchiveCore(settings.replace(ingest__patient_id_mismatch="reject"))
    try:
        study = generate_uid()
        assert core.ingest_bytes(make_bytes(study_uid=study, patient_id="A"), ORIGIN).ok
        result = core.ingest_bytes(make_bytes(study_uid=study, patient_id="B"), ORIGIN)
        assert result.status is IngestStatus.REJECTED and result.http_status == 409
        assert core.stats()["instances"] == 1 and len(blobs(core)) == 1
    finally:
        core.close()


CHARSET_NAMES = [
    ("ISO_IR 100", "Müller^Jürgen"),
    ("ISO_IR 192", "Ødegård^Åse"),
    ("\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ("\\ISO 2022 IR 149", "Hong^Gildong=洪^吉洞=홍^길동"),
    ("GB18030", "Wang^XiaoDong=王^小东="),
]


@pytest.mark.parametrize("charset,name", CHARSET_NAMES)
def test_person_names_are_decoded_with_the_specific_character_set(core, charset, name):
    data = make_bytes(patient_name=name, charset=charset, patient_id="CS1")
    # The stored bytes are in the object's own character set, not UTF-8.
    assert (name.encode("utf-8") in data) == (charset == "ISO_IR 192")
    result = core.ingest_bytes(data, ORIGIN)
    assert result.ok, result.reason
    [doc] = core.search(Query(QueryLevel.STUDY).add("PatientID", "CS1"))
    groups = name.split("=")
    pn = doc["00100010"]["Value"][0]
    assert pn["Alphabetic"] == groups[0]
    if len(groups) > 1 and groups[1]:
        assert pn["Ideographic"] == groups[1]
    # Case-insensitive prefix search on the alphabetic group finds it.
    prefix = groups[0][:3].lower() + "*"
    assert [d["0020000D"] for d in core.search(Query(QueryLevel.STUDY).add("PatientName", prefix))] \
        == [doc["0020000D"]]


def _corrupt(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


BAD_INPUTS = {
    "not dicom": lambda: b"%PDF-1.4 this is not DICOM" * 20,
    "empty": lambda: b"",
    "preamble only": lambda: b"\0" * 128 + b"DICM",
    "truncated pixel data": lambda: make_bytes()[:-40],
    "truncated header": lambda: make_bytes()[:300],
    "missing SOP Instance UID": lambda: to_bytes(_without("SOPInstanceUID")),
    "missing Study Instance UID": lambda: to_bytes(_without("StudyInstanceUID")),
    "bad UID": lambda: make_bytes(study_uid="1.2.3a"),
    "too long UID": lambda: make_bytes(series_uid="1." + "2" * 70),
}


def _without(keyword: str):
    ds = make_dataset()
    delattr(ds, keyword)  # the file meta still names the instance
    return ds


def _absurd_length() -> bytes:
    data = bytearray(make_bytes())
    # Find the Pixel Data element (OW, explicit VR LE) and give it a 4 GB length.
    at = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
    data[at + 8:at + 12] = b"\xfe\xff\xff\xff"
    return bytes(data)


BAD_INPUTS["absurd element length"] = _absurd_length


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_with_a_reason_and_nothing_is_stored(core, case):
    result = core.ingest_bytes(BAD_INPUTS[case](), ORIGIN)
    assert result.status is IngestStatus.REJECTED
    assert result.reason and result.dimse_status in (0xC000, 0xA900)
    assert 400 <= result.http_status < 500
    assert core.stats()["instances"] == 0
    assert blobs(core) == []
    # The archive keeps working after it.
    assert core.ingest_bytes(make_bytes(), ORIGIN).ok


async def test_streaming_session_keeps_a_large_object_and_memory_stays_flat(settings):
    from hounsfield.archive import Archive
    from hounsfield.archive import ingest as ingest_module

    archive = await Archive.open(settings)
    try:
        # 12 MB of pixel data: above the in-memory limit, so it streams through a writer.
        data = make_bytes(rows=2048, columns=3072)
        session = await archive.begin_ingest(ORIGIN)
        for i in range(0, len(data), 65536):
            await session.write(data[i:i + 65536])
            assert session._buffered <= ingest_module.SPOOL_LIMIT + 65536
        result = await session.finish()
        assert result.status is IngestStatus.STORED, result.reason
        [ref] = await archive.instances(result.study_instance_uid)
        got = b"".join([c async for c in archive.read_instance(ref)])
        assert got == data
    finally:
        await archive.close()


async def test_aborted_session_leaves_nothing(settings):
    from hounsfield.archive import Archive

    archive = await Archive.open(settings)
    try:
        data = make_bytes(rows=2048, columns=3072)
        session = await archive.begin_ingest(ORIGIN)
        await session.write(data[: len(data) // 2])
        await session.abort()
        assert (await archive.stats())["instances"] == 0
        assert list(archive.core.store.list()) == []
    finally:
        await archive.close()


async def test_streamed_truncated_object_is_rejected_and_nothing_is_kept(settings):
    from hounsfield.archive import Archive

    archive = await Archive.open(settings)
    try:
        data = make_bytes(rows=2048, columns=3072)[:-1000]
        session = await archive.begin_ingest(ORIGIN)
        await session.write(data)
        result = await session.finish()
        assert result.status is IngestStatus.REJECTED and "truncated" in result.reason
        assert list(archive.core.store.list()) == []
    finally:
        await archive.close()
