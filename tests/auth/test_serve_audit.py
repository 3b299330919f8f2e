"""`hounsfield serve` records the DICOM services' accesses in the same audit trail as
HTTP: a C-FIND by a pynetdicom peer is found in the trail after the server stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from pydicom.dataset import Dataset

from hounsfield.archive import ArchiveCore
from hounsfield.auth import audit
from hounsfield.config import load_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dicom_find_is_audited(tmp_path):
    pynetdicom = pytest.importorskip("pynetdicom")
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    dicom_port = _free_port()
    env = dict(os.environ, HOUNSFIELD_DICOM_HOST="127.0.0.1", HOUNSFIELD_HTTP_HOST="127.0.0.1",
               HOUNSFIELD_DICOM_PORT=str(dicom_port))
    proc = subprocess.Popen([sys.executable, "-m", "hounsfield.cli", "--data-dir",
                             str(tmp_path / "data"), "serve", "--http-port", str(_free_port())],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ae = pynetdicom.AE(ae_title="FINDSCU")
        ae.add_requested_context(FIND)
        deadline = time.monotonic() + 60
        while True:
            assoc = ae.associate("127.0.0.1", dicom_port, ae_title="HOUNSFIELD")
            if assoc.is_established:
                break
            assert time.monotonic() < deadline and proc.poll() is None, "no DICOM server"
            time.sleep(0.3)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.PatientID = "P*"
        query.StudyInstanceUID = ""
        statuses = [status.Status for status, _ in assoc.send_c_find(query, FIND)]
        assoc.release()
        assert statuses[-1] == 0x0000
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    core = ArchiveCore(load_settings(environ={}, data_dir=str(tmp_path / "data")))
    try:
        events, total = audit.search(core.db, action="search", user="AE:FINDSCU")
    finally:
        core.close()
    assert total == 1 and "PatientID=P*" in events[0]["details"]["query"]
    assert events[0]["remote_address"] == "127.0.0.1"
