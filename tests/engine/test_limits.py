"""Cost limits: a diameter that would build a huge network input is refused before any work."""
import numpy as np
import pytest

from inference.engine.limits import CostLimits, check_cost, smallest_diameter
from inference.engine.model import CellposeModel

from .toy_nets import BlobOracleNet


class _NetThatMustNotRun(BlobOracleNet):
    def forward(self, x):  # pragma: no cover - reaching it is the failure
        raise AssertionError("the network ran on an input over the cost limits")


def test_a_tiny_diameter_on_a_one_pixel_image_is_refused_before_the_network_runs():
    model = CellposeModel([_NetThatMustNotRun()], name="guarded")

    with pytest.raises(ValueError, match=r"upsamples the image 3000 times.*at least 3\.75 pixels"):
        model.segment(np.ones((1, 1), np.float32), diameter=0.01)


@pytest.mark.parametrize("shape, do_3d", [((4096, 4096), False), ((64, 2048, 2048), True), ((64, 2048, 2048), False)])
def test_the_smallest_diameter_reported_is_the_one_that_fits_in_2d_and_3d(shape, do_3d):
    limits = CostLimits(max_upscale=100, max_side=10**6, max_pixels=2**24, max_voxels=2**30)
    fits = smallest_diameter(shape, diam_mean=30.0, do_3d=do_3d, limits=limits)

    check_cost(shape, diameter=fits, diam_mean=30.0, do_3d=do_3d, limits=limits)
    with pytest.raises(ValueError, match=f"at least {fits:g} pixels"):
        check_cost(shape, diameter=fits * 0.98, diam_mean=30.0, do_3d=do_3d, limits=limits)


def test_each_limit_is_named_with_the_size_it_would_have():
    limits = CostLimits(max_upscale=8, max_side=1000, max_pixels=500_000, max_voxels=10**6)

    with pytest.raises(ValueError, match="limit 1000 per axis"):
        check_cost((600, 10), diameter=15, diam_mean=30, limits=limits)
    with pytest.raises(ValueError, match="1440000 pixels \\(limit 500000\\)"):
        check_cost((600, 600), diameter=15, diam_mean=30, limits=limits)
    with pytest.raises(ValueError, match="voxels \\(limit 1000000\\)"):
        check_cost((10, 400, 400), diameter=30, diam_mean=30, do_3d=True, limits=limits)
    check_cost((10, 300, 300), diameter=30, diam_mean=30, do_3d=True, limits=limits)


def test_an_estimated_diameter_is_checked_as_well(monkeypatch):
    model = CellposeModel([_NetThatMustNotRun()], name="guarded")
    monkeypatch.setattr(model, "_resolve_diameter", lambda *a, **k: (0.5, "estimated"))

    with pytest.raises(ValueError, match="diameter 0.5 is too small"):
        model.segment(np.ones((64, 64), np.float32), diameter=None)
