"""What only the filesystem store promises: its layout, temp files, crash leftovers."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hounsfield.config import ConfigError, Settings
from hounsfield.errors import InvalidRequest, NotFound, StorageError
from hounsfield.storage import FilesystemStore, MemoryStore, open_store

KEY = "3f2a9c0e4b5d4f6a8b7c6d5e4f3a2b1c"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_layout_is_sharded_and_file_is_byte_identical(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    data = os.urandom(70_000)
    info = store.put(KEY, [data[:5], data[5:]])
    expected = tmp_path / "3f" / "2a" / KEY
    assert store.local_path(KEY) == str(expected)
    assert expected.read_bytes() == data
    assert hashlib.sha256(expected.read_bytes()).hexdigest() == info.sha256
    assert store.put("studies/abcdef", [b"x"]).size == 1
    assert (tmp_path / "studies+" / "ab" / "cd" / "abcdef").read_bytes() == b"x"
    assert store.put("a", [b"y"]).size == 1
    assert (tmp_path / "a_" / "__" / "a").read_bytes() == b"y"
    assert store.put("..ab", [b"z"]).size == 1
    assert (tmp_path / "__" / "ab" / "..ab").read_bytes() == b"z"


def test_temp_files_are_not_listed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    store.put("done", [b"done"])
    writer = store.create("pending")
    writer.write(b"in flight" * 10_000)
    temp_files = list((tmp_path / ".tmp").iterdir())
    assert len(temp_files) == 1 and temp_files[0].stat().st_size == 90_000
    assert list(store.list()) == ["done"]
    writer.commit()
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert sorted(store.list()) == ["done", "pending"]


def test_abort_removes_the_temp_file(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    with store.create(KEY) as writer:
        writer.write(b"partial")
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert _tree(tmp_path) == {".tmp"}


def test_crash_leftovers_are_removed_at_open(tmp_path: Path) -> None:
    FilesystemStore(tmp_path)
    old = tmp_path / ".tmp" / "deadbeef.tmp"
    old.write_bytes(b"left by a crashed process")
    an_hour_and_more = time.time() - 3700
    os.utime(old, (an_hour_and_more, an_hour_and_more))
    fresh = tmp_path / ".tmp" / "cafebabe.tmp"
    fresh.write_bytes(b"being written by another live process")

    store = FilesystemStore(tmp_path)
    assert not old.exists()
    assert fresh.exists()
    assert list(store.list()) == []


def test_stray_entries_are_not_listed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    store.put("abcd", [b"1"])
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "README").write_text("not a blob")
    (tmp_path / "ab" / "cd" / "zzzz").write_text("in the wrong shard")
    (tmp_path / "ab" / "cd" / "ab cd").write_text("not a key")
    (tmp_path / "ab" / "cd" / "abcd-dir").mkdir()
    assert list(store.list()) == ["abcd"]


def test_keys_that_share_folders_do_not_collide(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    keys = ["abcd", "abcd/abcd", "ab/cd/abcd", "ab", "ab/x"]
    for key in keys:
        store.put(key, [key.encode()])
    assert all(store.read_bytes(key) == key.encode() for key in keys)
    assert sorted(store.list()) == sorted(keys)


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/tmp/escape", "..",
                                 "a\\..\\..\\escape", "a/./b"])
def test_hostile_keys_write_nothing_anywhere(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root" / "blobs"
    store = FilesystemStore(root)
    before = _tree(tmp_path)
    with pytest.raises(InvalidRequest):
        store.put(key, [b"payload"])
    assert _tree(tmp_path) == before


def test_failed_commit_leaves_nothing(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    (tmp_path / "ab" / "cd" / "abcdef").mkdir(parents=True)  # the target cannot be replaced
    writer = store.create("abcdef")
    writer.write(b"data")
    with pytest.raises(StorageError, match="abcdef"):
        writer.commit()
    writer.abort()  # safe after a failed commit
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert list((tmp_path / "ab" / "cd" / "abcdef").iterdir()) == []


def test_without_fsync_blobs_are_still_complete(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path, fsync=False)
    assert store.put(KEY, [b"a" * 10_000]).size == 10_000
    assert (tmp_path / "3f" / "2a" / KEY).read_bytes() == b"a" * 10_000


def test_local_path_of_missing_key(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        FilesystemStore(tmp_path).local_path(KEY)


def test_unwritable_root_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(StorageError, match="blob folder"):
        FilesystemStore(tmp_path / "file" / "blobs")


# --- open_store ---------------------------------------------------------------------------


def test_open_store_defaults_to_the_data_folder(tmp_path: Path) -> None:
    store = open_store(Settings().replace(data_dir=str(tmp_path)))
    assert isinstance(store, FilesystemStore)
    assert store.root == str(tmp_path / "blobs")
    assert store.fsync is True
    store.put(KEY, [b"x"])
    assert (tmp_path / "blobs" / "3f" / "2a" / KEY).exists()


def test_open_store_file_url_and_fsync_setting(tmp_path: Path) -> None:
    store = open_store(Settings().replace(storage__url=f"file://{tmp_path}/elsewhere",
                                          storage__fsync=False))
    assert isinstance(store, FilesystemStore)
    assert store.root == str(tmp_path / "elsewhere") and store.fsync is False


def test_open_store_memory() -> None:
    assert isinstance(open_store(Settings().replace(storage__url="memory://")), MemoryStore)


@pytest.mark.parametrize("url", ["file://relative/path", "file:relative", "ftp://host/x",
                                 "s3://", "s3:///prefix", "s3://bucket/../x", "blobs"])
def test_open_store_refuses_bad_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="storage.url"):
        open_store(Settings().replace(data_dir=str(tmp_path), storage__url=url))
