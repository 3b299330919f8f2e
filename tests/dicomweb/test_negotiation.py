"""Content negotiation of WADO-RS (PS3.18 8.7.3): which representation each request gets."""

from __future__ import annotations

import pytest

from hounsfield.dicomweb.accept import parse_accept
from hounsfield.dicomweb.negotiation import choose_dicom, frame_options, plan_frames
from hounsfield.errors import NotAcceptable

ELE, RLE, JPEG_LS = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"
J2K, HTJ2K = "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201"


def _dicom(accept: str, *, single: bool = False):  # type: ignore[no-untyped-def]
    return choose_dicom(parse_accept([accept]), single_instance=single)


def test_instances_default_to_explicit_little_endian_and_star_keeps_what_is_stored() -> None:
    assert _dicom('multipart/related; type="application/dicom"').target_for(RLE) == ELE
    assert _dicom("*/*").target_for(RLE) == ELE
    star = _dicom('multipart/related; type="application/dicom"; transfer-syntax=*')
    assert star.target_for(RLE) == RLE
    # The stored syntax wins when it is among those accepted, whatever its q.
    choice = _dicom(f'multipart/related; type="application/dicom"; transfer-syntax={J2K}, '
                    f'multipart/related; type="application/dicom"; transfer-syntax={RLE};q=0.5')
    assert choice.target_for(RLE) == RLE
    assert choice.target_for(ELE) == J2K


def test_single_part_only_for_one_instance() -> None:
    assert not _dicom("application/dicom", single=True).multipart
    with pytest.raises(NotAcceptable):
        _dicom("application/dicom")
    with pytest.raises(NotAcceptable):
        _dicom("image/jpeg", single=True)


@pytest.mark.parametrize("accept, stored, expected", [
    ('multipart/related; type="application/octet-stream"', ELE, ("application/octet-stream", ELE, False)),
    ('multipart/related; type="application/octet-stream"', RLE, ("application/octet-stream", ELE, True)),
    ('multipart/related; type="application/octet-stream"; transfer-syntax=*', RLE,
     ("application/octet-stream", RLE, False)),
    ('multipart/related; type="image/jls"', JPEG_LS, ("image/jls", JPEG_LS, False)),
    (f'multipart/related; type="image/jls", multipart/related; type="application/octet-stream"; '
     f"transfer-syntax={ELE};q=0.4", RLE, ("application/octet-stream", ELE, True)),
    ("*/*", RLE, ("application/octet-stream", ELE, True)),
    ('multipart/related; type="image/*"', J2K, ("image/jp2", J2K, False)),
    ('multipart/related; type="image/jphc"', HTJ2K, ("image/jphc", HTJ2K, False)),
    ('multipart/related; type="image/*"', HTJ2K, ("image/jphc", HTJ2K, False)),
])
def test_frames(accept: str, stored: str, expected: tuple[str, str, bool]) -> None:
    plan = plan_frames(frame_options(parse_accept([accept])), stored)
    assert (plan.media_type, plan.transfer_syntax_uid, plan.decode) == expected


def test_frames_not_acceptable() -> None:
    with pytest.raises(NotAcceptable, match="1.2.840.10008.1.2.5"):
        plan_frames(frame_options(parse_accept(['multipart/related; type="image/jls"'])), RLE)
