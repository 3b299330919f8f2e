"""Administration API of the web application over the real app with access control on:
remote DICOM nodes (added, changed, removed, echoed against DCMTK's storescp) that become
C-MOVE destinations of our DICOM server, and the storage statistics."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from dicom_peers import DCMTK_ENV, requires_dcmtk, run_tool, wait_until_listening  # noqa: E402
from security_app import open_secure_app  # noqa: E402

from hounsfield.dicom.server import DicomServer  # noqa: E402

SETTING_NODES = {"viewer": {"ae_title": "VIEWER", "host": "10.0.0.5", "port": 104}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def secure(settings):
    sec = await open_secure_app(settings, dicom__remote_nodes=SETTING_NODES,
                                dicom__host="127.0.0.1", dicom__port=0,
                                dicom__network_timeout=5.0)
    yield sec
    await sec.close()


@pytest.fixture
async def storescp(tmp_path):
    port = _free_port()
    out_dir = tmp_path / "received"
    out_dir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        "storescp", "-aet", "STORESCP", "-od", str(out_dir), str(port), env=DCMTK_ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_until_listening(port)
        yield port, out_dir
    finally:
        proc.terminate()
        await proc.wait()


@requires_dcmtk
async def test_nodes_crud_echo_and_move_to_a_database_node(secure, storescp):
    port, out_dir = storescp
    server = DicomServer(secure.settings, secure.archive)
    await server.start()
    try:
        async with secure.client("admin") as admin, secure.client("rad") as rad:
            assert (await rad.get("/api/admin/nodes")).status_code == 403
            r = await admin.post("/api/admin/nodes", json={
                "ae_title": "STORESCP", "host": "127.0.0.1", "port": port,
                "description": "DCMTK test peer"})
            assert r.status_code == 201, r.text
            node = r.json()
            assert node == {"id": node["id"], "ae_title": "STORESCP", "host": "127.0.0.1",
                            "port": port, "tls": False, "description": "DCMTK test peer",
                            "source": "database"}
            listed = (await admin.get("/api/admin/nodes")).json()
            assert listed == [{"id": None, "ae_title": "VIEWER", "host": "10.0.0.5",
                               "port": 104, "tls": False, "description": "viewer",
                               "source": "settings"}, node]
            # Bad or taken AE titles are refused and change nothing.
            for body, status in (({"ae_title": "STORESCP", "host": "h", "port": 1}, 409),
                                 ({"ae_title": "VIEWER", "host": "h", "port": 1}, 409),
                                 ({"ae_title": "A\\B", "host": "h", "port": 1}, 400),
                                 ({"ae_title": "X", "host": "h", "port": 70000}, 422)):
                r = await admin.post("/api/admin/nodes", json=body)
                assert r.status_code == status, (body, r.text)
            assert len((await admin.get("/api/admin/nodes")).json()) == 2
            r = await admin.patch(f"/api/admin/nodes/{node['id']}",
                                  json={"description": "storescp on loopback"})
            assert r.status_code == 200 and r.json()["description"] == "storescp on loopback"
            assert r.json()["port"] == port
            r = await admin.post(f"/api/admin/nodes/{node['id']}/echo")
            assert r.status_code == 200 and r.json()["ok"] is True, r.text
            assert r.json()["elapsed_ms"] >= 0 and r.json()["message"]
            # A database node is a C-MOVE destination like those of the setting.
            study = secure.studies["welby"]
            code, out = await run_tool(
                "movescu", "-S", "-aec", "HOUNSFIELD", "-aet", "MOVESCU", "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                "127.0.0.1", str(server.port))
            assert code == 0, out
            assert {dcmread(p).StudyInstanceUID for p in out_dir.iterdir()} == {study}
            # Removed, it is no destination any more; a closed port fails the echo.
            r = await admin.patch(f"/api/admin/nodes/{node['id']}",
                                  json={"port": _free_port()})
            r = await admin.post(f"/api/admin/nodes/{node['id']}/echo")
            assert r.json()["ok"] is False and "Cannot reach" in r.json()["message"]
            assert (await admin.delete(f"/api/admin/nodes/{node['id']}")).json() == \
                {"deleted": node["id"]}
            assert (await admin.delete(f"/api/admin/nodes/{node['id']}")).status_code == 404
            code, out = await run_tool(
                "movescu", "-S", "-aec", "HOUNSFIELD", "-aet", "MOVESCU", "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                "127.0.0.1", str(server.port))
            assert "movedestinationunknown" in out.lower(), out
    finally:
        await server.stop()


async def test_stats_count_what_is_stored(secure, index_backend):
    core = secure.archive.core
    refs = core.instances([secure.studies[k] for k in ("welby", "other", "sent")])
    async with secure.client("admin") as admin, secure.client("rad") as rad:
        assert (await rad.get("/api/admin/stats")).status_code == 403
        r = await admin.get("/api/admin/stats")
    assert r.status_code == 200, r.text
    stats = r.json()
    size = sum(ref.size for ref in refs)
    now = dt.datetime.now(dt.timezone.utc)
    days = {(now - dt.timedelta(hours=h)).date().isoformat() for h in (0, 1)}
    assert {k: stats[k] for k in ("patients", "studies", "series", "instances", "bytes")} == \
        {"patients": 3, "studies": 3, "series": 3, "instances": 3, "bytes": size}
    assert stats["by_modality"] == [{"modality": "CT", "studies": 3, "instances": 3,
                                     "bytes": size}]
    [day] = stats["studies_per_day"]  # all received just now (a minute ago at midnight)
    assert day["date"] in days and (day["studies"], day["instances"]) == (3, 3)
    assert stats["index"] == ("sqlite" if index_backend == "sqlite" else "postgresql")
    assert stats["storage"] == "filesystem"
    assert 0 < stats["disk"]["free"] <= stats["disk"]["total"]
    from hounsfield import __version__

    assert stats["version"] == __version__
