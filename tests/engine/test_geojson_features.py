"""geojson_features: the features of save_geojson one at a time, from a crop placed anywhere."""
import json

import numpy as np

from inference.engine import geojson_features
from inference.engine.io import read_labels
from inference.engine.polygons import save_geojson

from .test_export import DATA


def test_features_of_crops_placed_at_their_offset_equal_the_whole_image_export(tmp_path):
    masks = read_labels(DATA / "mask2d.tif")
    save_geojson(tmp_path / "whole.geojson", masks)
    whole = {f["properties"]["label"]: f for f in json.loads((tmp_path / "whole.geojson").read_text())["features"]}

    from scipy import ndimage

    pieces = {}
    for label, box in enumerate(ndimage.find_objects(masks), start=1):
        if box is None:
            continue
        sy, sx = box
        crop = masks[sy.start:sy.stop, sx.start:sx.stop]
        (feature,) = geojson_features(crop, labels=[label], offset=(sy.start, sx.start))
        pieces[label] = feature

    assert pieces.keys() == whole.keys()
    for label, feature in pieces.items():
        assert feature == whole[label]


def test_only_the_labels_asked_for_are_traced_and_a_plane_is_named_in_3d():
    masks = np.zeros((8, 8), np.int32)
    masks[1:3, 1:3] = 4
    masks[5:7, 5:8] = 9

    features = list(geojson_features(masks, labels=[9], offset=(10, 20), z=3))

    assert [f["properties"]["label"] for f in features] == [9]
    assert features[0]["properties"]["z"] == 3 and features[0]["geometry"]["plane"] == {"c": -1, "z": 3, "t": 0}
    assert features[0]["geometry"]["coordinates"][0][0] == [25, 15]
    assert [f["properties"]["label"] for f in geojson_features(masks)] == [4, 9]
