import math

import numpy as np
import pytest

from inference.engine import augment
from inference.engine.flows import labels_to_training_targets, masks_to_flows


def _cells(shape=(64, 64)):
    """A few cells (ellipses, rectangles) away from the borders.

    Every object has odd extents, so its centre pixel (the one nearest the median y and x) is
    unique and the diffusion flows are exactly equivariant under flips and 90-degree turns.
    """
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    masks = np.zeros(shape, np.int32)
    masks[((yy - 20) / 9.0) ** 2 + ((xx - 18) / 6.0) ** 2 < 1] = 1
    masks[((yy - 42) / 7.0) ** 2 + ((xx - 40) / 12.0) ** 2 < 1] = 2
    masks[10:23, 38:57] = 3
    masks[44:57, 10:19] = 4
    return masks


def _warp_labels(masks, M, bsize):
    import cv2

    return cv2.warpAffine(masks.astype(np.float32), M, (bsize, bsize),
                          flags=cv2.INTER_NEAREST).astype(np.int32)


def _fraction_close(a, b, inside, atol=0.05):
    """Fraction of the pixels in ``inside`` where the two vector fields agree within ``atol``.

    Not all of them: at the exact centre of a symmetric object the heat gradient vanishes and its
    normalised direction is rounding noise.
    """
    return float(np.mean(np.abs(a - b).max(axis=0)[inside] < atol))


def _mean_cosine(a, b, inside):
    dot = (a * b).sum(0)[inside]
    norm = np.linalg.norm(a, axis=0)[inside] * np.linalg.norm(b, axis=0)[inside]
    return float(np.mean(dot / np.maximum(norm, 1e-6)))


@pytest.mark.parametrize("quarter_turns", [1, 3])
def test_rotating_flows_by_90_degrees_equals_the_flows_of_the_rotated_mask(quarter_turns):
    masks = _cells()
    targets = labels_to_training_targets(masks)
    M, V = augment.warp_matrix(masks.shape, bsize=64, theta=quarter_turns * math.pi / 2)
    img, tgt = augment.warp_sample(targets[:1], targets, M, V, 64)
    rotated = _warp_labels(masks, M, 64)
    # the warp is an exact 90-degree rotation of the pixel grid
    assert any(np.array_equal(rotated, np.rot90(masks, k)) for k in range(4))
    expected = masks_to_flows(rotated)
    np.testing.assert_array_equal(tgt[0], rotated > 0)
    inside = rotated > 0
    assert _fraction_close(tgt[1:], expected, inside) > 0.99


def test_flows_rotated_by_any_angle_point_like_the_flows_of_the_rotated_mask():
    masks = _cells()
    targets = labels_to_training_targets(masks)
    M, V = augment.warp_matrix(masks.shape, bsize=64, theta=math.radians(37))
    _, tgt = augment.warp_sample(targets[:1], targets, M, V, 64)
    rotated = _warp_labels(masks, M, 64)
    inside = (rotated > 0) & (tgt[0] > 0)
    assert _mean_cosine(tgt[1:], masks_to_flows(rotated), inside) > 0.9


@pytest.mark.parametrize("axis", ["y", "x"])
def test_a_flip_reverses_the_flow_along_the_flipped_axis_only(axis):
    masks = _cells()
    targets = labels_to_training_targets(masks)
    M, V = augment.warp_matrix(masks.shape, bsize=64, flip_y=axis == "y", flip_x=axis == "x")
    _, tgt = augment.warp_sample(targets[:1], targets, M, V, 64)
    k = 0 if axis == "y" else 1
    flipped = np.flip(targets, axis=1 + k)
    np.testing.assert_array_equal(tgt[0], flipped[0])
    np.testing.assert_allclose(tgt[1 + k], -flipped[1 + k], atol=1e-6)
    np.testing.assert_allclose(tgt[2 - k], flipped[2 - k], atol=1e-6)
    assert _fraction_close(tgt[1:], masks_to_flows(np.flip(masks, axis=k)), flipped[0] > 0) > 0.99


@pytest.mark.parametrize("shape", [(64, 64), (40, 90), (300, 260)])
def test_the_crop_has_the_requested_shape_and_pads_small_images_with_zeros(shape):
    rng = np.random.default_rng(0)
    image = rng.random((2,) + shape).astype(np.float32) + 1.0
    masks = np.zeros(shape, np.int32)
    masks[10:30, 10:30] = 1
    targets = labels_to_training_targets(masks)
    img, tgt = augment.augment_sample(image, targets, rng, diameter=22.0, bsize=96,
                                      jitter=augment.IntensityJitter(prob=1.0))
    assert img.shape == (2, 96, 96) and tgt.shape == (3, 96, 96)
    assert img.dtype == np.float32 and tgt.dtype == np.float32
    assert set(np.unique(tgt[0])) <= {0.0, 1.0}
    if shape == (40, 90):  # smaller than the crop after rescaling: zero padding around it
        assert np.any(img == 0)


def test_the_same_seed_gives_the_same_sample_and_another_seed_does_not():
    masks = _cells()
    image = np.random.default_rng(1).random((2, 64, 64)).astype(np.float32)
    targets = labels_to_training_targets(masks)
    kwargs = dict(diameter=20.0, bsize=48, nucleus_dropout=0.5,
                  jitter=augment.IntensityJitter(prob=0.5))
    a = augment.augment_sample(image, targets, np.random.default_rng(7), **kwargs)
    b = augment.augment_sample(image, targets, np.random.default_rng(7), **kwargs)
    c = augment.augment_sample(image, targets, np.random.default_rng(8), **kwargs)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_rescaling_brings_cells_to_the_common_diameter():
    masks = _cells((128, 128))
    d = augment.median_diameter(masks)
    targets = labels_to_training_targets(masks)
    image = np.stack([targets[0], np.zeros_like(targets[0])])
    rng = np.random.default_rng(3)
    img, tgt = augment.augment_sample(image, targets, rng, diameter=d, diam_mean=2 * d,
                                      bsize=256, scale_range=(1.0, 1.0), rotate=False, flip=False)
    assert tgt[0].sum() == pytest.approx(4 * targets[0].sum(), rel=0.05)


def test_nucleus_dropout_zeroes_the_second_channel_and_jitter_leaves_zero_channels_alone():
    image = np.ones((2, 32, 32), np.float32)
    targets = np.zeros((3, 32, 32), np.float32)
    img, _ = augment.augment_sample(image, targets, np.random.default_rng(0), diameter=30.0,
                                    bsize=32, scale_range=(1.0, 1.0), rotate=False,
                                    nucleus_dropout=1.0, jitter=augment.IntensityJitter(prob=1.0))
    assert not np.any(img[1])
    assert np.any(img[0] != 1.0)


def test_median_diameter_is_the_equivalent_circle_diameter_of_the_median_cell():
    masks = np.zeros((50, 50), np.int32)
    masks[:10, :10] = 1  # area 100
    masks[20:30, 20:40] = 2  # area 200
    masks[40:50, 40:49] = 3  # area 90
    assert augment.median_diameter(masks) == pytest.approx(2 * math.sqrt(100 / math.pi))
    assert augment.median_diameter(np.zeros((5, 5), np.int32)) == 0.0
