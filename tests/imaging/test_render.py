"""Rendered images (PS3.18 8.3.5, PS3.4 N.2.1): the VOI maths at known pixels."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from imaging_synthetic import build_image
from hounsfield.errors import InvalidRequest, NotAcceptable, NotFound
from hounsfield.imaging.decode import decode_frame
from hounsfield.imaging.render import (
    parse_quality,
    parse_viewport,
    parse_window,
    render,
    thumbnail,
)

BLOCK = 8  # JPEG works on 8x8 blocks: flat blocks survive it almost exactly


def blocks(values: list[int], dtype=np.int16, per_row: int = 4) -> np.ndarray:
    """An image of flat 8x8 blocks, one per value, in raster order."""
    rows = math.ceil(len(values) / per_row)
    grid = np.zeros((rows, per_row), dtype=dtype)
    grid.flat[: len(values)] = values
    return np.kron(grid, np.ones((BLOCK, BLOCK), dtype=dtype)).astype(dtype)


def block_values(image: np.ndarray, count: int, per_row: int = 4) -> list:
    """The pixel at the centre of each block."""
    return [image[(i // per_row) * BLOCK + 4, (i % per_row) * BLOCK + 4].tolist()
            for i in range(count)]


def linear(x: float, c: float, w: float) -> int:
    # PS3.3 C.11.2.1.2.1, output range 0..255
    if x <= c - 0.5 - (w - 1) / 2:
        return 0
    if x > c - 0.5 + (w - 1) / 2:
        return 255
    return math.floor(((x - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5)


def linear_exact(x: float, c: float, w: float) -> int:
    # PS3.3 C.11.2.1.3.2
    if x <= c - w / 2:
        return 0
    if x > c + w / 2:
        return 255
    return math.floor(((x - c) / w + 0.5) * 255 + 0.5)


def sigmoid(x: float, c: float, w: float) -> int:
    # PS3.3 C.11.2.1.3.1
    return math.floor(255 / (1 + math.exp(-4 * (x - c) / w)) + 0.5)


def png(source, **kwargs) -> np.ndarray:
    data = render(source, media_type="image/png", **kwargs)
    assert data.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(data)))


def jpeg(source, **kwargs) -> np.ndarray:
    data = render(source, media_type="image/jpeg", **kwargs)
    assert data.startswith(b"\xff\xd8")
    return np.asarray(Image.open(io.BytesIO(data)))


STORED = [0, 500, 900, 1000, 1024, 1030, 1064, 1100, 1200, 1300, 1500, 3000]


def ct(**attributes) -> Dataset:
    """16-bit signed CT: HU = 2 * stored - 2048 (Modality LUT by rescale)."""
    attributes.setdefault("RescaleSlope", 2)
    attributes.setdefault("RescaleIntercept", -2048)
    return build_image(blocks(STORED), **attributes)


def hu(stored: int) -> float:
    return stored * 2 - 2048


def test_ct_window_from_the_object_png_exact(write_file):
    path = write_file(ct(WindowCenter=[40, 300], WindowWidth=[400, 1500]))
    image = png(path)
    assert image.shape == (24, 32)
    assert block_values(image, len(STORED)) == [linear(hu(s), 40, 400) for s in STORED]
    # the window puts the values in all three parts of the curve
    assert {0, 255} < set(block_values(image, len(STORED)))


def test_ct_window_jpeg_within_tolerance(write_file):
    path = write_file(ct(WindowCenter=40, WindowWidth=400))
    image = jpeg(path, quality=95)
    expected = [linear(hu(s), 40, 400) for s in STORED]
    assert np.abs(np.array(block_values(image, len(STORED))) - expected).max() <= 3


def test_requested_window_overrides_the_object(write_file):
    path = write_file(ct(WindowCenter=40, WindowWidth=400))
    image = png(path, window=(-600, 1200, "linear"))
    assert block_values(image, len(STORED)) == [linear(hu(s), -600, 1200) for s in STORED]


def test_linear_exact_and_sigmoid_functions(write_file):
    path = write_file(ct(WindowCenter=0, WindowWidth=700, VOILUTFunction="SIGMOID"))
    assert block_values(png(path), len(STORED)) == [sigmoid(hu(s), 0, 700) for s in STORED]
    exact = png(path, window=(100, 301, "linear-exact"))
    assert block_values(exact, len(STORED)) == [linear_exact(hu(s), 100, 301) for s in STORED]


def test_monochrome1_is_inverted(write_file):
    ds = ct(WindowCenter=40, WindowWidth=400)
    ds.PhotometricInterpretation = "MONOCHROME1"
    image = png(write_file(ds))
    assert block_values(image, len(STORED)) == [255 - linear(hu(s), 40, 400) for s in STORED]


def test_min_max_when_there_is_no_window(write_file):
    image = png(write_file(ct()))
    low, high = hu(min(STORED)), hu(max(STORED))
    expected = [linear_exact(hu(s), (low + high) / 2, high - low) for s in STORED]
    assert block_values(image, len(STORED)) == expected
    assert expected[0] == 0 and expected[-1] == 255


def test_voi_lut_sequence(write_file):
    ds = ct()
    item = Dataset()
    # 12-bit LUT over HU -1000..+999 (first value mapped -1000 is signed here: PS3.3
    # C.11.2.1.1), a simple ramp that is 0 below and 4095 above.
    item.add_new("LUTDescriptor", "US", [2000, (-1000) & 0xFFFF, 12])
    item.add_new("LUTData", "US", [round(i * 4095 / 1999) for i in range(2000)])
    ds.VOILUTSequence = [item]
    ds.PixelRepresentation = 1
    image = png(write_file(ds))

    def expected(value: float) -> int:
        index = int(min(max(value + 1000, 0), 1999))
        return math.floor(item.LUTData[index] / 4095 * 255 + 0.5)

    assert block_values(image, len(STORED)) == [expected(hu(s)) for s in STORED]


@pytest.mark.parametrize("vr", ["US", "OW"])
def test_modality_lut_sequence(write_file, vr):
    values = [0, 1, 2, 3, 4, 5, 6, 7]
    ds = build_image(blocks(values, np.uint16))
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [8, 0, 16])
    entries = [0, 100, 300, 700, 1500, 3100, 6300, 12700]
    item.add_new("LUTData", vr, entries if vr == "US" else np.array(entries, "<u2").tobytes())
    item.ModalityLUTType = "US"
    ds.ModalityLUTSequence = [item]
    ds.WindowCenter, ds.WindowWidth = 1000, 2000
    image = png(write_file(ds))
    assert block_values(image, 8) == [linear(v, 1000, 2000) for v in entries]


def test_rgb_is_shown_as_is(write_file):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(16, 24, 3)).astype(np.uint8)
    image = png(write_file(build_image(pixels, "RGB")))
    assert np.array_equal(image, pixels)


def test_rgb_planar_configuration_1(write_file):
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, size=(16, 24, 3)).astype(np.uint8)
    ds = build_image(pixels, "RGB")
    ds.PlanarConfiguration = 1
    ds.PixelData = np.moveaxis(pixels, -1, 0).tobytes()  # RRR...GGG...BBB (PS3.3 C.7.6.3.1.3)
    assert np.array_equal(png(write_file(ds)), pixels)


def test_ybr_full_is_converted_to_rgb(write_file):
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 150, 50]], np.uint8)
    pixels = np.kron(colours.reshape(2, 2, 3), np.ones((8, 8, 1), np.uint8))
    ds = build_image(convert_color_space(pixels, "RGB", "YBR_FULL"), "YBR_FULL")
    image = png(write_file(ds))
    assert np.abs(image.astype(int) - pixels).max() <= 2


def test_jpeg_stored_as_ybr_full_422(write_file):
    """JPEG baseline colour: the codec returns RGB while the header says YBR_FULL_422."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 150, 50]], np.uint8)
    pixels = np.kron(colours.reshape(2, 2, 3), np.ones((16, 16, 1), np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=95, subsampling=1)
    ds = build_image(pixels, "RGB")
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    image = png(write_file(ds))
    centres = [image[8, 8], image[8, 24], image[24, 8], image[24, 24]]
    assert np.abs(np.array(centres, int) - colours).max() <= 4


def test_palette_color(write_file):
    indices = blocks([0, 1, 2, 3], np.uint8)
    ds = build_image(indices, "PALETTE COLOR")
    red = [0, 65535, 0, 32896]
    green = [0, 0, 65535, 32896]
    blue = [65535, 0, 0, 32896]
    for colour, entries in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [4, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData",
                np.array(entries, "<u2").tobytes())
    image = png(write_file(ds))
    assert block_values(image, 4) == [[0, 0, 255], [255, 0, 0], [0, 255, 0], [128, 128, 128]]


def test_multi_frame_picks_the_frame(write_file):
    frames = np.stack([np.full((8, 8), v, np.uint16) for v in (100, 200, 300)])
    ds = build_image(frames, WindowCenter=200, WindowWidth=201)
    path = write_file(ds)
    for index, value in enumerate((100, 200, 300)):
        assert png(path, frame_index=index)[4, 4] == linear(value, 200, 201)
    with pytest.raises(NotFound, match="3 frames"):
        render(path, 3)


def test_compressed_multi_frame(write_file):
    frames = np.stack([np.full((8, 8), v, np.uint16) for v in (100, 200, 300)])
    ds = build_image(frames, WindowCenter=200, WindowWidth=201)
    ds.compress(RLELossless, generate_instance_uid=False)
    assert png(write_file(ds), frame_index=2)[0, 0] == linear(300, 200, 201) == 255
    # a Dataset works as well as a path
    assert png(ds, frame_index=0)[0, 0] == linear(100, 200, 201) == 1


def test_enhanced_multi_frame_uses_functional_groups(write_file):
    frames = np.stack([np.full((8, 8), 1000, np.uint16)] * 2)
    ds = build_image(frames)
    shared = Dataset()
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 1, -1000
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for center in (0, 100):
        item, voi = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 100
        item.FrameVOILUTSequence = [voi]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    path = write_file(ds)
    assert png(path, frame_index=0)[0, 0] == linear(0, 0, 100)
    assert png(path, frame_index=1)[0, 0] == linear(0, 100, 100) == 0


def test_viewport_keeps_the_aspect_ratio(write_file):
    path = write_file(build_image(np.zeros((32, 64), np.uint8)))
    assert Image.open(io.BytesIO(render(path, viewport=(100, 100)))).size == (100, 50)
    assert Image.open(io.BytesIO(render(path, viewport=(16, 200)))).size == (16, 8)
    assert Image.open(io.BytesIO(render(path, viewport=(None, 16)))).size == (32, 16)


def test_viewport_source_region_and_flip(write_file):
    quadrants = blocks([10, 20, 30, 40], np.uint8, per_row=2)  # 16x16, four 8x8 blocks
    path = write_file(build_image(quadrants, WindowCenter=127.5, WindowWidth=256))
    top_right = png(path, viewport=(8, 8, 8, 0, 8, 8))
    assert top_right.shape == (8, 8) and (top_right == linear(20, 127.5, 256)).all()
    flipped = png(path, viewport=(16, 16, 16, 0, -16, 16))
    assert flipped[0, 0] == linear(20, 127.5, 256) and flipped[15, 15] == linear(30, 127.5, 256)


def test_thumbnail_is_a_small_jpeg_of_the_middle_frame(write_file):
    frames = np.stack([np.full((300, 200), v, np.uint8) for v in (0, 255, 0)])
    path = write_file(build_image(frames, WindowCenter=127.5, WindowWidth=256))
    data = thumbnail(path)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (85, 128)
    assert np.asarray(image).min() >= 250


def test_one_bit_image(write_file):
    from pydicom.pixels import pack_bits

    pixels = np.zeros((2, 8, 8), np.uint8)
    pixels[1, :4] = 1
    ds = build_image(pixels)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = pack_bits(pixels)
    path = write_file(ds)
    assert np.array_equal(decode_frame(path, 1), pixels[1])
    image = png(path, frame_index=1)
    assert image[0, 0] == 255 and image[7, 7] == 0


def test_float_pixel_data(write_file):
    ds = build_image(np.zeros((4, 4), np.uint16))
    del ds.PixelData
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, None, None
    del ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    values = np.linspace(-1.0, 1.0, 16, dtype="<f4").reshape(4, 4)
    ds.FloatPixelData = values.tobytes()
    image = png(write_file(ds))
    assert image[0, 0] == 0 and image[3, 3] == 255


def test_unknown_syntax_cannot_be_rendered(write_file):
    ds = build_image(np.zeros((8, 8), np.uint8))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video
    with pytest.raises(NotAcceptable, match="1.2.840.10008.1.2.4.100"):
        render(write_file(ds))


def test_media_type_must_be_jpeg_or_png(write_file):
    path = write_file(build_image(np.zeros((8, 8), np.uint8)))
    with pytest.raises(NotAcceptable):
        render(path, media_type="image/gif")
    assert render(path, media_type="image/png; charset=binary").startswith(b"\x89PNG")


def test_parameters_are_parsed_and_checked():
    assert parse_window("40,400") == (40.0, 400.0, "LINEAR")
    assert parse_window("-600,1500,linear-exact") == (-600.0, 1500.0, "LINEAR_EXACT")
    assert parse_window("0,10,SIGMOID") == (0.0, 10.0, "SIGMOID")
    assert parse_viewport("512,256") == (512, 256)
    assert parse_viewport("512,256,10,20,-100,") == (512, 256, 10, 20, -100, None)
    assert parse_quality("75") == 75
    for bad in ("40", "a,400", "40,0", "40,0.5,linear", "40,400,cubic"):
        with pytest.raises(InvalidRequest, match='"window"'):
            parse_window(bad)
    for bad in ("512", "0,10", "1,2,3", "x,1"):
        with pytest.raises(InvalidRequest, match='"viewport"'):
            parse_viewport(bad)
    for bad in ("0", "101", "high"):
        with pytest.raises(InvalidRequest, match='"quality"'):
            parse_quality(bad)


def test_viewport_respects_non_square_pixels(write_file):
    # 0.5 mm rows, 1.0 mm columns: 40 x 40 pixels are 20 mm high and 40 mm wide.
    path = write_file(build_image(np.zeros((40, 40), np.uint8), PixelSpacing=[0.5, 1.0]))
    assert Image.open(io.BytesIO(render(path, viewport=(80, 80)))).size == (80, 40)
    # without a viewport, one pixel per value (PS3.18 8.3.5.1.3 and WADO-URI rows/columns)
    assert Image.open(io.BytesIO(render(path))).size == (40, 40)


def test_wado_uri_region_is_a_normalized_crop(write_file):
    quadrants = blocks([10, 20, 30, 40], np.uint8, per_row=2)
    path = write_file(build_image(quadrants, WindowCenter=127.5, WindowWidth=256))
    bottom_left = png(path, region=(0.0, 0.5, 0.5, 1.0))
    assert bottom_left.shape == (8, 8) and (bottom_left == linear(30, 127.5, 256)).all()
    with pytest.raises(InvalidRequest, match='"region"'):
        render(path, region=(0.5, 0.0, 0.2, 1.0))


def test_damaged_pixel_data_is_a_clear_error_not_a_crash(write_file):
    from pydicom.uid import JPEG2000Lossless

    from hounsfield.errors import HounsfieldError

    ds = build_image(np.zeros((32, 32), np.uint16))
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(range(256)) * 4])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    with pytest.raises(HounsfieldError, match="cannot be decoded") as caught:
        render(write_file(ds))
    assert caught.value.http_status == 500


def test_truncated_native_pixel_data(write_file):
    from hounsfield.errors import HounsfieldError

    path = write_file(build_image(np.zeros((3, 16, 16), np.uint16)))
    path.write_bytes(path.read_bytes()[:-600])
    with pytest.raises(HounsfieldError, match="truncated|too few"):
        render(path, 2)
    assert render(path, 0).startswith(b"\xff\xd8")  # the intact frames still render


def test_an_object_without_pixels_cannot_be_rendered(write_file):
    ds = build_image(np.zeros((4, 4), np.uint8))
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, keyword)
    path = write_file(ds)
    with pytest.raises(NotAcceptable, match="no pixel data"):
        render(path)
    with pytest.raises(NotAcceptable, match="no pixel data"):
        thumbnail(path)
