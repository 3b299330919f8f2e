"""Fixtures of the DICOM tests: a real archive in tmp_path and a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hounsfield.archive import Archive
from hounsfield.dicom import DicomServer

from dicom_peers import dicom_settings


@pytest.fixture
async def archive(tmp_path) -> AsyncIterator[Archive]:  # type: ignore[no-untyped-def]
    arch = await Archive.open(dicom_settings(tmp_path))
    yield arch
    await arch.close()


@pytest.fixture
async def server(tmp_path, archive) -> AsyncIterator[DicomServer]:  # type: ignore[no-untyped-def]
    srv = DicomServer(dicom_settings(tmp_path), archive)
    await srv.start()
    yield srv
    await srv.stop()
