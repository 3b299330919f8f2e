"""``hounsfield import``: files, folders (recursively) and zip archives, in parallel.

Each worker process opens the archive itself and calls the one ingest path; a file that is
not DICOM, or is truncated, is reported with its reason and the import goes on.
"""

from __future__ import annotations

import os
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from hounsfield.archive import ArchiveCore, Origin
from hounsfield.archive.ingest import SPOOL_LIMIT
from hounsfield.config import Settings

Task = tuple[str, str, str]  # (kind "file"|"zip", path, member)

_core: ArchiveCore | None = None


@dataclass
class ImportSummary:
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        total = self.stored + self.duplicates + len(self.rejected) + len(self.failed)
        rate = total / self.seconds if self.seconds else 0.0
        lines = [f"{total} files in {self.seconds:.1f} s ({rate:,.0f}/s, "
                 f"{self.bytes / 1e6 / max(self.seconds, 1e-9):,.1f} MB/s): "
                 f"{self.stored} stored, {self.duplicates} duplicate, "
                 f"{len(self.rejected)} rejected, {len(self.failed)} failed"]
        for name, reason in self.rejected:
            lines.append(f"  rejected {name}: {reason}")
        for name, reason in self.failed:
            lines.append(f"  FAILED {name}: {reason}")
        return "\n".join(lines)


def iter_tasks(paths: list[Path]) -> Iterator[Task]:
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield from _file_tasks(Path(root) / name)
        else:
            yield from _file_tasks(path)


def _file_tasks(path: Path) -> Iterator[Task]:
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield ("zip", str(path), info.filename)
    else:
        yield ("file", str(path), "")


def _init_worker(settings: Settings) -> None:
    global _core
    _core = ArchiveCore(settings, migrate=False)


Outcome = tuple[str, str, str | None, int]
BATCH = 32  # files per group commit


def _ingest_batch(tasks: list[Task]) -> list[Outcome]:
    """Ingest a batch: small files together in one group commit, large ones streamed."""
    assert _core is not None
    origin = Origin("import")
    out: list[Outcome] = []
    small: list[tuple[str, bytes]] = []
    for kind, path, member in tasks:
        name = f"{path}:{member}" if kind == "zip" else path
        try:
            if kind == "zip":
                with zipfile.ZipFile(path) as zf:
                    small.append((name, zf.read(member)))
            elif os.path.getsize(path) <= SPOOL_LIMIT:  # larger files stream on their own
                with open(path, "rb") as fh:
                    small.append((name, fh.read()))
            else:
                result = _core.ingest_file(path, origin)
                out.append((name, result.status.value, result.reason, result.size))
        except OSError as exc:
            out.append((name, "rejected", f"cannot read: {exc}", 0))
    if small:
        results = _core.ingestor.ingest_batch([data for _, data in small], origin)
        out += [(name, r.status.value, r.reason, r.size) for (name, _), r in zip(small, results)]
    return out


def run_import(settings: Settings, paths: list[Path], *, workers: int = 0,
               progress: bool = True) -> ImportSummary:
    core = ArchiveCore(settings)  # runs migrations once, before the workers start
    core.close()
    tasks = list(iter_tasks(paths))
    summary = ImportSummary()
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    bar = _Progress(len(tasks)) if progress else None

    def record(item: tuple[str, str, str | None, int]) -> None:
        name, status, reason, size = item
        summary.bytes += size
        if status == "stored" or status == "overwritten":
            summary.stored += 1
        elif status == "duplicate":
            summary.duplicates += 1
        elif status == "rejected":
            summary.rejected.append((name, reason or ""))
        else:
            summary.failed.append((name, reason or ""))
        if bar:
            bar.advance(size)

    batches = [tasks[i:i + BATCH] for i in range(0, len(tasks), BATCH)]
    if workers == 1 or len(batches) < 2:
        _init_worker(settings)
        for batch in batches:
            for item in _ingest_batch(batch):
                record(item)
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(settings,)) as pool:
            for outcomes in pool.map(_ingest_batch, batches):
                for item in outcomes:
                    record(item)
    if bar:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


class _Progress:
    """A one-line progress bar with the rate, on stderr."""

    def __init__(self, total: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 transient=False)
        self.task = self.progress.add_task("import", total=total, rate="")
        self.started = time.perf_counter()
        self.done = 0
        self.bytes = 0
        self.progress.start()

    def advance(self, size: int) -> None:
        self.done += 1
        self.bytes += size
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, advance=1,
                             rate=f"{self.done / elapsed:,.0f} files/s "
                                  f"{self.bytes / 1e6 / elapsed:,.1f} MB/s")

    def close(self) -> None:
        self.progress.stop()
