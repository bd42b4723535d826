"""benchmarks/make_slide.py: a large H&E-like slide from real tiles, as zarr or as a tiled BigTIFF."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_slide.py"
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")


@pytest.fixture(scope="module")
def make_slide():
    spec = importlib.util.spec_from_file_location("make_slide", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_zarr_and_the_tiff_slides_hold_the_same_rgb_pixels(make_slide, tmp_path):
    make_slide.main([str(tmp_path / "slide.zarr"), "--size", "600"])
    make_slide.main([str(tmp_path / "slide.tif"), "--size", "600", "--format", "tiff"])

    z = zarr.open(str(tmp_path / "slide.zarr"), mode="r")
    with tifffile.TiffFile(tmp_path / "slide.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled
        t = tif.asarray()
    assert z.shape == t.shape == (600, 600, 3) and z.dtype == t.dtype == np.uint8
    assert z.chunks == (1024, 1024, 3)
    assert np.array_equal(z[:], t)


def test_the_slide_is_made_of_transformed_crops_of_the_he_sample_not_one_repeated_tile(make_slide, tmp_path):
    from inference.engine.io import imread

    make_slide.main([str(tmp_path / "slide.zarr"), "--size", "768"])
    slide = zarr.open(str(tmp_path / "slide.zarr"), mode="r")[:]
    he = imread(make_slide.HISTO)[..., :3]
    tiles = [slide[y:y + 256, x:x + 256] for y in (0, 256, 512) for x in (0, 256, 512)]

    assert len({t.tobytes() for t in tiles}) == 9
    first = tiles[0]
    # the first tile, turned back, is a crop of the sample: its first row appears in the sample
    views = [np.rot90(v, k) for v in (first, first[:, ::-1]) for k in range(4)]
    found = False
    for view in views:
        row = view[0]
        for y in range(he.shape[0] - 255):
            hits = np.flatnonzero((he[y, : he.shape[1] - 255] == row[0]).all(axis=1))
            if any(np.array_equal(he[y:y + 256, x:x + 256], view) for x in hits):
                found = True
                break
        if found:
            break
    assert found
