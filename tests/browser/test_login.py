"""Logging in and out through the pages: a page asked for without a session leads to the
login form, a wrong password is told, the right one lands on the page first asked for."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def refused_without_session(error: str) -> bool:
    """Console errors Chromium logs for answers this flow expects: no session yet (401
    from /api/auth/me) and the wrong password (401)."""
    return "Failed to load resource" in error and "status of 401" in error and (
        "/api/auth/me" in error or "/api/auth/login" in error)


def test_wrong_then_right_password(server, login, password):
    tab = login(None).tab()
    page = tab.page
    anna = {server.phantoms[n].study_uid for n in ("ct_native", "ct_rle", "ct_jpegls")}
    page.goto(f"{server.base_url}/?PatientName=Testa")
    page.wait_for_url("**/login?next=*")
    tab.wait_ready()
    assert tab.hf("hf.route") == "login"
    assert not page.get_by_test_id("login-oidc").is_visible()

    page.get_by_test_id("login-username").fill("rad2")
    page.get_by_test_id("login-password").fill(password + "x")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    error.wait_for(state="visible")
    assert "password" in error.inner_text().lower()
    assert tab.hf("hf.route") == "login"
    assert page.get_by_test_id("login-password").input_value() == ""

    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{server.base_url}/?PatientName=Testa")
    tab.wait_ready()
    assert tab.hf("hf.route") == "studies"
    rows = page.get_by_test_id("study-row")
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.studyUid)")) == anna

    page.get_by_test_id("user-menu-button").click()
    assert page.get_by_test_id("user-name").inner_text() == "rad2"
    page.get_by_test_id("user-sign-out").click()
    page.wait_for_url("**/login*")
    tab.wait_ready()
    # The session is over on the server too, not only in the page.
    assert page.request.get(f"{server.base_url}/api/auth/me").status == 401
    tab.assert_clean(expected=refused_without_session)
    page.close()
