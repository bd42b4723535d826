"""The release dashboard as a place to decide: a finished run's candidate beside the current model
on every test image, both overlays side by side, AP per image kind over the releases with axes,
the training data it saw, and a release that needs the candidate's name typed."""
import re
import time

import pytest

from tests.browser.test_community import api, confirm_typed, contribute_crop, sign_in, sign_out, sign_up_or_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONTRIBUTOR = ("contrib-decision", "Decide-on-Every-Image-2026")


def _finished_run(page, live_site) -> dict:
    """A contributor's two crops, approved, one held out as test data, trained to the end."""
    sign_up_or_in(page, live_site, *CONTRIBUTOR)
    page.goto("/community/")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    train, test = contribute_crop(page, 1, 0, ["decide"])["id"], contribute_crop(page, 1, 1, ["decide"])["id"]
    sign_out(page)
    sign_in(page, live_site)
    page.goto("/community/")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    for cid in (train, test):
        api(page, "POST", f"/api/contributions/{cid}/review/", data={"decision": "approve"})
    api(page, "POST", f"/api/contributions/{test}/split/", data={"split": "test"})
    run = api(page, "POST", "/api/training-runs/", data={"n_epochs": 2, "n_samples_per_epoch": 2, "batch_size": 2,
                                                         "bsize": 64, "contributions": [train]})
    deadline = time.monotonic() + 180
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
        run = api(page, "GET", f"/api/training-runs/{run['id']}/")
    assert run["status"] == "succeeded", run["error"]
    return {"run": run, "test": test}


def test_an_admin_compares_a_candidate_per_test_image_and_must_type_its_name_to_release(page, live_site):
    finished = _finished_run(page, live_site)
    run, test = finished["run"], finished["test"]
    candidate = next(m for m in api(page, "GET", "/api/community/models/") if m["id"] == run["candidate"])
    name = f"{candidate['name']} v{candidate['version']}"

    page.goto("/community/dashboard/")
    page.wait_for_selector("[data-page=dashboard][data-state=ready]")
    decision = page.locator(f"[data-role=decision][data-run='{run['id']}']")
    decision.wait_for()
    assert name in decision.locator("[data-role=decision-candidate]").inner_text()
    # the test set also holds what earlier tests on this server held out
    assert re.match(r"Better on \d+ of \d+ test images?, worse on \d+, the same on \d+; ",
                    decision.locator("[data-role=comparison-summary]").inner_text())
    row = decision.locator(f"[data-role=comparison] tbody tr[data-contribution='{test}']")
    assert row.get_attribute("data-verdict") in ("better", "worse", "same")
    assert "crop-11.tif" in row.inner_text()

    # both predictions side by side on the image
    row.click()
    viewer = decision.locator(f"[data-role=compare-viewer][data-contribution='{test}']")
    viewer.wait_for()
    for role in ("current-canvas", "candidate-canvas"):
        assert viewer.locator(f"[data-role={role}]").evaluate("c => [c.width, c.height]") == [128, 128]
    assert name in viewer.locator("[data-role=candidate-caption]").inner_text()

    # AP per image kind over the releases: axes with tick values and the candidate last
    chart = decision.locator("[data-role=kind-plot]")
    assert chart.locator(".y-tick").count() >= 3
    assert chart.locator(".x-tick").last.text_content() == f"{name} (candidate)"
    assert "fluorescent" in decision.locator("[data-role=training-data]").inner_text()
    assert CONTRIBUTOR[0] in decision.locator("[data-role=training-contributors]").inner_text()

    # release needs the candidate's name typed
    page.click(f"[data-role=models] tr[data-model='{candidate['id']}'] [data-action=release]")
    page.wait_for_selector("[data-role=confirm-dialog][open]")
    assert page.locator("[data-role=confirm-button]").is_disabled()
    confirm_typed(page, name)
    page.wait_for_selector(f"[data-role=models] tr[data-model='{candidate['id']}'][data-current=true]")
