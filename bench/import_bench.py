"""Benchmark of `hounsfield import` on SQLite and on PostgreSQL.

    .venv/bin/python bench/import_bench.py [--small 1000] [--ct 300] [--runs 3]

Generates the corpus once (bench/corpus/, gitignored), then imports the small instances
and the CT into a fresh archive per run and database, and prints the median rate.
PostgreSQL is used when it answers at HOUNSFIELD_BENCH_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); a database is made and dropped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).parent
PG = os.environ.get("HOUNSFIELD_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def corpus(small: int, ct: int) -> Path:
    out = HERE / "corpus" / f"s{small}-ct{ct}"
    if not (out / ".done").exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(out), "--small", str(small),
                        "--ct", str(ct)], check=True)
        (out / ".done").touch()
    return out


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.dcm"))


def pg_database() -> tuple[str, str] | None:
    try:
        import psycopg

        admin = PG.replace("postgresql+psycopg", "postgresql")
        name = f"hounsfield_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name, PG.rsplit("/", 1)[0] + "/" + name
    except Exception as exc:
        print(f"PostgreSQL not available ({exc}); SQLite only")
        return None


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def import_once(folder: Path, index_url: str | None) -> float:
    data = Path(tempfile.mkdtemp(prefix="hf-bench-"))
    env = dict(os.environ, HOUNSFIELD_DATA_DIR=str(data))
    if index_url:
        env["HOUNSFIELD_INDEX_URL"] = index_url
        # Each run starts from an empty index.
        from sqlalchemy import create_engine, text

        eng = create_engine(index_url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    # Migrations are not part of the measurement.
    subprocess.run([sys.executable, "-m", "hounsfield.cli", "stats"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "hounsfield.cli", "import", "--quiet",
                          str(folder)], env=env, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if " 0 rejected, 0 failed" not in out.stdout:
        raise SystemExit(f"import reported problems:\n{out.stdout}")
    shutil.rmtree(data, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--ct", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = corpus(args.small, args.ct)
    small_dir, ct_dir = root / "small", root / "ct"
    small_n = len(list(small_dir.rglob("*.dcm")))
    ct_bytes = folder_size(ct_dir)
    print(f"corpus: {small_n} small instances ({folder_size(small_dir) / 1e6:.1f} MB), "
          f"CT {len(list(ct_dir.rglob('*.dcm')))} slices ({ct_bytes / 1e6:.1f} MB); "
          f"{os.cpu_count()} CPUs")
    pg = pg_database()
    backends = [("SQLite", None)] + ([("PostgreSQL", pg[1])] if pg else [])
    try:
        for name, url in backends:
            small_t = statistics.median(import_once(small_dir, url) for _ in range(args.runs))
            ct_t = statistics.median(import_once(ct_dir, url) for _ in range(args.runs))
            print(f"{name:<10} small: {small_n / small_t:8,.0f} instances/s ({small_t:.2f} s)   "
                  f"CT: {ct_bytes / 1e6 / ct_t:6,.0f} MB/s ({ct_t:.2f} s)   "
                  f"[median of {args.runs}, including process start]")
    finally:
        if pg:
            drop_pg(pg[0])


if __name__ == "__main__":
    main()
