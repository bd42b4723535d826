"""Every version of an image's masks says how they were made (the annotation's "recipe"), so the
image page can restore the segmentation options, thresholds, channels, diameter and model."""
import numpy as np
import pytest

from annotations.encoding import encode_labels

pytestmark = pytest.mark.django_db


def recipe(api, image, version=None):
    query = {"version": version} if version else {}
    return api.get(f"/api/images/{image.pk}/annotation/", query).json()["recipe"]


def test_a_segmentation_says_which_model_options_and_estimated_diameter_made_it(api, segmented_image, model_version):
    made = recipe(api, segmented_image)

    assert made["version"] == 1 and made["job"] == segmented_image.job.pk
    assert made["model_version"] == model_version.pk
    assert made["model_name"] == f"{model_version.name} v{model_version.version}"
    assert made["channels"] == [0, 0]
    assert made["diameter"] == 14.0 and made["diameter_source"] == "estimated"
    assert (made["cellprob_threshold"], made["flow_threshold"]) == (0.0, 0.4)
    assert (made["augment"], made["tile_overlap"], made["min_size"]) == (True, 0.5, 15)


def test_edits_after_a_rethreshold_keep_the_rethresholds_settings(api, segmented_image):
    thresholds = {"cellprob_threshold": -1.0, "flow_threshold": 3.0}
    assert api.post(f"/api/images/{segmented_image.pk}/rethreshold/", thresholds, format="json").status_code == 201
    masks = segmented_image.true_masks.copy()
    masks[masks == 1] = 0
    saved = api.put(
        f"/api/images/{segmented_image.pk}/annotation/", {"version": 2, "masks": encode_labels(masks)}, format="json"
    )
    assert saved.json()["version"] == 3

    made = recipe(api, segmented_image)
    assert made["version"] == 2
    assert (made["cellprob_threshold"], made["flow_threshold"]) == (-1.0, 3.0)
    assert made["diameter"] == 14.0, "the re-threshold keeps the segmentation's diameter"


def test_a_restored_version_has_the_recipe_of_the_version_it_restores(api, segmented_image):
    api.post(f"/api/images/{segmented_image.pk}/rethreshold/", {"cellprob_threshold": 2.0}, format="json")
    restored = api.post(f"/api/images/{segmented_image.pk}/annotation/versions/1/restore/", {}, format="json")
    assert restored.status_code in (200, 201), restored.json()

    assert recipe(api, segmented_image)["cellprob_threshold"] == 0.0
    assert recipe(api, segmented_image, version=2)["cellprob_threshold"] == 2.0


def test_masks_drawn_by_hand_have_no_recipe(api, image):
    masks = np.zeros((64, 64), np.int32)
    masks[10:20, 10:20] = 1
    api.put(f"/api/images/{image.pk}/annotation/", {"version": 0, "masks": encode_labels(masks)}, format="json")

    assert recipe(api, image) is None
