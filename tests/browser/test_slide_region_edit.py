"""Editing a region of a large image, as a person would: open the tiled viewer of a segmented large
image, zoom in, press "Edit this region", delete a cell in the canvas editor, save, go back to the
viewer and see the cell gone there (its label tiles are the new version's)."""
import base64
import io
import subprocess
from pathlib import Path

import pytest
import tifffile

from tests.browser.test_image_pages import sign_in
from tests.browser.test_slide_real import checkerboard
from tests.browser.test_slide_viewer import SAMPLE, SETTLED, UPLOAD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEP, SIDE = 128, 100  # the masks: SIDE-pixel squares every STEP pixels
CELL = (1330, 1330)  # image point inside the cell at 1280..1380 (x and y)

# Stands in for a segmentation (minutes on this CPU): labels written into the image's store and
# registered as version 1, as inference/tiled_jobs.py does, in the live server's own database.
SEGMENT = """
import sys, django
django.setup()
import numpy as np
from annotations import slides
from annotations.models import Annotation, Image
from annotations.services import annotation_prepared_save
from annotations.tiled_masks import annotation_prepare_tiled
from inference.engine.cell_table import CellTable
image = Image.objects.get(pk=int(sys.argv[1]))
height, width = slides.level_shapes(image)[0][:2]
ys, xs = np.mgrid[:height, :width]
per_row = width // {step} + 1
labels = np.where((ys % {step} < {side}) & (xs % {step} < {side}), (ys // {step}) * per_row + xs // {step} + 1, 0)
sink = slides.create_labels(image, key="seg")
sink[...] = labels.astype(np.uint32)
slides.build_label_pyramid(image, key="seg")
table = CellTable(ndim=2)
table.add(labels)
annotation_prepared_save(annotation_prepare_tiled(image=image, labels_key="seg", cells=table.result(),
                                                  source=Annotation.Source.MODEL))
""".format(step=STEP, side=SIDE)

ZOOM = "([scale, tx, ty]) => window.cellposeSlide.model.setTransform({ scale, tx, ty })"


def is_grey(rgb) -> bool:
    return max(rgb) - min(rgb) <= 6


def viewer_pixel(page, x, y):
    """The viewer's canvas pixel over image point (x, y), with the view at scale 1 from (1000, 1000)."""
    page.evaluate(ZOOM, [1, -1000, -1000])
    page.wait_for_function(SETTLED, timeout=60_000)
    [sample] = page.evaluate(SAMPLE, [[x - 1000, y - 1000]])
    assert (int(sample["x"]), int(sample["y"])) == (x, y)
    return sample["rgb"]


def test_a_cell_deleted_in_a_region_is_gone_from_the_viewer_after_save(page, live_site):
    sign_in(page, live_site)
    buf = io.BytesIO()
    tifffile.imwrite(buf, checkerboard(), compression="zlib", rowsperstrip=256)
    image_id = page.evaluate(UPLOAD, base64.b64encode(buf.getvalue()).decode())
    subprocess.run([live_site.python, "-c", SEGMENT, str(image_id)], env=live_site.env, check=True, timeout=300,
                   cwd=Path(__file__).resolve().parents[2])

    page.goto(f"/images/{image_id}/slide/")
    page.wait_for_selector("[data-page=slide][data-state=ready]")
    page.wait_for_function(SETTLED, timeout=60_000)
    edit = page.locator("[data-action=edit-region]")
    assert edit.is_disabled()  # the whole image is in view: too large to edit at once
    assert "zoom in" in page.locator("[data-role=edit-note]").inner_text()
    before = viewer_pixel(page, *CELL)
    neighbour_before = viewer_pixel(page, CELL[0] + STEP, CELL[1])
    assert not is_grey(before) and not is_grey(neighbour_before)  # both cells carry a mask colour

    edit.click()
    page.wait_for_url(f"**/images/{image_id}/region/?**")
    page.wait_for_selector("[data-page=region][data-state=ready]")
    region = page.evaluate("() => window.cellposeRegion.region")
    assert region["x"] == 1000 and region["y"] == 1000 and region["width"] <= 2048
    # Ctrl+click the cell: the editor's delete, as on the image page
    canvas = page.locator("[data-page=region] canvas").bounding_box()
    t = page.evaluate("() => window.cellposeRegion.model.transform")
    sx = canvas["x"] + (CELL[0] - region["x"] + 0.5) * t["scale"] + t["tx"]
    sy = canvas["y"] + (CELL[1] - region["y"] + 0.5) * t["scale"] + t["ty"]
    page.keyboard.down("Control")
    page.mouse.click(sx, sy)
    page.keyboard.up("Control")
    page.wait_for_function("() => window.cellposeRegion.editor.history.canUndo")
    page.click("[data-action=save]")
    status = page.locator("[data-role=save-status]")
    page.wait_for_function("() => document.querySelector('[data-role=save-status]').textContent.includes('version 2')")
    assert "All changes saved" in status.inner_text()

    versions = page.request.get(f"/api/images/{image_id}/annotation/versions/").json()["results"]
    assert versions[0]["version"] == 2 and versions[0]["changes"]["removed"] == 1
    assert versions[0]["summary"]["chunks_written"] >= 1

    page.click("[data-role=back]")
    page.wait_for_selector("[data-page=slide][data-state=ready]")
    assert page.locator("select[name=labels]").input_value() == versions[0]["labels_key"]
    after = viewer_pixel(page, *CELL)
    neighbour_after = viewer_pixel(page, CELL[0] + STEP, CELL[1])
    assert is_grey(after), after  # the deleted cell shows the bare image
    assert neighbour_after == neighbour_before  # its neighbour is untouched
