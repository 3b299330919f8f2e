"""Working together on a study: a measurement or a comment by one radiologist is saved on
the server and seen by another in a second browser; a share link opens the viewer without
an account. This module's server runs on PostgreSQL, the others' on SQLite."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture(scope="module")
def server(postgres_server):
    """Here the server keeps its index in PostgreSQL (annotations and shares included)."""
    return postgres_server


def lengths(tab) -> dict[str, dict]:
    return {a["uid"]: a for a in tab.settled_annotations() if a["toolName"] == "Length"}


def test_a_saved_measurement_is_seen_by_another_user(server, login):
    phantom = server.phantoms["ct_rle"]
    viewer = f"/viewer?study={phantom.study_uid}"
    slice_index = 5  # away from the middle slice the other tests look at

    first = login("rad1").tab()
    first.open(viewer)
    first.hf("hf.viewer.whenAnnotationsLoaded()")
    first.hf(f"hf.viewer.scrollTo({slice_index})")
    before = lengths(first)
    first.page.get_by_test_id("tool-length").click()
    start, end = (first.hf(f"hf.viewer.imageToPage({point})")
                  for point in ([30, 40], [90, 40]))
    first.drag(start, end)
    drawn = {uid: a for uid, a in lengths(first).items() if uid not in before}
    assert len(drawn) == 1
    (mine,) = drawn.values()
    assert mine["saved"] is True
    assert mine["stats"]["length"] == pytest.approx(60 * phantom.pixel_spacing, rel=0.02)

    second = login("rad2").tab()
    second.open(viewer)
    second.hf("hf.viewer.whenAnnotationsLoaded()")
    second.hf(f"hf.viewer.scrollTo({slice_index})")
    seen = [a for a in lengths(second).values() if a["author"] == "rad1"
            and a["stats"].get("length") == pytest.approx(mine["stats"]["length"], rel=0.001)]
    assert len(seen) == 1 and seen[0]["saved"] is True

    # A viewer (no study.annotate) sees it too, with the drawing tools off.
    reader = login("north").tab()
    reader.open(viewer)
    reader.hf("hf.viewer.whenAnnotationsLoaded()")
    assert [a["author"] for a in lengths(reader).values()] == ["rad1"]
    assert reader.page.get_by_test_id("tool-length").is_disabled()
    assert reader.hf("hf.viewer.setTool('length')") is False

    # After a reload the author still finds it: it came from the server, not the page.
    first.page.reload()
    first.wait_ready()
    first.hf("hf.viewer.whenAnnotationsLoaded()")
    assert any(a["author"] == "rad1" and a["stats"].get("length") == pytest.approx(
        mine["stats"]["length"], rel=0.001) for a in lengths(first).values())
    for tab in (first, second, reader):
        tab.assert_clean()
        tab.page.close()


def test_a_share_link_opens_the_viewer_without_login(server, login):
    phantom = server.phantoms["mr"]
    owner = login("rad1").tab()
    page = owner.open(f"/study?uid={phantom.study_uid}")
    page.get_by_test_id("study-share").click()
    page.get_by_test_id("share-description").fill("second opinion")
    page.get_by_test_id("share-create").click()
    url = page.get_by_test_id("share-url").input_value()
    assert url.startswith(f"{server.base_url}/s/")
    owner.assert_clean()

    guest = login(None).tab()
    guest.page.goto(url)
    guest.wait_ready()
    assert guest.hf("hf.route") == "share"
    assert guest.page.get_by_test_id("shared-description").inner_text() == "second opinion"
    rows = guest.page.get_by_test_id("shared-study")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.studyUid)") == [phantom.study_uid]
    guest.page.get_by_test_id("shared-open").click()
    guest.page.wait_for_url(f"**?study={phantom.study_uid}")
    guest.wait_ready()
    assert guest.hf("hf.errors") == []
    assert guest.hf("hf.viewer.getSeriesUid()") == phantom.series_uid
    assert guest.hf("hf.viewer.getImageCount()") == phantom.slices
    canvas = guest.page.locator('[data-testid="viewport"] canvas').first
    grey = guest.grey('[data-testid="viewport"] canvas')
    assert canvas.is_visible() and grey.std() > 10 and (grey > 60).mean() > 0.05
    # The guest has no session: the rest of the archive stays closed.
    assert guest.page.request.get(f"{server.base_url}/dicom-web/studies").status == 401
    guest.assert_clean()
    for tab in (owner, guest):
        tab.page.close()


def test_a_comment_is_seen_by_another_user_who_cannot_delete_it(server, login):
    study_page = f"/study?uid={server.phantoms['ct_native'].study_uid}"
    text = "Compare with the prior: the nodule is unchanged."
    author = login("rad1").tab()
    page = author.open(study_page)
    page.get_by_test_id("comment-input").fill(text)
    page.get_by_test_id("comment-submit").click()
    mine = page.get_by_test_id("comment").filter(has_text=text)
    mine.wait_for()
    assert mine.get_by_test_id("comment-author").inner_text() == "rad1"
    assert mine.get_by_test_id("comment-delete").count() == 1

    other = login("rad2").tab()
    page = other.open(study_page)
    theirs = page.get_by_test_id("comment").filter(has_text=text)
    assert theirs.count() == 1
    assert theirs.get_by_test_id("comment-author").inner_text() == "rad1"
    assert theirs.get_by_test_id("comment-delete").count() == 0
    for tab in (author, other):
        tab.assert_clean()
        tab.page.close()
