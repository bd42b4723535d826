"""Issue 19, items 8 and 4 in the browser: the cells panel (table, fly-to, histogram, values under the
cursor), the per-channel display levels and colour maps, and the three-way merge of a conflicting save.

Each test starts from the editor tests' image: a 300 x 200 grey picture (background 30) with four
40 x 40 squares of value 180, saved with the four squares as masks 1..4.
"""
import pytest

from tests.browser.test_editor import Canvas, create_image, key, open_editor, wait_count, wait_saved
from tests.browser.test_image_pages import NEXT_FRAME, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PIXEL_AT = """([x, y]) => {
  const canvas = document.querySelector('[data-page=image] canvas');
  const t = window.cellposeViewer.model.transform;
  const ratio = canvas.width / canvas.clientWidth;
  const px = Math.floor((x * t.scale + t.tx) * ratio), py = Math.floor((y * t.scale + t.ty) * ratio);
  return Array.from(canvas.getContext('2d').getImageData(px, py, 1, 1).data.slice(0, 3));
}"""

TABLE_ROWS = """() => Array.from(document.querySelectorAll('[data-role=cells-table] tbody tr'),
  (tr) => Array.from(tr.cells, (td) => td.textContent))"""


def wait_channel_values(page):
    page.wait_for_function("() => window.cellposeViewer.model.hasRaster('channels')")


def rows(page):
    return page.evaluate(TABLE_ROWS)


def wait_rows(page, n):
    page.wait_for_function("(n) => document.querySelector('[data-panel=cells]').dataset.cells === String(n)", arg=n)


def test_the_cells_panel_measures_the_masks_on_screen_and_flies_to_a_cell(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    wait_channel_values(page)
    page.locator("[data-panel=cells]").scroll_into_view_if_needed()  # it measures while in view
    page.wait_for_function(
        "() => document.querySelector('[data-role=cells-table] tbody td:nth-child(5)')?.textContent === '180'"
    )
    assert rows(page) == [[str(label), "1600", "160", "0.000", "180", "model"] for label in (1, 2, 3, 4)]
    histogram = page.locator("[data-role=size-histogram]")
    assert histogram.get_attribute("data-bins") == "1"
    assert histogram.locator("rect.bar").get_attribute("data-count") == "4"
    assert "area (px)" in histogram.text_content() and "cells" in histogram.text_content()

    # An unsaved edit shows at once: delete mask 2, brush mask 4 wider.
    canvas = Canvas(page)
    canvas.click(140, 60, modifiers=["Control"])
    wait_rows(page, 3)
    assert "unsaved edits included" in page.inner_text("[data-role=cells-note]")
    key(page, "2")
    canvas.click(140, 140)
    key(page, "4")
    canvas.drag([(150, 140), (175, 140)])
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-role=cells-table] tbody tr')].some("
        "(tr) => tr.dataset.label === '4' && Number(tr.cells[1].textContent) > 1600)"
    )
    # Sort by area: largest first on the first click (mask 4 leads), smallest first on the next.
    page.click("[data-role=cells-table] th[data-sort=area] button")
    assert page.get_attribute("[data-role=cells-table] th[data-sort=area]", "aria-sort") == "descending"
    assert rows(page)[0][0] == "4"
    page.click("[data-role=cells-table] th[data-sort=area] button")
    assert page.get_attribute("[data-role=cells-table] th[data-sort=area]", "aria-sort") == "ascending"
    assert rows(page)[-1][0] == "4"

    # A row click flies the view to the cell and selects it.
    key(page, "Escape")
    page.click("[data-role=cells-table] tbody tr[data-label='3']")
    page.wait_for_function("() => window.cellposeViewer.model.selection.has(3)")
    centre = page.evaluate(
        "() => { const { transform: t, viewport: v } = window.cellposeViewer.model;"
        " return [(v.width / 2 - t.tx) / t.scale, (v.height / 2 - t.ty) / t.scale, t.scale]; }"
    )
    assert abs(centre[0] - 60) < 1 and abs(centre[1] - 140) < 1 and centre[2] > 3

    # The value of each channel under the pointer, in the status bar.
    canvas.hover(60, 130)
    page.wait_for_function("() => document.querySelector('[data-role=intensity]').textContent === 'Ch1 180'")
    canvas.hover(45, 175)
    page.wait_for_function("() => document.querySelector('[data-role=intensity]').textContent === 'Ch1 30'")


def test_channel_levels_and_colour_maps_apply_without_a_request_and_are_remembered(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    open_editor(page, image_id)
    wait_channel_values(page)
    page.uncheck("[data-panel=display] [name=show_masks]")
    page.uncheck("[data-panel=display] [name=show_outlines]")
    levels = page.locator("[data-role=channel-levels] [data-channel='0']")
    # Percentiles 1 / 99 of this picture are the background (30) and the squares (180).
    page.wait_for_function("() => document.querySelector('[data-channel=\"0\"]').dataset.hi === '180'")
    assert levels.get_attribute("data-lo") == "30"
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(PIXEL_AT, [60, 60]) == [255, 255, 255]

    requests = []
    page.on("request", lambda request: requests.append(request.url))
    levels.locator("[name=colormap]").select_option("magenta")
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(PIXEL_AT, [60, 60]) == [255, 0, 255]
    levels.locator("[name=mode]").select_option("minmax")
    assert levels.locator("[name=low]").input_value() == "30"
    levels.locator("[name=high]").fill("330")
    levels.locator("[name=high]").dispatch_event("change")
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(PIXEL_AT, [60, 60]) == [128, 0, 128], "(180 - 30) / (330 - 30) of magenta"
    assert page.evaluate(PIXEL_AT, [10, 10]) == [0, 0, 0]
    assert not [url for url in requests if "/api/" in url], f"display changes fetched {requests}"

    # A bad level is refused with a reason, and nothing changes.
    levels.locator("[name=low]").fill("400")
    levels.locator("[name=low]").dispatch_event("change")
    assert "below the high level" in levels.locator("[data-role=problem]").inner_text()
    assert page.evaluate(PIXEL_AT, [60, 60]) == [128, 0, 128]

    # Viridis, then a reload: the image's settings come back.
    levels.locator("[name=colormap]").select_option("viridis")
    page.reload()
    page.wait_for_selector("[data-page=image][data-state=ready]")
    wait_channel_values(page)
    page.uncheck("[data-panel=display] [name=show_masks]")
    page.uncheck("[data-panel=display] [name=show_outlines]")
    levels = page.locator("[data-role=channel-levels] [data-channel='0']")
    assert levels.locator("[name=colormap]").input_value() == "viridis"
    assert levels.locator("[name=mode]").input_value() == "minmax"
    assert levels.locator("[name=high]").input_value() == "330"
    page.evaluate(NEXT_FRAME)
    page.wait_for_function("() => window.cellposeViewer.model.raster('image') !== null")
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(PIXEL_AT, [10, 10]) == [0x44, 0x01, 0x54], "viridis starts dark purple"


def test_a_conflicting_save_merges_both_tabs_and_says_what_keeping_mine_restores(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    theirs = page
    mine = page.context.new_page()
    open_editor(theirs, image_id)
    open_editor(mine, image_id)

    # Theirs: delete masks 1 and 3, save version 2.
    Canvas(theirs).click(60, 60, modifiers=["Control"])
    Canvas(theirs).click(60, 140, modifiers=["Control"])
    wait_count(theirs, 2)
    key(theirs, "Control+s")
    wait_saved(theirs, 2)

    # Mine, still on version 1: erase a stroke through mask 1, delete mask 4.
    canvas = Canvas(mine)
    key(mine, "5")
    canvas.drag([(45, 60), (75, 60)])
    mine.wait_for_function("() => window.cellposeViewer.editor.history.undoName === 'Erase'")
    key(mine, "Escape")
    canvas.click(140, 140, modifiers=["Control"])
    wait_count(mine, 3)
    key(mine, "Control+s")
    dialog = mine.locator("[data-role=conflict]")
    dialog.wait_for()
    summary = mine.locator("[data-role=merge-summary]")
    mine.wait_for_function("() => document.querySelector('[data-role=merge-summary]').textContent.includes('conflict')")
    assert "1 change of mine and 1 change of theirs; 1 conflict" in summary.inner_text()
    conflict = dialog.locator("[data-role=merge-conflicts] li")
    assert conflict.count() == 1
    assert "I changed mask 1" in conflict.inner_text() and "they deleted mask 1" in conflict.inner_text()
    merge = dialog.locator("[data-action=merge]")
    assert merge.is_disabled(), "nothing is saved before the conflict is decided"

    conflict.locator("input[value=mine]").check()
    assert "Keeping mine brings back mask 1, which they deleted." in summary.inner_text()
    assert merge.is_enabled()
    merge.click()
    wait_saved(mine, 3)
    assert dialog.is_hidden()
    wait_count(mine, 2)
    assert canvas.hover(60, 45)[0] != 0, "my edited mask 1, kept by choice"
    assert canvas.hover(60, 60)[0] == 0, "my eraser stroke"
    assert canvas.hover(60, 140)[0] == 0, "their deletion of mask 3 stays"
    assert canvas.hover(140, 140)[0] == 0, "my deletion of mask 4"
    assert canvas.hover(140, 60)[0] != 0, "mask 2, untouched"

    # The other tab, back in focus, no longer claims to be up to date: it offers the merge.
    assert theirs.get_attribute("[data-role=save-status]", "data-status") == "saved"
    theirs.evaluate("() => window.dispatchEvent(new Event('focus'))")
    note = theirs.locator("[data-role=newer-version]")
    note.wait_for()
    assert "Version 3 was saved elsewhere; this tab shows version 2." in note.inner_text()
    note.locator("[data-action=load-newer]").click()
    wait_saved(theirs, 3)
    wait_count(theirs, 2)
    assert note.is_hidden()
    mine.close()
