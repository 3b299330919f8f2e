"""Data set helpers for DIMSE: pydicom encode/decode in a transfer syntax, Part 10 splitting,
and the sinks that receive data set fragments as they arrive."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from hounsfield.errors import InvalidRequest

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
UNCOMPRESSED = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)


def decode_dataset(data: bytes, transfer_syntax_uid: str) -> Dataset:
    """A data set received in ``transfer_syntax_uid`` (identifiers, small objects); every
    element is read here, so damage is found now and raised as InvalidRequest."""
    ts = UID(transfer_syntax_uid)
    try:
        if ts == DeflatedExplicitVRLittleEndian:
            data = zlib.decompress(data, -zlib.MAX_WBITS)
        implicit = ts.is_implicit_VR if ts.is_transfer_syntax else False
        little = ts.is_little_endian if ts.is_transfer_syntax else True
        ds = read_dataset(BytesIO(data), implicit, little)
        for _ in ds.iterall():
            pass
        return ds
    except Exception as exc:  # pydicom raises many types for damaged input
        raise InvalidRequest(f"Cannot decode the data set: {exc}") from None


def encode_dataset(ds: Dataset, transfer_syntax_uid: str) -> bytes:
    """``ds`` encoded in an uncompressed (or deflated) transfer syntax, without file meta."""
    ts = UID(transfer_syntax_uid)
    fp = DicomBytesIO()
    fp.is_implicit_VR = ts.is_implicit_VR
    fp.is_little_endian = ts.is_little_endian
    write_dataset(fp, ds)
    data = fp.getvalue()
    if ts == DeflatedExplicitVRLittleEndian:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
    return data


class FileMeta:
    """The parts of a Part 10 file meta group that DIMSE needs (PS3.10 7.1)."""

    def __init__(self, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str,
                 data_set_offset: int) -> None:
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        self.transfer_syntax_uid = transfer_syntax_uid
        self.data_set_offset = data_set_offset


class NeedMoreData(Exception):
    """The bytes given end before the file meta group does."""


def parse_file_meta(head: bytes | memoryview) -> FileMeta:
    """Read the file meta group at the start of a Part 10 stream (explicit VR LE)."""
    view = memoryview(head)
    if len(view) < 132:
        raise NeedMoreData
    if bytes(view[128:132]) != b"DICM":
        raise ValueError("Not a DICOM Part 10 file: no 'DICM' prefix at offset 128")
    pos = 132
    values: dict[int, str] = {}
    while True:
        if len(view) < pos + 8:
            raise NeedMoreData
        group, element = struct.unpack_from("<HH", view, pos)
        if group != 0x0002:
            break
        vr = bytes(view[pos + 4:pos + 6])
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            if len(view) < pos + 12:
                raise NeedMoreData
            (length,) = struct.unpack_from("<L", view, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", view, pos + 6)
            start = pos + 8
        if length == 0xFFFFFFFF:
            raise ValueError("Undefined length in the file meta group")
        if len(view) < start + length:
            raise NeedMoreData
        if element in (0x0002, 0x0003, 0x0010):
            values[element] = bytes(view[start:start + length]).decode("latin-1").rstrip(
                "\x00 ")
        pos = start + length
    missing = [name for element, name in ((0x0002, "MediaStorageSOPClassUID"),
                                          (0x0003, "MediaStorageSOPInstanceUID"),
                                          (0x0010, "TransferSyntaxUID"))
               if element not in values]
    if missing:
        raise ValueError(f"File meta group lacks {', '.join(missing)}")
    return FileMeta(values[0x0002], values[0x0003], values[0x0010], pos)


class DataSetSink(Protocol):
    """Receives the fragments of one data set as they arrive."""

    async def write(self, data: bytes | memoryview) -> None: ...

    async def finish(self) -> Any: ...

    async def abort(self) -> None: ...


class DataSetTooLarge(ValueError):
    pass


class BufferSink:
    """Keeps a small data set (C-FIND identifier, a response) in memory up to ``cap``."""

    def __init__(self, cap: int = 4 << 20) -> None:
        self.buffer = bytearray()
        self.cap = cap
        self.overflow = False

    async def write(self, data: bytes | memoryview) -> None:
        if self.overflow:
            return
        if len(self.buffer) + len(data) > self.cap:
            self.overflow = True
            self.buffer = bytearray()
            return
        self.buffer += data

    async def finish(self) -> bytes:
        if self.overflow:
            raise DataSetTooLarge(f"Data set larger than {self.cap} bytes")
        return bytes(self.buffer)

    async def abort(self) -> None:
        self.buffer = bytearray()


class RefusingSink:
    """Swallows a data set that will not be kept and reports ``status`` for it."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    async def write(self, data: bytes | memoryview) -> None:
        return None

    async def finish(self) -> tuple[int, str | None]:
        return self.status, self.reason

    async def abort(self) -> None:
        return None
