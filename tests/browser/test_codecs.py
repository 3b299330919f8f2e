"""The viewer decodes the compressed transfer syntaxes an archive receives: JPEG Baseline,
JPEG Lossless SV1, JPEG 2000 (lossless and lossy), JPEG-LS near-lossless, HTJ2K and RLE.
What it draws is the stored image as pydicom decodes it (test_viewer.py covers native, RLE
of unsigned 12-bit data and JPEG-LS lossless)."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset
from pydicom.uid import (
    JPEG2000,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSNearLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
)
from test_viewer import (
    expected_grey,
    open_viewer,
    pixel_centres_on_canvas,
    shown_instance,
    viewport_selector,
)

from hounsfield.demo import Patient, Study, compress, ct_volume, us_multiframe, write
from hounsfield.demo.common import set_pixels

pytestmark = pytest.mark.browser

SLICES, SIZE = 4, 96
# Name -> transfer syntax. The "ct" series are signed 16-bit (intercept 0), where a decoder
# that loses the sign turns air into bone; "ct12" is unsigned with 12 of 16 bits stored, as
# most scanners send; "sc8" is 8-bit, as JPEG Baseline needs.
VARIANTS = {
    "sc8_jpeg_baseline": JPEGBaseline8Bit,
    "ct_jpeg_lossless_sv1": JPEGLosslessSV1,
    "ct12_jpeg_lossless_sv1": JPEGLosslessSV1,
    "ct_j2k_lossless": JPEG2000Lossless,
    "ct_j2k_lossy": JPEG2000,
    "ct_jpegls_near": JPEGLSNearLossless,
    "ct_htj2k_lossless": HTJ2KLossless,
    "ct_rle_signed": RLELossless,
}
# An ultrasound loop as scanners store it: JPEG Baseline frames in YBR_FULL_422.
COLOUR = "us_jpeg_baseline"


def eight_bit(ds: Dataset) -> Dataset:
    """``ds`` (a CT slice) as an 8-bit MONOCHROME2 secondary capture of its soft-tissue
    window, keeping its geometry: grey = (HU + 160) * 255 / 400."""
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    grey = np.clip(np.rint((hu + 160) * 255 / 400), 0, 255).astype(np.uint8)
    set_pixels(ds, grey, photometric="MONOCHROME2", bits_stored=8)
    for keyword in ("RescaleIntercept", "RescaleSlope", "RescaleType",
                    "WindowCenterWidthExplanation"):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.WindowCenter, ds.WindowWidth = 127.5, 256.0
    return ds


def stored_series(name: str, syntax: str, patient: Patient, study: Study) -> list[Dataset]:
    """The files of phantom ``name``, in ``syntax``."""
    if name == COLOUR:
        return [us_multiframe(patient, study, frames=SLICES, rows=SIZE, columns=SIZE)]
    slices = ct_volume(patient, study, slices=SLICES, rows=SIZE, columns=SIZE,
                       signed=name.startswith("ct_"), series_description=name)
    return [compress(eight_bit(ds) if name.startswith("sc8") else ds, syntax) for ds in slices]


@pytest.fixture(scope="module")
def codec_phantoms(server, tmp_path_factory):
    """One small study per transfer syntax, imported into the running server."""
    patient = Patient("Kodek^Clara", "BT010", "19750303", "F")
    folder = tmp_path_factory.mktemp("codec-phantoms")
    template = server.phantoms["ct_native"]
    phantoms = {}
    for number, (name, syntax) in enumerate([*VARIANTS.items(), (COLOUR, JPEGBaseline8Bit)],
                                            start=1):
        study = Study.create(patient, "20240301", f"Codec {name}", seed=11, number=number,
                             study_time="101500", institution_name="North Clinic")
        files = stored_series(name, syntax, patient, study)
        for ds in files:
            write(ds, folder / name / f"{ds.InstanceNumber:04d}.dcm")
        phantoms[name] = dataclasses.replace(
            template, study_uid=study.study_instance_uid, series_uid=files[0].SeriesInstanceUID,
            slices=SLICES, rows=SIZE, pixel_spacing=float(files[0].get("PixelSpacing", [1])[0]),
            folder=folder / name)
    server.cli("import", "--quiet", "--workers", "1", str(folder))
    return phantoms


def outside_neighbourhood(shown: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """How far (grey levels) each drawn pixel centre lies outside the range of the expected
    values of that pixel and its eight neighbours. Drawing interpolates between neighbouring
    pixels, so a correctly decoded image stays within that range wherever it is sampled
    near the centre; a wrong value does not. Around the image the canvas is black."""
    padded = np.pad(expected, 1)
    rows, columns = expected.shape
    around = np.stack([padded[1 + dy:1 + dy + rows, 1 + dx:1 + dx + columns]
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return np.maximum(np.maximum(around.min(axis=0) - shown, shown - around.max(axis=0)), 0)


def frame_responses(tab) -> list:
    """The frame responses the page receives from now on (filled as they arrive)."""
    responses: list = []
    tab.page.on("response", lambda r: "/frames/" in r.url and responses.append(r))
    return responses


def assert_sent_as_stored(responses: list, syntax: str, count: int) -> None:
    """``count`` frames came compressed as stored, so the page decoded them: each part of a
    frame response names its transfer syntax (PS3.18 8.7.3.5.2)."""
    assert len({response.url for response in responses}) == count
    for response in responses:
        assert re.search(rf'transfer-syntax="?{re.escape(syntax)}"?[;\r]'.encode(), response.body())


def assert_shows_stored_image(tab, server, phantom, tolerance: float = 1) -> Dataset:
    """The active viewport shows the image of ``phantom`` it has loaded, as pydicom decodes
    the stored file, under the viewport's VOI; the file is returned."""
    ds = shown_instance(tab, server, phantom)
    xs, ys = pixel_centres_on_canvas(tab, ds)
    shown = tab.grey(viewport_selector(tab.hf("hf.viewer.getActiveViewportId()")))
    inside = (xs >= 0) & (ys >= 0) & (xs < shown.shape[1] - 1) & (ys < shown.shape[0] - 1)
    assert inside.all(), "the image does not fit in the viewport"
    sampled = shown[np.rint(ys).astype(int), np.rint(xs).astype(int)]
    expected = expected_grey(ds, tab.hf("hf.getVOI()"))
    # The phantom as a whole: bright where the body is, black around it.
    assert expected.std() > 30
    assert sampled[expected < 1].mean() < 10 and sampled[expected > 100].mean() > 90
    # Pixel for pixel, within what drawing between pixel centres can change.
    assert outside_neighbourhood(sampled, expected).max() <= tolerance
    return ds


@pytest.mark.parametrize("name", list(VARIANTS))
def test_compressed_image_is_shown_as_stored(server, codec_phantoms, tab, name):
    phantom = codec_phantoms[name]
    frames = frame_responses(tab)
    open_viewer(tab, phantom)
    assert tab.hf("hf.viewer.getImageCount()") == phantom.slices
    assert_sent_as_stored(frames, VARIANTS[name], phantom.slices)
    # A lossy image is compared with its own decoded pixels, which another decoder gives
    # back within the rounding of its transform.
    lossy = VARIANTS[name] in (JPEGBaseline8Bit, JPEG2000, JPEGLSNearLossless)
    ds = assert_shows_stored_image(tab, server, phantom, tolerance=2 if lossy else 1)
    assert ds.file_meta.TransferSyntaxUID == VARIANTS[name]
    assert (ds.get("LossyImageCompression") == "01") == lossy
    tab.assert_clean()


def test_colour_jpeg_baseline_is_shown_as_stored(server, codec_phantoms, tab):
    """YBR_FULL_422 frames are shown in the colours pydicom decodes them to, pixel for pixel
    within what chroma upsampling and drawing between pixel centres can change."""
    phantom = codec_phantoms[COLOUR]
    frames = frame_responses(tab)
    page = open_viewer(tab, phantom)
    assert tab.hf("hf.viewer.getImageCount()") == phantom.slices
    assert_sent_as_stored(frames, JPEGBaseline8Bit, phantom.slices)
    ds = shown_instance(tab, server, phantom)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    frame = int(tab.hf("hf.getViewport().getCurrentImageId()").split("/frames/")[1]) - 1
    expected = ds.pixel_array[frame].astype(np.float32)  # RGB
    first, right, down = (np.array(tab.hf("hf.viewer.imageToPage(arg)", p))
                          for p in ([0, 0], [1, 0], [0, 1]))
    columns, rows = np.meshgrid(np.arange(ds.Columns), np.arange(ds.Rows))
    at = first + columns[..., None] * (right - first) + rows[..., None] * (down - first)
    screen = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"),
                        dtype=np.float32)
    assert (at >= 0).all() and (at[..., 0] < screen.shape[1] - 1).all() \
        and (at[..., 1] < screen.shape[0] - 1).all(), "the image does not fit in the page"
    shown = screen[np.rint(at[..., 1]).astype(int), np.rint(at[..., 0]).astype(int)]
    assert expected.std() > 30
    off = np.stack([outside_neighbourhood(shown[..., c], expected[..., c]) for c in range(3)])
    assert off.max() <= 2
    tab.assert_clean()
