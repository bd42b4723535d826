import cv2
import numpy as np
import pytest

from inference.engine.transforms import convert_image, normalize99, resize_image


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(20, 30, 3)).astype(np.uint8)


def test_grayscale_image_becomes_cyto_plus_zero_channel():
    img = np.arange(12, dtype=np.uint16).reshape(3, 4)
    x = convert_image(img)
    assert x.shape == (2, 3, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], img)
    np.testing.assert_array_equal(x[1], 0)


def test_channels_select_rgb_planes_with_cellpose_convention(rgb):
    x = convert_image(rgb, channels=(2, 3))
    np.testing.assert_array_equal(x[0], rgb[..., 1])
    np.testing.assert_array_equal(x[1], rgb[..., 2])
    x = convert_image(rgb, channels=(1, 0))
    np.testing.assert_array_equal(x[0], rgb[..., 0])
    np.testing.assert_array_equal(x[1], 0)


def test_channel_zero_is_the_mean_over_colour_channels(rgb):
    x = convert_image(rgb, channels=(0, 0))
    np.testing.assert_allclose(x[0], rgb.astype(np.float32).mean(-1), rtol=1e-6)


def test_channels_first_and_channels_last_give_the_same_result(rgb):
    last = convert_image(rgb, channels=(3, 1))
    first = convert_image(np.moveaxis(rgb, -1, 0), channels=(3, 1))
    np.testing.assert_array_equal(last, first)


def test_explicit_channel_axis_overrides_the_guess():
    img = np.random.default_rng(1).random((3, 5, 4)).astype(np.float32)  # trailing 4 would be guessed
    x = convert_image(img, channels=(2, 0), channel_axis=0)
    np.testing.assert_array_equal(x[0], img[1])


def test_stacks_in_every_layout_become_z_c_y_x():
    rng = np.random.default_rng(2)
    vol = rng.random((6, 2, 10, 12)).astype(np.float32)  # (Lz, C, Ly, Lx)
    expected = np.stack([vol[:, 1], vol[:, 0]], axis=1)
    layouts = {
        "zcyx": (vol, {}),
        "zyxc": (np.moveaxis(vol, 1, -1), {}),
        "czyx": (np.moveaxis(vol, 1, 0), {}),
        "yxzc explicit": (vol.transpose(2, 3, 0, 1), {"z_axis": 2, "channel_axis": 3}),
    }
    for name, (arr, kw) in layouts.items():
        x = convert_image(arr, channels=(2, 1), **kw)
        assert x.shape == (6, 2, 10, 12), name
        np.testing.assert_array_equal(x, expected, err_msg=name)


def test_grayscale_stack_needs_do_3d_or_z_axis():
    vol = np.zeros((9, 20, 30), np.uint8)
    assert convert_image(vol, do_3d=True).shape == (9, 2, 20, 30)
    assert convert_image(vol, z_axis=0).shape == (9, 2, 20, 30)
    with pytest.raises(ValueError, match="do_3d=True"):
        convert_image(vol)


def test_small_leading_axis_is_read_as_z_with_do_3d():
    vol = np.zeros((3, 20, 30), np.uint8)
    assert convert_image(vol, do_3d=True).shape == (3, 2, 20, 30)
    assert convert_image(vol).shape == (2, 20, 30)  # without do_3d: 3 colour channels


@pytest.mark.parametrize(
    "image, kwargs, match",
    [
        (np.zeros((4, 5, 6, 7, 2)), {}, r"\(Ly, Lx\)"),
        (np.zeros(5), {}, r"\(Ly, Lx\)"),
        (np.zeros((10, 10, 2)), {"channels": (3, 0)}, "has 2 channel"),
        (np.zeros((10, 10)), {"channels": (0, 2)}, "has 1 channel"),
        (np.zeros((10, 10)), {"channels": (4, 0)}, "cyto in 0..3"),
        (np.zeros((10, 10)), {"channels": "ab"}, "pair of ints"),
        (np.zeros((10, 10), bool), {}, "real-valued"),
        (np.zeros((10, 10, 2)), {"channel_axis": 5}, "out of range"),
        (np.zeros((10, 10)), {"channel_axis": 0}, "no channel or Z axis"),
        (np.zeros((5, 10, 10, 9)), {}, "channel axis of a 4D image"),
        (np.full((10, 10), np.nan), {}, "NaN"),
    ],
)
def test_bad_images_raise_value_errors_naming_the_layout(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convert_image(image, **kwargs)


def test_normalize99_maps_the_1st_and_99th_percentiles_to_0_and_1():
    rng = np.random.default_rng(3)
    x = np.stack([rng.normal(100, 10, (64, 64)), rng.uniform(0, 5000, (64, 64))]).astype(np.float32)
    y = normalize99(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    for c in range(2):
        lo, hi = np.percentile(y[c], [1, 99])
        assert abs(lo) < 1e-5 and abs(hi - 1) < 1e-5


def test_normalize99_keeps_a_zero_channel_zero_and_a_constant_channel_finite():
    x = np.stack([np.zeros((8, 8)), np.full((8, 8), 7.0), np.arange(64.0).reshape(8, 8)])
    y = normalize99(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[0], 0)
    np.testing.assert_array_equal(y[1], 0)


def test_normalize99_over_a_stack_uses_each_channel_of_the_whole_stack():
    rng = np.random.default_rng(4)
    vol = rng.random((5, 2, 16, 16)).astype(np.float32)
    vol[:, 1] *= 1000
    y = normalize99(vol, channel_axis=1)
    np.testing.assert_allclose(y[:, 1], normalize99(vol[:, 1], channel_axis=None), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.percentile(y[:, 0], 99), 1.0, atol=1e-5)


def test_normalize99_rejects_bad_percentiles():
    with pytest.raises(ValueError, match="lower < upper"):
        normalize99(np.ones((2, 3, 3)), lower=50, upper=10)


def test_resize_image_matches_opencv_bilinear_on_every_plane():
    rng = np.random.default_rng(5)
    img = rng.random((2, 3, 17, 23)).astype(np.float32)
    out = resize_image(img, 40, 11)
    assert out.shape == (2, 3, 40, 11) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1, 2], cv2.resize(img[1, 2], (11, 40), interpolation=cv2.INTER_LINEAR))


def test_resize_image_keeps_a_constant_image_constant():
    out = resize_image(np.full((2, 10, 10), 3.5, np.float32), 33, 7)
    np.testing.assert_allclose(out, 3.5)


def test_resize_image_rejects_an_empty_target():
    with pytest.raises(ValueError, match=">= 1"):
        resize_image(np.zeros((4, 4)), 0, 4)
