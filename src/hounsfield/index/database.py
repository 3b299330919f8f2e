"""Opening the index database, running migrations, and transactions.

SQLite allows one writer at a time, so writes go through one lock (datasette's habit:
reads in parallel, writes one by one); PostgreSQL takes concurrent writers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """One index database: an engine, its dialect, and read/write transactions."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            path = parsed.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60},
                pool_size=pool_size, max_overflow=pool_size)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.dialect == "postgresql":
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                        pool_pre_ping=True)
        else:
            raise ValueError(f"Unsupported index database {self.dialect!r}: use sqlite or postgresql")
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    # Take the write lock up front so concurrent readers upgrading to
                    # writers cannot deadlock.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                with conn.begin() if not self.is_sqlite else _sqlite_tx(conn):
                    yield conn
        finally:
            if lock is not None:
                lock.release()

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _sqlite_tx(conn: Connection) -> Iterator[None]:
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    else:
        conn.exec_driver_sql("COMMIT")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy/pysqlite not open transactions on its own; we issue BEGIN ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives power loss (DESIGN rule 2).
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def server_version(db: Database) -> str:
    with db.read() as conn:
        if db.is_sqlite:
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar())
        return str(conn.execute(text("show server_version")).scalar())
