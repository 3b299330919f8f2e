"""The blob store protocol shared by every backend, and the rules for keys.

A blob is a complete DICOM Part 10 file exactly as received; stores know nothing about
DICOM. The protocol is synchronous: the asyncio archive calls it through threads
(DESIGN.md rule 4), and the S3 client blocks anyway.
"""

from __future__ import annotations

import contextlib

import re
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, ContextManager, Iterable, Iterator, Protocol, Self, runtime_checkable

from hounsfield.errors import InvalidRequest

MAX_KEY_LENGTH = 512
MAX_SEGMENT_LENGTH = 250  # below NAME_MAX (255) with room for the filesystem's folder marker
DEFAULT_CHUNK_SIZE = 1 << 20

_KEY_RE = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_PREFIX_RE = re.compile(r"[A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class BlobInfo:
    """What a committed blob is: its key, its length in bytes and its SHA-256 (lowercase hex)."""

    key: str
    size: int
    sha256: str


@runtime_checkable
class BlobWriter(Protocol):
    """A streaming put: bytes go to a temporary place and appear under ``key`` on commit.

    Leaving the ``with`` block without a commit aborts.
    """

    key: str
    size: int  # bytes written so far

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (hashed as it is written)."""
        ...

    def reader(self) -> BinaryIO:
        """A readable, seekable view of everything written so far; the caller closes it."""
        ...

    def commit(self) -> BlobInfo:
        """Make the blob durable and visible under ``key`` atomically (replacing any old one)."""
        ...

    def abort(self) -> None:
        """Discard what was written; idempotent, and safe after a failed commit."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


@runtime_checkable
class BlobStore(Protocol):
    """Where blobs live: a folder, an S3 bucket, or memory (tests)."""

    def create(self, key: str) -> BlobWriter:
        """Start a streaming put of ``key``."""
        ...

    def put(self, key: str, chunks: Iterable[bytes]) -> BlobInfo:
        """Write all ``chunks`` under ``key`` and commit."""
        ...

    def read(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the whole blob; NotFound is raised by the call itself, not on first next()."""
        ...

    def read_range(self, key: str, start: int, end: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream bytes ``[start, end)``; ``end`` None or past the size means to the end."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The whole blob in memory (for small blobs only)."""
        ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Every committed key starting with ``prefix`` (never temporary files), in no set order."""
        ...

    def local_path(self, key: str) -> str | None:
        """The blob's file path when it is a plain local file (filesystem store), else None."""
        ...

    def group_commit(self) -> ContextManager[None]:
        """Commits in this block may be made durable together at its end."""
        ...

    def close(self) -> None: ...


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key, else raise InvalidRequest naming the fault.

    A key is one or more segments of ``[A-Za-z0-9._-]`` joined by ``/``: never empty,
    absolute, ``.`` or ``..``, at most 512 characters, each segment at most 250. These
    rules make path traversal impossible in the filesystem store.
    """
    if not isinstance(key, str):
        raise InvalidRequest(f"Blob key must be a string, not {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Blob key is {len(key)} characters long; at most "
                             f"{MAX_KEY_LENGTH} are allowed")
    if _KEY_RE.fullmatch(key) is None:
        raise InvalidRequest(f"Blob key {key!r} is not made of [A-Za-z0-9._-] segments "
                             "joined by '/'")
    if "." in key or len(key) > MAX_SEGMENT_LENGTH:
        for segment in key.split("/"):
            if segment in (".", ".."):
                raise InvalidRequest(f"Blob key {key!r} has a {segment!r} segment")
            if len(segment) > MAX_SEGMENT_LENGTH:
                raise InvalidRequest(f"Blob key {key[:40]!r}... has a segment longer than "
                                     f"{MAX_SEGMENT_LENGTH} characters")
    return key


def is_valid_key(key: str) -> bool:
    """Whether ``key`` follows the rules of ``validate_key``."""
    try:
        validate_key(key)
    except InvalidRequest:
        return False
    return True


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it may start a key (a plain string prefix, as in S3 listings)."""
    if not isinstance(prefix, str):
        raise InvalidRequest(f"Blob key prefix must be a string, not {type(prefix).__name__}")
    if len(prefix) > MAX_KEY_LENGTH or _PREFIX_RE.fullmatch(prefix) is None:
        raise InvalidRequest(f"Blob key prefix {prefix[:40]!r} has characters outside "
                             "[A-Za-z0-9._/-] or is too long")
    return prefix


def validate_range(start: int, end: int | None, chunk_size: int) -> None:
    """Check the arguments of ``read_range``; a range past the end is simply empty."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise InvalidRequest(f"Range start must be an integer >= 0, not {start!r}")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
        raise InvalidRequest(f"Range end must be None or an integer >= start ({start}), "
                             f"not {end!r}")
    validate_chunk_size(chunk_size)


def validate_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidRequest(f"chunk_size must be a positive integer, not {chunk_size!r}")


class StoreBase:
    """What every backend does the same way on top of ``create`` and ``read``."""

    def create(self, key: str) -> BlobWriter:
        raise NotImplementedError

    def read(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        raise NotImplementedError

    def put(self, key: str, chunks: Iterable[bytes]) -> BlobInfo:
        """Write all ``chunks`` under ``key`` and commit; nothing is kept on failure."""
        with self.create(key) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.read(key))

    def group_commit(self) -> ContextManager[None]:
        """A block whose commits may be made durable together when it ends (a group
        commit); stores whose every commit is already cheap and durable do nothing."""
        return contextlib.nullcontext()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()  # type: ignore[attr-defined]


class WriterBase:
    """The ``with`` behaviour of writers: leaving the block without a commit aborts."""

    key: str
    _committed: bool = False

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._committed:
            self.abort()
