"""Rendering a frame to an 8-bit JPEG or PNG: WADO-RS rendered/thumbnail and WADO-URI.

Grayscale frames follow the pixel transformation sequence of PS3.4 N.2.1: Modality LUT
(PS3.3 C.11.1), VOI LUT (PS3.3 C.11.2) and the presentation inversion of MONOCHROME1
(PS3.3 C.7.6.3.1.2) or an INVERSE Presentation LUT Shape (PS3.3 C.11.6). Colour frames
are shown as RGB: YCbCr is converted, PALETTE COLOR goes through its palette (PS3.3
C.7.6.3.1.5). Source region and viewport come last (PS3.18 8.3.5.1.3).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, convert_color_space

from hounsfield.errors import HounsfieldError, InvalidRequest, NotAcceptable
from hounsfield.imaging.decode import DecodedFrame, load_frame
from hounsfield.imaging.frames import (
    NoPixelData,
    Source,
    frame_count,
    open_source,
    read_header,
)

# (center, width, function); function is LINEAR, LINEAR_EXACT or SIGMOID (PS3.3 C.11.2.1.3)
Window = tuple[float, float, str]
# (vw, vh) or (vw, vh, sx, sy, sw, sh); vw or vh may be None: chosen to keep aspect ratio
Viewport = Sequence[int | None]

RENDERED_MEDIA_TYPES = ("image/jpeg", "image/png")
DEFAULT_JPEG_QUALITY = 90
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def render(source: Dataset | Source, frame_index: int = 0, *,
           media_type: str = "image/jpeg",
           window: Window | None = None,
           viewport: Viewport | None = None,
           region: tuple[float, float, float, float] | None = None,
           quality: int | None = None,
           annotation: object = None) -> bytes:
    """Render one frame (0-based) of an image as JPEG or PNG bytes.

    ``window`` overrides the object's own VOI. ``viewport`` is PS3.18 8.3.5.1.3's
    ``vw,vh[,sx,sy,sw,sh]`` in pixels; ``region`` is WADO-URI's normalized
    ``x1,y1,x2,y2`` (PS3.18 chapter 9). ``annotation`` is accepted and ignored.
    """
    del annotation  # burned-in annotation is not offered (PS3.18 8.3.5.1.1 allows this)
    media_type = _check_media_type(media_type)
    quality = check_quality(quality)
    if window is not None:
        window = check_window(window)
    try:
        frame = load_frame(source, frame_index)
    except NoPixelData as exc:
        # No image, so no rendered media type can represent it: 406, not 404.
        raise NotAcceptable(f"{exc.message}: it cannot be rendered as {media_type}") from exc
    image = to_image(frame, window)
    if region is not None:
        image = _crop_normalized(image, region)
    if viewport is not None:
        image = apply_viewport(image, viewport, pixel_aspect_ratio(frame.header, frame_index))
    return encode(image, media_type, quality)


def thumbnail(source: Dataset | Source, size: int = 128) -> bytes:
    """A JPEG that fits in size x size, of the middle frame of a multi-frame image."""
    if size < 1:
        raise InvalidRequest(f'Argument "size" must be a positive integer, not {size}.')
    if isinstance(source, Dataset):
        count = frame_count(source)
    else:
        with open_source(source) as fp:
            count = frame_count(read_header(fp)[0])
    return render(source, count // 2, media_type="image/jpeg",
                  viewport=(size, size), quality=80)


# --- parameters (PS3.18 8.3.5.1) -------------------------------------------------------

def parse_window(text: str) -> Window:
    """Parse ``window=center,width[,function]`` (PS3.18 8.3.5.1.4)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise InvalidRequest(
            f'Parameter "window" must be center,width[,function], not "{text}".')
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidRequest(
            f'Parameter "window" must have numeric center and width, not "{text}".') from None
    function = parts[2] if len(parts) == 3 and parts[2] else "LINEAR"
    return check_window((center, width, function))


def parse_viewport(text: str) -> tuple[int | None, ...]:
    """Parse ``viewport=vw,vh[,sx,sy,sw,sh]`` (PS3.18 8.3.5.1.3); blanks mean defaults."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 6):
        raise InvalidRequest(
            f'Parameter "viewport" must be vw,vh or vw,vh,sx,sy,sw,sh, not "{text}".')
    try:
        values = tuple(int(p) if p else None for p in parts)
    except ValueError:
        raise InvalidRequest(
            f'Parameter "viewport" must hold integers, not "{text}".') from None
    check_viewport(values)
    return values


def parse_quality(text: str) -> int:
    """Parse ``quality`` (PS3.18 8.3.5.1.2): an integer from 1 to 100."""
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(
            f'Parameter "quality" must be an integer from 1 to 100, not "{text}".') from None
    return check_quality(value) or value


def check_window(window: Window) -> Window:
    center, width, function = window
    name = str(function).strip().upper().replace("-", "_")
    if name not in VOI_FUNCTIONS:
        raise InvalidRequest(f'Parameter "window" function must be one of linear, '
                             f'linear-exact or sigmoid, not "{function}".')
    minimum = 1.0 if name == "LINEAR" else 0.0
    if not (np.isfinite(center) and np.isfinite(width)) or width < minimum \
            or (minimum == 0.0 and width == 0):
        # PS3.3 C.11.2.1.2.1: width >= 1 for LINEAR, > 0 for LINEAR_EXACT and SIGMOID
        raise InvalidRequest(
            f'Parameter "window" width {width} is not allowed for function {name}.')
    return (float(center), float(width), name)


def check_viewport(viewport: Viewport) -> None:
    if len(viewport) not in (2, 6):
        raise InvalidRequest('Parameter "viewport" must have 2 or 6 values.')
    vw, vh = viewport[0], viewport[1]
    if vw is None and vh is None:
        raise InvalidRequest('Parameter "viewport" needs a width or a height.')
    for value in (vw, vh):
        if value is not None and not 1 <= value <= 16384:
            raise InvalidRequest(
                f'Parameter "viewport" sizes must be from 1 to 16384, not {value}.')
    if len(viewport) == 6:
        sw, sh = viewport[4], viewport[5]
        if sw == 0 or sh == 0:
            raise InvalidRequest('Parameter "viewport" source width and height must not '
                                 'be 0.')


def check_quality(quality: int | None) -> int | None:
    if quality is not None and not 1 <= int(quality) <= 100:
        raise InvalidRequest(
            f'Parameter "quality" must be an integer from 1 to 100, not {quality}.')
    return quality


def _check_media_type(media_type: str) -> str:
    value = media_type.split(";")[0].strip().lower()
    if value not in RENDERED_MEDIA_TYPES:
        raise NotAcceptable(f"Rendered media type {media_type!r} is not offered; "
                            f"use one of {', '.join(RENDERED_MEDIA_TYPES)}")
    return value


# --- pixels to an 8-bit image ---------------------------------------------------------

def to_image(frame: DecodedFrame, window: Window | None = None) -> Image.Image:
    """The displayable 8-bit image ('L' or 'RGB') of a decoded frame."""
    photometric = frame.photometric_interpretation.strip().upper()
    array = frame.array
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        if array.ndim != 2:
            raise HounsfieldError(f"A {photometric} frame must have one sample per pixel")
        gray = grayscale_to_8bit(array, frame.header, frame.frame_index, window,
                                 photometric=photometric)
        return Image.fromarray(gray)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(array, frame.header)[..., :3]
        return Image.fromarray(_to_8bit(rgb, 16 if rgb.dtype.itemsize > 1 else 8))
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        array = convert_color_space(array, photometric, "RGB")
        photometric = "RGB"
    # J2K decoders undo the multiple component transform (PS3.5 8.2.4): the result is RGB.
    if photometric in ("RGB", "YBR_ICT", "YBR_RCT"):
        if array.ndim != 3 or array.shape[-1] != 3:
            raise HounsfieldError(f"A {photometric} frame must have three samples per pixel")
        bits = int(frame.header.get("BitsStored") or array.dtype.itemsize * 8)
        return Image.fromarray(_to_8bit(array, bits))
    raise NotAcceptable(f"Photometric Interpretation {photometric} cannot be rendered")


def _to_8bit(array: np.ndarray, bits: int) -> np.ndarray:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    top = float(2 ** bits - 1)
    scaled = np.floor(np.clip(array.astype(np.float64), 0, top) * (255.0 / top) + 0.5)
    return np.ascontiguousarray(scaled.astype(np.uint8))


def grayscale_to_8bit(array: np.ndarray, header: Dataset, frame_index: int = 0,
                      window: Window | None = None, *,
                      photometric: str = "MONOCHROME2") -> np.ndarray:
    """Stored values -> Modality LUT -> VOI LUT -> presentation, as uint8 (PS3.4 N.2.1).

    Integer frames of up to 16 bits go through one lookup table over the frame's value
    range, which is both faster and identical to mapping every pixel.
    """
    modality = modality_lut(header, frame_index)
    invert = photometric == "MONOCHROME1" or \
        str(header.get("PresentationLUTShape", "")).upper() == "INVERSE"
    if array.dtype.kind in "iub" and array.dtype.itemsize <= 2:
        if array.dtype.kind == "b":
            array = array.view(np.uint8)
        low, high = int(array.min()), int(array.max())
        # Offsets from the minimum fit the same unsigned width (the range is < 2**bits),
        # so wrapping unsigned arithmetic gives the LUT index without widening.
        unsigned = array.view(f"u{array.dtype.itemsize}")
        mask = (1 << (8 * array.dtype.itemsize)) - 1
        index = unsigned - unsigned.dtype.type(low & mask) if low else unsigned
        values = modality(np.arange(low, high + 1, dtype=np.float64))
        present = values
        if window is None and values.size > 1:
            present = values[np.bincount(index.ravel(), minlength=values.size) > 0]
        lut = _voi(values, present, header, frame_index, window, invert)
        return np.take(lut, index)
    values = modality(array.astype(np.float64))
    finite = values[np.isfinite(values)]
    return np.ascontiguousarray(_voi(np.nan_to_num(values), finite, header, frame_index,
                                     window, invert))


def _voi(values: np.ndarray, present: np.ndarray, header: Dataset, frame_index: int,
         window: Window | None, invert: bool) -> np.ndarray:
    """Map modality values to 0..255 with the chosen VOI; ``present`` feeds min-max."""
    transform = voi_lut(header, frame_index, window)
    if transform is None:
        # No VOI in the request or the object: stretch the frame's range (min-max).
        low = float(present.min()) if present.size else 0.0
        high = float(present.max()) if present.size else 0.0
        if high > low:
            unit = _linear_exact(values, (low + high) / 2, high - low)
        else:
            unit = np.zeros_like(values)
    else:
        unit = transform(values)
    out = np.floor(np.clip(unit, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return 255 - out if invert else out


# --- Modality LUT (PS3.3 C.11.1) ------------------------------------------------------

def _functional_groups(header: Dataset, frame_index: int) -> list[Dataset]:
    """This frame's per-frame functional group item, then the shared one (PS3.3 C.7.6.16)."""
    groups: list[Dataset] = []
    per_frame = header.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame_index < len(per_frame):
        groups.append(per_frame[frame_index])
    shared = header.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    return groups


def modality_lut(header: Dataset, frame_index: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Stored values to modality values: LUT, rescale, or identity."""
    for group in _functional_groups(header, frame_index):
        items = group.get("PixelValueTransformationSequence")
        if items and "RescaleSlope" in items[0]:
            return _rescale(items[0])
    lut_items = header.get("ModalityLUTSequence")
    if lut_items:
        first, data, _ = _lut(lut_items[0], header)
        return lambda x: _apply_lut(x, first, data)
    return _rescale(header)


def _rescale(item: Dataset) -> Callable[[np.ndarray], np.ndarray]:
    slope = _number(item.get("RescaleSlope"), 1.0)
    intercept = _number(item.get("RescaleIntercept"), 0.0)
    if slope == 1.0 and intercept == 0.0:
        return lambda x: x
    return lambda x: x * slope + intercept


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if not isinstance(value, str | bytes) and hasattr(value, "__getitem__"):
        value = value[0]  # multi-valued: the first value is the default (PS3.3 C.11.2.1.2)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _lut(item: Dataset, header: Dataset) -> tuple[int, np.ndarray, int]:
    """(first mapped value, entries, bits) of a Modality or VOI LUT item (PS3.3 C.11.1.1)."""
    descriptor = [int(v) for v in item.LUTDescriptor]
    entries = descriptor[0] or 65536
    first, bits = descriptor[1], descriptor[2]
    if first > 32767 and (int(header.get("PixelRepresentation", 0) or 0) == 1
                          or item["LUTDescriptor"].VR == "SS"):
        first -= 65536  # PS3.3 C.11.1.1.1: signed when the input is signed
    raw = item.LUTData
    if isinstance(raw, bytes | bytearray):
        data = np.frombuffer(raw, dtype="<u2")
    else:
        data = np.asarray(raw if isinstance(raw, list | tuple) else [raw], dtype=np.float64)
    data = data[:entries].astype(np.float64)
    if data.size == 0:
        raise HounsfieldError("A LUT Data (0028,3006) holds no entries")
    return first, data, bits


def _apply_lut(x: np.ndarray, first: int, data: np.ndarray) -> np.ndarray:
    index = np.clip(np.rint(x - first), 0, data.size - 1).astype(np.intp)
    return data[index]


# --- VOI LUT (PS3.3 C.11.2) -----------------------------------------------------------

def voi_lut(header: Dataset, frame_index: int = 0,
            window: Window | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """Modality values to 0..1, or None when neither request nor object gives a VOI.

    Order: the requested window, the frame's Frame VOI LUT (enhanced objects), the first
    Window Center/Width with VOI LUT Function, the first VOI LUT Sequence item.
    """
    if window is not None:
        return _window_function(*check_window(window))
    sources = [group.get("FrameVOILUTSequence") for group in
               _functional_groups(header, frame_index)]
    candidates = [items[0] for items in sources if items] + [header]
    for item in candidates:
        found = _stored_window(item)
        if found is not None:
            return _window_function(*found)
    items = header.get("VOILUTSequence")
    if items:
        first, data, bits = _lut(items[0], header)
        # Some writers state fewer bits than the entries use; trust the entries then.
        top = float(2 ** max(bits, int(data.max()).bit_length()) - 1) or 1.0
        return lambda x: _apply_lut(x, first, data) / top
    return None


def _stored_window(item: Dataset) -> Window | None:
    if "WindowCenter" not in item or "WindowWidth" not in item:
        return None
    center = _number(item.WindowCenter, float("nan"))
    width = _number(item.WindowWidth, float("nan"))
    function = str(item.get("VOILUTFunction") or "LINEAR").upper()
    if function not in VOI_FUNCTIONS:
        function = "LINEAR"
    try:
        return check_window((center, width, function))
    except InvalidRequest:
        return None  # an unusable stored window falls through to the next VOI source


def _window_function(center: float, width: float,
                     function: str) -> Callable[[np.ndarray], np.ndarray]:
    if function == "LINEAR_EXACT":
        return lambda x: _linear_exact(x, center, width)
    if function == "SIGMOID":
        return lambda x: 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    return lambda x: _linear(x, center, width)


def _linear(x: np.ndarray, center: float, width: float) -> np.ndarray:
    # PS3.3 C.11.2.1.2.1
    if width <= 1.0:
        return (x > center - 0.5).astype(np.float64)
    return np.clip((x - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)


def _linear_exact(x: np.ndarray, center: float, width: float) -> np.ndarray:
    # PS3.3 C.11.2.1.3.2
    return np.clip((x - center) / width + 0.5, 0.0, 1.0)


# --- geometry and encoding ------------------------------------------------------------

def apply_viewport(image: Image.Image, viewport: Viewport,
                   pixel_aspect: float = 1.0) -> Image.Image:
    """Crop to the source region, flip for negative extents, and scale to fit the viewport
    preserving the aspect ratio (PS3.18 8.3.5.1.3).

    ``pixel_aspect`` is a pixel's height over its width; non-square pixels are stretched
    so that the picture keeps its physical proportions.
    """
    check_viewport(viewport)
    if len(viewport) == 6:
        image = _crop_pixels(image, viewport[2], viewport[3], viewport[4], viewport[5])
    vw, vh = viewport[0], viewport[1]
    width, height = image.size[0], image.size[1] * pixel_aspect
    scales = [s for s in ((vw / width) if vw else None, (vh / height) if vh else None)
              if s is not None]
    scale = min(scales)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def pixel_aspect_ratio(header: Dataset, frame_index: int = 0) -> float:
    """A pixel's height over its width: Pixel Aspect Ratio, else the pixel spacing
    (PS3.3 C.7.6.3.1.7, 10.7.1.3); 1 when unknown or nearly square."""
    ratio = 1.0
    spacing_items = [group.get("PixelMeasuresSequence") for group in
                     _functional_groups(header, frame_index)]
    spacings = [items[0].get("PixelSpacing") for items in spacing_items if items]
    spacings += [header.get("PixelSpacing"), header.get("ImagerPixelSpacing")]
    aspect = header.get("PixelAspectRatio")
    try:
        if aspect and len(aspect) == 2 and float(aspect[1]) > 0:
            ratio = float(aspect[0]) / float(aspect[1])
        else:
            spacing = next((s for s in spacings if s and len(s) == 2), None)
            if spacing and float(spacing[1]) > 0:
                ratio = float(spacing[0]) / float(spacing[1])
    except (TypeError, ValueError):
        return 1.0
    if not 0.01 < ratio < 100 or abs(ratio - 1.0) < 0.01:
        return 1.0
    return ratio


def _crop_pixels(image: Image.Image, sx: int | None, sy: int | None, sw: int | None,
                 sh: int | None) -> Image.Image:
    width, height = image.size
    x0 = sx or 0
    y0 = sy or 0
    x1 = x0 + sw if sw is not None else width
    y1 = y0 + sh if sh is not None else height
    flip_x, flip_y = x1 < x0, y1 < y0
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, width), min(bottom, height)
    if right <= left or bottom <= top:
        raise InvalidRequest('Parameter "viewport" source region lies outside the image.')
    image = image.crop((left, top, right, bottom))
    if flip_x:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip_y:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return image


def _crop_normalized(image: Image.Image,
                     region: tuple[float, float, float, float]) -> Image.Image:
    x1, y1, x2, y2 = region
    if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
        raise InvalidRequest('Parameter "region" must be x1,y1,x2,y2 with '
                             '0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1.')
    width, height = image.size
    box = (int(x1 * width), int(y1 * height), max(int(x1 * width) + 1, round(x2 * width)),
           max(int(y1 * height) + 1, round(y2 * height)))
    return image.crop(box)


def encode(image: Image.Image, media_type: str, quality: int | None = None) -> bytes:
    """JPEG (baseline, JFIF) or PNG bytes of an 8-bit image."""
    buffer = io.BytesIO()
    if media_type == "image/png":
        # Fast zlib level: rendered PNGs are sent once, and level 1 is ~5x faster than 6.
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="JPEG", quality=quality or DEFAULT_JPEG_QUALITY)
    return buffer.getvalue()
