"""The study list: the search form finds what it should and nothing else, a user sees only
the studies granted to him or her, and one click on a row opens the viewer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def shown_studies(tab, server) -> set[str]:
    """The phantom studies listed (other test modules may store studies of their own)."""
    tab.wait_ready()
    phantoms = {p.study_uid for p in server.phantoms.values()}
    return phantoms & set(tab.page.locator('[data-testid="study-row"]').evaluate_all(
        "rows => rows.map(r => r.dataset.studyUid)"))


def uids(server, *names: str) -> set[str]:
    return {server.phantoms[n].study_uid for n in names}


def search(tab, server, fields: dict[str, str]) -> set[str]:
    """Fill the search form as a user does and submit it."""
    page = tab.page
    page.get_by_test_id("search-reset").click()
    for name, value in fields.items():
        field = page.get_by_test_id(f"search-{name}")
        if name == "ModalitiesInStudy":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_test_id("search-submit").click()
    return shown_studies(tab, server)


def test_search_by_name_modality_and_date(server, tab):
    tab.open("/")
    everything = set(uids(server, *server.phantoms))
    assert shown_studies(tab, server) == everything

    anna = uids(server, "ct_native", "ct_rle", "ct_jpegls")
    assert search(tab, server, {"PatientName": "testa"}) == anna
    assert "PatientName=testa" in tab.page.url
    assert search(tab, server, {"PatientName": "Must"}) == uids(server, "mr")
    assert search(tab, server, {"PatientName": "Nobody"}) == set()
    assert tab.page.get_by_test_id("study-status").is_visible()

    assert search(tab, server, {"ModalitiesInStudy": "MR"}) == uids(server, "mr")
    assert search(tab, server, {"ModalitiesInStudy": "CT"}) == anna | uids(server, "secret")
    assert search(tab, server, {"from": "2024-01-01", "to": "2024-12-31"}) == uids(
        server, "ct_native", "ct_rle")
    assert search(tab, server, {"PatientName": "testa", "from": "2025-01-01"}) == uids(
        server, "ct_jpegls")
    assert search(tab, server, {"to": "2023-12-31"}) == uids(server, "mr", "secret")
    tab.assert_clean()


def test_a_user_sees_only_granted_studies(server, login):
    tab = login("north").tab()
    tab.open("/")
    assert shown_studies(tab, server) == uids(server, "ct_native", "ct_rle", "ct_jpegls", "mr")
    # The study outside the user's grants is answered like a missing one.
    tab.open(f"/viewer?study={server.phantoms['secret'].study_uid}")
    assert tab.page.get_by_test_id("viewer-error").filter(has_text="was not found").is_visible()
    errors = tab.hf("hf.errors")
    # Only that: no request for its measurements (a second, confusing error).
    assert errors and all("was not found" in e for e in errors), errors
    tab.assert_clean(expected=lambda e: "status of 404" in e)
    tab.page.close()


def test_one_click_opens_the_viewer(server, tab):
    tab.open("/?PatientName=Muster")
    study = server.phantoms["mr"]
    tab.page.locator(f'[data-testid="study-row"][data-study-uid="{study.study_uid}"] td').nth(2).click()
    tab.page.wait_for_url(f"**/viewer?study={study.study_uid}")
    tab.wait_ready()
    assert tab.hf("hf.route") == "viewer"
    assert tab.hf("hf.errors") == []
    assert tab.hf("hf.viewer.getSeriesUid()") == study.series_uid
    assert tab.hf("hf.viewer.getImageCount()") == study.slices
    tab.assert_clean()
