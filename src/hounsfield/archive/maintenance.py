"""``hounsfield reindex`` and ``hounsfield verify``: the index rebuilt from the blobs, and
every blob checked against the index (DESIGN rule 2)."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from hounsfield.archive import ArchiveCore
from hounsfield.config import Settings
from hounsfield.index.schema import instances, patients, series, studies


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)   # SOP Instance UIDs whose blob is gone
    corrupt: list[str] = field(default_factory=list)   # size or SHA-256 differs
    orphans: list[str] = field(default_factory=list)   # blob keys no index row refers to
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt

    def describe(self) -> str:
        lines = [f"verified {self.checked} instances in {self.seconds:.1f} s: "
                 f"{len(self.missing)} missing, {len(self.corrupt)} corrupt, "
                 f"{len(self.orphans)} orphan blobs"]
        lines += [f"  missing blob for instance {uid}" for uid in self.missing]
        lines += [f"  corrupt blob for instance {uid}" for uid in self.corrupt]
        if self.orphans:
            lines.append("  orphan blobs are not in the index (an interrupted store leaves "
                         "them; `hounsfield reindex` adopts them):")
            lines += [f"    {key}" for key in self.orphans[:50]]
            if len(self.orphans) > 50:
                lines.append(f"    ... and {len(self.orphans) - 50} more")
        lines.append("OK" if self.ok else "PROBLEMS FOUND")
        return "\n".join(lines)


@dataclass
class ReindexReport:
    indexed: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"reindexed {self.indexed} instances from blobs in {self.seconds:.1f} s "
                 f"({self.duplicates} duplicate blobs, {len(self.failed)} unreadable)"]
        lines += [f"  {key}: {reason}" for key, reason in self.failed]
        return "\n".join(lines)


def _bar(total: int, label: str, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn())
    progress.start()
    return progress, progress.add_task(label, total=total)


def verify(settings: Settings, *, progress: bool = True, workers: int = 4) -> VerifyReport:
    report = VerifyReport()
    started = time.perf_counter()
    core = ArchiveCore(settings)
    try:
        with core.db.read() as conn:
            rows = conn.execute(select(instances.c.sop_instance_uid, instances.c.blob_key,
                                       instances.c.size, instances.c.sha256)).all()
        bar = _bar(len(rows), "verifying", progress)

        def check(row):  # type: ignore[no-untyped-def]
            uid, key, size, sha = row
            if not core.store.exists(key):
                return uid, "missing"
            digest = hashlib.sha256()
            n = 0
            for chunk in core.store.read(key):
                digest.update(chunk)
                n += len(chunk)
            return uid, ("ok" if n == size and digest.hexdigest() == sha else "corrupt")

        with ThreadPoolExecutor(workers) as pool:
            for uid, state in pool.map(check, rows):
                report.checked += 1
                if state == "missing":
                    report.missing.append(uid)
                elif state == "corrupt":
                    report.corrupt.append(uid)
                if bar:
                    bar[0].advance(bar[1])
        if bar:
            bar[0].stop()
        indexed = {row[1] for row in rows}
        report.orphans = sorted(k for k in core.store.list() if k not in indexed)
    finally:
        core.close()
    report.seconds = time.perf_counter() - started
    return report


def reindex(settings: Settings, *, progress: bool = True) -> ReindexReport:
    """Empty the index and rebuild it from every stored blob."""
    report = ReindexReport()
    started = time.perf_counter()
    core = ArchiveCore(settings)
    try:
        keys = sorted(core.store.list())
        with core.db.write() as conn:
            for table in (instances, series, studies, patients):
                conn.execute(delete(table))
        bar = _bar(len(keys), "reindexing", progress)
        for key in keys:
            result = core.ingestor.index_existing_blob(key)
            if result.status.value == "stored":
                report.indexed += 1
            elif result.status.value == "duplicate":
                report.duplicates += 1
            else:
                report.failed.append((key, result.reason or result.status.value))
            if bar:
                bar[0].advance(bar[1])
        if bar:
            bar[0].stop()
    finally:
        core.close()
    report.seconds = time.perf_counter() - started
    return report
