"""Pixel data: frames as stored, decoding, rendering to JPEG/PNG, thumbnails, transcoding.

Pure functions over Part 10 file paths, bytes or pydicom Datasets; nothing here knows of
HTTP or the archive. Callers on the asyncio loop run them through ``pool.RenderPool``.
Import from the modules: ``frames``, ``decode``, ``render``, ``transcode``, ``pool``.
"""
