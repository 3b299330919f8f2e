"""Fixtures shared by the whole suite: settings in a temporary folder, and the index
database on both SQLite and PostgreSQL (DESIGN rule 10)."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from hounsfield.config import Settings, load_settings

PG_ADMIN_URL = os.environ.get("HOUNSFIELD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("HOUNSFIELD_TEST_REQUIRE_POSTGRES") == "1"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"),
                             connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database made for this test run and dropped at its end."""
    problem = _pg_available()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (HOUNSFIELD_TEST_REQUIRE_POSTGRES=1) but not "
                        f"reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    import psycopg

    name = f"hounsfield_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from sqlalchemy import create_engine  # noqa: F401 - engines of tests are disposed

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "select tablename from pg_tables where schemaname='public' "
            "and tablename <> 'alembic_version'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                         + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def index_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path, index_backend, request) -> Settings:
    """Settings for an archive in a temporary folder, on each index database."""
    # Access control is tested on its own (tests/auth, tests/web); elsewhere it is off.
    overrides: dict[str, object] = {"data_dir": str(tmp_path / "data"), "auth__enabled": False}
    if index_backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        _truncate(url)
        overrides["index__url"] = url
    return load_settings(environ={}, **overrides)


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    """Settings for an archive on SQLite only (for tests that are not about the index)."""
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), auth__enabled=False)
