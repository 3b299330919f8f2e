"""Blobs in a dict: a thread-safe store for unit tests (``storage.url = "memory://"``)."""

from __future__ import annotations

import hashlib
import io
import threading
from typing import BinaryIO, Iterator

from hounsfield.errors import HounsfieldError, NotFound

from .base import (
    DEFAULT_CHUNK_SIZE,
    BlobInfo,
    StoreBase,
    WriterBase,
    validate_chunk_size,
    validate_key,
    validate_prefix,
    validate_range,
)


class MemoryWriter(WriterBase):
    """A streaming put into a buffer, published into the store's dict by ``commit``."""

    def __init__(self, store: "MemoryStore", key: str) -> None:
        self.key = key
        self.size = 0
        self._store = store
        self._buffer: bytearray | None = bytearray()
        self._hash = hashlib.sha256()

    def _open_buffer(self) -> bytearray:
        if self._buffer is None:
            raise HounsfieldError(f"Blob writer for {self.key!r} is already committed or aborted")
        return self._buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        buffer = self._open_buffer()
        buffer += data
        self._hash.update(data)
        self.size = len(buffer)

    def reader(self) -> BinaryIO:
        return io.BytesIO(bytes(self._open_buffer()))

    def commit(self) -> BlobInfo:
        data = bytes(self._open_buffer())
        self._buffer = None
        with self._store._lock:
            self._store._blobs[self.key] = data
        self._committed = True
        return BlobInfo(self.key, len(data), self._hash.hexdigest())

    def abort(self) -> None:
        self._buffer = None


class MemoryStore(StoreBase):
    """Blobs kept in process memory; everything is lost when the process ends."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "MemoryStore()"

    def _get(self, key: str) -> bytes:
        validate_key(key)
        with self._lock:
            data = self._blobs.get(key)
        if data is None:
            raise NotFound(f"Blob {key!r} does not exist")
        return data

    def create(self, key: str) -> MemoryWriter:
        return MemoryWriter(self, validate_key(key))

    def read(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_chunk_size(chunk_size)
        return _slices(self._get(key), 0, None, chunk_size)

    def read_range(self, key: str, start: int, end: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_range(start, end, chunk_size)
        return _slices(self._get(key), start, end, chunk_size)

    def read_bytes(self, key: str) -> bytes:
        return self._get(key)

    def size(self, key: str) -> int:
        return len(self._get(key))

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._blobs.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        with self._lock:
            keys = sorted(k for k in self._blobs if k.startswith(prefix))
        return iter(keys)

    def local_path(self, key: str) -> None:
        validate_key(key)
        return None  # blobs here are not files

    def close(self) -> None:
        pass


def _slices(data: bytes, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
    stop = len(data) if end is None else min(end, len(data))
    view = memoryview(data)
    for pos in range(start, stop, chunk_size):
        yield bytes(view[pos:min(pos + chunk_size, stop)])
