"""Transfer syntax changes: lossless round trips keep pixels and attributes; impossible
requests are refused with NotAcceptable."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from imaging_synthetic import build_image, part10, reread
from hounsfield.errors import NotAcceptable
from hounsfield.imaging.frames import extract_frames
from hounsfield.imaging.transcode import (
    can_transcode,
    choose_transfer_syntax,
    encodable_transfer_syntaxes,
    limitation,
    transcode,
    transcode_frames,
)

MPEG2 = "1.2.840.10008.1.2.4.100"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"


def ct_image(frames: int = 2, rows: int = 40, columns: int = 36):
    rng = np.random.default_rng(frames * rows)
    pixels = rng.integers(-1024, 3000, size=(frames, rows, columns)).astype(np.int16)
    ds = build_image(pixels, bits_stored=16, RescaleSlope=1, RescaleIntercept=-1024)
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "private value kept")
    ds.add_new(0x00091002, "OB", b"\x01\x02\x03\x04")
    return ds, pixels


def assert_kept(original, result) -> None:
    """Everything but what the syntax change needs is as it was."""
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert result.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert result.PatientName == original.PatientName
    assert result.RescaleIntercept == original.RescaleIntercept
    assert result[0x00090010].value == "ACME 1.0"
    assert result[0x00091001].value in ("private value kept", b"private value kept")
    assert bytes(result[0x00091002].value) == b"\x01\x02\x03\x04"


def test_identity_returns_the_same_bytes(write_file):
    ds, _ = ct_image()
    data = part10(ds)
    assert transcode(data, ExplicitVRLittleEndian) is data
    assert transcode(write_file(ds), ExplicitVRLittleEndian) == data


def test_jpeg2000_lossless_to_explicit_little_endian_keeps_pixels(write_file):
    ds, pixels = ct_image()
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    source = write_file(ds)
    result = reread(transcode(source, ExplicitVRLittleEndian))
    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert not result["PixelData"].is_undefined_length
    assert np.array_equal(result.pixel_array, pixels)
    assert_kept(ds, result)


@pytest.mark.parametrize("target", [RLELossless, JPEG2000Lossless, JPEG2000, JPEGLSLossless,
                                    JPEGLSNearLossless, ImplicitVRLittleEndian,
                                    DeflatedExplicitVRLittleEndian])
def test_lossless_round_trip(target):
    ds, pixels = ct_image()
    compressed = transcode(part10(ds), target)
    middle = reread(compressed)
    assert middle.file_meta.TransferSyntaxUID == target
    assert np.array_equal(middle.pixel_array, pixels)
    assert "LossyImageCompression" not in middle
    result = reread(transcode(compressed, ExplicitVRLittleEndian))
    assert np.array_equal(result.pixel_array, pixels)
    assert_kept(ds, result)


def test_compressed_to_another_compressed_syntax():
    ds, pixels = ct_image()
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    result = reread(transcode(part10(ds), JPEGLSLossless))
    assert result.file_meta.TransferSyntaxUID == JPEGLSLossless
    assert np.array_equal(result.pixel_array, pixels)
    assert_kept(ds, result)


def test_explicit_to_rle_and_back_keeps_the_pixel_bytes():
    ds, pixels = ct_image(frames=3)
    rle = reread(transcode(part10(ds), RLELossless))
    assert rle["PixelData"].is_undefined_length
    back = reread(transcode(part10(rle), ExplicitVRLittleEndian))
    assert back.PixelData == pixels.tobytes()
    assert back.NumberOfFrames == 3


def test_jpeg_baseline_for_8_bit_colour_is_lossy_and_flagged():
    rng = np.random.default_rng(5)
    pixels = np.kron(rng.integers(0, 256, size=(4, 4, 3)), np.ones((16, 16, 1))).astype(np.uint8)
    ds = build_image(pixels, "RGB", LossyImageCompression="00")
    result = reread(transcode(part10(ds), JPEGBaseline8Bit))
    assert result.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert result.PhotometricInterpretation == "YBR_FULL_422"
    assert result.LossyImageCompression == "01"
    assert result.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(result.LossyImageCompressionRatio) > 1
    assert result.SOPInstanceUID == ds.SOPInstanceUID
    assert np.abs(result.pixel_array.astype(int)[8::16, 8::16] - pixels[8::16, 8::16]).max() <= 4
    # decompressing a lossy object keeps the flag (PS3.3 C.7.6.1.1.5)
    back = reread(transcode(part10(result), ExplicitVRLittleEndian))
    assert back.LossyImageCompression == "01"
    assert back.PhotometricInterpretation == "RGB"


def test_jpeg_baseline_for_8_bit_grayscale():
    pixels = np.kron(np.arange(16, dtype=np.uint8).reshape(4, 4) * 16, np.ones((8, 8), np.uint8))
    result = reread(transcode(part10(build_image(pixels)), JPEGBaseline8Bit))
    assert result.PhotometricInterpretation == "MONOCHROME2"
    assert np.abs(result.pixel_array.astype(int) - pixels).max() <= 3


def test_object_without_pixel_data_changes_syntax_only():
    ds, _ = ct_image()
    del ds.PixelData
    result = reread(transcode(part10(ds), ImplicitVRLittleEndian))
    assert result.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert result.PatientName == ds.PatientName


@pytest.mark.parametrize("target, reason", [
    (JPEGBaseline8Bit, "8-bit"),          # a 16-bit CT would lose its values
    (MPEG2, "Cannot produce"),            # video: no encoder
    (JPEG_LOSSLESS_SV1, "Cannot produce"),  # decodable, but no encoder installed
    ("1.2.3.4", "not a transfer syntax"),
])
def test_impossible_targets_are_not_acceptable(target, reason):
    ds, _ = ct_image()
    with pytest.raises(NotAcceptable, match=reason):
        transcode(part10(ds), target)


def test_jpeg2000_needs_a_minimum_size():
    ds, _ = ct_image(rows=16, columns=16)
    with pytest.raises(NotAcceptable, match="32x32"):
        transcode(part10(ds), JPEG2000Lossless)


def test_undecodable_source_is_not_acceptable():
    ds, _ = ct_image(frames=1)
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = MPEG2
    with pytest.raises(NotAcceptable, match="cannot be decoded"):
        transcode(part10(ds), ExplicitVRLittleEndian)


def test_can_transcode():
    assert can_transcode(JPEG2000Lossless, ExplicitVRLittleEndian)
    assert can_transcode(ExplicitVRLittleEndian, RLELossless)
    assert can_transcode(JPEG_LOSSLESS_SV1, ImplicitVRLittleEndian)
    assert can_transcode(MPEG2, MPEG2)
    assert not can_transcode(MPEG2, ExplicitVRLittleEndian)
    assert not can_transcode(ExplicitVRLittleEndian, JPEG_LOSSLESS_SV1)
    assert {str(RLELossless), str(JPEG2000Lossless), str(JPEGLSLossless),
            str(ExplicitVRLittleEndian)} <= encodable_transfer_syntaxes()


def _decode_one(data: bytes, ds, transfer_syntax_uid: str) -> np.ndarray:
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.pixels.utils import as_pixel_options

    options = as_pixel_options(ds, number_of_frames=1, pixel_keyword="PixelData")
    array, _ = get_decoder(transfer_syntax_uid).as_array(encapsulate([data]), **options)
    return array


def test_compressed_frames_decompressed_for_an_uncompressed_request(write_file):
    ds, pixels = ct_image(frames=3)
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    frames = transcode_frames(write_file(ds), [3, 1], ExplicitVRLittleEndian)
    assert [f.transfer_syntax_uid for f in frames] == [ExplicitVRLittleEndian] * 2
    assert [f.data for f in frames] == [pixels[2].tobytes(), pixels[0].tobytes()]


@pytest.mark.parametrize("target", [RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_frames_compressed_on_request(write_file, target):
    ds, pixels = ct_image(frames=2)
    frames = transcode_frames(write_file(ds), [2], target)
    assert frames[0].transfer_syntax_uid == target
    assert np.array_equal(_decode_one(frames[0].data, ds, target), pixels[1])


def test_frames_in_the_stored_syntax_come_back_as_stored(write_file):
    ds, _ = ct_image(frames=2)
    ds.compress(RLELossless, generate_instance_uid=False)
    path = write_file(ds)
    assert transcode_frames(path, [1, 2], RLELossless) == extract_frames(path, [1, 2])


def test_frames_jpeg_from_16_bit_is_not_acceptable(write_file):
    ds, _ = ct_image(frames=1)
    with pytest.raises(NotAcceptable, match="8-bit"):
        transcode_frames(write_file(ds), [1], JPEGBaseline8Bit)


def test_choose_transfer_syntax():
    ct, _ = ct_image()  # 16-bit, 40 x 36
    small, _ = ct_image(rows=16, columns=16)
    j2k = str(JPEG2000Lossless)
    explicit = str(ExplicitVRLittleEndian)
    baseline = str(JPEGBaseline8Bit)
    # stored syntax accepted, or anything goes
    assert choose_transfer_syntax(j2k, [explicit, j2k]) == j2k
    assert choose_transfer_syntax(j2k, ["*"]) == j2k
    # otherwise the receiver's order, lossless first
    assert choose_transfer_syntax(j2k, [baseline, str(RLELossless), explicit]) == RLELossless
    assert choose_transfer_syntax(explicit, [baseline]) == baseline
    # the image decides what it fits in
    assert choose_transfer_syntax(explicit, [baseline], ct) is None
    assert choose_transfer_syntax(explicit, [j2k, str(JPEGLSLossless)], small) == JPEGLSLossless
    assert choose_transfer_syntax(MPEG2, [explicit]) is None
    assert limitation(ct, baseline) and "8-bit" in limitation(ct, baseline)
    assert limitation(small, j2k) and "32x32" in limitation(small, j2k)
    assert limitation(ct, explicit) is None
