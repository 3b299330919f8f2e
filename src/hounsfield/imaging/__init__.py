"""Pixel data: frames as stored, decoding, rendering to JPEG/PNG, thumbnails, transcoding.

Pure functions over Part 10 file paths, bytes or pydicom Datasets; nothing here knows of
HTTP or the archive. Callers on the asyncio loop run them through ``RenderPool``.
"""

from hounsfield.imaging.decode import can_decode, decodable_transfer_syntaxes, decode_frame
from hounsfield.imaging.frames import Frame, extract_frames, frame_count
from hounsfield.imaging.pool import RenderPool
from hounsfield.imaging.render import (
    RENDERED_MEDIA_TYPES,
    parse_quality,
    parse_viewport,
    parse_window,
    render,
    thumbnail,
)
from hounsfield.imaging.transcode import can_transcode, encodable_transfer_syntaxes, transcode

__all__ = [
    "RENDERED_MEDIA_TYPES",
    "Frame",
    "RenderPool",
    "can_decode",
    "can_transcode",
    "decodable_transfer_syntaxes",
    "decode_frame",
    "encodable_transfer_syntaxes",
    "extract_frames",
    "frame_count",
    "parse_quality",
    "parse_viewport",
    "parse_window",
    "render",
    "thumbnail",
    "transcode",
]
