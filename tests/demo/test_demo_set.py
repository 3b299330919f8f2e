"""The demo set, written as files and read back, covers what a demo archive needs."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import UID, CTImageStorage

from hounsfield.demo import instance_path, write_demo


@pytest.fixture(scope="module")
def demo_headers(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Dataset]]:
    """Write the whole demo set once and read every file's header back."""
    folder = tmp_path_factory.mktemp("demo")
    count = write_demo(folder)
    files = sorted(folder.rglob("*.dcm"))
    assert count == len(files)
    headers = [(f.relative_to(folder), dcmread(f, stop_before_pixels=True)) for f in files]
    return headers


def test_demo_set_covers_the_modalities(demo_headers: list[tuple[Path, Dataset]]) -> None:
    modalities = Counter(ds.Modality for _, ds in demo_headers)
    assert {"CT", "MR", "CR", "US", "XA", "OT", "DOC"} <= set(modalities)
    sop_classes = {ds.SOPClassUID.name for _, ds in demo_headers}
    assert {"CT Image Storage", "MR Image Storage", "Computed Radiography Image Storage",
            "Ultrasound Multi-frame Image Storage", "X-Ray Angiographic Image Storage",
            "Secondary Capture Image Storage", "Encapsulated PDF Storage"} <= sop_classes
    assert any(int(ds.get("NumberOfFrames", 1)) > 1 and ds.Modality == "US"
               for _, ds in demo_headers)


def test_demo_set_has_patients_studies_across_years_and_priors(
        demo_headers: list[tuple[Path, Dataset]]) -> None:
    patients = {ds.PatientID for _, ds in demo_headers}
    assert len(patients) >= 6
    years = {ds.StudyDate[:4] for _, ds in demo_headers}
    assert len(years) >= 4
    ct_studies: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for _, ds in demo_headers:
        if ds.SOPClassUID == CTImageStorage:
            ct_studies[ds.PatientID].add((ds.StudyInstanceUID, ds.StudyDate))
    with_priors = [dates for dates in ct_studies.values() if len(dates) >= 3]
    assert with_priors, "one patient has a current CT and two priors"
    study_years = sorted(int(date[:4]) for _, date in with_priors[0])
    assert study_years[-1] - study_years[0] >= 2


def test_demo_set_has_a_large_contiguous_ct(demo_headers: list[tuple[Path, Dataset]]) -> None:
    series: dict[str, list[Dataset]] = defaultdict(list)
    for _, ds in demo_headers:
        if ds.SOPClassUID == CTImageStorage:
            series[ds.SeriesInstanceUID].append(ds)
    largest = max(series.values(), key=len)
    assert len(largest) >= 200
    assert {(ds.Rows, ds.Columns) for ds in largest} == {(512, 512)}
    z = sorted(float(ds.ImagePositionPatient[2]) for ds in largest)
    thickness = float(largest[0].SliceThickness)
    assert all(abs((b - a) - thickness) < 1e-3 for a, b in zip(z, z[1:]))


def test_demo_uids_are_valid_and_unique(demo_headers: list[tuple[Path, Dataset]]) -> None:
    instances = [ds.SOPInstanceUID for _, ds in demo_headers]
    assert len(set(instances)) == len(instances)
    series_of: dict[str, tuple[str, str]] = {}
    for _, ds in demo_headers:
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                    ds.get("FrameOfReferenceUID", "1.2")):
            assert UID(uid).is_valid, uid
        # A series belongs to one study of one patient.
        owner = (ds.StudyInstanceUID, ds.PatientID)
        assert series_of.setdefault(ds.SeriesInstanceUID, owner) == owner
    assert not set(instances) & {ds.SeriesInstanceUID for _, ds in demo_headers}


def test_files_are_laid_out_by_patient_study_series(
        demo_headers: list[tuple[Path, Dataset]]) -> None:
    for relative, ds in demo_headers:
        assert relative == instance_path(ds)
