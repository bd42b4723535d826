"""The Cellpose GUI file of an edited version is complete: the segmentation's flows where the
masks are unchanged, the edits' own elsewhere, and always a diameter."""
import io

import numpy as np
import pytest

from annotations.encoding import encode_labels
from tests.web.conftest import perfect_flows

pytestmark = pytest.mark.django_db


def seg_npy(api, image):
    response = api.get(f"/api/images/{image.pk}/masks/", {"format": "npy"})
    assert response.status_code == 200
    return np.load(io.BytesIO(b"".join(response.streaming_content)), allow_pickle=True).item()


def test_an_edited_versions_seg_npy_keeps_the_flows_of_unchanged_cells_and_the_diameter(api, segmented_image):
    masks = segmented_image.true_masks.copy()
    masks[masks == 1] = 0
    saved = api.put(
        f"/api/images/{segmented_image.pk}/annotation/", {"version": 1, "masks": encode_labels(masks)}, format="json"
    )
    assert saved.status_code == 200

    seg = seg_npy(api, segmented_image)

    assert seg["diameter"] == 14.0 and seg["est_diam"] == 14.0
    stacked = seg["flows"][4]
    assert stacked.shape == (3, 64, 64)
    dP, cellprob = perfect_flows(segmented_image.true_masks)
    untouched = masks > 1
    np.testing.assert_allclose(stacked[:2][:, untouched], dP[:, untouched], rtol=1e-6)
    np.testing.assert_allclose(stacked[2][untouched], cellprob[untouched], rtol=1e-6)
    removed = segmented_image.true_masks == 1
    assert (stacked[:2][:, removed] == 0).all() and (stacked[2][removed] < 0).all()


def test_hand_drawn_masks_get_their_own_median_diameter(api, image):
    masks = np.zeros((64, 64), np.int32)
    masks[10:20, 10:20] = 1
    masks[30:40, 30:40] = 2
    api.put(f"/api/images/{image.pk}/annotation/", {"version": 0, "masks": encode_labels(masks)}, format="json")

    seg = seg_npy(api, image)

    assert seg["diameter"] == pytest.approx(2 * np.sqrt(100 / np.pi))
    assert seg["flows"][4] == [[]], "no segmentation, no flows"
