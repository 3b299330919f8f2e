"""Helpers shared by the DICOM tests: settings, DCMTK availability and environment."""

from __future__ import annotations

import os
import shutil

import pytest

from hounsfield.config import load_settings

DCMTK = shutil.which("storescu") is not None
requires_dcmtk = pytest.mark.skipif(not DCMTK, reason="DCMTK tools (storescu) not on PATH")
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")


def dicom_settings(tmp_path, **changes):  # type: ignore[no-untyped-def]
    base = dict(data_dir=str(tmp_path), dicom__host="127.0.0.1", dicom__port=0,
                dicom__artim_timeout=2.0, dicom__idle_timeout=5.0, dicom__network_timeout=10.0,
                storage__fsync=False)
    base.update(changes)
    return load_settings(environ={}, **base)
