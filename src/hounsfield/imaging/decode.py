"""Decoding one frame to a numpy array through pydicom's pixel backends.

Installed backends (pydicom 3 plugins): pylibjpeg with openjpeg and rle, pyjpegls,
python-gdcm and Pillow. Only the header and the requested frame are read from a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import UID, AllTransferSyntaxes, ExplicitVRLittleEndian, JPEGExtended12Bit

from hounsfield.errors import HounsfieldError, NotAcceptable, NotFound
from hounsfield.imaging.frames import (
    PIXEL_DATA_TAGS,
    NoPixelData,
    Source,
    encapsulated_frame,
    frames_from_whole,
    native_frame,
    frame_count,
    open_source,
    read_header,
    transfer_syntax_of,
)


# PS3.5 leaves codecs to implementations; this one is only trusted with well-formed data.
_LAST_RESORT_PLUGINS = frozenset({"gdcm"})
# Among the others, the most complete codecs first (Pillow has no signed or >16-bit J2K).
_PLUGIN_RANK = {"pylibjpeg": 0, "pyjpegls": 0, "pydicom": 1, "pillow": 2}


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame with the header it came from.

    ``photometric_interpretation`` describes ``array`` as returned, which differs from the
    header's when the decoder converted YCbCr to RGB (JPEG baseline, YBR_FULL[_422]).
    """

    array: np.ndarray
    header: Dataset
    photometric_interpretation: str
    frame_index: int


@cache
def decodable_transfer_syntaxes() -> frozenset[str]:
    """Transfer syntaxes with at least one installed decoder."""
    found = set()
    for uid in AllTransferSyntaxes:
        try:
            if get_decoder(uid).is_available:
                found.add(str(uid))
        except NotImplementedError:
            continue
    return frozenset(found)


def can_decode(transfer_syntax_uid: str) -> bool:
    return str(transfer_syntax_uid) in decodable_transfer_syntaxes()


def decode_frame(source: Dataset | Source, frame_index: int) -> np.ndarray:
    """Decoded pixels of one frame (0-based): (rows, columns) or (rows, columns, samples).

    YCbCr is converted to RGB; other values are the stored values (no Modality LUT).
    """
    return load_frame(source, frame_index).array


def load_frame(source: Dataset | Source, frame_index: int) -> DecodedFrame:
    """Decode one frame (0-based) and keep its header for the rendering pipeline."""
    if isinstance(source, Dataset):
        return _load_from_dataset(source, frame_index)
    with open_source(source) as fp:
        header, location = read_header(fp)
        count = _check_index(header, frame_index)
        transfer_syntax_uid = transfer_syntax_of(header)
        _require_decoder(transfer_syntax_uid)
        if location is None:
            frame = frames_from_whole(fp, header, transfer_syntax_uid, [frame_index + 1])[0]
            data = frame.data
        elif location.is_encapsulated:
            data = encapsulated_frame(fp, header, location, frame_index, count)
        else:
            data = native_frame(fp, header, location, frame_index)
    if transfer_syntax_uid.is_encapsulated:
        return decode_bytes(encapsulate([data]), header, transfer_syntax_uid, frame_index)
    return decode_bytes(data, header, ExplicitVRLittleEndian, frame_index, float_tag=(
        location.tag if location is not None else None))


def _check_index(ds: Dataset, frame_index: int) -> int:
    count = frame_count(ds)
    if count == 0:
        raise NoPixelData("The instance has no pixel data")
    if not 0 <= frame_index < count:
        raise NotFound(f"Frame {frame_index + 1} does not exist: the instance has {count} "
                       f"frame{'s' if count != 1 else ''}")
    return count


def preferred_plugins(transfer_syntax_uid: str) -> list[str]:
    """Installed decoding plugins for a syntax, in the order they are tried.

    GDCM aborts the whole process on some damaged streams (an uncaught C++ exception)
    where the others raise an error, so it is used only where nothing else can decode:
    JPEG Lossless, and 12-bit JPEG Extended which Pillow cannot read. Run decoding in
    the RenderPool, where such a crash costs one worker and one request.
    """
    uid = UID(str(transfer_syntax_uid))
    plugins = sorted(get_decoder(uid).available_plugins,
                     key=lambda name: (_PLUGIN_RANK.get(name, len(_PLUGIN_RANK)), name))
    safe = [name for name in plugins if name not in _LAST_RESORT_PLUGINS]
    if safe and uid != JPEGExtended12Bit:
        return safe
    return safe + [name for name in plugins if name in _LAST_RESORT_PLUGINS]


def _as_array(decoder: Any, transfer_syntax_uid: UID, frame_index: int, src: Any,
              **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """decoder.as_array trying the plugins in the preferred order."""
    plugins = preferred_plugins(transfer_syntax_uid) if transfer_syntax_uid.is_compressed \
        else [""]
    errors = []
    for plugin in plugins:
        try:
            array, meta = decoder.as_array(src, as_rgb=True, decoding_plugin=plugin, **kwargs)
            return array, meta
        except Exception as exc:  # codecs raise many types on damaged streams
            errors.append(f"{plugin or 'pydicom'}: {exc}")
    raise HounsfieldError(f"Frame {frame_index + 1} cannot be decoded "
                          f"({transfer_syntax_uid.name}): {'; '.join(errors)}")


def _require_decoder(transfer_syntax_uid: UID) -> Any:
    try:
        decoder = get_decoder(transfer_syntax_uid)
    except NotImplementedError:
        raise NotAcceptable(
            f"Pixel data in transfer syntax {transfer_syntax_uid} "
            f"({transfer_syntax_uid.name}) cannot be decoded: no decoder supports it"
        ) from None
    if not decoder.is_available:
        raise NotAcceptable(
            f"Pixel data in transfer syntax {transfer_syntax_uid} "
            f"({transfer_syntax_uid.name}) cannot be decoded: no decoding plugin installed"
        )
    return decoder


def _load_from_dataset(ds: Dataset, frame_index: int) -> DecodedFrame:
    _check_index(ds, frame_index)
    if not any(tag in ds for tag in PIXEL_DATA_TAGS):
        raise NoPixelData("The data set holds no pixel data")
    transfer_syntax_uid = transfer_syntax_of(ds)
    decoder = _require_decoder(transfer_syntax_uid)
    array, meta = _as_array(decoder, transfer_syntax_uid, frame_index, ds, index=frame_index)
    return DecodedFrame(array, ds, str(meta.get("photometric_interpretation")), frame_index)


def decode_bytes(data: bytes, header: Dataset, transfer_syntax_uid: UID, frame_index: int,
                  float_tag: int | None = None) -> DecodedFrame:
    """Decode one frame's bitstream (native little endian bytes, or the frame's
    encapsulated fragments) given the header's Image Pixel attributes."""
    decoder = _require_decoder(transfer_syntax_uid)
    options = as_pixel_options(header, number_of_frames=1)
    options.pop("extended_offsets", None)
    options["pixel_keyword"] = {0x7FE00008: "FloatPixelData",
                                0x7FE00009: "DoubleFloatPixelData"}.get(float_tag or 0,
                                                                       "PixelData")
    array, meta = _as_array(decoder, transfer_syntax_uid, frame_index, data, index=0,
                            **options)
    return DecodedFrame(array, header, str(meta.get("photometric_interpretation")),
                        frame_index)
