"""Frames of pixel data as stored, read without loading the whole object.

WADO-RS frames (PS3.18 8.7.3/8.7.4) return each requested frame as its bitstream: the
frame's fragments for encapsulated syntaxes, the frame's bytes for native ones. Only the
header and the requested frames' bytes are read, so memory stays flat for a 2 GB
multi-frame object (DESIGN rule 3).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
)

from hounsfield.errors import HounsfieldError, InvalidObject, InvalidRequest, NotFound

Source = str | os.PathLike[str] | bytes | bytearray | memoryview

# (7FE0,0010) Pixel Data, (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float Pixel Data
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
# PS3.5 7.1.2: explicit VRs whose header has 2 reserved bytes and a 32-bit length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_UNDEFINED_LENGTH = 0xFFFFFFFF


class NoPixelData(NotFound):
    """The object holds no image (a report, a document, a presentation state)."""


@dataclass(frozen=True)
class Frame:
    """One frame's bitstream and the transfer syntax it is encoded in.

    Native frames are always little endian, so their ``transfer_syntax_uid`` is Explicit
    VR Little Endian (the syntax PS3.18 8.7.3 names for uncompressed pixel data)
    whatever native syntax the object was stored in.
    """

    data: bytes
    transfer_syntax_uid: str


@dataclass(frozen=True)
class PixelDataLocation:
    """Where the Pixel Data value starts in an open file and how it is encoded."""

    tag: int
    value_offset: int
    length: int | None  # None: undefined length (encapsulated)
    little_endian: bool

    @property
    def is_encapsulated(self) -> bool:
        return self.length is None


def frame_count(ds: Dataset) -> int:
    """Number of frames in an image (PS3.3 C.7.6.6); 0 for objects without pixels."""
    if "Rows" not in ds and not any(tag in ds for tag in PIXEL_DATA_TAGS):
        return 0
    value = ds.get("NumberOfFrames")
    try:
        count = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError):
        count = 1
    return max(count, 1)


@contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """Open a Part 10 file path or in-memory bytes as a binary stream."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
        return
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f'Argument "source" must be a path or bytes, not {type(source)!r}.')
    with open(source, "rb") as fp:
        yield fp


def read_header(fp: BinaryIO) -> tuple[Dataset, PixelDataLocation | None]:
    """Read everything before the pixel data and locate the pixel data element.

    The stream is left positioned at the start of the pixel data value. Deflated objects
    cannot be addressed by offset; for those the location is None and the caller reads
    the whole data set (they are small by nature: deflate is not used for images).
    """
    try:
        header = dcmread(fp, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types for damaged input
        raise InvalidObject(f"Not a readable DICOM Part 10 object: {exc}") from exc
    transfer_syntax_uid = transfer_syntax_of(header)
    if transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        return header, None
    little_endian = transfer_syntax_uid != ExplicitVRBigEndian
    # A private transfer syntax pydicom does not know is read as explicit VR (PS3.5 10).
    implicit = transfer_syntax_uid.is_transfer_syntax and transfer_syntax_uid.is_implicit_VR
    head = fp.read(8)
    if len(head) < 8:
        return header, None
    order = "<" if little_endian else ">"
    group, element = struct.unpack(f"{order}HH", head[:4])
    tag = (group << 16) | element
    if tag not in PIXEL_DATA_TAGS:
        return header, None
    if implicit:
        (length,) = struct.unpack(f"{order}L", head[4:8])
    elif head[4:6] in _LONG_VRS:
        more = fp.read(4)
        if len(more) < 4:
            raise InvalidObject("The object is truncated in its Pixel Data element header")
        (length,) = struct.unpack(f"{order}L", more)
    else:
        (length,) = struct.unpack(f"{order}H", head[6:8])
    location = PixelDataLocation(
        tag=tag,
        value_offset=fp.tell(),
        length=None if length == _UNDEFINED_LENGTH else length,
        little_endian=little_endian,
    )
    return header, location


def transfer_syntax_of(ds: Dataset) -> UID:
    """The Transfer Syntax UID (0002,0010) of a Part 10 data set."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if not uid:
        raise InvalidObject("The object has no (0002,0010) Transfer Syntax UID")
    return UID(str(uid))


def native_frame_length(ds: Dataset) -> int:
    """Bytes in one native frame (PS3.5 8.1.1), or bits when Bits Allocated is 1."""
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated == 1:
        return rows * columns * samples
    length = rows * columns * samples * (bits_allocated // 8)
    if ds.get("PhotometricInterpretation") == "YBR_FULL_422" and samples == 3:
        # PS3.3 C.7.6.3.1.2: two chroma samples are shared by each pair of pixels.
        length = length // 3 * 2
    return length


def extract_frames(source: Source, frame_numbers: list[int]) -> list[Frame]:
    """Return the requested frames (1-based, PS3.18 8.7.4) as stored.

    Raises NotFound for an object without pixel data or a frame number out of range.
    """
    if not frame_numbers:
        raise InvalidRequest('Argument "frame_numbers" must not be empty.')
    with open_source(source) as fp:
        header, location = read_header(fp)
        count = frame_count(header)
        if count == 0:
            raise NoPixelData("The instance has no pixel data, so it has no frames")
        for number in frame_numbers:
            if not 1 <= number <= count:
                raise NotFound(f"Frame {number} does not exist: the instance has {count} "
                               f"frame{'s' if count != 1 else ''}")
        transfer_syntax_uid = transfer_syntax_of(header)
        if location is None:
            return frames_from_whole(fp, header, transfer_syntax_uid, frame_numbers)
        if location.is_encapsulated:
            return [Frame(encapsulated_frame(fp, header, location, number - 1, count),
                          str(transfer_syntax_uid)) for number in frame_numbers]
        return [Frame(native_frame(fp, header, location, number - 1),
                      str(ExplicitVRLittleEndian)) for number in frame_numbers]


def frames_from_whole(fp: BinaryIO, header: Dataset, transfer_syntax_uid: UID,
                       frame_numbers: list[int]) -> list[Frame]:
    """Frames of a deflated object (or one whose header hides the pixel data)."""
    fp.seek(0)
    ds = dcmread(fp)
    tag = next((t for t in PIXEL_DATA_TAGS if t in ds), None)
    if tag is None:
        raise NoPixelData("The instance has no pixel data, so it has no frames")
    value = ds[tag].value
    if transfer_syntax_uid.is_encapsulated:
        count = frame_count(ds)
        location = PixelDataLocation(tag, 0, None, True)
        buffer = io.BytesIO(value)
        return [Frame(encapsulated_frame(buffer, ds, location, n - 1, count),
                      str(transfer_syntax_uid)) for n in frame_numbers]
    # pydicom holds native values in the stored byte order; deflate is little endian.
    location = PixelDataLocation(tag, 0, len(value), transfer_syntax_uid != ExplicitVRBigEndian)
    buffer = io.BytesIO(value)
    return [Frame(native_frame(buffer, ds, location, n - 1), str(ExplicitVRLittleEndian))
            for n in frame_numbers]


def encapsulated_frame(fp: BinaryIO, ds: Dataset, location: PixelDataLocation, index: int,
                        count: int) -> bytes:
    """One frame's fragments joined (PS3.5 A.4), found through the offset tables."""
    fp.seek(location.value_offset)
    extended: tuple[bytes, bytes] | None = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        # PS3.5 A.4: with an Extended Offset Table each frame is one fragment.
        extended = (bytes(ds.ExtendedOffsetTable), bytes(ds.ExtendedOffsetTableLengths))
    try:
        return bytes(get_frame(fp, index, number_of_frames=count, extended_offsets=extended))
    except Exception as exc:  # damaged item tags or lengths
        raise HounsfieldError(
            f"Frame {index + 1} cannot be found in the encapsulated pixel data: {exc}"
        ) from exc


def native_frame(fp: BinaryIO, ds: Dataset, location: PixelDataLocation, index: int) -> bytes:
    """One native frame's bytes, little endian; 1-bit frames repacked to start at bit 0."""
    assert location.length is not None
    bits_allocated = int(ds.BitsAllocated)
    length = native_frame_length(ds)
    if bits_allocated == 1:
        # PS3.5 8.1.1: 1-bit pixels are packed across frame boundaries, so a frame may
        # start in the middle of a byte.
        first_bit = index * length
        first_byte, last_byte = first_bit // 8, -(-(first_bit + length) // 8)
        data = _read_exact(fp, location, first_byte, last_byte - first_byte)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        shift = first_bit - first_byte * 8
        return np.packbits(bits[shift:shift + length], bitorder="little").tobytes()
    data = _read_exact(fp, location, index * length, length)
    if not location.little_endian and bits_allocated > 8:
        width = bits_allocated // 8
        data = np.frombuffer(data, dtype=f">u{width}").astype(f"<u{width}").tobytes()
    return data


def _read_exact(fp: BinaryIO, location: PixelDataLocation, offset: int, size: int) -> bytes:
    assert location.length is not None
    if offset + size > location.length:
        raise HounsfieldError(
            f"Pixel Data holds {location.length} bytes, too few for the frame at byte "
            f"{offset} of length {size} (Rows, Columns, Bits Allocated or Number of Frames "
            "disagree with it)")
    fp.seek(location.value_offset + offset)
    data = fp.read(size)
    if len(data) != size:
        raise HounsfieldError("The object is truncated inside its Pixel Data")
    return data
