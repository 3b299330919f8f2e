"""Blob stores behind one small protocol: a folder, an S3-compatible bucket, or memory.

``open_store(settings)`` builds the store that ``storage.url`` names. The archive is the
only caller; stores know nothing of DICOM, protocols or the index (DESIGN.md, Layout).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from hounsfield.config import ConfigError, Settings
from hounsfield.errors import InvalidRequest

from .base import (
    DEFAULT_CHUNK_SIZE,
    MAX_KEY_LENGTH,
    BlobInfo,
    BlobStore,
    BlobWriter,
    validate_key,
)
from .filesystem import FilesystemStore
from .memory import MemoryStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_LENGTH",
    "BlobInfo",
    "BlobStore",
    "BlobWriter",
    "FilesystemStore",
    "MemoryStore",
    "open_store",
    "validate_key",
]


def open_store(settings: Settings) -> BlobStore:
    """The blob store named by ``storage.url`` (empty: the folder ``data_dir/blobs``)."""
    url = settings["storage.url"].strip()
    if not url:
        return FilesystemStore(settings.data_dir / "blobs", fsync=settings["storage.fsync"])
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not os.path.isabs(path):
            raise ConfigError(f"Setting 'storage.url' {url!r} must be file:///absolute/path")
        return FilesystemStore(path, fsync=settings["storage.fsync"])
    if scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"Setting 'storage.url' {url!r} must name a bucket: "
                              "s3://bucket/optional/prefix")
        from .s3 import S3Store  # boto3 is imported only when S3 is used

        prefix = unquote(parts.path).strip("/")
        try:
            return S3Store(
                parts.netloc, prefix,
                spool_dir=settings.data_dir / "tmp",
                endpoint_url=settings["storage.s3_endpoint_url"] or None,
                region=settings["storage.s3_region"] or None,
                access_key_id=settings["storage.s3_access_key_id"] or None,
                secret_access_key=settings["storage.s3_secret_access_key"] or None,
                multipart_threshold=settings["storage.s3_multipart_threshold"],
            )
        except (ValueError, InvalidRequest) as exc:
            raise ConfigError(f"Setting 'storage.url' {url!r}: {exc}") from None
    if scheme == "memory":
        return MemoryStore()
    raise ConfigError(f"Setting 'storage.url' {url!r} has an unknown scheme; use file:///path, "
                      "s3://bucket/prefix or memory://")
