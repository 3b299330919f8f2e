"""The one query model: every matching type at every level, on both databases."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from dicom_factory import make_bytes
from hounsfield.archive import ArchiveCore, Origin, Query, QueryLevel
from hounsfield.errors import InvalidRequest

ORIGIN = Origin("test")
STUDY_A, STUDY_B, STUDY_C = generate_uid(), generate_uid(), generate_uid()
SERIES_A1, SERIES_A2 = generate_uid(), generate_uid()


@pytest.fixture
def core(settings):
    core = ArchiveCore(settings)
    objects = [
        dict(patient_name="Doe^John", patient_id="P1", study_uid=STUDY_A, series_uid=SERIES_A1,
             modality="CT", study_date="20200115", study_time="083000", accession="ACC1",
             instance_number=1, series_number=1, BodyPartExamined="CHEST",
             StationName="CT01"),
        dict(patient_name="Doe^John", patient_id="P1", study_uid=STUDY_A, series_uid=SERIES_A1,
             modality="CT", study_date="20200115", study_time="083000", accession="ACC1",
             instance_number=2, series_number=1, BodyPartExamined="CHEST",
             StationName="CT01"),
        dict(patient_name="Doe^John", patient_id="P1", study_uid=STUDY_A, series_uid=SERIES_A2,
             modality="SR", study_date="20200115", study_time="083000", accession="ACC1",
             instance_number=1, series_number=2, sop_class="1.2.840.10008.5.1.4.1.1.88.22"),
        dict(patient_name="Doeson^Jane", patient_id="P2", study_uid=STUDY_B, modality="MR",
             study_date="20211201", study_time="143000", accession="ACC2",
             sop_class="1.2.840.10008.5.1.4.1.1.4", referring="House^Gregory",
             study_description="MR BRAIN", ProtocolName="T1 AXIAL"),
        dict(patient_name="Smith^Anna", patient_id="P3", study_uid=STUDY_C, modality="CT",
             study_date="20230630", study_time="235959", accession="XYZ9",
             study_description="CT ABDOMEN", ProtocolName="ABD PORTAL"),
    ]
    for kw in objects:
        assert core.ingest_bytes(make_bytes(**kw), ORIGIN).ok
    yield core
    core.close()


def study_uids(core, **keys) -> set[str]:
    q = Query(QueryLevel.STUDY)
    for k, v in keys.items():
        q.add(k, v)
    return {d["0020000D"]["Value"][0] for d in core.search(q)}


@pytest.mark.parametrize("keys,expected", [
    ({}, {STUDY_A, STUDY_B, STUDY_C}),                                  # universal
    ({"PatientID": "P1"}, {STUDY_A}),                                   # single value
    ({"PatientID": "p1"}, set()),                                       # LO is case-sensitive
    ({"PatientName": "Doe*"}, {STUDY_A, STUDY_B}),                      # wildcard prefix
    ({"PatientName": "doe^john"}, {STUDY_A}),                           # PN case-insensitive
    ({"PatientName": "*Anna"}, {STUDY_C}),                              # leading wildcard
    ({"PatientName": "Do?son*"}, {STUDY_B}),                            # ? wildcard
    ({"PatientName": ""}, {STUDY_A, STUDY_B, STUDY_C}),                 # empty = universal
    ({"StudyDate": "20200115"}, {STUDY_A}),
    ({"StudyDate": "20200101-20211231"}, {STUDY_A, STUDY_B}),           # range
    ({"StudyDate": "20211201-"}, {STUDY_B, STUDY_C}),                   # open range
    ({"StudyDate": "-20200115"}, {STUDY_A}),
    ({"StudyTime": "1400-2359"}, {STUDY_B, STUDY_C}),                   # TM range
    ({"StudyTime": "08"}, {STUDY_A}),                                   # TM of an hour
    ({"AccessionNumber": "ACC*"}, {STUDY_A, STUDY_B}),
    ({"StudyInstanceUID": f"{STUDY_A}\\{STUDY_C}"}, {STUDY_A, STUDY_C}),  # UID list
    ({"ModalitiesInStudy": "SR"}, {STUDY_A}),
    ({"ModalitiesInStudy": "MR\\SR"}, {STUDY_A, STUDY_B}),
    ({"ReferringPhysicianName": "house*"}, {STUDY_B}),
    ({"StudyDescription": "CT*"}, {STUDY_A, STUDY_C}),
    ({"Modality": "MR"}, {STUDY_B}),                                    # series attribute
    ({"ProtocolName": "ABD*"}, {STUDY_C}),                              # not a column: JSON
    ({"ProtocolName": "T1 AXIAL"}, {STUDY_B}),
    ({"00181030": "T1 AXIAL"}, {STUDY_B}),                              # hex tag
    ({"PatientName": "Doe*", "StudyDate": "2021*"}, {STUDY_B}),         # combined
])
def test_study_level_matching(core, keys, expected):
    assert study_uids(core, **keys) == expected


def test_fuzzy_person_name_matching(core):
    q = Query(QueryLevel.STUDY, fuzzy=True).add("PatientName", "jan")
    assert {d["0020000D"]["Value"][0] for d in core.search(q)} == {STUDY_B}


def test_patient_level(core):
    docs = core.search(Query(QueryLevel.PATIENT).add("PatientName", "DOE*"))
    assert sorted(d["00100020"]["Value"][0] for d in docs) == ["P1", "P2"]
    [p1] = [d for d in docs if d["00100020"]["Value"] == ["P1"]]
    assert p1["00201200"]["Value"] == [1] and p1["00201202"]["Value"] == [2]


def test_series_level_returns_series_attributes(core):
    docs = core.search(Query(QueryLevel.SERIES).add("StudyInstanceUID", STUDY_A))
    assert [d["0020000E"]["Value"][0] for d in docs] == [SERIES_A1, SERIES_A2]
    first = docs[0]
    assert first["00080060"]["Value"] == ["CT"]
    assert first["00201209"]["Value"] == [2]
    assert first["00180015"]["Value"] == ["CHEST"]
    docs = core.search(Query(QueryLevel.SERIES).add("StationName", "CT01"))
    assert [d["0020000E"]["Value"][0] for d in docs] == [SERIES_A1]


def test_instance_level_and_include_all(core):
    q = Query(QueryLevel.INSTANCE).add("SeriesInstanceUID", SERIES_A1)
    docs = core.search(q)
    assert [d["00200013"]["Value"][0] for d in docs] == [1, 2]
    assert "00280010" in docs[0] and docs[0]["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]
    q = Query(QueryLevel.INSTANCE, include_all=True).add("SeriesInstanceUID", SERIES_A1)
    assert docs[0]["00080018"] == core.search(q)[0]["00080018"]
    assert "00180015" in core.search(q)[0]  # BodyPartExamined comes from the metadata


def test_return_keys_not_in_columns_come_from_metadata(core):
    q = Query(QueryLevel.STUDY).add("PatientID", "P2").add_return("ProtocolName")
    [doc] = core.search(q)
    assert doc["00181030"]["Value"] == ["T1 AXIAL"]


def test_limit_offset_and_stable_order(core):
    everything = [d["0020000D"]["Value"][0] for d in core.search(Query(QueryLevel.STUDY))]
    assert everything == [STUDY_C, STUDY_B, STUDY_A]  # newest first
    page = [d["0020000D"]["Value"][0]
            for d in core.search(Query(QueryLevel.STUDY, limit=2, offset=1))]
    assert page == everything[1:3]


@pytest.mark.parametrize("key,value", [
    ("NoSuchKeyword", "x"),
    ("StudyDate", "2020-01-01-2021"),
    ("StudyDate", "yesterday"),
    ("StudyInstanceUID", "1.2.*"),
    ("SeriesNumber", "one"),
])
def test_malformed_keys_and_values_are_refused(core, key, value):
    with pytest.raises(InvalidRequest):
        q = Query(QueryLevel.STUDY).add(key, value)
        core.search(q)


def test_injection_attempts_are_just_values(core):
    assert study_uids(core, PatientName="x' OR '1'='1") == set()
    assert study_uids(core, PatientID="P1'; DROP TABLE studies; --") == set()
    assert core.stats()["studies"] == 3


def test_delete_keeps_counters_right(core):
    [ref1, ref2] = core.instances(series_instance_uid=SERIES_A1)
    assert core.delete(sop_instance_uid=ref1.sop_instance_uid) == 1
    [doc] = core.search(Query(QueryLevel.STUDY).add("StudyInstanceUID", STUDY_A))
    assert doc["00201208"]["Value"] == [2] and doc["00201206"]["Value"] == [2]
    assert core.delete(series_instance_uid=SERIES_A2) == 1
    [doc] = core.search(Query(QueryLevel.STUDY).add("StudyInstanceUID", STUDY_A))
    assert doc["00080061"]["Value"] == ["CT"] and doc["00201206"]["Value"] == [1]
    assert core.delete(study_instance_uid=STUDY_A) == 1
    assert study_uids(core, PatientID="P1") == set()
    assert core.search(Query(QueryLevel.PATIENT).add("PatientID", "P1")) == []
    keys = set(core.store.list())
    assert ref1.blob_key not in keys and ref2.blob_key not in keys
    assert core.stats()["instances"] == 2 and len(keys) == 2


async def test_access_scope_limits_search_retrieve_and_delete(core):
    from hounsfield.archive import Archive
    from hounsfield.archive.access import Scope, current_scope

    archive = Archive(core, __import__("concurrent.futures").futures.ThreadPoolExecutor(2))
    token = current_scope.set(Scope(referring_physician_names=frozenset({"HOUSE^GREGORY"}),
                                    study_instance_uids=frozenset({STUDY_C})))
    try:
        docs = await archive.search(Query(QueryLevel.STUDY))
        assert {d["0020000D"]["Value"][0] for d in docs} == {STUDY_B, STUDY_C}
        patients_seen = await archive.search(Query(QueryLevel.PATIENT))
        assert sorted(d["00100020"]["Value"][0] for d in patients_seen) == ["P2", "P3"]
        assert await archive.instances(STUDY_A) == []
        assert len(await archive.instances(STUDY_B)) == 1
        series_docs = await archive.search(Query(QueryLevel.SERIES).add("StudyInstanceUID", STUDY_A))
        assert series_docs == []
        from hounsfield.errors import NotFound
        with pytest.raises(NotFound):
            await archive.delete(STUDY_A)
        current_scope.set(Scope())  # no grants at all: nothing is visible
        assert await archive.search(Query(QueryLevel.STUDY)) == []
    finally:
        current_scope.reset(token)
    assert len(await archive.search(Query(QueryLevel.STUDY))) == 3
    assert core.stats()["instances"] == 5
