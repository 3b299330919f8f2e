"""Without WebGL (Chromium started with it off, as with hardware acceleration disabled) the
stack view draws on Cornerstone's CPU path and window/level works; MPR and 3D say why they
are unavailable instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_codecs import assert_shows_stored_image
from test_viewer import on_page, open_viewer, viewport_selector

pytestmark = pytest.mark.browser

NO_WEBGL_ARGS = ["--headless=new", "--disable-webgl", "--disable-3d-apis"]


@pytest.fixture(scope="module")
def browser_setup(request):
    """tests/browser/conftest.py as pytest loaded it (each test folder has a conftest.py,
    so it cannot be imported by name)."""
    return request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))


@pytest.fixture(scope="module")
def no_webgl(browser, server, browser_setup):
    """rad1's browser context in a Chromium without WebGL, driven by the same Playwright."""
    chromium = browser.browser_type.launch(executable_path=browser_setup.CHROMIUM,
                                           args=NO_WEBGL_ARGS)
    session = browser_setup.Session(chromium, server, "rad1")
    try:
        yield session
    finally:
        session.close()
        chromium.close()


@pytest.fixture
def tab(no_webgl):
    """A new page of that context (in place of the WebGL one of the other modules)."""
    opened = no_webgl.tab()
    try:
        yield opened
    finally:
        opened.page.close()


def test_stack_view_and_window_level_work_without_webgl(server, tab):
    phantom = server.phantoms["ct_native"]
    page = open_viewer(tab, phantom)
    assert tab.hf("hf.capabilities.webgl") is False
    assert tab.hf("hf.viewer.getImageCount()") == phantom.slices
    assert_shows_stored_image(tab, server, phantom)
    before = tab.hf("hf.getVOI()")
    page.get_by_test_id("tool-wl").click()
    box = page.locator(viewport_selector(tab.hf("hf.viewer.getActiveViewportId()"))).bounding_box()
    tab.drag(on_page(box, box["width"] / 2, box["height"] / 2),
             on_page(box, box["width"] / 2 + 120, box["height"] / 2 + 60))
    after = tab.hf("hf.getVOI()")
    assert (after["windowWidth"], after["windowCenter"]) != (before["windowWidth"],
                                                             before["windowCenter"])
    assert_shows_stored_image(tab, server, phantom)  # redrawn under the new window
    tab.assert_clean()


def test_mpr_and_3d_say_why_they_are_unavailable(server, tab):
    phantom = server.phantoms["ct_native"]
    page = open_viewer(tab, phantom)
    for mode in ("mpr", "3d"):
        button = page.get_by_test_id(f"mode-{mode}")
        assert "WebGL" in button.get_attribute("title")
        button.click()
        notice = page.get_by_test_id("volume-unavailable")
        notice.wait_for()
        assert "need WebGL" in notice.inner_text()
        assert tab.hf("hf.viewer.getMode()") == "2d"
        assert tab.hf("hf.errors") == []
        assert_shows_stored_image(tab, server, phantom)  # the stack view stays
    tab.assert_clean()
