"""The pages around the viewer: a patient's timeline, and the administration tabs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_patient_timeline_lists_studies_newest_first(server, login):
    tab = login("rad1").tab()
    page = tab.open("/patient?id=BT001")
    assert tab.hf("hf.route") == "patient"
    assert page.get_by_test_id("patient-id").inner_text() == "BT001"
    studies = page.get_by_test_id("timeline-study")
    newest_first = ["ct_jpegls", "ct_rle", "ct_native"]
    assert studies.evaluate_all("rows => rows.map(r => r.dataset.studyUid)") == [
        server.phantoms[n].study_uid for n in newest_first]
    assert [t[:10] for t in page.get_by_test_id("study-date").all_inner_texts()] == [
        "2025-03-01", "2024-06-10", "2024-01-15"]
    # Each study leads on to its own page.
    studies.first.get_by_test_id("open-study").click()
    tab.wait_ready()
    assert tab.hf("hf.route") == "study"
    assert page.get_by_test_id("study-page").get_attribute("data-study-uid") == \
        server.phantoms["ct_jpegls"].study_uid
    assert page.get_by_test_id("series-card").count() == 1
    tab.assert_clean()
    page.close()


def test_a_patient_outside_the_users_grants_is_not_found(server, login):
    tab = login("north").tab()
    page = tab.open("/patient?id=BT003")
    assert page.get_by_test_id("patient-error").is_visible()
    assert page.get_by_test_id("timeline-study").count() == 0
    tab.assert_clean(expected=lambda e: "status of 404" in e and "/timeline" in e)
    page.close()


@pytest.mark.parametrize("name, check", [
    ("users", '[data-testid="user-row"]'),
    ("groups", '[data-testid="group-add-form"]'),
    ("grants", '[data-testid="grant-row"]'),
    ("nodes", '[data-testid="node-add"]'),
    ("audit", '[data-testid="audit-row"]'),
    ("stats", '[data-testid="stats-modality-row"]'),
])
def test_admin_tabs_load(server, login, name, check):
    tab = login("admin").tab()
    page = tab.open(f"/admin/{name}")
    assert tab.hf("hf.route") == "admin"
    assert page.get_by_test_id(f"admin-{name}").is_visible()
    assert page.locator(check).count() > 0
    assert tab.hf("hf.errors") == []
    tab.assert_clean()
    page.close()


def test_admin_lists_the_accounts_and_the_archive(server, login):
    tab = login("admin").tab()
    page = tab.open("/admin/users")
    assert set(page.get_by_test_id("user-row").evaluate_all(
        "rows => rows.map(r => r.dataset.username)")) == {"admin", "rad1", "rad2", "north"}
    page.get_by_test_id("admin-tab-stats").click()
    tab.wait_ready()
    # The figures shown are the archive's (other modules may have stored more studies).
    stats = page.request.get(f"{server.base_url}/api/admin/stats").json()
    assert stats["patients"] >= 3 and stats["studies"] >= len(server.phantoms)
    for figure in ("patients", "studies", "series", "instances"):
        shown = page.get_by_test_id(f"stats-{figure}").inner_text()
        assert int(shown.replace(",", "")) == stats[figure], figure
    modalities = page.get_by_test_id("stats-modality-row").evaluate_all(
        "rows => rows.map(r => r.dataset.modality)")
    assert {"CT", "MR"} <= set(modalities)
    tab.assert_clean()
    page.close()


def test_admin_pages_are_closed_to_radiologists(server, login):
    tab = login("rad1").tab()
    page = tab.open("/admin/users")
    assert not page.get_by_test_id("nav-admin").is_visible()
    assert page.get_by_test_id("users-table").count() == 0
    assert tab.hf("hf.errors") == ["You have no administration rights."]
    tab.assert_clean()
    page.close()
