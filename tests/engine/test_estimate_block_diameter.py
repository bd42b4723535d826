"""estimate_block_diameter: the diameter segment_blocks estimates, for callers that run blocks elsewhere."""
from pathlib import Path

import numpy as np
import pytest
import tifffile

from inference.engine import estimate_block_diameter, global_normalisation, load_model, segment_blocks
from inference.engine.model import WEIGHTS_DIR

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.skipif(not (WEIGHTS_DIR / "default.pt").exists(), reason="the default model is not built")
def test_blocks_at_the_estimated_diameter_equal_segment_blocks_left_to_estimate_it():
    model = load_model()
    image = tifffile.imread(DATA / "img2d.tif")[:256, :256]
    options = dict(block_size=128, overlap=32, augment=False)

    diameter = estimate_block_diameter(model, image, spatial_ndim=2, normalisation=global_normalisation(image))
    given, estimated = np.zeros((256, 256), np.uint32), np.zeros((256, 256), np.uint32)
    segment_blocks(model, image, given, diameter=diameter, **options)
    segment_blocks(model, image, estimated, diameter=None, **options)

    assert 5 < diameter < 80
    np.testing.assert_array_equal(given, estimated)


def test_a_source_whose_axes_do_not_fit_is_refused():
    with pytest.raises(ValueError, match="2 spatial axes"):
        estimate_block_diameter(None, np.zeros((4, 8, 8, 3)), spatial_ndim=2, normalisation=(0, 1))
