"""The web downloads are the engine's exact exports: GeoJSON and COCO polygons from the API fill
back to every mask (pycocotools for COCO), GeoJSON features are QuPath detections with a
classification, and COCO areas agree with the masks and polygons."""
import io
import json

import numpy as np
import pytest
import shapely.geometry
from pycocotools.coco import COCO

from inference.engine.annotation_import import read_annotations

pytestmark = pytest.mark.django_db


def download(api, image, fmt) -> bytes:
    response = api.get(f"/api/images/{image.pk}/masks/", {"format": fmt})
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_geojson_download_fills_back_to_the_masks_as_valid_qupath_detections(api, segmented_image):
    data = download(api, segmented_image, "geojson")
    features = json.loads(data)["features"]

    for feature in features:
        assert feature["properties"]["objectType"] == "detection"
        assert feature["properties"]["classification"]["name"] == "Cell"
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid
        assert geometry.area == (segmented_image.true_masks == feature["properties"]["label"]).sum()
    np.testing.assert_array_equal(read_annotations(io.BytesIO(data), (64, 64)), segmented_image.true_masks)


def test_the_coco_download_gives_back_every_mask_with_pycocotools_and_consistent_areas(api, segmented_image):
    coco = COCO()
    coco.dataset = json.loads(download(api, segmented_image, "coco"))
    coco.createIndex()
    masks = segmented_image.true_masks
    annotations = coco.loadAnns(coco.getAnnIds())

    assert len(annotations) == int(masks.max())
    for annotation, label in zip(annotations, range(1, int(masks.max()) + 1)):
        cell = masks == label
        np.testing.assert_array_equal(coco.annToMask(annotation).astype(bool), cell)
        assert annotation["area"] == cell.sum()
