"""Fixtures of the demo generator tests: a patient, a study, and Part 10 round trips."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import pytest
from pydicom import Dataset, dcmread

from hounsfield.demo import Patient, Study, demo_patients, to_bytes


@pytest.fixture
def patient() -> Patient:
    return demo_patients()[0]


@pytest.fixture
def study(patient: Patient) -> Study:
    return Study.create(patient, "20240115", "TEST STUDY", institution_name="Test Hospital")


def _round_trip(ds: Dataset) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        data = to_bytes(ds)
    assert data[128:132] == b"DICM"
    return dcmread(io.BytesIO(data))


@pytest.fixture
def round_trip() -> Callable[[Dataset], Dataset]:
    """Write a dataset as a Part 10 file and read it back; text pydicom could not encode
    in the dataset's character set (it warns and substitutes) fails the test."""
    return _round_trip
