"""Frames as stored (WADO-RS frames, PS3.18 8.7.3): native byte ranges and compressed
bitstreams, read without loading the object."""

from __future__ import annotations

import io
import struct
import tracemalloc

import numpy as np
import pytest
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.pixels import get_decoder, pack_bits
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from imaging_synthetic import build_image, part10, reread
from hounsfield.errors import NotFound
from hounsfield.imaging.decode import decode_frame
from hounsfield.imaging.frames import extract_frames, frame_count


def _frames(count: int, rows: int, columns: int, dtype: type = np.uint16) -> np.ndarray:
    rng = np.random.default_rng(count * rows + columns)
    high = min(np.iinfo(dtype).max, 4000)
    return rng.integers(0, high, size=(count, rows, columns)).astype(dtype)


def _decode_bitstream(data: bytes, ds, transfer_syntax_uid: str) -> np.ndarray:
    """Decode one compressed frame with pydicom directly, independent of our reader."""
    options = as_pixel_options(ds, number_of_frames=1, pixel_keyword="PixelData")
    options.pop("extended_offsets", None)
    array, _ = get_decoder(transfer_syntax_uid).as_array(encapsulate([data]), **options)
    return array


def test_native_single_frame_is_the_pixel_data(write_file):
    pixels = _frames(1, 7, 5, np.uint16)[0]
    ds = build_image(pixels)
    frames = extract_frames(write_file(ds), [1])
    assert len(frames) == 1
    assert frames[0].data == pixels.tobytes()
    assert frames[0].transfer_syntax_uid == ExplicitVRLittleEndian


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32])
def test_native_multi_frame_byte_ranges(write_file, dtype):
    pixels = _frames(5, 6, 9, dtype)
    path = write_file(build_image(pixels))
    frames = extract_frames(path, [4, 1, 5])
    assert [f.data for f in frames] == [pixels[3].tobytes(), pixels[0].tobytes(),
                                        pixels[4].tobytes()]


def test_native_rgb_frames(write_file):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, size=(3, 4, 5, 3)).astype(np.uint8)
    ds = build_image(pixels, "RGB")
    assert frame_count(ds) == 3
    frames = extract_frames(part10(ds), [2])
    assert frames[0].data == pixels[1].tobytes()


def test_one_bit_frames_that_start_mid_byte(write_file):
    # 5 x 3 = 15 bits a frame: frame 2 starts at bit 15, in the middle of byte 1.
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 2, size=(4, 5, 3)).astype(np.uint8)
    ds = build_image(pixels)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = pack_bits(pixels)  # PS3.5 8.1.1: packed across frame boundaries
    assert len(ds.PixelData) == 8
    frames = extract_frames(write_file(ds), [1, 2, 3, 4])
    for index, frame in enumerate(frames):
        bits = np.unpackbits(np.frombuffer(frame.data, np.uint8), bitorder="little")
        assert len(frame.data) == 2
        assert bits[:15].tolist() == pixels[index].ravel().tolist()


def test_implicit_vr_frames_are_reported_as_explicit_little_endian(write_file):
    pixels = _frames(3, 4, 4)
    ds = build_image(pixels)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    frames = extract_frames(write_file(ds), [3])
    assert frames[0].data == pixels[2].tobytes()
    assert frames[0].transfer_syntax_uid == ExplicitVRLittleEndian


def test_big_endian_frames_come_back_little_endian():
    pixels = _frames(2, 3, 4)
    ds = build_image(pixels)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = pixels.astype(">u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    frames = extract_frames(buffer.getvalue(), [2])
    assert frames[0].data == pixels[1].astype("<u2").tobytes()


@pytest.mark.parametrize("transfer_syntax_uid", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_compressed_frames_are_the_stored_bitstreams(write_file, transfer_syntax_uid):
    pixels = _frames(4, 32, 40)
    ds = build_image(pixels)
    ds.compress(transfer_syntax_uid, generate_instance_uid=False)
    stored = reread(part10(ds))
    frames = extract_frames(write_file(ds), [2, 4, 1])
    for frame, number in zip(frames, [2, 4, 1]):
        assert frame.transfer_syntax_uid == transfer_syntax_uid
        assert np.array_equal(_decode_bitstream(frame.data, stored, transfer_syntax_uid),
                              pixels[number - 1])


def _with_encapsulated(ds, pixel_data: bytes, transfer_syntax_uid: str):
    ds.PixelData = pixel_data
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = transfer_syntax_uid
    return ds


@pytest.mark.parametrize("has_bot", [True, False])
def test_frames_split_over_several_fragments(write_file, has_bot):
    """Three fragments a frame, with and without a Basic Offset Table (PS3.5 A.4)."""
    pixels = _frames(3, 16, 16)
    compressed = build_image(pixels)
    compressed.compress(JPEGLSLossless, generate_instance_uid=False)
    bitstreams = [_decode_frame_bytes(compressed, i) for i in range(3)]
    ds = _with_encapsulated(build_image(pixels), encapsulate(
        bitstreams, fragments_per_frame=3, has_bot=has_bot), JPEGLSLossless)
    frames = extract_frames(write_file(ds), [1, 2, 3])
    assert [f.data for f in frames] == bitstreams
    assert np.array_equal(decode_frame(write_file(ds), 1), pixels[1])


def _decode_frame_bytes(ds, index: int) -> bytes:
    from pydicom.encaps import get_frame

    return get_frame(ds.PixelData, index, number_of_frames=int(ds.NumberOfFrames))


def test_extended_offset_table_is_used(write_file):
    pixels = _frames(3, 8, 8)
    compressed = build_image(pixels)
    compressed.compress(RLELossless, generate_instance_uid=False)
    bitstreams = [_decode_frame_bytes(compressed, i) for i in range(3)]
    data, offsets, lengths = encapsulate_extended(bitstreams)
    ds = _with_encapsulated(build_image(pixels), data, RLELossless)
    ds.ExtendedOffsetTable = offsets
    ds.ExtendedOffsetTableLengths = lengths
    frames = extract_frames(write_file(ds), [3, 2])
    assert [f.data for f in frames] == [bitstreams[2], bitstreams[1]]


@pytest.mark.parametrize("number", [0, 4, -1])
def test_frame_out_of_range_is_not_found(write_file, number):
    path = write_file(build_image(_frames(3, 4, 4)))
    with pytest.raises(NotFound, match="3 frames"):
        extract_frames(path, [1, number])


def test_object_without_pixels_has_no_frames(write_file):
    ds = build_image(_frames(1, 2, 2)[0])
    del ds.PixelData
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, keyword)
    assert frame_count(ds) == 0
    with pytest.raises(NotFound):
        extract_frames(write_file(ds), [1])


def test_one_frame_of_a_large_file_reads_only_that_frame(tmp_path):
    """256 MB of declared Pixel Data in a sparse file: a frame costs a frame of memory."""
    rows = columns = 512
    count = 512
    frame_bytes = rows * columns * 2
    ds = build_image(np.zeros((2, rows, columns), np.uint16))
    ds.NumberOfFrames = count
    header = part10(ds)
    # Rewrite the Pixel Data length to cover all frames and extend the file sparsely.
    marker = struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\x00\x00"
    position = header.rindex(marker) + len(marker)
    header = header[:position] + struct.pack("<L", count * frame_bytes)
    path = tmp_path / "large.dcm"
    with open(path, "wb") as fp:
        fp.write(header)
        fp.seek(len(header) + (count - 1) * frame_bytes)
        fp.write(np.arange(rows * columns, dtype=np.uint16).tobytes())
    tracemalloc.start()
    try:
        frames = extract_frames(path, [count, 1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames[0].data == np.arange(rows * columns, dtype=np.uint16).tobytes()
    assert frames[1].data == bytes(frame_bytes)
    assert peak < 8 * frame_bytes


def test_native_ybr_full_422_frames_are_subsampled(write_file):
    """PS3.3 C.7.6.3.1.2: native YBR_FULL_422 stores Y1 Y2 Cb Cr for each pixel pair."""
    rows, columns = 2, 4
    frame_bytes = [bytes(range(n * 16, n * 16 + rows * columns * 2)) for n in range(3)]
    ds = build_image(np.zeros((3, rows, columns, 3), np.uint8), "RGB")
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = b"".join(frame_bytes)
    path = write_file(ds)
    assert [f.data for f in extract_frames(path, [3, 2])] == [frame_bytes[2], frame_bytes[1]]
    decoded = decode_frame(path, 1)
    assert decoded.shape == (rows, columns, 3)


def test_deflated_object_frames(write_file):
    """Deflated data sets cannot be addressed by offset; they are inflated whole."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    pixels = _frames(3, 4, 6)
    ds = build_image(pixels)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = write_file(ds)
    frames = extract_frames(path, [2])
    assert frames[0].data == pixels[1].tobytes()
    assert frames[0].transfer_syntax_uid == ExplicitVRLittleEndian
    assert np.array_equal(decode_frame(path, 2), pixels[2])
