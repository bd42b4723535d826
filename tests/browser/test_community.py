"""The community loop in the browser: a curator's review queue (read-only viewer with the model's
prediction as an overlay, decisions with comments) and the admin's release dashboard (test-set
marking, a training run with its live loss and AP plots, candidate metrics, release)."""
import base64
import io
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data"


def sign_in(page, site):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", site.username)
    page.fill("input[name=password]", site.password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{site.url}/")


def encode(masks):
    data = np.ascontiguousarray(masks, dtype="<i4").tobytes()
    return {"encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": list(masks.shape),
            "data": base64.b64encode(zlib.compress(data)).decode()}


def api(page, method, path, **kwargs):
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.fetch(path, method=method, headers={"X-CSRFToken": token}, **kwargs)
    assert response.ok, f"{method} {path}: {response.status} {response.text()[:300]}"
    return response.json()


def contribute_crop(page, i, j, tags):
    image = tifffile.imread(DATA / "img2d.tif")[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
    masks = tifffile.imread(DATA / "mask2d.tif")[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
    buf = io.BytesIO()
    tifffile.imwrite(buf, image)
    uploaded = api(page, "POST", "/api/images/", multipart={
        "file": {"name": f"crop-{i}{j}.tif", "mimeType": "image/tiff", "buffer": buf.getvalue()}})
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    saved = page.request.put(f"/api/images/{uploaded['id']}/annotation/", data=json.dumps({"version": None, "masks": encode(masks)}),
                             headers={"X-CSRFToken": token, "Content-Type": "application/json"})
    assert saved.ok, saved.text()[:300]
    contribution = page.request.post("/api/contributions/", data=json.dumps(
        {"image": uploaded["id"], "license": "CC-BY", "consent": True, "tags": tags, "note": f"crop {i}{j}"}),
        headers={"X-CSRFToken": token, "Content-Type": "application/json"})
    assert contribution.status == 201, contribution.text()[:300]
    return contribution.json()


CONTRIBUTOR = ("contrib-b", "Cells-and-Nuclei-2026")


def sign_up_or_in(page, site, username, password):
    """Sign in as ``username``, signing up first where the account does not exist yet."""
    sign_out(page)
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    if page.url.rstrip("/") != site.url:
        page.goto("/accounts/signup/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password1]", password)
        page.fill("input[name=password2]", password)
        page.click("form button[type=submit]")
        page.wait_for_url(f"{site.url}/")


def sign_out(page):
    page.goto("/")
    button = page.locator("form[action$='logout/'] button")
    if button.count():
        button.click()
        page.wait_for_load_state()


def confirm_typed(page, name):
    """Type ``name`` into the open release / roll-back dialog and confirm."""
    page.wait_for_selector("[data-role=confirm-dialog][open]")
    page.fill("[data-role=confirm-input]", name)
    page.click("[data-role=confirm-button]:enabled")


def test_a_curator_reviews_the_queue_and_an_admin_trains_and_releases(page, live_site):
    # another user contributes: nobody reviews their own contribution
    sign_up_or_in(page, live_site, *CONTRIBUTOR)
    page.goto("/community/")  # sets the CSRF cookie
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    ids = [contribute_crop(page, 0, 0, ["nuclei"])["id"], contribute_crop(page, 1, 1, ["nuclei"])["id"],
           contribute_crop(page, 0, 1, ["nuclei"])["id"]]
    page.reload()
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    assert page.locator("[data-role=contributions] tbody tr").count() >= 3
    # the checks run in the background: the page says so, and shows them once they have run
    for cid in ids:
        page.wait_for_selector(f"tr[data-contribution='{cid}'] td[data-checks=succeeded]", timeout=120_000)
    assert page.locator("[data-role=checks-run]").count() == 0
    assert page.locator("[data-check=manual_share].ok").count() >= 3

    # the review queue: open each, look at the prediction overlay, decide
    sign_out(page)
    sign_in(page, live_site)
    page.goto("/community/review/")
    page.wait_for_selector("[data-page=review][data-state=ready]")
    for n, (cid, decision) in enumerate(zip(ids, ["approve", "approve", "reject"])):
        row = page.locator(f"[data-role=queue] tr[data-contribution='{cid}']")
        assert row.count() == 1
        row.click()
        page.wait_for_selector(f"[data-role=viewer][data-contribution='{cid}']:not([hidden])")
        assert page.locator("[data-role=canvas]").get_attribute("data-overlay") == "masks"
        page.check("[data-role=show-prediction]")
        assert page.locator("[data-role=canvas]").get_attribute("data-overlay") == "prediction"
        page.fill("[data-role=comment]", "not a full labelling" if decision == "reject" else "thanks")
        page.click(f"[data-decision={decision}]")
        page.wait_for_selector(f"[data-role=queue] tr[data-contribution='{cid}']", state="detached")

    # the contributor sees the curator's comment
    sign_up_or_in(page, live_site, *CONTRIBUTOR)
    page.goto("/community/")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    rejected = page.locator(f"tr[data-contribution='{ids[2]}']")
    assert rejected.get_attribute("data-status") == "rejected"
    assert "not a full labelling" in rejected.inner_text()

    # the dashboard: hold one out as test data, train, watch the plots, release the candidate
    sign_out(page)
    sign_in(page, live_site)
    page.goto("/community/dashboard/")
    page.wait_for_selector("[data-page=dashboard][data-state=ready]")
    page.click(f"[data-role=approved] tr[data-contribution='{ids[1]}'] [data-action=mark-test]")
    page.wait_for_selector(f"[data-role=approved] tr[data-contribution='{ids[1]}'][data-split=test]")
    for name, value in {"n_epochs": "2", "n_samples_per_epoch": "2", "batch_size": "2", "bsize": "64"}.items():
        page.fill(f"[data-role=train-form] [name={name}]", value)
    page.click("[data-role=train-form] button[type=submit]")
    page.wait_for_selector("[data-role=run][data-status=succeeded]", timeout=180_000)
    assert page.locator("[data-role=loss-plot]").get_attribute("data-points") == "2"
    assert page.locator("[data-role=ap-plot]").get_attribute("data-points") == "2"
    assert page.locator("[data-role=loss-plot] polyline").count() == 1
    assert page.locator("[data-role=candidate-ap]").count() >= 2  # all images and the "nuclei" tag
    candidate = api(page, "GET", "/api/training-runs/")["results"][0]["candidate"]
    named = next(m for m in api(page, "GET", "/api/community/models/") if m["id"] == candidate)
    page.click(f"[data-role=models] tr[data-model='{candidate}'] [data-action=release]")
    confirm_typed(page, f"{named['name']} v{named['version']}")  # "Release …? … switches from … to …"
    page.wait_for_selector(f"[data-role=models] tr[data-model='{candidate}'][data-current=true]")

    # the public models page credits the contributor of the training image
    page.goto("/models/")
    page.wait_for_selector("[data-page=models][data-state=ready]")
    row = page.locator(f"[data-role=models] tr[data-model='{candidate}']")
    assert "current" in row.inner_text() and CONTRIBUTOR[0] in row.inner_text()


def test_the_models_page_shows_the_default_models_card(page, live_site):
    if not live_site.real_model:
        pytest.skip("the default model is not built: no card to show")
    page.goto("/models/")
    page.wait_for_selector("[data-page=models][data-state=ready]")
    card = page.locator("[data-role=models] tr[data-card] details").first
    card.locator("summary").click()
    text = card.inner_text()
    for heading in ("Training data", "Accuracy", "Recipe", "Known weaknesses"):
        assert heading in text
    assert "dsb2018-train" in text and "CC0" in text


def test_release_and_roll_back_need_the_name_typed_and_name_the_model_before_and_after(page, live_site):
    import torch

    from inference.engine.net import CellposeNet

    sign_in(page, live_site)
    page.goto("/community/")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    buf = io.BytesIO()
    torch.save(CellposeNet(nbase=(2, 8, 16)).to_cellpose_state_dict(), buf)
    imported = api(page, "POST", "/api/models/import/", multipart={
        "file": {"name": "tiny.pth", "mimeType": "application/octet-stream", "buffer": buf.getvalue()},
        "name": "asked"})
    current = next(m for m in api(page, "GET", "/api/community/models/") if m["is_current"])
    before, after = f"{current['name']} v{current['version']}", f"asked v{imported['version']}"

    page.goto("/community/dashboard/")
    page.wait_for_selector("[data-page=dashboard][data-state=ready]")
    release = page.locator(f"[data-role=models] tr[data-model='{imported['id']}'] [data-action=release]")
    release.click()
    page.wait_for_selector("[data-role=confirm-dialog][open]")
    asked = page.inner_text("[data-role=confirm-question]")
    assert before in asked and after in asked
    assert page.inner_text("[data-role=confirm-expected]") == after
    assert page.locator("[data-role=confirm-button]").is_disabled()
    page.fill("[data-role=confirm-input]", before)  # the wrong model: still disabled
    assert page.locator("[data-role=confirm-button]").is_disabled()
    page.click("[data-role=confirm-cancel]")
    page.wait_for_selector("[data-role=confirm-dialog]:not([open])", state="attached")
    assert page.locator(f"[data-role=models] tr[data-model='{imported['id']}']").get_attribute("data-current") == "false"

    release.click()
    confirm_typed(page, after)
    page.wait_for_selector(f"[data-role=models] tr[data-model='{imported['id']}'][data-current=true]")
    said = page.inner_text("[data-role=release-status]")
    assert said.startswith(f"{after} is now the current community model") and before in said

    page.click(f"[data-role=models] tr[data-model='{imported['id']}'] [data-action=rollback]")
    page.wait_for_selector("[data-role=confirm-dialog][open]")
    assert "Roll back" in page.inner_text("[data-role=confirm-question]")
    assert f"from {after} back to {before}" in page.inner_text("[data-role=confirm-question]")
    confirm_typed(page, before)
    page.wait_for_selector(f"[data-role=models] tr[data-model='{current['id']}'][data-current=true]")
    assert page.inner_text("[data-role=release-status]").startswith(f"{before} is now the current community model")


def test_the_dashboard_tells_a_non_admin_it_is_for_administrators_and_shows_no_forms(page, live_site):
    page.goto("/accounts/signup/")
    page.fill("input[name=username]", "plain-user")
    page.fill("input[name=password1]", "a-long-password-1")
    page.fill("input[name=password2]", "a-long-password-1")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_site.url}/")

    page.goto("/community/dashboard/")
    assert "for administrators" in page.inner_text("[data-role=admins-only]")
    assert page.locator("[data-role=train-form]").count() == 0
    assert page.locator("[data-role=models]").count() == 0
