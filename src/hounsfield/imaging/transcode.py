"""Changing an object's transfer syntax: WADO-RS negotiation and the SCU's fallback.

Everything except what the new syntax requires is kept: private tags, UIDs (the SOP
Instance UID too, so a transcoded copy still answers to its identity), the preamble and
the file meta information. What changes: Pixel Data, Transfer Syntax UID, Photometric
Interpretation and Planar Configuration when the decoder or encoder needs them to, and
Lossy Image Compression (PS3.3 C.7.6.1.1.5) when the result is lossy.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import cache

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.pixels import get_encoder, pack_bits, pixel_array
from pydicom.pixels.utils import as_pixel_options
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pydicom.valuerep import VR

from hounsfield.errors import HounsfieldError, InvalidObject, NotAcceptable
from hounsfield.imaging.decode import (
    DecodedFrame,
    can_decode,
    decode_bytes,
    preferred_plugins,
)
from hounsfield.imaging.frames import (
    PIXEL_DATA_TAGS,
    Frame,
    Source,
    extract_frames,
    open_source,
    read_header,
    transfer_syntax_of,
)

NATIVE_TARGETS = frozenset({str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian),
                            str(DeflatedExplicitVRLittleEndian)})
# Compressed targets and the pydicom encoder that writes them. JPEG 2000 (.91) and
# JPEG-LS near-lossless (.81) are written losslessly: both syntaxes allow it (PS3.5
# A.4.4, A.4.3 with NEAR = 0), so nothing is lost when a peer only accepts those.
_PYDICOM_TARGETS = {
    str(RLELossless): RLELossless,
    str(JPEGLSLossless): JPEGLSLossless,
    str(JPEGLSNearLossless): JPEGLSNearLossless,
    str(JPEG2000Lossless): JPEG2000Lossless,
    str(JPEG2000): JPEG2000Lossless,
}
# 8-bit JPEG written with Pillow (libjpeg): baseline, a valid process 2 stream as well.
_JPEG_TARGETS = frozenset({str(JPEGBaseline8Bit), str(JPEGExtended12Bit)})
DEFAULT_JPEG_QUALITY = 90
# Syntaxes whose streams are lossy by definition (JPEG processes 1, 2 and 4); JPEG-LS
# near-lossless and JPEG 2000 may be either, so they say nothing on their own.
_ALWAYS_LOSSY = frozenset({str(JPEGBaseline8Bit), str(JPEGExtended12Bit)})
# Photometric interpretations an 8-bit JPEG can carry, with their samples per pixel.
_JPEG_PHOTOMETRIC = {"MONOCHROME1": 1, "MONOCHROME2": 1, "RGB": 3, "YBR_FULL": 3,
                     "YBR_FULL_422": 3}
# openjpeg encodes 6 resolution levels, so each side needs at least 2**5 pixels.
_J2K_MIN_SIDE = 32


@cache
def encodable_transfer_syntaxes() -> frozenset[str]:
    """Targets this installation can write pixel data in."""
    found = set(NATIVE_TARGETS) | _JPEG_TARGETS
    for uid, encoder_uid in _PYDICOM_TARGETS.items():
        try:
            if get_encoder(encoder_uid).is_available:
                found.add(uid)
        except NotImplementedError:
            continue
    return frozenset(found)


def can_transcode(source_transfer_syntax_uid: str, target_transfer_syntax_uid: str) -> bool:
    """Whether objects in the source syntax can generally be rewritten in the target.

    Data-dependent limits still apply in ``transcode`` (JPEG baseline needs 8-bit
    unsigned samples; JPEG 2000 needs at least 32x32 pixels).
    """
    source, target = str(source_transfer_syntax_uid), str(target_transfer_syntax_uid)
    if source == target:
        return True
    return can_decode(source) and target in encodable_transfer_syntaxes()


def limitation(header: Dataset, target_transfer_syntax_uid: str) -> str | None:
    """Why this image cannot be written in the target syntax, or None if it can.

    Checks what the header decides (bit depth, size, photometric interpretation); the
    syntax-level check is ``can_transcode``.
    """
    target = UID(str(target_transfer_syntax_uid))
    if str(target) in NATIVE_TARGETS or "Rows" not in header:
        return None
    if "FloatPixelData" in header or "DoubleFloatPixelData" in header:
        return f"Float pixel data cannot be compressed to {target.name}"
    bits_allocated = int(header.get("BitsAllocated") or 0)
    if bits_allocated == 1:
        return f"1-bit pixel data cannot be compressed to {target.name}"
    if str(target) in _JPEG_TARGETS:
        if bits_allocated != 8 or int(header.get("PixelRepresentation") or 0) != 0:
            return (f"{target.name} holds 8-bit unsigned samples only; this image has Bits "
                    f"Allocated {bits_allocated} and Pixel Representation "
                    f"{header.get('PixelRepresentation', 0)}")
        photometric = str(header.get("PhotometricInterpretation", ""))
        if photometric not in _JPEG_PHOTOMETRIC:
            return f"{target.name} cannot hold {photometric} pixel data"
    if _PYDICOM_TARGETS.get(str(target)) == JPEG2000Lossless:
        rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
        if min(rows, columns) < _J2K_MIN_SIDE:
            return (f"{target.name} needs images of at least {_J2K_MIN_SIDE}x{_J2K_MIN_SIDE} "
                    f"pixels; this one is {columns}x{rows}")
    return None


def choose_transfer_syntax(source_transfer_syntax_uid: str, acceptable: Iterable[str],
                           header: Dataset | None = None) -> str | None:
    """The syntax to send an object in, given what the receiver accepts, in its order.

    The stored syntax when accepted (or ``*``); else the first acceptable syntax this
    server can produce, lossless ones before lossy ones; None when there is none. With
    ``header``, syntaxes this particular image cannot be written in are skipped.
    """
    source = str(source_transfer_syntax_uid)
    offered = [str(uid) for uid in acceptable]
    if source in offered or "*" in offered:
        return source
    candidates = [uid for uid in offered if can_transcode(source, uid)
                  and (header is None or limitation(header, uid) is None)]
    lossless = [uid for uid in candidates if uid not in _ALWAYS_LOSSY]
    chosen = lossless or candidates
    return chosen[0] if chosen else None


def transcode(source: Source, target_transfer_syntax_uid: str, *,
              jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """The object rewritten in the target transfer syntax, as Part 10 bytes.

    Returns the input unchanged when it is already in the target syntax. Raises
    NotAcceptable when the target cannot be produced from this object.
    """
    data = _read_bytes(source)
    try:
        ds = dcmread(io.BytesIO(data))
    except Exception as exc:  # pydicom raises many types for damaged input
        raise InvalidObject(f"Not a readable DICOM Part 10 object: {exc}") from exc
    source_uid = transfer_syntax_of(ds)
    target = UID(str(target_transfer_syntax_uid))
    if source_uid == target:
        return data
    if not target.is_transfer_syntax:
        raise NotAcceptable(f"{target} is not a transfer syntax known to this server")
    if source_uid == ExplicitVRBigEndian:
        _big_endian_to_little(ds)
    pixel_tag = next((tag for tag in PIXEL_DATA_TAGS if tag in ds), None)
    if pixel_tag is None:
        # No pixel data: every syntax encodes the rest as its VR/endianness says (PS3.5
        # A.4), so only the Transfer Syntax UID changes.
        if target != ExplicitVRBigEndian and target.is_little_endian:
            return _write(ds, target)
        raise NotAcceptable(f"Cannot write {target.name}")
    if str(target) not in encodable_transfer_syntaxes():
        raise NotAcceptable(
            f"Cannot produce {target} ({target.name}): this server writes "
            f"{', '.join(sorted(encodable_transfer_syntaxes()))}")
    reason = limitation(ds, target)
    if reason:
        raise NotAcceptable(reason)
    if source_uid.is_encapsulated:
        _decompress(ds, source_uid)
    if str(target) in NATIVE_TARGETS:
        return _write(ds, target)
    if str(target) in _JPEG_TARGETS:
        _compress_jpeg(ds, target, jpeg_quality)
    else:
        _compress_pydicom(ds, target)
    return _write(ds, target)


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    with open(source, "rb") as fp:
        return fp.read()


def _write(ds: Dataset, target: UID) -> bytes:
    ds.file_meta.TransferSyntaxUID = target
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:
        raise HounsfieldError(f"Cannot write the object as {target.name}: {exc}") from exc
    return buffer.getvalue()


def _big_endian_to_little(ds: Dataset) -> None:
    """Retired Explicit VR Big Endian (PS3.5 A.3): hold every value decoded, so that it
    is written again in little endian, and swap the pixel data's bytes."""
    for _ in ds.iterall():
        pass  # reading each element decodes it from the raw big endian bytes
    tag = next((t for t in PIXEL_DATA_TAGS if t in ds), None)
    if tag is not None and int(ds.get("BitsAllocated", 8)) > 8:
        width = int(ds.BitsAllocated) // 8
        raw = ds[tag].value
        ds[tag].value = np.frombuffer(raw, dtype=f">u{width}").astype(f"<u{width}").tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True)


def _decompress(ds: Dataset, source_uid: UID) -> None:
    if not can_decode(source_uid):
        raise NotAcceptable(f"Pixel data in {source_uid} ({source_uid.name}) cannot be "
                            "decoded, so it cannot be transcoded")
    errors = []
    for plugin in preferred_plugins(source_uid):
        try:
            # decompress changes the data set only once every frame is decoded
            ds.decompress(as_rgb=True, generate_instance_uid=False, decoding_plugin=plugin)
            break
        except Exception as exc:  # codecs raise many types on damaged streams
            errors.append(f"{plugin}: {exc}")
    else:
        raise HounsfieldError(f"Cannot decode the {source_uid.name} pixel data: "
                              f"{'; '.join(errors)}")
    if str(source_uid) in _ALWAYS_LOSSY and ds.get("LossyImageCompression") != "01":
        # PS3.3 C.7.6.1.1.5: once lossy compressed, always flagged as such.
        ds.LossyImageCompression = "01"


def _compress_pydicom(ds: Dataset, target: UID) -> None:
    encoder_uid = _PYDICOM_TARGETS[str(target)]
    jls_error = 0 if encoder_uid == JPEGLSNearLossless else None
    try:
        ds.compress(encoder_uid, generate_instance_uid=False, jls_error=jls_error)
    except (ValueError, RuntimeError) as exc:
        raise NotAcceptable(f"Cannot compress this image to {target.name}: {exc}") from exc
    ds.file_meta.TransferSyntaxUID = target


def _compress_jpeg(ds: Dataset, target: UID, quality: int) -> None:
    """8-bit JPEG (PS3.5 A.4.1) through Pillow; RGB becomes YBR_FULL_422 (PS3.5 8.2.1)."""
    samples = int(ds.get("SamplesPerPixel", 1))
    photometric = str(ds.PhotometricInterpretation)
    if samples != _JPEG_PHOTOMETRIC.get(photometric):
        raise NotAcceptable(f"{target.name} cannot hold {photometric} pixel data with "
                            f"{samples} samples per pixel")
    frames = pixel_array(ds, raw=True)  # raw: colour stays as stored, converted below
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if count == 1:
        frames = frames[np.newaxis]
    if samples == 3 and photometric != "RGB":
        frames = convert_color_space(frames, photometric, "RGB")
    encoded = [_jpeg_frame(frame, quality) for frame in frames]
    uncompressed = len(frames) * int(ds.Rows) * int(ds.Columns) * samples
    total = sum(len(frame) for frame in encoded)
    if total + 8 * len(encoded) > 2**32 - 1:
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = \
            encapsulate_extended(encoded)
    else:
        ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = VR.OB
    ds["PixelData"].is_undefined_length = True
    if samples == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
    _mark_lossy(ds, uncompressed / max(total, 1), "ISO_10918_1")
    ds.file_meta.TransferSyntaxUID = target


def _jpeg_frame(frame: np.ndarray, quality: int) -> bytes:
    """One 8-bit grayscale or RGB frame as a JPEG baseline stream."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(frame))  # uint8: "L" or "RGB"
    # subsampling 1 is 4:2:2, what YBR_FULL_422 describes (PS3.3 C.7.6.3.1.2).
    image.save(buffer, format="JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def _mark_lossy(ds: Dataset, ratio: float, method: str) -> None:
    """PS3.3 C.7.6.1.1.5: flag lossy compression and append this step's ratio and method."""
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*_values(ds, "LossyImageCompressionRatio"),
                                     f"{ratio:.2f}"[:16]]
    ds.LossyImageCompressionMethod = [*_values(ds, "LossyImageCompressionMethod"), method]


def _values(ds: Dataset, keyword: str) -> list[object]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


# --- single frames (WADO-RS frames with a transfer-syntax parameter) ------------------

def transcode_frames(source: Source, frame_numbers: list[int],
                     target_transfer_syntax_uid: str, *,
                     jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> list[Frame]:
    """The requested frames (1-based) encoded in the target syntax (PS3.18 8.7.3).

    Frames already in the target syntax come back as stored. Uncompressed targets give
    little-endian native bytes labelled Explicit VR Little Endian; colour frames decoded
    from YCbCr JPEG are RGB, interleaved (Planar Configuration 0).
    """
    target = UID(str(target_transfer_syntax_uid))
    if target == ImplicitVRLittleEndian:
        target = ExplicitVRLittleEndian  # the same frame bytes (PS3.5 8.1.1)
    stored = extract_frames(source, frame_numbers)
    if all(frame.transfer_syntax_uid == target for frame in stored):
        return stored
    if str(target) not in encodable_transfer_syntaxes() or \
            target == DeflatedExplicitVRLittleEndian:
        raise NotAcceptable(f"Cannot produce frames in {target} ({target.name})")
    with open_source(source) as fp:
        header, _ = read_header(fp)
    result = []
    for number, frame in zip(frame_numbers, stored):
        if frame.transfer_syntax_uid == target:
            result.append(frame)
            continue
        decoded = _decode_stored_frame(frame, header, number - 1)
        result.append(Frame(_encode_frame(decoded, target, jpeg_quality), str(target)))
    return result


def _decode_stored_frame(frame: Frame, header: Dataset, index: int) -> DecodedFrame:
    uid = UID(frame.transfer_syntax_uid)
    if not can_decode(uid):
        raise NotAcceptable(f"Pixel data in {uid} ({uid.name}) cannot be decoded, so its "
                            "frames cannot be transcoded")
    data = encapsulate([frame.data]) if uid.is_encapsulated else frame.data
    return decode_bytes(data, header, uid, index)


def _encode_frame(frame: DecodedFrame, target: UID, jpeg_quality: int) -> bytes:
    array, header = frame.array, frame.header
    if target == ExplicitVRLittleEndian:
        if int(header.BitsAllocated) == 1:
            return pack_bits(array, pad=False)
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    reason = limitation(header, target)
    if reason:
        raise NotAcceptable(reason)
    if str(target) in _JPEG_TARGETS:
        if frame.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2", "RGB"):
            raise NotAcceptable(f"{target.name} cannot hold "
                                f"{frame.photometric_interpretation} pixel data")
        return _jpeg_frame(array, jpeg_quality)
    encoder_uid = _PYDICOM_TARGETS[str(target)]
    options = as_pixel_options(header, number_of_frames=1, planar_configuration=0,
                               photometric_interpretation=frame.photometric_interpretation)
    options.pop("extended_offsets", None)
    if encoder_uid == JPEGLSNearLossless:
        options["jls_error"] = 0
    try:
        return bytes(get_encoder(encoder_uid).encode(array, **options))
    except (ValueError, RuntimeError) as exc:
        raise NotAcceptable(f"Cannot compress this frame to {target.name}: {exc}") from exc
