"""The blob store contract, run against every backend (filesystem, memory, S3 over HTTP)."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Iterator

import pytest

from hounsfield.errors import HounsfieldError, InvalidRequest, NotFound
from hounsfield.storage import BlobInfo, BlobStore, BlobWriter

HOSTILE_KEYS = [
    "",
    "/",
    "/etc/passwd",
    "../outside",
    "../../../../etc/passwd",
    "a/../../outside",
    "a/..",
    "..",
    ".",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\..\\outside",
    "C:\\Windows",
    "a\x00b",
    "a\nb",
    "a b",
    "~root",
    "a/+b",
    "é",
    "x" * 513,
    "ab/" * 171 + "ab",
    "s" * 251,
]


def _data(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


def test_backends_follow_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    with store.create("k") as writer:
        assert isinstance(writer, BlobWriter)
        assert writer.key == "k" and writer.size == 0


def test_put_read_round_trip(store: BlobStore) -> None:
    data = _data(100_000)
    info = store.put("3f2a9c0e4b5d4f6a8b7c6d5e4f3a2b1c", [data[:1000], data[1000:]])
    assert info == BlobInfo("3f2a9c0e4b5d4f6a8b7c6d5e4f3a2b1c", len(data),
                            hashlib.sha256(data).hexdigest())
    assert store.read_bytes(info.key) == data
    assert b"".join(store.read(info.key)) == data
    assert store.size(info.key) == len(data)
    assert store.exists(info.key)


def test_streaming_write_of_many_chunks(store: BlobStore) -> None:
    chunks = [_data(n, seed=n) for n in range(0, 2000, 3)]
    expected = b"".join(chunks)
    with store.create("streamed") as writer:
        for i, chunk in enumerate(chunks):
            # PDV fragments arrive as bytes, bytearray or memoryview slices
            writer.write((bytes, bytearray, memoryview)[i % 3](chunk))
        assert writer.size == len(expected)
        info = writer.commit()
    assert info.size == len(expected)
    assert info.sha256 == hashlib.sha256(expected).hexdigest()
    pieces = list(store.read("streamed", chunk_size=4096))
    assert all(0 < len(p) <= 4096 for p in pieces)
    assert b"".join(pieces) == expected


def test_empty_blob(store: BlobStore) -> None:
    info = store.put("empty", [])
    assert info == BlobInfo("empty", 0, hashlib.sha256(b"").hexdigest())
    assert store.read_bytes("empty") == b""
    assert list(store.read("empty")) == []
    assert list(store.read_range("empty", 0)) == []
    assert store.size("empty") == 0
    assert store.exists("empty")


@pytest.mark.parametrize("start, end", [
    (0, None), (0, 1000), (0, 5000), (0, 1), (10, 20), (999, None), (999, 1000),
    (1000, None), (1500, None), (10, 10), (0, 0), (1000, 1000), (1500, 2000), (100, 777),
])
def test_read_range(store: BlobStore, start: int, end: int | None) -> None:
    data = _data(1000)
    store.put("ranged", [data])
    pieces = list(store.read_range("ranged", start, end, chunk_size=64))
    assert b"".join(pieces) == data[start:end]
    assert all(0 < len(p) <= 64 for p in pieces)


@pytest.mark.parametrize("start, end", [(-1, None), (5, 4), (1.5, None), ("0", None)])
def test_read_range_refuses_bad_bounds(store: BlobStore, start: object, end: object) -> None:
    store.put("ranged", [b"0123456789"])
    with pytest.raises(InvalidRequest):
        store.read_range("ranged", start, end)  # type: ignore[arg-type]


def test_bad_chunk_size_refused(store: BlobStore) -> None:
    store.put("k", [b"x"])
    with pytest.raises(InvalidRequest):
        store.read("k", chunk_size=0)


def test_exists_delete_list(store: BlobStore) -> None:
    keys = ["a1", "a2", "b/c", "b/d/e", "bx"]
    for key in keys:
        store.put(key, [key.encode()])
    assert sorted(store.list()) == keys
    assert sorted(store.list("a")) == ["a1", "a2"]
    assert sorted(store.list("b")) == ["b/c", "b/d/e", "bx"]
    assert sorted(store.list("b/")) == ["b/c", "b/d/e"]
    assert sorted(store.list("b/d")) == ["b/d/e"]
    assert sorted(store.list("a2")) == ["a2"]
    assert list(store.list("zz")) == []
    assert list(store.list("../")) == []

    store.delete("a1")
    assert not store.exists("a1")
    store.delete("a1")  # a missing key is not an error
    store.delete("never-written")
    assert sorted(store.list()) == ["a2", "b/c", "b/d/e", "bx"]
    with pytest.raises(NotFound):
        store.read_bytes("a1")


def test_list_refuses_bad_prefix(store: BlobStore) -> None:
    with pytest.raises(InvalidRequest):
        list(store.list("a\\b"))


def test_abort_leaves_nothing(store: BlobStore) -> None:
    writer = store.create("aborted")
    writer.write(b"partial")
    writer.abort()
    writer.abort()  # idempotent
    assert not store.exists("aborted")

    with store.create("left") as writer:  # leaving without commit aborts
        writer.write(b"partial")
    with pytest.raises(RuntimeError):
        with store.create("raised") as writer:
            writer.write(b"partial")
            raise RuntimeError("peer aborted the association")
    assert list(store.list()) == []
    with pytest.raises(HounsfieldError):
        writer.write(b"more")


def test_put_that_fails_midway_keeps_nothing(store: BlobStore) -> None:
    store.put("kept", [b"old"])

    def chunks() -> Iterator[bytes]:
        yield b"first fragment"
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        store.put("kept", chunks())
    with pytest.raises(ConnectionResetError):
        store.put("new", chunks())
    assert store.read_bytes("kept") == b"old"
    assert list(store.list()) == ["kept"]


def test_nothing_visible_before_commit(store: BlobStore) -> None:
    with store.create("pending") as writer:
        writer.write(b"data")
        assert not store.exists("pending")
        assert list(store.list()) == []
        writer.commit()
    assert store.exists("pending")


def test_second_commit_replaces(store: BlobStore) -> None:
    first, second = _data(5000, 1), _data(3000, 2)
    store.put("same", [first])
    stream = store.read("same", chunk_size=1000)
    head = next(stream)
    assert store.put("same", [second]).size == len(second)
    assert store.read_bytes("same") == second
    assert head + b"".join(stream) in (first, second)  # never a mix of both

    # Two writers racing on one key: the last commit wins, whole.
    w1, w2 = store.create("raced"), store.create("raced")
    w1.write(first)
    w2.write(second)
    w2.commit()
    w1.commit()
    assert store.read_bytes("raced") == first
    assert sorted(store.list()) == ["raced", "same"]


def test_writer_reader_sees_what_was_written(store: BlobStore) -> None:
    with store.create("parsed") as writer:
        writer.write(b"DICM-header")
        with writer.reader() as reader:
            assert reader.read() == b"DICM-header"
            reader.seek(5)
            assert reader.read(3) == b"hea"
        writer.write(b"+pixels")
        with writer.reader() as reader:
            assert reader.seekable()
            assert reader.read() == b"DICM-header+pixels"
        info = writer.commit()
    assert info.size == len(b"DICM-header+pixels")
    assert store.read_bytes("parsed") == b"DICM-header+pixels"


def test_writer_is_single_use(store: BlobStore) -> None:
    writer = store.create("once")
    writer.write(b"abc")
    writer.commit()
    with pytest.raises(HounsfieldError):
        writer.write(b"more")
    with pytest.raises(HounsfieldError):
        writer.commit()
    writer.abort()  # after a commit, abort does nothing
    assert store.read_bytes("once") == b"abc"


def test_hostile_keys_refused(store: BlobStore) -> None:
    for key in HOSTILE_KEYS:
        for name, call in (
            ("create", lambda: store.create(key)),
            ("put", lambda: store.put(key, [b"x"])),
            ("read", lambda: store.read(key)),
            ("read_range", lambda: store.read_range(key, 0)),
            ("read_bytes", lambda: store.read_bytes(key)),
            ("size", lambda: store.size(key)),
            ("exists", lambda: store.exists(key)),
            ("delete", lambda: store.delete(key)),
            ("local_path", lambda: store.local_path(key)),
        ):
            with pytest.raises(InvalidRequest):
                call()
                pytest.fail(f"{name}({key!r}) was accepted")
    assert list(store.list()) == []


def test_non_string_key_refused(store: BlobStore) -> None:
    with pytest.raises(InvalidRequest):
        store.create(b"abc")  # type: ignore[arg-type]


ODD_KEYS = [
    "a", "ab", "abc", "abcd", "abcd/x", "ab/cd/abcd", "abcd/ab/cd/abcd", ".a", "..a", "a..",
    "_", "-", "a_", "a.", "A", "Ab", "x/y", "a/b/c/d", "a.b/c..d/...e", "s" * 250,
    "/".join(["seg"] * 128),  # 511 characters
]


def test_odd_but_valid_keys_round_trip(store: BlobStore) -> None:
    for i, key in enumerate(ODD_KEYS):
        store.put(key, [f"{i}:{key}".encode()])
    for i, key in enumerate(ODD_KEYS):
        assert store.read_bytes(key) == f"{i}:{key}".encode()
    assert sorted(store.list()) == sorted(ODD_KEYS)
    for prefix in ("ab", "abcd", "abcd/", "a.", "a.b/c", "_", "seg/seg/"):
        expected = sorted(k for k in ODD_KEYS if k.startswith(prefix))
        assert expected and sorted(store.list(prefix)) == expected


def test_missing_key_raises_not_found(store: BlobStore) -> None:
    for call in (
        lambda: store.read("missing"),
        lambda: store.read_range("missing", 0),
        lambda: store.read_range("missing", 3, 3),
        lambda: store.read_bytes("missing"),
        lambda: store.size("missing"),
    ):
        with pytest.raises(NotFound):
            call()
    assert not store.exists("missing")


def test_local_path(store: BlobStore) -> None:
    store.put("located", [b"bytes on disk"])
    path = store.local_path("located")
    if path is None:
        return  # not a file-backed store
    assert os.path.isabs(path)
    with open(path, "rb") as file:
        assert file.read() == b"bytes on disk"


def test_concurrent_writers(store: BlobStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                key = f"t{n}/{i:04d}"
                assert store.put(key, [key.encode()] * 10).size == len(key) * 10
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = sorted(store.list())
    assert len(keys) == 120
    assert all(store.read_bytes(k) == k.encode() * 10 for k in keys[::7])
