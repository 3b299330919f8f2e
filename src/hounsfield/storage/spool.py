"""A temporary file that counts and hashes what is written to it.

Both the filesystem store (which renames it into place) and the S3 store (which uploads
it) write incoming bytes here first, so memory stays flat whatever the object's size
(DESIGN.md rule 3) and the SHA-256 is computed once, as the bytes pass.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import BinaryIO

from hounsfield.errors import HounsfieldError, StorageError

from .base import BlobInfo, WriterBase

log = logging.getLogger(__name__)

STALE_AFTER = 3600.0  # seconds; a temporary file this old was left by a crashed process
_BUFFER_SIZE = 1 << 16


class SpoolWriter(WriterBase):
    """A writer whose bytes go to ``directory/<prefix><random>.tmp``.

    Subclasses publish the finished file in ``_publish``; any failure there aborts the
    writer, so a failed commit leaves nothing behind.
    """

    def __init__(self, key: str, directory: str, prefix: str = "") -> None:
        self.key = key
        self.size = 0
        self.path = os.path.join(directory, f"{prefix}{os.urandom(16).hex()}.tmp")
        self._hash = hashlib.sha256()
        self._done = False  # committed, aborted, or commit started
        try:
            self._file: BinaryIO | None = open(self.path, "xb", buffering=_BUFFER_SIZE)
        except OSError as exc:
            raise StorageError(f"Cannot create a temporary file for blob {key!r}: {exc}") from exc

    def write(self, data: bytes | bytearray | memoryview) -> None:
        file = self._file
        if file is None or self._done:
            raise HounsfieldError(f"Blob writer for {self.key!r} is already committed or aborted")
        try:
            self.size += file.write(data)
        except OSError as exc:
            raise StorageError(f"Cannot write blob {self.key!r}: {exc}") from exc
        self._hash.update(data)

    def reader(self) -> BinaryIO:
        if self._file is None or self._done:
            raise HounsfieldError(f"Blob writer for {self.key!r} is already committed or aborted")
        try:
            self._file.flush()
            return open(self.path, "rb")
        except OSError as exc:
            raise StorageError(f"Cannot read back blob {self.key!r}: {exc}") from exc

    def commit(self) -> BlobInfo:
        file = self._file
        if file is None or self._done:
            raise HounsfieldError(f"Blob writer for {self.key!r} is already committed or aborted")
        self._done = True
        info = BlobInfo(self.key, self.size, self._hash.hexdigest())
        try:
            self._publish(file)
        except BaseException:
            self.abort()
            raise
        self._committed = True
        self._file = None
        return info

    def _publish(self, file: BinaryIO) -> None:
        """Make the written bytes durable under ``key``; ``file`` is still open for writing."""
        raise NotImplementedError

    def abort(self) -> None:
        if self._committed:
            return
        self._done = True
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # the bytes are being thrown away anyway
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("Cannot remove temporary file %s: %s", self.path, exc)

    def __del__(self) -> None:
        # A writer dropped without commit or abort must not leave its temporary file.
        if not getattr(self, "_committed", True) and getattr(self, "_file", None) is not None:
            self.abort()


def finish_file(file: BinaryIO, key: str, fsync: bool) -> None:
    """Flush, optionally fsync, and close a spool file."""
    try:
        file.flush()
        if fsync:
            os.fsync(file.fileno())
        file.close()
    except OSError as exc:
        raise StorageError(f"Cannot write blob {key!r}: {exc}") from exc


def remove_stale(directory: str, prefix: str = "", max_age: float = STALE_AFTER) -> int:
    """Delete ``<prefix>*.tmp`` files in ``directory`` older than ``max_age``; return how many.

    They are leftovers of a process that died mid-write: never committed, so never visible.
    The age limit keeps files that another live process sharing the folder is writing.
    """
    cutoff = time.time() - max_age
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("Cannot remove stale temporary file %s: %s", entry.path, exc)
    if removed:
        log.info("Removed %d stale temporary file(s) from %s", removed, directory)
    return removed
