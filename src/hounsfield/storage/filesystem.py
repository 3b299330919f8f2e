"""Blobs as plain files in a folder, written with temp file + fsync + rename.

Layout under the root folder (a key is ``[prefix segments/]name``)::

    .tmp/<random>.tmp                 writes in progress (same filesystem, so rename is atomic)
    ab/cd/abcdef0123...               key "abcdef0123..."
    studies+/ab/cd/abcdef0123...      key "studies/abcdef0123..."
    a_/__/a                           key "a": short names are padded with "_"

The two shard folders are the first four characters of the key's last segment, with
``.`` replaced by ``_`` (so no shard folder is ever ``.`` or ``..``) and ``_`` padding
for names shorter than four characters. Each prefix segment becomes a folder with a
``+`` suffix, a character keys cannot contain: a prefix folder can never be mistaken for
a shard folder or a blob file, so keys like ``abcd`` and ``abcd/x`` coexist. Files hold
the last segment verbatim, so ``list()`` recovers every key from the tree alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from typing import BinaryIO, Iterator

from hounsfield.errors import NotFound, StorageError

from .base import (
    DEFAULT_CHUNK_SIZE,
    StoreBase,
    is_valid_key,
    validate_chunk_size,
    validate_key,
    validate_prefix,
    validate_range,
)
from .spool import SpoolWriter, finish_file, remove_stale

TMP_DIR = ".tmp"
PREFIX_MARK = "+"


def _shards(name: str) -> tuple[str, str]:
    """The two shard folder names of a key's last segment."""
    s = name[:4].replace(".", "_")
    if len(s) < 4:
        s = (s + "___")[:4]
    return s[:2], s[2:]


_group = threading.local()


def _deferred() -> bool:
    """True inside ``group_commit`` on this thread: commits skip their own fsyncs."""
    return getattr(_group, "active", False)


def _syncfs(path: str) -> None:
    """Flush the whole filesystem holding ``path`` (Linux syncfs), else everything."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemWriter(SpoolWriter):
    """A streaming put into ``root/.tmp``, renamed into place by ``commit``."""

    def __init__(self, store: "FilesystemStore", key: str, directory: str, path: str) -> None:
        super().__init__(key, store.tmp_dir)
        self._store = store
        self._target_dir = directory
        self._target = path

    def _publish(self, file: BinaryIO) -> None:
        store = self._store
        sync = store.fsync and not _deferred()
        finish_file(file, self.key, sync)
        try:
            try:
                os.replace(self.path, self._target)
            except FileNotFoundError:
                # The shard folder does not exist yet: trying first costs nothing in the
                # common case (no stat per write) and needs no cache of created folders.
                store._make_dirs(self._target_dir)
                os.replace(self.path, self._target)
            if sync:
                _fsync_dir(self._target_dir)
        except OSError as exc:
            raise StorageError(f"Cannot commit blob {self.key!r}: {exc}") from exc


class FilesystemStore(StoreBase):
    """Blob store in a local (or mounted) folder; see the module docstring for the layout."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.tmp_dir = os.path.join(self.root, TMP_DIR)
        self.fsync = fsync
        try:
            os.makedirs(self.tmp_dir, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create the blob folder {self.root!r}: {exc}") from exc
        remove_stale(self.tmp_dir)

    def __repr__(self) -> str:
        return f"FilesystemStore({self.root!r})"

    # --- paths ----------------------------------------------------------------------------

    def _locate(self, key: str) -> tuple[str, str]:
        """The folder and the file path of ``key`` (validated)."""
        validate_key(key)
        head, _, name = key.rpartition("/")
        d1, d2 = _shards(name)
        if head:
            folders = "/".join(segment + PREFIX_MARK for segment in head.split("/"))
            directory = f"{self.root}/{folders}/{d1}/{d2}"
        else:
            directory = f"{self.root}/{d1}/{d2}"
        return directory, f"{directory}/{name}"

    def _path(self, key: str) -> str:
        return self._locate(key)[1]

    def _make_dirs(self, directory: str) -> None:
        """Create ``directory`` and missing parents, fsyncing each parent that gained one."""
        if directory == self.root:
            return
        parent = os.path.dirname(directory)
        if not os.path.isdir(parent):
            self._make_dirs(parent)
        try:
            os.mkdir(directory)
        except FileExistsError:
            return
        if self.fsync and not _deferred():
            _fsync_dir(parent)

    # --- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def group_commit(self) -> Iterator[None]:
        """Commits in the block skip their fsyncs; one syncfs at the end makes all of them
        durable together (many small blobs cost one flush instead of two fsyncs each)."""
        if not self.fsync or _deferred():
            yield
            return
        _group.active = True
        try:
            yield
        finally:
            _group.active = False
            _syncfs(self.root)

    def create(self, key: str) -> FilesystemWriter:
        directory, path = self._locate(key)
        return FilesystemWriter(self, key, directory, path)

    def delete(self, key: str) -> None:
        directory, path = self._locate(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"Cannot delete blob {key!r}: {exc}") from exc
        if self.fsync:
            try:
                _fsync_dir(directory)
            except OSError as exc:
                raise StorageError(f"Cannot delete blob {key!r}: {exc}") from exc

    # --- reading --------------------------------------------------------------------------

    def _open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise NotFound(f"Blob {key!r} does not exist") from None
        except OSError as exc:
            raise StorageError(f"Cannot read blob {key!r}: {exc}") from exc

    def read(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_chunk_size(chunk_size)
        return _chunks(self._open(key), key, 0, None, chunk_size)

    def read_range(self, key: str, start: int, end: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_range(start, end, chunk_size)
        return _chunks(self._open(key), key, start, end, chunk_size)

    def read_bytes(self, key: str) -> bytes:
        with self._open(key) as file:
            try:
                return file.read()
            except OSError as exc:
                raise StorageError(f"Cannot read blob {key!r}: {exc}") from exc

    def size(self, key: str) -> int:
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            raise NotFound(f"Blob {key!r} does not exist") from None
        except OSError as exc:
            raise StorageError(f"Cannot stat blob {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            os.stat(self._path(key))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"Cannot stat blob {key!r}: {exc}") from exc
        return True

    def local_path(self, key: str) -> str:
        """The blob's file (for sendfile and pydicom); raises NotFound when it does not exist."""
        path = self._path(key)
        if not os.path.isfile(path):
            raise NotFound(f"Blob {key!r} does not exist")
        return path

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        head, _, tail = prefix.rpartition("/")
        directory = self.root
        key_head = ""
        if head:
            for segment in head.split("/"):
                if not segment or segment in (".", ".."):
                    return iter(())  # no valid key has an empty, "." or ".." segment
            directory = f"{self.root}/" + "/".join(s + PREFIX_MARK for s in head.split("/"))
            key_head = head + "/"
        return self._walk(directory, key_head, tail)

    def _walk(self, directory: str, key_head: str, tail: str) -> Iterator[str]:
        """Keys under the prefix folder ``directory`` whose rest starts with ``tail``."""
        # Every name starting with ``tail`` shares its shard folders as far as tail reaches.
        want1 = tail[:2].replace(".", "_") if len(tail) >= 2 else None
        want2 = tail[2:4].replace(".", "_") if len(tail) >= 4 else None
        for entry in _scandir(directory):
            name = entry.name
            if not entry.is_dir(follow_symlinks=False):
                continue
            if name.endswith(PREFIX_MARK):
                segment = name[:-1]
                if segment.startswith(tail):
                    yield from self._walk(entry.path, key_head + segment + "/", "")
            elif len(name) == 2 and PREFIX_MARK not in name:
                if want1 is not None and name != want1:
                    continue
                for sub in _scandir(entry.path):
                    if len(sub.name) != 2 or (want2 is not None and sub.name != want2):
                        continue
                    if not sub.is_dir(follow_symlinks=False):
                        continue
                    for blob in _scandir(sub.path):
                        blob_name = blob.name
                        if (blob_name.startswith(tail) and _shards(blob_name) == (name, sub.name)
                                and is_valid_key(blob_name)
                                and blob.is_file(follow_symlinks=False)):
                            yield key_head + blob_name

    def close(self) -> None:
        pass


def _scandir(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StorageError(f"Cannot list blob folder {directory!r}: {exc}") from exc


def _chunks(file: BinaryIO, key: str, start: int, end: int | None,
            chunk_size: int) -> Iterator[bytes]:
    """Stream ``[start, end)`` of an open file with positioned reads, then close it."""
    with file:
        fd = file.fileno()
        pos = start
        while end is None or pos < end:
            n = chunk_size if end is None else min(chunk_size, end - pos)
            try:
                data = os.pread(fd, n, pos)
            except OSError as exc:
                raise StorageError(f"Cannot read blob {key!r}: {exc}") from exc
            if not data:
                return
            pos += len(data)
            yield data
