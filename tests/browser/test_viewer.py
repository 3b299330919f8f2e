"""The viewer in Chromium: what it draws matches the stored pixels (native and compressed
transfer syntaxes), and the mouse tools act on the image as a radiologist uses them."""

from __future__ import annotations

import time

import numpy as np
import pydicom
import pytest

pytestmark = pytest.mark.browser

# Hides the text drawn over the image (patient, orientation letters), so a screenshot of a
# viewport holds only what the canvas rendered.
HIDE_OVERLAYS = ('[data-testid^="overlay-"], [data-testid^="orientation-"] '
                 '{ visibility: hidden !important; }')


def open_viewer(tab, phantom):
    tab.open(f"/viewer?study={phantom.study_uid}")
    assert tab.hf("hf.errors") == []
    tab.hf("hf.viewer.whenAllLoaded()")
    tab.page.add_style_tag(content=HIDE_OVERLAYS)
    return tab.page


def viewport_selector(viewport_id: str) -> str:
    return f'[data-testid="viewport"][data-viewport-id="{viewport_id}"] canvas'


def shown_instance(tab, server, phantom) -> pydicom.Dataset:
    """The stored file of the image the active viewport shows (its SOP Instance UID is in
    the image id the viewer loaded it by)."""
    image_id = tab.hf("hf.getViewport().getCurrentImageId()")
    sop_uid = image_id.split("/instances/")[1].split("/")[0]
    for path in phantom.folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        if ds.SOPInstanceUID == sop_uid:
            return ds
    raise AssertionError(f"{sop_uid} is not one of the phantom's files")


def pixel_centres_on_canvas(tab, ds: pydicom.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Canvas positions (x, y; CSS pixels) of the centre of every pixel of ``ds``, from its
    Image Plane module and the viewport's world-to-canvas mapping."""
    origin = np.array(ds.ImagePositionPatient, dtype=float)
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    along_row, along_column = iop[:3] * column_spacing, iop[3:] * row_spacing
    corners = [origin, origin + along_row, origin + along_column]
    p0, pc, pr = (np.array(p) for p in tab.hf(
        "arg.map(p => hf.getViewport().worldToCanvas(p))", [list(c) for c in corners]))
    cols, rows = np.meshgrid(np.arange(ds.Columns), np.arange(ds.Rows))
    canvas = p0[None, None, :] + cols[..., None] * (pc - p0) + rows[..., None] * (pr - p0)
    return canvas[..., 0], canvas[..., 1]


def expected_grey(ds: pydicom.Dataset, voi: dict) -> np.ndarray:
    """The stored pixels through the modality LUT and the viewport's linear VOI (0..255)."""
    values = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    return np.clip((values - voi["lower"]) / (voi["upper"] - voi["lower"]), 0, 1) * 255


@pytest.mark.parametrize("name", ["ct_native", "ct_rle", "ct_jpegls", "mr"])
def test_the_image_shown_is_the_stored_image(server, tab, name):
    phantom = server.phantoms[name]
    open_viewer(tab, phantom)
    assert tab.hf("hf.viewer.getImageCount()") == phantom.slices
    ds = shown_instance(tab, server, phantom)
    xs, ys = pixel_centres_on_canvas(tab, ds)
    shown = tab.grey(viewport_selector(tab.hf("hf.viewer.getActiveViewportId()")))
    inside = (xs >= 0) & (ys >= 0) & (xs < shown.shape[1] - 1) & (ys < shown.shape[0] - 1)
    assert inside.mean() > 0.9, "the image does not fit in the viewport"
    sampled = shown[np.rint(ys[inside]).astype(int), np.rint(xs[inside]).astype(int)]
    expected = expected_grey(ds, tab.hf("hf.getVOI()"))[inside]
    # The phantom is bright where the body is and black around it, pixel for pixel.
    assert expected.std() > 30
    assert np.corrcoef(sampled, expected)[0, 1] > 0.97
    assert np.abs(sampled - expected).mean() < 8
    background = expected < 1
    assert sampled[background].mean() < 10 and sampled[expected > 100].mean() > 90
    tab.assert_clean()


def on_page(box: dict, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of a point of an element whose bounding box is ``box``."""
    return box["x"] + x, box["y"] + y


def test_window_level_drag_changes_the_voi(server, tab):
    page = open_viewer(tab, server.phantoms["ct_native"])
    selector = viewport_selector(tab.hf("hf.viewer.getActiveViewportId()"))
    before_voi, before = tab.hf("hf.getVOI()"), tab.grey(selector)
    assert (before_voi["windowWidth"], before_voi["windowCenter"]) == (400, 40)
    page.get_by_test_id("tool-wl").click()
    box = page.locator(selector).bounding_box()
    tab.drag(on_page(box, box["width"] / 2, box["height"] / 2),
             on_page(box, box["width"] / 2 + 120, box["height"] / 2 + 60))
    after_voi = tab.hf("hf.getVOI()")
    assert after_voi["windowWidth"] != before_voi["windowWidth"]
    assert after_voi["windowCenter"] != before_voi["windowCenter"]
    assert np.abs(tab.grey(selector) - before).mean() > 2, "the image was not redrawn"
    tab.assert_clean()


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """Start and end (exclusive) of the longest run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest])


def image_on_screen(grey: np.ndarray) -> tuple[int, int, int, int]:
    """Left, right, top and bottom edges (exclusive, screen pixels) of the image, found
    from what is drawn: with a window wide enough that air is grey, the image is the
    widest rectangle that is not black (the scroll bar beside it is narrow)."""
    lit = grey > 20
    left, right = longest_run(lit.mean(axis=0) > 0.5)
    top, bottom = longest_run(lit[:, left:right].mean(axis=1) > 0.5)
    return left, right, top, bottom


def test_length_across_a_known_distance(server, tab):
    """A line drawn from the centre of pixel column 16 to that of column 112 of a 128-pixel
    image with 3.125 mm pixels reads 300 mm. The screen positions come from the pixels drawn,
    not from the viewer's own coordinates, so wrong pixel spacing cannot go unnoticed."""
    phantom = server.phantoms["ct_native"]
    page = open_viewer(tab, phantom)
    selector = viewport_selector(tab.hf("hf.viewer.getActiveViewportId()"))
    # Measurements are saved: draw on a slice the other tests do not look at.
    tab.hf("hf.viewer.scrollTo(10)")
    tab.hf("hf.viewer.whenAnnotationsLoaded()")
    before = {a["uid"] for a in tab.hf("hf.viewer.getAnnotations()")}
    tab.hf("hf.viewer.setVOI(4000, 0)")
    tab.next_frame()  # the viewport draws the new window at the next frame
    left, right, top, bottom = image_on_screen(tab.grey(selector))
    width, height = (right - left) / phantom.rows, (bottom - top) / phantom.rows
    assert abs(width - height) < 0.05 * width, "square pixels are not drawn square"
    x1, x2 = (left + (c + 0.5) * width for c in (16, 112))
    y = top + (phantom.rows // 3 + 0.5) * height
    page.get_by_test_id("tool-length").click()
    box = page.locator(selector).bounding_box()
    tab.drag(on_page(box, x1, y), on_page(box, x2, y))
    lengths = [a["stats"]["length"] for a in tab.settled_annotations()
               if a["toolName"] == "Length" and a["uid"] not in before]
    expected = 96 * phantom.pixel_spacing
    assert len(lengths) == 1 and lengths[0] == pytest.approx(expected, rel=0.02)
    tab.assert_clean()


def test_wheel_scrolls_through_the_stack(server, tab):
    page = open_viewer(tab, server.phantoms["ct_rle"])
    start = tab.hf("hf.viewer.getImageIndex()")
    box = page.locator(viewport_selector(tab.hf("hf.viewer.getActiveViewportId()"))).bounding_box()
    page.mouse.move(*on_page(box, box["width"] / 2, box["height"] / 2))

    def wheel_until(delta_y: int, condition: str) -> int:
        """Turn the wheel a notch at a time until ``condition`` holds; the notches used."""
        for notches in range(1, 6):
            page.mouse.wheel(0, delta_y)
            tab.next_frame()
            if tab.hf(condition):
                return notches
        raise AssertionError(f"{condition} after 5 notches: {tab.hf('hf.viewer.getImageIndex()')}")

    wheel_until(120, f"hf.viewer.getImageIndex() > {start}")
    assert tab.hf("hf.viewer.getImageIndex()") <= start + 2
    wheel_until(-120, f"hf.viewer.getImageIndex() < {start}")
    tab.assert_clean()


def drawn(grey: np.ndarray) -> bool:
    """Whether a viewport shows an image: not uniform, and part of it lit."""
    return bool(grey.std() > 10 and (grey > 40).mean() > 0.01)


def wait_until_drawn(tab, selector: str, timeout: float = 30.0) -> np.ndarray:
    """The viewport's pixels once it shows something."""
    deadline = time.monotonic() + timeout
    while True:
        grey = tab.grey(selector)
        if drawn(grey) or time.monotonic() > deadline:
            return grey
        time.sleep(0.25)


def test_mpr_and_3d_views_are_drawn(server, tab):
    # Software WebGL ray-casts every screen pixel: small windows keep the 3D view quick.
    tab.page.set_viewport_size({"width": 800, "height": 600})
    open_viewer(tab, server.phantoms["ct_native"])
    assert tab.hf("hf.capabilities.webgl") is True
    tab.hf("hf.viewer.setMode('mpr')")
    ids = tab.hf("hf.viewer.getViewportIds()")
    assert ids == ["mpr-axial", "mpr-sagittal", "mpr-coronal"]
    for viewport_id in ids:
        grey = wait_until_drawn(tab, viewport_selector(viewport_id))
        assert drawn(grey), viewport_id
    tab.page.set_viewport_size({"width": 560, "height": 420})
    tab.hf("hf.viewer.setMode('3d')")
    assert tab.hf("hf.viewer.getViewportIds()") == ["volume-3d"]
    grey = wait_until_drawn(tab, viewport_selector("volume-3d"))
    assert drawn(grey)
    assert tab.hf("hf.errors") == []
    tab.assert_clean()
