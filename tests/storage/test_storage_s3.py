"""What only the S3 store promises, against a real S3-compatible server over HTTP."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hounsfield.errors import NotFound, StorageError
from hounsfield.storage import open_store
from hounsfield.storage.s3 import S3Store

S3Server = Any  # the s3_server fixture's object (tests/storage/conftest.py)

MiB = 1024 * 1024


def _store(server: S3Server, tmp_path: Path, bucket: str, prefix: str = "",
           **kwargs: int) -> S3Store:
    return S3Store(bucket, prefix, spool_dir=tmp_path / "tmp", endpoint_url=server.endpoint_url,
                   region=server.region, access_key_id=server.access_key_id,
                   secret_access_key=server.secret_access_key, **kwargs)


def test_large_object_is_uploaded_in_parts(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = _store(s3_server, tmp_path, bucket, "px", multipart_threshold=5 * MiB,
                   part_size=5 * MiB)
    data = os.urandom(11 * MiB + 123)
    with store.create("large") as writer:
        for i in range(0, len(data), 256 * 1024):
            writer.write(data[i:i + 256 * 1024])
        info = writer.commit()
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()

    head = s3_server.client().head_object(Bucket=bucket, Key="px/large")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object of 5 + 5 + 1 MiB
    assert head["Metadata"]["sha256"] == info.sha256
    assert store.read_bytes("large") == data
    boundary = 5 * MiB
    assert b"".join(store.read_range("large", boundary - 10, boundary + 10)) == \
        data[boundary - 10:boundary + 10]
    assert list((tmp_path / "tmp").iterdir()) == []  # the spool file is gone


def test_small_object_is_one_put(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = _store(s3_server, tmp_path, bucket, multipart_threshold=5 * MiB)
    info = store.put("small", [b"x" * 1000])
    head = s3_server.client().head_object(Bucket=bucket, Key="small")
    assert "-" not in head["ETag"]
    assert head["Metadata"]["sha256"] == info.sha256 == hashlib.sha256(b"x" * 1000).hexdigest()


def test_failed_multipart_upload_is_aborted(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    # Parts below S3's 5 MiB minimum make the server refuse to complete the upload.
    store = _store(s3_server, tmp_path, bucket, multipart_threshold=1 * MiB, part_size=1 * MiB)
    writer = store.create("refused")
    writer.write(os.urandom(3 * MiB))
    with pytest.raises(StorageError, match="EntityTooSmall"):
        writer.commit()
    writer.abort()  # safe after a failed commit
    client = s3_server.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert not store.exists("refused")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_keys_live_under_the_url_prefix(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = open_store(s3_server.settings(tmp_path, bucket, "site/blobs"))
    store.put("3f2a", [b"a"])
    store.put("x/y", [b"b"])
    for foreign in ("site/other", "site/blobs/folder/", "site/blobs/not a key"):
        s3_server.client().put_object(Bucket=bucket, Key=foreign, Body=b"not ours")
    names = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(names) == ["site/blobs/3f2a", "site/blobs/folder/", "site/blobs/not a key",
                             "site/blobs/x/y", "site/other"]
    assert sorted(store.list()) == ["3f2a", "x/y"]
    assert store.local_path("3f2a") is None


def test_list_paginates(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = _store(s3_server, tmp_path, bucket, list_page_size=10)
    for i in range(35):  # four pages
        store.put(f"k{i:04d}", [b""])
    assert list(store.list()) == [f"k{i:04d}" for i in range(35)]
    assert list(store.list("k002")) == [f"k{i:04d}" for i in range(20, 30)]


def test_writes_spool_to_disk(s3_server: S3Server, tmp_path: Path) -> None:
    store = _store(s3_server, tmp_path, s3_server.create_bucket())
    with store.create("spooled") as writer:
        writer.write(b"s" * 200_000)
        spooled = list((tmp_path / "tmp").iterdir())
        assert len(spooled) == 1 and spooled[0].stat().st_size == 200_000
    assert list((tmp_path / "tmp").iterdir()) == []


def test_stale_spool_files_are_removed_at_open(s3_server: S3Server, tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    stale = spool / "s3-spool-deadbeef.tmp"
    stale.write_bytes(b"crash leftover")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    someone_elses = spool / "other.tmp"
    someone_elses.write_bytes(b"not ours")
    os.utime(someone_elses, (old, old))
    _store(s3_server, tmp_path, s3_server.create_bucket())
    assert not stale.exists()
    assert someone_elses.exists()


def test_missing_bucket_is_a_storage_error(s3_server: S3Server, tmp_path: Path) -> None:
    store = _store(s3_server, tmp_path, "no-such-bucket-here")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put("k", [b"x"])
    with pytest.raises(StorageError) as raised:
        store.read("k")
    assert not isinstance(raised.value, NotFound)
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        list(store.list())
    assert list((tmp_path / "tmp").iterdir()) == []
