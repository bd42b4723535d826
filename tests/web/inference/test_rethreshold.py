"""Re-thresholding recomputes masks from stored flows (no network) as a new annotation version."""
import io

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from annotations.encoding import decode_labels
from annotations.models import Annotation
from inference.engine.metrics import average_precision
from inference.engine import recompute_masks
from inference.rethreshold import masks_rethreshold
from tests.web.conftest import perfect_flows

pytestmark = pytest.mark.django_db


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_rethresholding_recovers_the_masks_from_the_stored_flows(api, segmented_image):
    response = api.post(
        f"/api/images/{segmented_image.pk}/rethreshold/", {"cellprob_threshold": 0.0, "flow_threshold": 0.4}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 2 and body["source"] == "model" and body["job"] == segmented_image.job.pk
    assert body["summary"]["cellprob_threshold"] == 0.0 and body["summary"]["flow_threshold"] == 0.4
    masks = decode_labels(api.get(f"/api/images/{segmented_image.pk}/annotation/").json()["masks"], expected_shape=(64, 64))
    dP, cellprob = perfect_flows(segmented_image.true_masks)
    np.testing.assert_array_equal(masks, recompute_masks(dP, cellprob, cellprob_threshold=0.0, flow_threshold=0.4))
    ap, *_ = average_precision(segmented_image.true_masks, masks, thresholds=(0.5,))
    assert float(np.ravel(ap)[0]) > 0.8


def test_a_threshold_above_every_probability_leaves_no_masks(api, segmented_image):
    body = api.post(f"/api/images/{segmented_image.pk}/rethreshold/", {"cellprob_threshold": 5.0}, format="json").json()

    assert body["n_masks"] == 0


def test_rethresholding_an_image_without_flows_is_409(api, image):
    response = api.post(f"/api/images/{image.pk}/rethreshold/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == "cells.tif has no stored flows to re-threshold; segment it first."


def test_thresholds_out_of_range_are_400(api, segmented_image):
    response = api.post(f"/api/images/{segmented_image.pk}/rethreshold/", {"flow_threshold": -1}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("flow_threshold:")
    assert Annotation.objects.filter(image=segmented_image).count() == 1


def test_rethresholding_a_512_image_recovers_its_cells_from_the_stored_flows(
        owner, model_version, make_image, segmented_image):
    # Its speed (flows -> masks, ~0.2 s at 512 x 512) is measured by
    # benchmarks/bench_flows_dynamics.py --size 512, not asserted here.
    from tests.web.conftest import perfect_flows, synthetic_cells, tiff_bytes
    from annotations.files import npz_content
    from annotations.selectors import annotation_arrays
    from inference.engine.metrics import average_precision
    from inference.models import JobItem

    picture, masks = synthetic_cells(size=512, seed=5)
    image = make_image(name="big.tif", content=tiff_bytes(picture[0]))
    dP, cellprob = perfect_flows(masks)
    item = JobItem(job=segmented_image.job, image=image, status="succeeded")
    item.flows.save("flows.npz", npz_content(dP=dP, cellprob=cellprob, niter=np.int32(200)), save=False)
    item.save()

    annotation = masks_rethreshold(image=image, cellprob_threshold=0.5, flow_threshold=0.4)

    sizes = np.bincount(masks.ravel())
    kept = np.where(sizes[masks] >= 15, masks, 0)  # min_size drops a few slivers at the border
    assert annotation.version == 1 and annotation.n_masks == np.count_nonzero(sizes[1:] >= 15)
    recovered = annotation_arrays(annotation)[0]
    assert average_precision(kept, recovered, thresholds=(0.9,))[0][0][0] == 1.0


def test_flows_download_as_a_float_tiff(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/flows/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="synthetic_cells_flows.tif"'
    stack = tifffile.imread(io.BytesIO(content(response)))
    assert stack.shape == (3, 64, 64) and stack.dtype == np.float32


def test_flows_display_as_an_rgb_png(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/flows/", {"format": "png"})

    picture = np.asarray(PILImage.open(io.BytesIO(content(response))))
    assert response["Content-Type"] == "image/png" and picture.shape == (64, 64, 3)


def test_cellprob_displays_as_a_grey_png_bright_inside_cells(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/cellprob/")

    picture = np.asarray(PILImage.open(io.BytesIO(content(response))))
    inside = segmented_image.true_masks > 0
    assert picture.shape == (64, 64)
    assert picture[inside].min() > 128 > picture[~inside].max()


def test_flows_and_cellprob_of_an_image_never_segmented_are_404(api, image):
    assert api.get(f"/api/images/{image.pk}/flows/").status_code == 404
    response = api.get(f"/api/images/{image.pk}/cellprob/")
    assert response.status_code == 404 and "no flows yet" in response.json()["detail"]
