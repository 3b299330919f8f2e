"""``hounsfield dicom echo|store|find|move|get`` against our server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result
from pydicom import dcmread

from hounsfield.cli import main
from hounsfield.dicom import DicomServer

from dicom_peers import make_image, populate, write_file

PREFIX = "1.2.826.0.1.3680043.10.1447.8"


async def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(args), env=env or {},
                                   catch_exceptions=False)


async def test_echo(server: DicomServer) -> None:
    result = await invoke("dicom", "echo", f"127.0.0.1:{server.port}", "--aec", "HOUNSFIELD",
                          "--repeat", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("status 0x0000") == 2


async def test_echo_of_nobody_fails_clearly(unused_tcp_port: int) -> None:
    result = await invoke("dicom", "echo", f"127.0.0.1:{unused_tcp_port}", "--timeout", "2")
    assert result.exit_code == 1 and "Cannot associate" in result.output


async def test_store_a_folder(server: DicomServer, archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    folder.mkdir()
    datasets = [make_image(instance_number=i) for i in range(1, 5)]
    for i, ds in enumerate(datasets):
        write_file(ds, folder / f"{i}.dcm")
    (folder / "notes.txt").write_text("not DICOM")
    result = await invoke("dicom", "store", f"127.0.0.1:{server.port}", "--aec", "HOUNSFIELD",
                          str(folder))
    assert result.exit_code == 0, result.output
    assert "4 stored, 0 failed" in result.output
    for ds in datasets:
        assert len(await archive.instances(sop_instance_uid=ds.SOPInstanceUID)) == 1


async def test_find_by_remote_node_name(server: DicomServer, archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await populate(archive)
    nodes = json.dumps({"self": {"ae_title": "HOUNSFIELD", "host": "127.0.0.1",
                                 "port": server.port}})
    result = await invoke("dicom", "find", "self", "-k", "PatientName=DOE^PATIENT2",
                          "-k", "StudyInstanceUID", env={"HOUNSFIELD_DICOM_REMOTE_NODES": nodes})
    assert result.exit_code == 0, result.output
    assert f"StudyInstanceUID={PREFIX}.2" in result.output
    assert f"{PREFIX}.1" not in result.output


async def test_get_into_a_folder_and_move(server: DicomServer, archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    datasets = await populate(archive, studies=1, per_study=3)
    out = tmp_path / "out"
    result = await invoke("dicom", "get", f"127.0.0.1:{server.port}", "--aec", "HOUNSFIELD",
                          "-k", f"StudyInstanceUID={PREFIX}.1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 completed, 0 failed" in result.output
    assert {dcmread(p).SOPInstanceUID for p in out.glob("*.dcm")} == {
        ds.SOPInstanceUID for ds in datasets}
    result = await invoke("dicom", "move", f"127.0.0.1:{server.port}", "NOWHERE", "--aec",
                          "HOUNSFIELD", "-k", f"StudyInstanceUID={PREFIX}.1")
    assert result.exit_code == 1 and "0xA801" in result.output


def test_context_groups_split_at_128() -> None:
    from hounsfield.dicom.cli import _context_groups

    kinds = [(f"1.2.3.{i}", "1.2.840.10008.1.2.4.90") for i in range(100)]
    groups = _context_groups(kinds)
    assert [len(contexts) for contexts, _ in groups] == [128, 72]
    assert set().union(*(covered for _, covered in groups)) == set(kinds)
    for contexts, covered in groups:
        for sop_class, ts in covered:
            assert (sop_class, [ts]) in contexts
            assert (sop_class, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]) in contexts
