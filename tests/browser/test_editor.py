"""The annotation editor, driven as a curator would: draw, delete, merge, split, brush and erase
masks, undo and redo each; save and find the edits after a reload; resolve a conflicting save from
another tab; and lose nothing when the server dies mid-edit.

Every test starts from its own small image with four known square masks (saved through the API), so
the counts and labels it checks are exact. Waits are on conditions the page shows, never fixed sleeps.
"""
import base64
import io
import zlib

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH, HEIGHT = 300, 200
# Four 40 x 40 squares, labels 1..4: (x, y) of their top-left corners.
SQUARES = [(40, 40), (120, 40), (40, 120), (120, 120)]

CREATE_IMAGE = """async ({ tiff, masks }) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const form = new FormData();
  form.append('file', new File([Uint8Array.from(atob(tiff), (c) => c.charCodeAt(0))], 'squares.tif'));
  const image = await (await fetch('/api/images/', { method: 'POST', body: form, headers: { 'X-CSRFToken': token } })).json();
  const saved = await fetch(`/api/images/${image.id}/annotation/`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
    body: JSON.stringify({ version: 0, masks, origins: ['model', 'model', 'model', 'model'] }),
  });
  if (saved.status !== 200) throw new Error(`saving the masks failed: ${saved.status} ${await saved.text()}`);
  return image.id;
}"""


def square_masks():
    picture = np.full((HEIGHT, WIDTH), 30, np.uint8)
    masks = np.zeros((HEIGHT, WIDTH), np.int32)
    for label, (x, y) in enumerate(SQUARES, start=1):
        masks[y : y + 40, x : x + 40] = label
        picture[y : y + 40, x : x + 40] = 180
    return picture, masks


def encoded(masks):
    data = np.ascontiguousarray(masks, dtype="<i4").tobytes()
    return {
        "encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": list(masks.shape),
        "data": base64.b64encode(zlib.compress(data)).decode("ascii"),
    }


def create_image(page):
    """Upload the squares image with its masks (version 1, as if a model had found them); its id."""
    picture, masks = square_masks()
    buf = io.BytesIO()
    tifffile.imwrite(buf, picture)
    return page.evaluate(CREATE_IMAGE, {"tiff": base64.b64encode(buf.getvalue()).decode(), "masks": encoded(masks)})


def open_editor(page, image_id):
    page.goto(f"/images/{image_id}/")
    page.wait_for_selector("[data-page=image][data-state=ready]")
    page.locator("[data-page=image] canvas").focus()


class Canvas:
    """Pointer actions at image coordinates on the viewer's canvas."""

    def __init__(self, page):
        self.page = page
        self.canvas = page.locator("[data-page=image] canvas")

    def at(self, x, y):
        """Page coordinates of image point (x, y)."""
        t = self.page.evaluate("() => window.cellposeViewer.model.transform")
        box = self.canvas.bounding_box()
        return box["x"] + x * t["scale"] + t["tx"], box["y"] + y * t["scale"] + t["ty"]

    def click(self, x, y, modifiers=None):
        t = self.page.evaluate("() => window.cellposeViewer.model.transform")
        position = {"x": x * t["scale"] + t["tx"], "y": y * t["scale"] + t["ty"]}
        self.canvas.click(position=position, modifiers=modifiers or [])

    def drag(self, points, steps=6):
        mouse = self.page.mouse
        mouse.move(*self.at(*points[0]))
        mouse.down()
        for point in points[1:]:
            mouse.move(*self.at(*point), steps=steps)
        mouse.up()

    def hover(self, x, y):
        """What the status line says about the pixel at (x, y): (label, origin)."""
        self.page.mouse.move(*self.at(x + 0.5, y + 0.5))
        hover = self.page.locator("[data-role=hover]")
        self.page.wait_for_function(
            "(where) => document.querySelector('[data-role=hover]').textContent.includes(where)", arg=f"x {x}, y {y}"
        )
        return int(hover.get_attribute("data-label")), hover.get_attribute("data-origin")


def count(page):
    return int(page.get_attribute("[data-role=cell-count]", "data-count") or 0)


def wait_count(page, expected):
    page.wait_for_function(
        "(n) => document.querySelector('[data-role=cell-count]').dataset.count === String(n)", arg=expected
    )


def key(page, combo, *, expected_count=None):
    page.keyboard.press(combo)
    if expected_count is not None:
        wait_count(page, expected_count)


def undo_redo(page, before, after):
    """Undo back to `before` cells, redo to `after`, with the keys."""
    key(page, "Control+z", expected_count=before)
    key(page, "Control+Shift+z", expected_count=after)


def wait_saved(page, version=None):
    status = page.locator("[data-role=save-status]")
    page.wait_for_function(
        "(v) => { const s = document.querySelector('[data-role=save-status]');"
        " return s.dataset.status === 'saved' && (v === null || s.dataset.version === String(v)); }",
        arg=version,
    )
    return int(status.get_attribute("data-version"))


def test_tracing_an_outline_draws_a_mask_and_undo_redo_take_it_back(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    canvas = Canvas(page)
    assert count(page) == 4

    key(page, "3")  # the draw tool
    canvas.drag([(200, 40), (260, 40), (260, 100), (200, 100), (201, 44)])  # back near the start: closes
    wait_count(page, 5)
    assert canvas.hover(230, 70)[1] == "manual"
    assert "drawn by hand" in page.inner_text("[data-role=hover]")
    undo_redo(page, 4, 5)

    # Clicking vertices, closed by clicking the start again; pixels of other masks are not taken.
    for point in [(150, 110), (280, 110), (280, 180), (150, 180), (150.5, 110.5)]:
        canvas.click(*point)
    wait_count(page, 6)
    assert canvas.hover(155, 140)[0] == 4, "the new mask left mask 4 alone"
    assert canvas.hover(155, 170)[0] == 6, "and filled the background around it"
    assert canvas.hover(250, 150)[0] == 6
    undo_redo(page, 5, 6)


def test_delete_merge_split_brush_and_erase_each_undo_and_redo(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    canvas = Canvas(page)

    # Delete: Ctrl+click (any tool).
    canvas.click(60, 60, modifiers=["Control"])
    wait_count(page, 3)
    undo_redo(page, 4, 3)
    key(page, "Control+z", expected_count=4)

    # Select many with a box, delete them at once.
    key(page, "2")
    canvas.drag([(30, 30), (170, 90)])
    page.wait_for_function("() => window.cellposeViewer.model.selection.size === 2")
    key(page, "Delete", expected_count=2)
    undo_redo(page, 4, 2)
    key(page, "Control+z", expected_count=4)

    # Merge: select mask 1, Alt+click mask 2.
    canvas.click(60, 60)
    canvas.click(140, 60, modifiers=["Alt"])
    wait_count(page, 3)
    assert canvas.hover(140, 60)[0] == 1
    undo_redo(page, 4, 3)
    key(page, "Control+z", expected_count=4)

    # Split mask 3 with a line across it.
    key(page, "6")
    canvas.drag([(60, 110), (60, 140), (60, 170)])
    wait_count(page, 5)
    left, right = canvas.hover(45, 140)[0], canvas.hover(75, 140)[0]
    assert {left, right} >= {3} and left != right
    undo_redo(page, 4, 5)
    key(page, "Control+z", expected_count=4)

    # Brush: mask 4 grows into the background to its right.
    key(page, "2")
    canvas.click(140, 140)
    key(page, "4")
    canvas.drag([(150, 140), (175, 140)])
    page.wait_for_function("() => window.cellposeViewer.editor.history.undoName === 'Brush'")
    assert canvas.hover(172, 140) == (4, "edited")
    key(page, "Control+z")
    page.wait_for_function("() => window.cellposeViewer.model.labelAt(172, 140) === 0")
    assert canvas.hover(172, 140)[0] == 0
    key(page, "Control+Shift+z")
    assert canvas.hover(172, 140)[0] == 4

    # Eraser, nothing selected: clears the pixels of any mask under the stroke.
    key(page, "Escape")
    key(page, "5")
    canvas.drag([(45, 60), (75, 60)])
    page.wait_for_function("() => window.cellposeViewer.editor.history.undoName === 'Erase'")
    assert canvas.hover(60, 60)[0] == 0
    key(page, "Control+z")
    assert canvas.hover(60, 60)[0] == 1
    key(page, "Control+Shift+z")
    assert canvas.hover(60, 60)[0] == 0
    assert count(page) == 4


def test_edits_are_saved_found_after_a_reload_and_an_old_version_restored(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    open_editor(page, image_id)
    canvas = Canvas(page)
    canvas.click(60, 60, modifiers=["Control"])
    key(page, "3")
    canvas.drag([(200, 40), (260, 40), (260, 100), (200, 100), (201, 44)])
    wait_count(page, 4)
    key(page, "Control+s")
    assert wait_saved(page) == 2

    page.reload()
    page.wait_for_selector("[data-page=image][data-state=ready]")
    assert count(page) == 4
    assert canvas.hover(60, 60)[0] == 0 and canvas.hover(230, 70) == (4, "manual")
    assert page.locator("[data-role=recovery]").is_hidden(), "a confirmed save leaves nothing to recover"
    newest = page.locator("[data-role=versions] li").first
    newest.wait_for()
    assert newest.get_attribute("data-version") == "2"
    assert "1 added · 1 removed" in newest.inner_text()

    # Show version 1, read-only, then go back to the current one.
    page.locator("[data-role=versions] li[data-version='1'] [data-action=show-version]").click()
    page.locator("[data-role=preview]").wait_for()
    page.wait_for_function("() => window.cellposeViewer.model.labelAt(60, 60) === 1")
    canvas.click(140, 60, modifiers=["Control"])
    page.locator("[data-role=editor-hint]", has_text="read-only").wait_for()
    assert count(page) == 4 and canvas.hover(140, 60)[0] != 0, "no edit while an old version is on show"
    page.click("[data-role=preview] [data-action=back-to-current]")
    page.locator("[data-role=preview]").wait_for(state="hidden")
    assert canvas.hover(60, 60)[0] == 0

    page.locator("[data-role=versions] li[data-version='1'] [data-action=restore-version]").click()
    wait_saved(page, 3)
    wait_count(page, 4)
    assert canvas.hover(60, 60)[0] == 1 and canvas.hover(230, 70)[0] == 0


def test_a_save_from_a_stale_tab_is_refused_and_resolved_either_way(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    first = page
    second = page.context.new_page()
    open_editor(first, image_id)
    open_editor(second, image_id)

    Canvas(first).click(60, 60, modifiers=["Control"])  # tab 1 deletes mask 1 and saves version 2
    key(first, "Control+s")
    wait_saved(first, 2)

    Canvas(second).click(140, 60, modifiers=["Control"])  # tab 2, still on version 1, deletes mask 2
    key(second, "Control+s")
    conflict = second.locator("[data-role=conflict]")
    conflict.wait_for()
    assert second.get_attribute("[data-role=save-status]", "data-status") == "conflict"
    assert "Version 2" in conflict.inner_text()
    # Tab 1 deleted mask 1, tab 2 mask 2: different masks, so they merge without a question.
    second.wait_for_function("() => document.querySelector('[data-role=merge-summary]').textContent.includes('nothing conflicts')")
    conflict.locator("[data-action=merge]").click()
    wait_saved(second, 3)
    assert conflict.is_hidden()
    wait_count(second, 2)

    # Tab 1 edits on version 2, which is stale now: it loads tab 2's version instead.
    Canvas(first).click(60, 140, modifiers=["Control"])
    wait_count(first, 2)
    key(first, "Control+s")
    first.locator("[data-role=conflict]").wait_for()
    first.locator("[data-role=conflict] [data-action=load-theirs]").click()
    wait_saved(first, 3)
    wait_count(first, 2)
    canvas = Canvas(first)
    assert canvas.hover(60, 60)[0] == 0 and canvas.hover(140, 60)[0] == 0, "the merge: masks 1 and 2 both gone"
    second.close()


def test_edits_made_while_the_server_is_down_survive_a_closed_tab(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    open_editor(page, image_id)
    canvas = Canvas(page)
    canvas.click(60, 60, modifiers=["Control"])
    wait_saved(page, 2)

    live_site.kill()
    try:
        canvas.click(140, 60, modifiers=["Control"])  # mid-edit, with no server
        key(page, "3")
        canvas.drag([(200, 40), (260, 40), (260, 100), (200, 100), (201, 44)])
        wait_count(page, 3)
        # Not saved, retrying, and every edit kept in the browser (the status line says so between retries).
        said = page.wait_for_function(
            """() => {
              const status = document.querySelector('[data-role=save-status]');
              const { masks } = window.cellposeViewer.model;
              const kept = status.dataset.backup === 'kept' && status.dataset.backupRevision === String(masks.revision);
              return kept && status.dataset.status === 'offline' && status.textContent;
            }"""
        ).json_value()
        assert "kept in this browser" in said
        context = page.context
        page.close()  # the tab crashes (or is closed) before the server comes back
    finally:
        live_site.restart()

    again = context.new_page()
    open_editor(again, image_id)
    assert count(again) == 3, "the server has version 2 only"
    recovery = again.locator("[data-role=recovery]")
    recovery.wait_for()
    assert "version 2" in recovery.inner_text()
    recovery.locator("[data-action=recover]").click()
    wait_saved(again, 3)
    assert count(again) == 3

    again.reload()
    again.wait_for_selector("[data-page=image][data-state=ready]")
    canvas = Canvas(again)
    assert count(again) == 3
    assert canvas.hover(140, 60)[0] == 0 and canvas.hover(230, 70) == (3, "manual")  # saved renumbered 1..3
    assert again.locator("[data-role=recovery]").is_hidden()
