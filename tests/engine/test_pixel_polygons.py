import numpy as np
import pytest

from inference.engine.pixel_polygons import (
    TooComplexError,
    WorkBudget,
    bridge_holes,
    fill_polygons,
    ring_area,
    trace_mask,
)

from .shape_zoo import shape_zoo

ZOO = shape_zoo()


def cells(masks):
    for label in np.unique(masks[masks > 0]):
        yield masks == label


def filled(polygons, shape):
    out = np.zeros(shape, bool)
    sl, inside = fill_polygons(polygons, shape)
    out[sl] = inside
    return out


def slow_even_odd(rings, shape):
    """Pixel centres inside by the even-odd rule, one ray per pixel (no shared code)."""
    out = np.zeros(shape, bool)
    for r in range(shape[0]):
        for c in range(shape[1]):
            px, py = c + 0.5, r + 0.5
            inside = False
            for ring in rings:
                n = len(ring)
                for i in range(n):
                    (x0, y0), (x1, y1) = ring[i], ring[(i + 1) % n]
                    if (y0 <= py) != (y1 <= py):
                        x = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
                        if x < px:
                            inside = not inside
            out[r, c] = inside
    return out


@pytest.mark.parametrize("name, masks", ZOO, ids=[n for n, _ in ZOO])
def test_filling_the_traced_outline_gives_back_every_cell_exactly(name, masks):
    for cell in cells(masks):
        pieces = trace_mask(cell)
        np.testing.assert_array_equal(filled(pieces, cell.shape), cell)


@pytest.mark.parametrize("name, masks", ZOO, ids=[n for n, _ in ZOO])
def test_traced_rings_lie_on_pixel_corners_with_the_cells_area(name, masks):
    for cell in cells(masks):
        pieces = trace_mask(cell)
        assert sum(ring_area(r) for rings in pieces for r in rings) == cell.sum()
        for rings in pieces:
            assert ring_area(rings[0]) > 0 and all(ring_area(h) < 0 for h in rings[1:])
            for ring in rings:
                assert ring.dtype == np.int32 and len(ring) >= 4
                step = np.roll(ring, -1, axis=0) - ring
                assert ((step[:, 0] == 0) != (step[:, 1] == 0)).all()  # axis-aligned, no repeats
                turns = step[:, 0] * np.roll(step, 1, axis=0)[:, 1] - \
                    step[:, 1] * np.roll(step, 1, axis=0)[:, 0]
                assert (turns != 0).all()  # only corners are vertices


def test_pieces_are_the_4_connected_parts_largest_first():
    m = np.zeros((8, 8), bool)
    m[0, 0] = m[1, 1] = True        # diagonal neighbours: two pieces
    m[4:7, 4:7] = True
    pieces = trace_mask(m)
    assert [len(p) for p in pieces] == [1, 1, 1]
    assert ring_area(pieces[0][0]) == 9
    assert pieces[1][0].min(axis=0).tolist() == [0, 0]


def test_a_hole_touching_the_outline_at_a_corner_stays_a_hole():
    m = np.ones((5, 5), bool)
    m[1:3, 1:3] = False  # hole
    m[3, 0] = False      # notch that touches the hole only at the corner (1, 3)
    m[2, 0] = True
    (rings,) = trace_mask(m)
    assert len(rings) == 2 and ring_area(rings[1]) == -4


@pytest.mark.parametrize("name, masks", ZOO, ids=[n for n, _ in ZOO])
def test_one_bridged_ring_per_piece_fills_like_the_piece(name, masks):
    for cell in cells(masks):
        for rings in trace_mask(cell):
            ring = bridge_holes(rings)
            assert ring_area(ring) == sum(ring_area(r) for r in rings)
            assert not (ring == np.roll(ring, 1, axis=0)).all(axis=1).any()
            np.testing.assert_array_equal(filled([[ring]], cell.shape), filled([rings], cell.shape))


def test_filling_agrees_with_a_ray_cast_for_random_polygons():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = rng.integers(3, 9)
        ring = rng.uniform(-3, 15, (n, 2))
        if rng.random() < 0.3:
            ring = np.round(ring * 2) / 2  # vertices on corners and centres: ties
        hole = rng.uniform(2, 10, (4, 2))
        for rings in ([ring], [ring, hole]):
            np.testing.assert_array_equal(filled([rings], (12, 13)), slow_even_odd(rings, (12, 13)))


def test_polygons_are_clipped_to_the_image_and_unioned():
    big = np.array([[-1e6, -1e6], [1e6, -1e6], [1e6, 1e6], [-1e6, 1e6]])
    assert filled([[big]], (5, 6)).all()
    a = np.array([[0, 0], [3, 0], [3, 3], [0, 3]])
    both = filled([[a], [a + 1]], (5, 5))
    assert both.sum() == 9 + 9 - 4
    assert not filled([[a + 100]], (5, 5)).any()


def test_filling_refuses_absurd_coordinates_and_stops_at_the_budget():
    with pytest.raises(ValueError, match="finite"):
        fill_polygons([[np.array([[0, 0], [np.nan, 1], [1, 1]])]], (4, 4))
    with pytest.raises(ValueError, match="within"):
        fill_polygons([[np.array([[0, 0], [1e12, 1], [1, 1]])]], (4, 4))
    zigzag = np.stack([np.tile([0.0, 500.0], 1000), np.arange(2000) * 0.5], axis=1)
    budget = WorkBudget(5000)
    with pytest.raises(TooComplexError):
        fill_polygons([[zigzag]], (1000, 500), budget=budget)
    small = WorkBudget(100)
    fill_polygons([[np.array([[0, 0], [5, 0], [5, 5], [0, 5]])]], (10, 10), budget=small)
    assert small.left == 100 - 25 - 10  # bounding box pixels and edge-row crossings


def test_a_column_of_many_holes_joins_into_one_ring():
    comb = np.ones((3 * 1500 + 2, 5), bool)
    comb[1:-1:3, 2] = False  # each hole's cut ends in the hole above it
    (rings,) = trace_mask(comb)
    assert len(rings) == 1501
    ring = bridge_holes(rings)
    assert ring_area(ring) == comb.sum()
    np.testing.assert_array_equal(filled([[ring]], comb.shape), comb)
