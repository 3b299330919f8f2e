"""The command line: import, reindex, verify and stats, and a killed import."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dicom_factory import make_bytes
from hounsfield.archive import ArchiveCore
from hounsfield.cli import main
from hounsfield.index.schema import instances, patients, series, studies


def run(settings, *args: str) -> tuple[int, str]:
    env = {"HOUNSFIELD_DATA_DIR": str(settings.data_dir)}
    if settings["index.url"]:
        env["HOUNSFIELD_INDEX_URL"] = settings["index.url"]
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def write_corpus(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = folder / f"sub{i % 3}" / f"img{i:04d}.dcm"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(make_bytes(patient_id=f"P{i % 7}", patient_name=f"Name{i % 7}^Test",
                                 instance_number=i))
        paths.append(p)
    return paths


def test_import_folders_zips_and_bad_files_with_a_summary(settings, tmp_path):
    write_corpus(tmp_path / "in", 20)
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    (tmp_path / "in" / "cut.dcm").write_bytes(make_bytes()[:-50])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(5):
            zf.writestr(f"z/{i}.dcm", make_bytes(patient_id="ZIP"))
        zf.writestr("z/readme.md", "hello")
    (tmp_path / "batch.zip").write_bytes(buf.getvalue())
    code, out = run(settings, "import", "--quiet", "--workers", "2", str(tmp_path / "in"),
                    str(tmp_path / "batch.zip"))
    assert code == 0, out
    assert "25 stored, 0 duplicate, 3 rejected, 0 failed" in out
    assert "notes.txt: Not a DICOM Part 10 file" in out
    assert "cut.dcm: File is truncated" in out
    assert "readme.md" in out
    # A second run finds everything already stored.
    code, out = run(settings, "import", "--quiet", str(tmp_path / "in"))
    assert "0 stored, 20 duplicate, 2 rejected" in out
    code, out = run(settings, "stats", "--json")
    assert '"instances": 25' in out


def _index_snapshot(settings) -> list[tuple]:
    core = ArchiveCore(settings)
    try:
        with core.db.read() as conn:
            rows = []
            for table in (patients, studies, series):
                cols = [c for c in table.c if c.name not in ("id", "created_at", "updated_at",
                                                             "patient_pk", "study_pk")]
                rows += sorted(tuple(r) for r in conn.execute(select(*cols)).all())
            cols = [c for c in instances.c if c.name not in ("id", "received_at", "series_pk",
                                                             "source_ae_title")]
            rows += sorted((tuple(r) for r in conn.execute(select(*cols)).all()),
                           key=lambda r: r[0])
            return rows
    finally:
        core.close()


def test_reindex_rebuilds_the_same_index(settings, tmp_path):
    write_corpus(tmp_path / "in", 12)
    assert run(settings, "import", "--quiet", str(tmp_path / "in"))[0] == 0
    before = _index_snapshot(settings)
    code, out = run(settings, "reindex", "--quiet")
    assert code == 0 and "reindexed 12 instances" in out, out
    assert _index_snapshot(settings) == before


def test_verify_reports_missing_corrupt_and_orphan_blobs(sqlite_settings, tmp_path):
    settings = sqlite_settings
    write_corpus(tmp_path / "in", 6)
    run(settings, "import", "--quiet", str(tmp_path / "in"))
    code, out = run(settings, "verify", "--quiet")
    assert code == 0 and "verified 6 instances" in out and "OK" in out
    core = ArchiveCore(settings)
    refs = core.instances(study_instance_uid=[
        r[0] for r in core.db.engine.connect().execute(select(studies.c.study_instance_uid))])
    missing, corrupt = refs[0], refs[1]
    os.remove(core.store.local_path(missing.blob_key))
    path = core.store.local_path(corrupt.blob_key)
    data = bytearray(Path(path).read_bytes())
    data[-1] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    core.store.put("0123456789abcdef0123456789abcdef", [make_bytes()])
    core.close()
    code, out = run(settings, "verify", "--quiet")
    assert code == 1
    assert f"missing blob for instance {missing.sop_instance_uid}" in out
    assert f"corrupt blob for instance {corrupt.sop_instance_uid}" in out
    assert "0123456789abcdef0123456789abcdef" in out and "1 orphan" in out


def test_killed_import_leaves_a_consistent_archive_and_a_rerun_completes(settings, tmp_path):
    total = 1000
    write_corpus(tmp_path / "in", total)
    env = dict(os.environ, HOUNSFIELD_DATA_DIR=str(settings.data_dir))
    if settings["index.url"]:
        env["HOUNSFIELD_INDEX_URL"] = settings["index.url"]
    cmd = [sys.executable, "-m", "hounsfield.cli", "import", "--quiet", "--workers", "2",
           str(tmp_path / "in")]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill the whole process group once some, but not all, instances are in.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            core = ArchiveCore(settings, migrate=False)
            n = core.stats()["instances"]
            core.close()
        except Exception:
            continue
        if n >= 20:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    core = ArchiveCore(settings, migrate=False)
    stored_before_rerun = core.stats()["instances"]
    core.close()
    assert 0 < stored_before_rerun < total, "the import must be killed part-way"
    code, out = run(settings, "verify", "--quiet")
    assert code == 0, out
    code, out = run(settings, "import", "--quiet", str(tmp_path / "in"))
    assert code == 0, out
    assert "0 rejected, 0 failed" in out
    code, out = run(settings, "stats", "--json")
    assert f'"instances": {total}' in out
    assert run(settings, "verify", "--quiet")[0] == 0


def test_config_docs_are_up_to_date():
    from hounsfield.config import render_docs

    path = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert path.read_text() == render_docs() + "\n", \
        "docs/configuration.md is out of date: run `hounsfield config docs > docs/configuration.md`"


def test_config_show_reads_toml_and_environment(tmp_path):
    cfg = tmp_path / "h.toml"
    cfg.write_text('[dicom]\nae_title = "PACS1"\nport = 104\n')
    result = CliRunner().invoke(main, ["--config", str(cfg), "config", "show", "--json"],
                                env={"HOUNSFIELD_DICOM_PORT": "2104"})
    assert result.exit_code == 0, result.output
    assert '"dicom.ae_title": "PACS1"' in result.output
    assert '"dicom.port": 2104' in result.output  # the environment wins over the file
    cfg.write_text('[dicom]\nport = "many"\n')
    result = CliRunner().invoke(main, ["--config", str(cfg), "config", "show"])
    assert result.exit_code != 0 and "dicom.port" in result.output
