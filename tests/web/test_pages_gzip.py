"""The pages' assets are sent gzip-compressed to clients that accept it, with the same
bytes once decompressed and the year-long immutable caching; others get them as stored."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from security_app import open_secure_app  # noqa: E402

from hounsfield.web import pages  # noqa: E402

WASM_MAGIC = b"\0asm\x01\0\0\0"


@pytest.fixture
def static(tmp_path, monkeypatch):
    """A built front end in miniature: a page, a script, a codec, an image, a tiny style."""
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Hounsfield</title>")
    files = {
        "app-3f2a.js": b"".join(b"export function f%d(x){return x*%d;}\n" % (i, i)
                                for i in range(2000)),
        "codec-9c1d.wasm": WASM_MAGIC + bytes(range(256)) * 200,
        "logo-77aa.png": bytes(range(256)) * 8,
        "tiny-0b1e.css": b"body{margin:0}",
    }
    for name, data in files.items():
        (root / "assets" / name).write_bytes(data)
    monkeypatch.setattr(pages, "STATIC", root)
    return root, files


@pytest.fixture
async def secure(sqlite_settings, static):
    sec = await open_secure_app(sqlite_settings, with_studies=False)
    yield sec
    await sec.close()


async def _raw(client, path: str, encoding: str):
    async with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as r:
        return r, b"".join([chunk async for chunk in r.aiter_raw()])


async def test_scripts_and_codecs_are_sent_compressed(secure, static):
    _, files = static
    async with secure.client() as anonymous:
        for name, media in (("app-3f2a.js", "text/javascript"),
                            ("codec-9c1d.wasm", "application/wasm")):
            for _ in range(2):  # compressed once, then from memory
                r, body = await _raw(anonymous, f"/assets/{name}", "gzip, deflate, br")
                assert r.status_code == 200
                assert r.headers["content-encoding"] == "gzip"
                assert r.headers["content-type"].startswith(media)
                assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert r.headers["vary"] == "Accept-Encoding"
                assert int(r.headers["content-length"]) == len(body) < len(files[name])
                assert gzip.decompress(body) == files[name]
            r, body = await _raw(anonymous, f"/assets/{name}", "identity")
            assert "content-encoding" not in r.headers and body == files[name]
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            r, body = await _raw(anonymous, f"/assets/{name}", "gzip;q=0")
            assert "content-encoding" not in r.headers and body == files[name]


async def test_images_small_files_and_the_page_are_sent_as_stored(secure, static):
    _, files = static
    async with secure.client() as anonymous:
        for name in ("logo-77aa.png", "tiny-0b1e.css"):
            r, body = await _raw(anonymous, f"/assets/{name}", "gzip")
            assert "content-encoding" not in r.headers and body == files[name], name
        r, body = await _raw(anonymous, "/", "gzip")
        assert r.headers["cache-control"] == "no-cache" and b"Hounsfield" in body
        assert "content-encoding" not in r.headers


async def test_a_changed_file_is_compressed_again(secure, static):
    root, files = static
    target = root / "assets" / "app-3f2a.js"
    async with secure.client() as anonymous:
        _, first = await _raw(anonymous, "/assets/app-3f2a.js", "gzip")
        changed = files["app-3f2a.js"] + b"export const more = 1;\n" * 100
        target.write_bytes(changed)
        _, second = await _raw(anonymous, "/assets/app-3f2a.js", "gzip")
    assert gzip.decompress(first) == files["app-3f2a.js"]
    assert gzip.decompress(second) == changed
