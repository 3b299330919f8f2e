"""Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...).

Writes spool to a local temporary file while they are hashed, so memory stays flat for
a 2 GB object and nothing partial is ever visible in the bucket: ``commit`` uploads the
finished file with one PutObject below the multipart threshold, or as an explicit
multipart upload above it (aborted on failure, so no orphan parts are billed). The
SHA-256 is stored as the object's ``x-amz-meta-sha256`` metadata.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, BinaryIO, Iterator

import boto3
import botocore.config
import botocore.exceptions

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

log = logging.getLogger(__name__)

MIN_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
SPOOL_PREFIX = "s3-spool-"
SHA256_METADATA = "sha256"

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _new_client(service: str, **kwargs: Any) -> Any:
    """A client from one shared session: loading the service model once keeps opening a
    store cheap. Sessions are not thread-safe, hence the lock; clients are."""
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, **kwargs)


class S3Writer(SpoolWriter):
    """A streaming put spooled to a local file and uploaded by ``commit``."""

    def __init__(self, store: "S3Store", key: str) -> None:
        super().__init__(key, store.spool_dir, SPOOL_PREFIX)
        self._store = store

    def _publish(self, file: BinaryIO) -> None:
        finish_file(file, self.key, fsync=False)  # durability comes from the completed upload
        try:
            self._store._upload(self.key, self.path, self.size, self._hash.hexdigest())
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass


class S3Store(StoreBase):
    """Blob store in ``bucket``, every key under ``prefix`` (``"a/b"`` keeps keys in ``a/b/``)."""

    def __init__(self, bucket: str, prefix: str = "", *, spool_dir: str | os.PathLike[str],
                 endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 multipart_threshold: int = 16 * 1024 * 1024,
                 part_size: int = MIN_PART_SIZE, list_page_size: int = 1000) -> None:
        if not bucket:
            raise ValueError('Argument "bucket" must not be empty')
        if prefix.strip("/"):
            validate_key(prefix.strip("/"))
        if part_size <= 0 or multipart_threshold < 0:
            raise ValueError("part_size must be positive and multipart_threshold not negative")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.list_page_size = list_page_size
        self.spool_dir = os.path.abspath(os.fspath(spool_dir))
        try:
            os.makedirs(self.spool_dir, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create the spool folder {self.spool_dir!r}: {exc}") from exc
        remove_stale(self.spool_dir, SPOOL_PREFIX)
        config = botocore.config.Config(
            max_pool_connections=32,
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            # S3-compatible servers on a custom endpoint (MinIO, Ceph, a bare IP address)
            # usually serve path-style URLs only; AWS itself picks virtual-hosted style.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = _new_client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _fail(self, action: str, key: str, exc: BaseException) -> Exception:
        """The error to raise for a failed S3 call: NotFound for a missing key."""
        if _error_code(exc) in _MISSING_CODES:
            return NotFound(f"Blob {key!r} does not exist")
        return StorageError(f"S3 {action} of blob {key!r} in bucket {self.bucket!r} "
                            f"failed: {exc}")

    # --- writing --------------------------------------------------------------------------

    def create(self, key: str) -> S3Writer:
        validate_key(key)
        return S3Writer(self, key)

    def _upload(self, key: str, path: str, size: int, sha256: str) -> None:
        name = self.prefix + key
        metadata = {SHA256_METADATA: sha256}
        try:
            with open(path, "rb") as body:
                if size < self.multipart_threshold or size == 0:
                    self.client.put_object(Bucket=self.bucket, Key=name, Body=body,
                                           ContentLength=size, Metadata=metadata)
                else:
                    self._upload_parts(name, body, size, metadata)
        except _AWS_ERRORS as exc:
            raise self._fail("upload", key, exc) from exc
        except OSError as exc:
            raise StorageError(f"Cannot read the spool file of blob {key!r}: {exc}") from exc

    def _upload_parts(self, name: str, body: BinaryIO, size: int,
                      metadata: dict[str, str]) -> None:
        """An explicit multipart upload, aborted on any failure so no parts are left."""
        part_size = max(self.part_size, -(-size // MAX_PARTS))
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=name, Metadata=metadata)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            number = 1
            while data := body.read(part_size):
                response = self.client.upload_part(Bucket=self.bucket, Key=name,
                                                   UploadId=upload_id, PartNumber=number,
                                                   Body=data)
                parts.append({"ETag": response["ETag"], "PartNumber": number})
                number += 1
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=name,
                                                  UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name,
                                                   UploadId=upload_id)
            except _AWS_ERRORS as exc:
                log.warning("Cannot abort multipart upload %s of %s: %s", upload_id, name, exc)
            raise

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except _AWS_ERRORS as exc:
            if _error_code(exc) in _MISSING_CODES:
                return
            raise self._fail("delete", key, exc) from exc

    # --- reading --------------------------------------------------------------------------

    def _get(self, key: str, range_header: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._name(key)}
        if range_header:
            kwargs["Range"] = range_header
        try:
            return self.client.get_object(**kwargs)["Body"]
        except _AWS_ERRORS as exc:
            raise self._fail("read", key, exc) from exc

    def read(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_chunk_size(chunk_size)
        return self._stream(self._get(key), key, chunk_size)

    def read_range(self, key: str, start: int, end: int | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_range(start, end, chunk_size)
        if end == start:
            self.size(key)  # an empty range still needs the blob to exist
            return iter(())
        # HTTP byte ranges are inclusive (RFC 9110 14.1.2).
        header = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            body = self._get(key, header)
        except StorageError as exc:
            if _error_code(exc.__cause__ or exc) == "InvalidRange":
                return iter(())  # start is at or past the end of the object
            raise
        return self._stream(body, key, chunk_size)

    def _stream(self, body: Any, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            for chunk in body.iter_chunks(chunk_size):
                yield chunk
        except (*_AWS_ERRORS, OSError) as exc:
            raise StorageError(f"S3 read of blob {key!r} in bucket {self.bucket!r} "
                               f"failed: {exc}") from exc
        finally:
            body.close()

    def read_bytes(self, key: str) -> bytes:
        body = self._get(key)
        try:
            return bytes(body.read())
        except (*_AWS_ERRORS, OSError) as exc:
            raise StorageError(f"S3 read of blob {key!r} in bucket {self.bucket!r} "
                               f"failed: {exc}") from exc
        finally:
            body.close()

    def _head(self, key: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket,
                                                           Key=self._name(key))
        except _AWS_ERRORS as exc:
            raise self._fail("HeadObject", key, exc) from exc
        return head

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[str]:
        skip = len(self.prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix,
                                       PaginationConfig={"PageSize": self.list_page_size})
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][skip:]
                    # Skip what is not a blob of ours, e.g. the "folder/" markers that
                    # S3 consoles create.
                    if is_valid_key(key):
                        yield key
        except _AWS_ERRORS as exc:
            raise StorageError(f"S3 listing of bucket {self.bucket!r} with prefix "
                               f"{self.prefix + prefix!r} failed: {exc}") from exc

    def local_path(self, key: str) -> None:
        validate_key(key)
        return None  # objects are not local files

    def close(self) -> None:
        self.client.close()
