"""Fill an index with synthetic rows (no blobs) and measure study search by patient name.

    .venv/bin/python bench/fill_index.py --instances 1000000 [--backend sqlite|postgres|both]
        [--keep DIR]

Rows are made directly in the index (10 instances per study in 2 series, 2 studies per
patient), with names spread like real ones, so the query benchmarks of the archive,
C-FIND and QIDO-RS run at scale without generating a million files. Then it times
study-level searches by patient-name prefix through the archive's query model (the same
code C-FIND and QIDO-RS call) and prints the median and p95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
import uuid

from hounsfield.archive import ArchiveCore, Query, QueryLevel
from hounsfield.archive.dicomjson import compress
from hounsfield.config import load_settings
from hounsfield.index.schema import instances, patients, series, studies

PG = os.environ.get("HOUNSFIELD_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SYLLABLES = ["AN", "BER", "CO", "DA", "EL", "FI", "GA", "HO", "IN", "JO", "KA", "LI", "MA",
             "NO", "OR", "PE", "QUI", "RO", "SA", "TE", "UR", "VA", "WI", "XI", "YO", "ZE"]
GIVEN = ["ANNA", "JOHN", "MARIA", "PETER", "LENA", "OMAR", "YUKI", "CARLOS", "FATIMA", "IVAN"]


def surname(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def fill(core: ArchiveCore, n_instances: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    meta = compress({"00080060": {"vr": "CS", "Value": ["CT"]}})
    per_study, per_series = 10, 5
    n_studies = max(1, n_instances // per_study)
    names: list[str] = []
    batch = 2000
    pid = stid = seid = inid = 0
    with core.db.write() as conn:
        for start in range(0, n_studies, batch):
            prow, strow, serow, inrow = [], [], [], []
            for s in range(start, min(start + batch, n_studies)):
                if s % 2 == 0:
                    pid += 1
                    name = f"{surname(rng)}^{rng.choice(GIVEN)}"
                    names.append(name)
                    birth = f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                    prow.append(dict(id=pid, patient_id=f"PID{pid:08d}", issuer_of_patient_id="",
                                     patient_name=name, patient_name_search=name,
                                     patient_birth_date=birth, patient_sex=rng.choice("MF"),
                                     num_studies=2, num_series=4, num_instances=2 * per_study,
                                     size_bytes=0, created_at=now, updated_at=now))
                stid += 1
                date = f"{rng.randint(2000, 2026)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                strow.append(dict(id=stid, patient_pk=pid, study_instance_uid=f"2.25.{uuid.uuid4().int}",
                                  patient_id=f"PID{pid:08d}", issuer_of_patient_id="",
                                  patient_name=name, patient_name_search=name,
                                  patient_birth_date=birth, patient_sex="M",
                                  study_date=date, study_time="120000",
                                  accession_number=f"ACC{stid:09d}", study_id="1",
                                  study_description="CT CHEST", referring_physician_name="",
                                  referring_physician_name_search="", institution_name="",
                                  timezone_offset_from_utc="", specific_character_set="",
                                  modalities_in_study="\\CT\\", sop_classes_in_study="",
                                  num_series=2, num_instances=per_study, size_bytes=0,
                                  created_at=now, updated_at=now))
                for k in range(per_study // per_series):
                    seid += 1
                    serow.append(dict(id=seid, study_pk=stid, series_instance_uid=f"2.25.{uuid.uuid4().int}",
                                      modality="CT", series_number=k + 1, series_description="",
                                      series_date=date, series_time="", body_part_examined="",
                                      station_name="", institution_name="",
                                      performed_procedure_step_start_date="",
                                      performed_procedure_step_start_time="", source_ae_title="",
                                      num_instances=per_series, size_bytes=0,
                                      created_at=now, updated_at=now))
                    for i in range(per_series):
                        inid += 1
                        inrow.append(dict(id=inid, series_pk=seid,
                                          sop_instance_uid=f"2.25.{uuid.uuid4().int}",
                                          sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                                          instance_number=i + 1,
                                          transfer_syntax_uid="1.2.840.10008.1.2.1",
                                          rows=512, columns=512, bits_allocated=16,
                                          number_of_frames=None, content_date="", content_time="",
                                          blob_key=uuid.uuid4().hex, size=0, sha256="",
                                          pixel_data_offset=-1, pixel_data_length=-1,
                                          metadata=meta, attributes=None, source_ae_title="",
                                          received_at=now))
            for table, rows in ((patients, prow), (studies, strow), (series, serow),
                                (instances, inrow)):
                if rows:
                    conn.execute(table.insert(), rows)
    if core.db.dialect == "postgresql":
        with core.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with core.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return names


def measure(core: ArchiveCore, names: list[str], runs: int = 300, seed: int = 1) -> tuple[float, float, float]:
    rng = random.Random(seed)
    times = []
    hits = 0
    for _ in range(runs):
        prefix = rng.choice(names)[:3] + "*"
        q = Query(QueryLevel.STUDY, limit=100).add("PatientName", prefix)
        t = time.perf_counter()
        hits += len(core.search(q))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], hits / runs


def run(backend: str, n: int, keep: str | None) -> None:
    data = keep or tempfile.mkdtemp(prefix="hf-fill-")
    overrides = {}
    dbname = None
    if backend == "postgres":
        import psycopg

        dbname = f"hounsfield_fill_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{dbname}"')
        overrides["index__url"] = PG.rsplit("/", 1)[0] + "/" + dbname
    core = ArchiveCore(load_settings(environ={}, data_dir=data, **overrides))
    try:
        t = time.perf_counter()
        names = fill(core, n)
        fill_s = time.perf_counter() - t
        stats = core.stats()
        p50, p95, hits = measure(core, names)
        print(f"{backend:<9} {stats['instances']:,} instances / {stats['studies']:,} studies "
              f"filled in {fill_s:.0f} s; study search by patient-name prefix (limit 100): "
              f"median {p50:.1f} ms, p95 {p95:.1f} ms, {hits:.0f} results on average")
    finally:
        core.close()
        if dbname:
            import psycopg

            with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--keep", help="fill this data folder and keep it (SQLite)")
    args = parser.parse_args()
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        run(backend, args.instances, args.keep if backend == "sqlite" else None)


if __name__ == "__main__":
    main()
