"""Fixtures for the imaging tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from imaging_synthetic import part10


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[Dataset], Path]:
    counter = iter(range(1_000_000))

    def write(ds: Dataset) -> Path:
        path = tmp_path / f"image-{next(counter)}.dcm"
        path.write_bytes(part10(ds))
        return path

    return write
