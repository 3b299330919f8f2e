"""The small-instance corpus spreads over patients, studies and series, and every
generator gives the same bytes for the same seed."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread

from hounsfield.demo import (
    Study,
    ct_volume,
    demo_patients,
    small_corpus,
    small_instance,
    small_patient,
    to_bytes,
    us_multiframe,
)

RoundTrip = Callable[[Dataset], Dataset]


def test_corpus_spreads_over_patients_studies_and_series(round_trip: RoundTrip) -> None:
    instances = [round_trip(ds) for ds in small_corpus(60, patients=5, studies_per_patient=3,
                                                         series_per_study=2)]
    assert len(instances) == 60
    studies_of: dict[str, set[str]] = defaultdict(set)
    series_of: dict[str, set[str]] = defaultdict(set)
    per_series: dict[str, list[int]] = defaultdict(list)
    names: dict[str, set[str]] = defaultdict(set)
    for ds in instances:
        studies_of[ds.PatientID].add(ds.StudyInstanceUID)
        series_of[ds.StudyInstanceUID].add(ds.SeriesInstanceUID)
        per_series[ds.SeriesInstanceUID].append(int(ds.InstanceNumber))
        names[ds.PatientID].add(str(ds.PatientName))
        assert (ds.Rows, ds.Columns) == (64, 64)
    assert len(studies_of) == 5
    assert all(len(s) == 3 for s in studies_of.values())
    assert all(len(s) == 2 for s in series_of.values())
    assert all(sorted(n) == [1, 2] for n in per_series.values())
    assert all(len(n) == 1 for n in names.values())
    assert len({n for ns in names.values() for n in ns}) == 5
    assert {ds.Modality for ds in instances} == {"CT", "MR"}
    assert len({ds.SOPInstanceUID for ds in instances}) == 60


def test_corpus_names_are_distinct_and_start_with_many_letters() -> None:
    names = [small_patient(i).name for i in range(2100)]
    assert len(set(names)) == len(names)
    assert len({n[0] for n in names[:100]}) >= 20
    assert len({small_patient(i).patient_id for i in range(2100)}) == 2100


def test_small_instance_is_the_same_as_in_the_corpus() -> None:
    corpus = list(small_corpus(7, patients=3, studies_per_patient=1, series_per_study=1))
    assert to_bytes(small_instance(6, patients=3, studies_per_patient=1,
                                   series_per_study=1)) == to_bytes(corpus[6])


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    patient = demo_patients()[0]
    study = Study.create(patient, "20240101", "SEED", seed=3)

    def volume(seed: int) -> list[bytes]:
        return [to_bytes(ds) for ds in ct_volume(patient, study, slices=2, rows=32,
                                                 columns=32, seed=seed)]

    assert volume(3) == volume(3)
    other = volume(4)
    assert other != volume(3)
    first, second = (Study.create(patient, "20240101", "SEED", seed=s) for s in (3, 4))
    assert first.study_instance_uid != second.study_instance_uid
    assert to_bytes(us_multiframe(patient, study, frames=2, rows=32, columns=32, seed=1)) == \
        to_bytes(us_multiframe(patient, study, frames=2, rows=32, columns=32, seed=1))
    assert to_bytes(small_instance(5, seed=2)) == to_bytes(small_instance(5, seed=2))
    assert small_instance(5, seed=2).SOPInstanceUID != small_instance(5, seed=3).SOPInstanceUID


def test_bad_arguments_are_named() -> None:
    patient = demo_patients()[0]
    study = Study.create(patient, "20240101", "X")
    with pytest.raises(ValueError, match="slices"):
        next(ct_volume(patient, study, slices=0))
    with pytest.raises(ValueError, match="patients"):
        small_instance(0, patients=0)


def test_bench_corpus_script_writes_small_instances_and_a_ct(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "corpus.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path), "--small", "6",
                             "--ct", "2", "--patients", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    small = sorted((tmp_path / "small").glob("*.dcm"))
    ct = sorted((tmp_path / "ct").glob("*.dcm"))
    assert len(small) == 6 and len(ct) == 2
    assert len({dcmread(f, stop_before_pixels=True).PatientID for f in small}) == 3
    assert {(ds.Rows, ds.Columns) for ds in map(dcmread, ct)} == {(512, 512)}
