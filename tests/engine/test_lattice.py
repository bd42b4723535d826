"""The whole image's network lattice: a region resampled and tiled as the whole image is."""
import numpy as np
import pytest

from inference.engine.lattice import NetLattice, padded_length, tile_starts
from inference.engine.transforms import resize_image

SHAPE = (600, 500)
REGION = (slice(137, 411), slice(58, 333))


def _image(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).random((2, *shape)).astype(np.float32)


@pytest.mark.parametrize("rescale", [1.25, 0.83, 30 / 17, 1.0])
def test_a_region_resampled_onto_the_lattice_equals_the_whole_image_resize_there(rescale):
    x = _image()
    lattice = NetLattice(SHAPE, rescale)
    window = lattice.window(REGION)

    whole = resize_image(x, *lattice.net_shape)
    part = window.to_net(x[(slice(None),) + REGION])

    np.testing.assert_allclose(part, whole[(slice(None),) + window.net], rtol=0, atol=1e-6)
    for net, region, n, length in zip(window.net, REGION, lattice.net_shape, SHAPE):
        # the region's network pixels are those made of its own pixels: no more than one short
        assert abs((net.start - region.start * n / length)) <= 2 and abs(net.stop - region.stop * n / length) <= 2


@pytest.mark.parametrize("rescale", [1.25, 0.83])
def test_the_way_back_follows_the_whole_image_resize_away_from_the_regions_edges(rescale):
    lattice = NetLattice(SHAPE, rescale)
    window = lattice.window(REGION)
    y = _image(lattice.net_shape, seed=1)

    whole = resize_image(y, *SHAPE)
    part = window.from_net(y[(slice(None),) + window.net])

    assert part.shape == (2, *(s.stop - s.start for s in REGION))
    inner = (slice(None), slice(3, -3), slice(3, -3))
    np.testing.assert_allclose(part[inner], whole[(slice(None),) + REGION][inner], rtol=0, atol=1e-6)


@pytest.mark.parametrize("augment", [False, True])
def test_a_window_takes_the_whole_images_tiles_that_lie_in_it_with_their_global_indices(augment):
    lattice = NetLattice(SHAPE, 1.25, augment=augment)
    window = lattice.window(REGION)

    for a in (0, 1):
        n = lattice.net_shape[a]
        p = padded_length(n)
        starts = tile_starts(p, 224, 0.5, at_least=2 if augment else 1)
        pad = (p - n) // 2
        net = window.net[a]
        inside = [i for i, s in enumerate(starts) if s >= pad + net.start and s + 224 <= pad + net.stop]
        canvas_start = starts[window.tile_index[a][0]]
        assert set(inside) <= set(window.tile_index[a]) and inside[0] > 0 and inside[-1] < len(starts) - 1
        assert list(window.tiles[a] + canvas_start) == list(starts[window.tile_index[a]])
        assert window.offset[a] == pad + net.start - canvas_start
        assert window.canvas[a] == starts[window.tile_index[a][-1]] + 224 - canvas_start
        covered = np.zeros(window.canvas[a], bool)  # every network pixel of the region has a tile
        for s in window.tiles[a]:
            covered[s:s + 224] = True
        assert covered[window.offset[a]:window.offset[a] + net.stop - net.start].all()


def test_the_whole_images_window_is_its_padded_image_with_every_tile():
    lattice = NetLattice((300, 90), 1.25, augment=True)
    window = lattice.window((slice(0, 300), slice(0, 90)))

    assert window.is_whole and window.net == (slice(0, 375), slice(0, 112))
    assert window.canvas == (padded_length(375), padded_length(112)) == (400, 128)
    assert window.offset == (12, 8) and window.tile_size == (224, 128)
    assert [list(t) for t in window.tiles] == [list(tile_starts(400, 224, 0.5, at_least=2)), [0, 0]]


@pytest.mark.parametrize("rescale", [1.25, 0.83, 2.0])
def test_an_aligned_region_runs_exactly_the_whole_images_tiles_over_the_wanted_part(rescale):
    lattice = NetLattice((2000, 1500), rescale)
    wanted = (slice(700, 1100), slice(0, 412))

    aligned = lattice.aligned(wanted)
    window = lattice.window(aligned)

    assert aligned[1].start == 0 and all(a.start <= w.start and a.stop >= w.stop for a, w in zip(aligned, wanted))
    for a in (0, 1):
        n = lattice.net_shape[a]
        p = padded_length(n)
        starts = tile_starts(p, 224, 0.5) - (p - n) // 2  # relative to the image's network pixels
        needed = (wanted[a].start * rescale - 1, wanted[a].stop * rescale + 1)  # what the way back reads
        whole_tiles = {i for i, s in enumerate(starts) if s < needed[1] and s + 224 > needed[0]}
        window_tiles = {int(i) for i, s in zip(window.tile_index[a], window.tiles[a] - window.offset[a] + window.net[a].start)
                        if s < needed[1] and s + 224 > needed[0]}
        assert window_tiles == whole_tiles
        for i in whole_tiles:  # and each lies in the region's data (or the image's zero padding)
            assert max(starts[i], 0) >= window.net[a].start and min(starts[i] + 224, n) <= window.net[a].stop


def test_a_region_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="region"):
        NetLattice(SHAPE, 1.25).window((slice(600, 700), slice(0, 10)))


def test_a_lattice_for_a_diameter_rescales_by_the_models_mean_diameter_over_it():
    lattice = NetLattice.for_diameter((3, 600, 400), 20.0, diam_mean=30.0, augment=False, tile_overlap=0.25)
    assert lattice == NetLattice((600, 400), 1.5, 224, 0.25, False)
    assert lattice.net_shape == (900, 600)
    with pytest.raises(ValueError, match="diameter > 0"):
        NetLattice.for_diameter((600, 400), 0, diam_mean=30.0)


def test_a_lattice_spec_stored_as_json_gives_back_the_same_lattice():
    import json

    lattice = NetLattice((512, 384), 0.8, 112, 0.5, True)
    spec = json.loads(json.dumps(lattice.spec()))
    assert NetLattice.from_spec([2, 512, 384], spec) == lattice
    legacy = {"rescale": 0.8, "tile_overlap": 0.5, "augment": True}  # stored before "bsize" was
    assert NetLattice.from_spec((512, 384), legacy) == NetLattice((512, 384), 0.8, 224, 0.5, True)
