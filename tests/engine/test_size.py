import math

import numpy as np
import pytest
import torch

from inference.engine.size import SizeModel, diameter_of_masks, style_for_size
from inference.engine.tiling import run_net

from .toy_nets import PointwiseNet


def _linear_data(n=200, d=16, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    styles = rng.normal(size=(n, d))
    w = rng.normal(size=d) * 0.1
    log_d = styles @ w + math.log(25.0) + noise * rng.normal(size=n)
    return styles, np.exp(log_d), w


def test_fitting_recovers_a_known_linear_relation():
    styles, diameters, w = _linear_data()
    model = SizeModel.fit(styles, diameters, ridge=1e-6)
    np.testing.assert_allclose(model.weights, w, atol=1e-5)
    for s, d in zip(styles[:10], diameters[:10]):
        assert model.predict(s) == pytest.approx(d, rel=1e-5)


def test_ridge_shrinks_the_weights_towards_the_mean_diameter():
    styles, diameters, _ = _linear_data(noise=0.1)
    loose = SizeModel.fit(styles, diameters, ridge=1e-3)
    tight = SizeModel.fit(styles, diameters, ridge=1e6)
    assert np.linalg.norm(tight.weights) < 0.01 * np.linalg.norm(loose.weights)
    assert tight.predict(styles[0]) == pytest.approx(math.exp(np.log(diameters).mean()), rel=1e-2)


def test_to_dict_from_dict_round_trip_predicts_the_same(tmp_path):
    styles, diameters, _ = _linear_data(seed=1)
    model = SizeModel.fit(styles, diameters, ridge=0.5)
    path = tmp_path / "size.pt"
    torch.save(model.to_dict(), path)
    back = SizeModel.from_dict(torch.load(path, weights_only=True))
    assert back.ridge == 0.5 and back.n_features == 16
    for s in styles[:5]:
        assert back.predict(s) == model.predict(s)


def test_to_dict_holds_only_plain_lists_and_floats():
    d = SizeModel.fit(*_linear_data()[:2]).to_dict()
    assert isinstance(d["weights"], list) and all(type(v) is float for v in d["weights"])
    assert type(d["log_diameter_mean"]) is float


@pytest.mark.parametrize(
    "styles, diameters, match",
    [
        (np.zeros((3, 4)), np.ones(2), r"styles \(N, D\)"),
        (np.zeros(4), np.ones(4), r"styles \(N, D\)"),
        (np.zeros((3, 4)), np.array([1.0, 0.0, 2.0]), "> 0"),
    ],
)
def test_fit_rejects_bad_inputs(styles, diameters, match):
    with pytest.raises(ValueError, match=match):
        SizeModel.fit(styles, diameters)


def test_predict_and_from_dict_reject_mismatches():
    model = SizeModel.fit(*_linear_data()[:2])
    with pytest.raises(ValueError, match="16 values"):
        model.predict(np.zeros(8))
    with pytest.raises(ValueError, match="not a size model"):
        SizeModel.from_dict({"kind": "something else"})


def test_diameter_of_disks_is_their_diameter():
    yy, xx = np.mgrid[:200, :200]
    masks = np.zeros((200, 200), np.int32)
    for k, (cy, cx) in enumerate([(40, 40), (40, 120), (120, 60), (150, 150)], start=1):
        masks[(yy - cy) ** 2 + (xx - cx) ** 2 <= 15**2] = k
    assert diameter_of_masks(masks) == pytest.approx(30.0, rel=0.02)
    assert diameter_of_masks(np.zeros((5, 5), np.int32)) == 0.0


def test_style_for_size_is_the_unaugmented_style():
    net = PointwiseNet().eval()
    x = np.random.default_rng(0).random((2, 250, 240)).astype(np.float32)
    np.testing.assert_array_equal(style_for_size([net], x), run_net([net], x, augment=False)[1])


def test_the_upper_quartile_of_a_planes_sections_gives_the_diameter_of_balls_the_median_does_not():
    from inference.engine.size import STACK_SECTION_QUANTILE, _section_diameter

    rng = np.random.default_rng(0)
    d, side = 20.0, 600
    labels = np.zeros((side, side), np.int32)
    yy, xx = np.mgrid[:side, :side]
    for k in range(1, 401):  # 400 balls cut by one plane at uniformly random heights
        cy, cx = (k - 1) // 20 * 30 + 15, (k - 1) % 20 * 30 + 15
        h = rng.uniform(-d / 2, d / 2)
        r = np.sqrt((d / 2) ** 2 - h**2)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = k
    assert _section_diameter(labels, STACK_SECTION_QUANTILE) == pytest.approx(d, rel=0.06)
    assert _section_diameter(labels, 0.5) < 0.9 * d
    assert _section_diameter(np.zeros((4, 4), np.int32), 0.75) == 0.0


class _TileCounter(torch.nn.Module):
    """Wraps a net and counts the tiles it is given."""

    def __init__(self, net):
        super().__init__()
        self.net, self.tiles = net, 0

    def forward(self, x):
        self.tiles += x.shape[0]
        return self.net(x)


def _estimate_counting_tiles(monkeypatch, n_cells, shape=(512, 512)):
    from inference.engine import size
    from tests.engine.toy_nets import ConstantNet

    def masks_with(n):
        def compute_masks(dP, cellprob, **kwargs):
            labels = np.zeros(cellprob.shape, np.int32)
            for k in range(1, n + 1):  # n squares of 10 x 10 px, 8 to a row
                y, x = divmod(k - 1, 8)
                labels[2 + 12 * y:12 + 12 * y, 2 + 12 * x:12 + 12 * x] = k
            return labels
        return compute_masks

    monkeypatch.setattr(size, "compute_masks", masks_with(n_cells))
    counter = _TileCounter(ConstantNet()).eval()
    always_30 = SizeModel(np.zeros(4), np.zeros(4), math.log(30.0))
    x = np.zeros((2, *shape), np.float32)
    d, _ = size.estimate_diameter([counter], always_30, x, diam_mean=30.0)
    return d, counter.tiles


def test_the_size_of_a_512_image_costs_one_style_tile_and_four_refinement_tiles(monkeypatch):
    d, tiles = _estimate_counting_tiles(monkeypatch, n_cells=20)

    assert tiles == 1 + 4
    assert d == pytest.approx(2 * math.sqrt(100 / math.pi))  # the squares' equivalent-circle diameter


def test_too_few_cells_in_the_small_crop_refine_on_the_larger_one(monkeypatch):
    _, tiles = _estimate_counting_tiles(monkeypatch, n_cells=3)

    assert tiles == 1 + 4 + 9  # then the whole 512² image: 3 x 3 tiles without overlap


def test_an_image_inside_the_small_crop_is_refined_once_whatever_it_holds(monkeypatch):
    _, tiles = _estimate_counting_tiles(monkeypatch, n_cells=0, shape=(200, 200))

    assert tiles == 1 + 1
