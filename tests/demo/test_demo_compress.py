"""Compressed variants decode back to the original pixels (lossless) or close to them
(lossy, recorded as such), in every transfer syntax ``compress`` claims."""

from __future__ import annotations

import sys
from collections.abc import Callable

import imagecodecs
import numpy as np
import pytest
from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSNearLossless,
)

from hounsfield.demo import (
    COMPRESSED_SYNTAXES,
    Patient,
    Study,
    compress,
    ct_volume,
    us_multiframe,
)

RoundTrip = Callable[[Dataset], Dataset]
LOSSY = {JPEGLSNearLossless, JPEG2000, JPEGBaseline8Bit}


@pytest.mark.parametrize("syntax", [*COMPRESSED_SYNTAXES, ImplicitVRLittleEndian,
                                    DeflatedExplicitVRLittleEndian])
@pytest.mark.parametrize("kind", ["ct", "ct12", "us"])
def test_compressed_variant_decodes(kind: str, syntax: str, patient: Patient, study: Study,
                                    round_trip: RoundTrip) -> None:
    """``ct``: signed 16-bit; ``ct12``: unsigned, 12 of 16 bits stored; ``us``: RGB frames."""
    if kind.startswith("ct"):
        source = next(ct_volume(patient, study, slices=1, rows=128, columns=128,
                                signed=kind == "ct"))
    else:
        source = us_multiframe(patient, study, frames=2, rows=96, columns=128,
                               transfer_syntax="1.2.840.10008.1.2.1")
    if syntax == JPEGBaseline8Bit and kind != "us":
        with pytest.raises(ValueError, match="8-bit"):
            compress(source, syntax)
        return
    variant = compress(source, syntax)
    assert source.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # the source is kept
    back = round_trip(variant)
    assert back.file_meta.TransferSyntaxUID == syntax
    if UID(syntax) in LOSSY:  # a lossy copy is a new, derived instance
        assert back.SOPInstanceUID != source.SOPInstanceUID
        assert UID(back.SOPInstanceUID).is_valid
        assert back.ImageType[0] == "DERIVED"
    else:
        assert back.SOPInstanceUID == source.SOPInstanceUID
        assert back.ImageType[0] == "ORIGINAL"
    original = source.pixel_array.astype(np.int32)
    # pydicom returns JPEG colour frames converted from YBR_FULL_422 to RGB.
    decoded = back.pixel_array.astype(np.int32)
    assert decoded.shape == original.shape
    if UID(syntax) in LOSSY:
        assert back.LossyImageCompression == "01"
        assert float(back.LossyImageCompressionRatio) > 1
        error = np.abs(decoded - original).mean()
        assert error < (40 if kind != "us" else 10)
    else:
        assert np.array_equal(decoded, original)


def test_lossy_copy_can_keep_its_uid(patient: Patient, study: Study) -> None:
    source = next(ct_volume(patient, study, slices=1, rows=32, columns=32))
    variant = compress(source, JPEG2000, keep_sop_instance_uid=True)
    assert variant.SOPInstanceUID == source.SOPInstanceUID
    assert variant.ImageType[0] == "ORIGINAL"
    assert variant.LossyImageCompression == "01"


def markers(codestream: bytes) -> list[int]:
    """The JPEG markers (0xFFxx) of the header, up to and including Start of Scan."""
    found, position = [], 2
    while True:
        marker = int.from_bytes(codestream[position:position + 2], "big")
        found.append(marker)
        if marker == 0xFFDA:
            return found
        position += 2 + int.from_bytes(codestream[position + 2:position + 4], "big")


@pytest.mark.parametrize("kind", ["ct", "ct12", "us"])
def test_jpeg_lossless_sv1_is_process_14_with_predictor_1(kind: str, patient: Patient,
                                                          study: Study) -> None:
    """Each frame is a lossless JPEG (SOF3) whose scan uses predictor 1, and a decoder
    other than the encoder's (libjpeg-turbo, through imagecodecs) gives the pixels back."""
    if kind.startswith("ct"):
        source = next(ct_volume(patient, study, slices=1, rows=64, columns=64,
                                signed=kind == "ct"))
    else:
        source = us_multiframe(patient, study, frames=2, rows=32, columns=48,
                               transfer_syntax="1.2.840.10008.1.2.1")
    variant = compress(source, JPEGLosslessSV1)
    originals = source.pixel_array if kind == "us" else source.pixel_array[np.newaxis]
    frames = list(generate_frames(variant.PixelData, number_of_frames=len(originals)))
    assert len(frames) == len(originals)
    for frame, original in zip(frames, originals):
        found = markers(frame)
        assert 0xFFC3 in found and not {0xFFC0, 0xFFC1, 0xFFC2} & set(found)
        sos = frame.index(b"\xff\xda")
        components = frame[sos + 4]
        assert frame[sos + 5 + 2 * components] == 1  # Ss: the predictor
        decoded = imagecodecs.jpeg8_decode(frame)
        assert np.array_equal(decoded.view(original.dtype).reshape(original.shape), original)


def test_htj2k_lossless_is_high_throughput(patient: Patient, study: Study) -> None:
    """The frames are HTJ2K codestreams (a CAP marker, PS3.5 A.4.9) that decode exactly
    with OpenJPEG, not only with the OpenJPH that wrote them."""
    from openjpeg import decode

    source = next(ct_volume(patient, study, slices=1, rows=64, columns=64, signed=True))
    variant = compress(source, HTJ2KLossless)
    frame = next(generate_frames(variant.PixelData, number_of_frames=1))
    assert frame[:4] == b"\xff\x4f\xff\x51" and b"\xff\x50" in frame[:200]
    assert np.array_equal(decode(frame), source.pixel_array)


def test_htj2k_without_imagecodecs_is_refused(patient: Patient, study: Study,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails as if absent
    source = next(ct_volume(patient, study, slices=1, rows=16, columns=16))
    with pytest.raises(ValueError, match="HTJ2K encoding needs the imagecodecs package"):
        compress(source, HTJ2KLossless)


@pytest.mark.parametrize("syntax", [JPEGExtended12Bit, HTJ2K])
def test_unsupported_syntaxes_are_refused(syntax: str, patient: Patient, study: Study) -> None:
    source = next(ct_volume(patient, study, slices=1, rows=16, columns=16))
    with pytest.raises(ValueError, match="No encoder"):
        compress(source, syntax)
    variant = compress(source, COMPRESSED_SYNTAXES[0])
    with pytest.raises(ValueError, match="already compressed"):
        compress(variant, JPEG2000)
