"""Writing demo objects as DICOM Part 10 files, and making compressed variants.

Transfer syntaxes ``compress`` produces (checked with the plugins in pyproject.toml):

- Explicit / Implicit VR Little Endian, Deflated Explicit VR Little Endian: re-encoding only.
- RLE Lossless: pydicom's encoders (pylibjpeg-rle when installed, else pydicom's own).
- JPEG-LS Lossless and JPEG-LS Near-Lossless (``jls_error``, default 2): pyjpegls.
- JPEG 2000 Lossless and JPEG 2000 (``j2k_cr``, default [10]): pylibjpeg-openjpeg.
- JPEG Baseline (Process 1): 8-bit data only, frames encoded here with Pillow because
  pydicom has no JPEG encoder; colour becomes YBR_FULL_422 (PS3.5 8.2.1).
- JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1): GDCM
  (python-gdcm), which pydicom cannot use as an encoder.
- HTJ2K Lossless: OpenJPH through ``imagecodecs`` (BSD), a test extra
  (``pip install 'hounsfield[test]'``); without it the syntax raises ValueError.

JPEG Extended, JPEG Lossless with other predictors and lossy HTJ2K have no encoder and
raise ValueError.
"""

from __future__ import annotations

import copy
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from hounsfield.demo.common import demo_uid

NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                   DeflatedExplicitVRLittleEndian)
COMPRESSED_SYNTAXES = (RLELossless, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless,
                       JPEG2000, JPEGBaseline8Bit, JPEGLosslessSV1, HTJ2KLossless)
_LOSSY_METHOD = {JPEGLSNearLossless: "ISO_14495_1", JPEG2000: "ISO_15444_1",
                 JPEGBaseline8Bit: "ISO_10918_1"}


def to_bytes(ds: Dataset) -> bytes:
    """Return ``ds`` as a DICOM Part 10 file: preamble, "DICM", file meta (PS3.10 7.1)
    and the data set in the transfer syntax named by its file meta."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` as a Part 10 file at ``path`` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(to_bytes(ds))
    return target


def compress(ds: Dataset, transfer_syntax: str, *, keep_sop_instance_uid: bool = False,
             **options: Any) -> Dataset:
    """Return a copy of the native ``ds`` re-encoded in ``transfer_syntax``.

    A lossy copy is a new, derived image (PS3.3 C.7.6.1.1.5): it gets Image Type DERIVED
    and a new SOP Instance UID (derived from the old one and the syntax) unless
    ``keep_sop_instance_uid``, which suits objects born lossy (an ultrasound loop) or tests
    that compare variants. ``options`` go to pydicom's encoder (e.g. ``j2k_cr=[10]``,
    ``jls_error=3``); JPEG Baseline takes ``quality`` (Pillow's scale, default 90).
    """
    syntax = UID(transfer_syntax)
    current = UID(ds.file_meta.TransferSyntaxUID)
    if current.is_compressed:
        raise ValueError(f"Argument \"ds\" is already compressed ({current.name})")
    out = copy.deepcopy(ds)
    if syntax in NATIVE_SYNTAXES:
        out.file_meta.TransferSyntaxUID = syntax
        return out
    if "PixelData" not in ds:
        raise ValueError("Argument \"ds\" has no Pixel Data to compress")
    uncompressed_size = len(ds.PixelData)
    if syntax == JPEGBaseline8Bit:
        _jpeg_baseline(out, int(options.get("quality", 90)))
    elif syntax == JPEGLosslessSV1:
        _jpeg_lossless_sv1(out)
    elif syntax == HTJ2KLossless:
        _htj2k_lossless(out)
    elif syntax in (RLELossless, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000):
        if syntax == JPEGLSNearLossless:
            options.setdefault("jls_error", 2)
        if syntax == JPEG2000 and "j2k_psnr" not in options:
            options.setdefault("j2k_cr", [10])
        out.compress(syntax, generate_instance_uid=False, **options)
    else:
        raise ValueError(f"No encoder for transfer syntax {syntax} ({syntax.name}); "
                         f"use one of {', '.join(s.name for s in COMPRESSED_SYNTAXES)}")
    if syntax in _LOSSY_METHOD:
        out.LossyImageCompression = "01"
        out.LossyImageCompressionRatio = f"{uncompressed_size / max(len(out.PixelData), 1):.2f}"
        out.LossyImageCompressionMethod = _LOSSY_METHOD[syntax]
        if not keep_sop_instance_uid:
            uid = demo_uid("lossy", ds.SOPInstanceUID, syntax)
            out.SOPInstanceUID = uid
            out.file_meta.MediaStorageSOPInstanceUID = uid
            if "ImageType" in out:
                out.ImageType = ["DERIVED", *list(out.ImageType)[1:]]
            out.DerivationDescription = f"Lossy compression: {syntax.name}"
    return out


def _jpeg_baseline(ds: Dataset, quality: int) -> None:
    """Encode each frame of an 8-bit dataset with Pillow (JPEG Process 1)."""
    if ds.BitsAllocated != 8 or ds.get("PixelRepresentation", 0) != 0:
        raise ValueError("JPEG Baseline needs 8-bit unsigned pixels "
                         f"(BitsAllocated is {ds.BitsAllocated})")
    color = ds.SamplesPerPixel == 3
    if ds.PhotometricInterpretation not in ("RGB", "MONOCHROME2", "MONOCHROME1"):
        raise ValueError(f"Cannot JPEG-encode {ds.PhotometricInterpretation} data")
    encoded = []
    for frame in _frames(ds):
        buffer = io.BytesIO()
        # subsampling=1 is 4:2:2, which YBR_FULL_422 describes (PS3.3 C.7.6.3.1.2).
        Image.fromarray(frame, "RGB" if color else "L").save(
            buffer, "JPEG", quality=quality, **({"subsampling": 1} if color else {}))
        encoded.append(buffer.getvalue())
    _encapsulate(ds, encoded, JPEGBaseline8Bit)
    if color:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0


def _jpeg_lossless_sv1(ds: Dataset) -> None:
    """Encode with GDCM (JPEG Process 14, predictor 1). GDCM reads and writes files only,
    so the data set goes through a temporary folder; only its frames are kept."""
    import gdcm

    with tempfile.TemporaryDirectory(prefix="hounsfield-jpeg-") as folder:
        source, target = Path(folder, "native.dcm"), Path(folder, "sv1.dcm")
        write(ds, source)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(source))
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(target))
        if not reader.Read():
            raise ValueError("GDCM cannot read the data set to encode")
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise ValueError("GDCM cannot encode the data set as JPEG Lossless SV1")
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise ValueError("GDCM cannot write the JPEG Lossless SV1 data set")
        encoded = dcmread(target)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    _encapsulate(ds, list(generate_frames(encoded.PixelData, number_of_frames=frames)),
                 JPEGLosslessSV1)


def _htj2k_lossless(ds: Dataset) -> None:
    """Encode each frame with OpenJPH (reversible wavelet). Colour stays RGB: no
    multi-component transform, so the photometric interpretation need not change."""
    try:
        import imagecodecs
    except ImportError:
        raise ValueError("HTJ2K encoding needs the imagecodecs package "
                         "(pip install 'hounsfield[test]')") from None
    _encapsulate(ds, [bytes(imagecodecs.htj2k_encode(frame, reversible=True, rgb=False))
                      for frame in _frames(ds)], HTJ2KLossless)


def _frames(ds: Dataset) -> np.ndarray:
    """The native pixels of ``ds`` as frames (frames, rows, columns[, samples])."""
    pixels = ds.pixel_array
    return pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[np.newaxis]


def _encapsulate(ds: Dataset, frames: list[bytes], syntax: UID) -> None:
    """Make ``frames`` (one fragment each, with a Basic Offset Table) the Pixel Data."""
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax
