"""Compressed variants decode back to the original pixels (lossless) or close to them
(lossy, recorded as such), in every transfer syntax ``compress`` claims."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydicom import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEGBaseline8Bit,
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
@pytest.mark.parametrize("kind", ["ct", "us"])
def test_compressed_variant_decodes(kind: str, syntax: str, patient: Patient, study: Study,
                                    round_trip: RoundTrip) -> None:
    if kind == "ct":
        source = next(ct_volume(patient, study, slices=1, rows=128, columns=128, signed=True))
    else:
        source = us_multiframe(patient, study, frames=2, rows=96, columns=128,
                               transfer_syntax="1.2.840.10008.1.2.1")
    if syntax == JPEGBaseline8Bit and kind == "ct":
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
        assert error < (40 if kind == "ct" else 10)
    else:
        assert np.array_equal(decoded, original)


def test_lossy_copy_can_keep_its_uid(patient: Patient, study: Study) -> None:
    source = next(ct_volume(patient, study, slices=1, rows=32, columns=32))
    variant = compress(source, JPEG2000, keep_sop_instance_uid=True)
    assert variant.SOPInstanceUID == source.SOPInstanceUID
    assert variant.ImageType[0] == "ORIGINAL"
    assert variant.LossyImageCompression == "01"


def test_unsupported_syntaxes_are_refused(patient: Patient, study: Study) -> None:
    source = next(ct_volume(patient, study, slices=1, rows=16, columns=16))
    with pytest.raises(ValueError, match="No encoder"):
        compress(source, JPEGLosslessSV1)
    variant = compress(source, COMPRESSED_SYNTAXES[0])
    with pytest.raises(ValueError, match="already compressed"):
        compress(variant, JPEG2000)
