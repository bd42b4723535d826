import itertools

import numpy as np
import pytest

from inference.engine.metrics import aggregated_jaccard_index, average_precision, mask_ious


def square(shape, top_left, size, label=1, out=None):
    out = np.zeros(shape, np.int32) if out is None else out
    sl = tuple(slice(s, s + size) for s in top_left)
    out[sl] = label
    return out


@pytest.fixture(params=[2, 3], ids=["2d", "3d"])
def ndim(request):
    return request.param


def shifted_pair(ndim, shift=2, size=10):
    shape = (32,) * ndim
    true = square(shape, (5,) * ndim, size)
    pred = square(shape, (5 + shift,) + (5,) * (ndim - 1), size)
    return true, pred


def test_shifted_square_has_exactly_known_iou(ndim):
    true, pred = shifted_pair(ndim)
    iou, lt, lp = mask_ious(true, pred)
    # a size-10 cube shifted by 2 along one axis: intersection 8/10, union 12/10 of the cube
    assert iou.shape == (1, 1)
    assert iou.toarray()[0, 0] == pytest.approx(8 / 12)
    assert lt.tolist() == [1] and lp.tolist() == [1]


def test_average_precision_counts_a_match_only_above_the_threshold(ndim):
    true, pred = shifted_pair(ndim)
    ap, tp, fp, fn = average_precision(true, pred, thresholds=(0.5, 2 / 3, 0.75))
    assert ap.shape == (1, 3) and ap.dtype == np.float64
    assert tp.tolist() == [[1, 1, 0]]
    assert fp.tolist() == [[0, 0, 1]]
    assert fn.tolist() == [[0, 0, 1]]
    assert ap.tolist() == [[1.0, 1.0, 0.0]]


def test_labels_need_not_be_consecutive(ndim):
    true, pred = shifted_pair(ndim)
    ap1 = average_precision(true, pred)[0]
    ap2 = average_precision(true * 1000, pred * 7)[0]
    np.testing.assert_array_equal(ap1, ap2)
    _, lt, lp = mask_ious(true * 1000, pred * 7)
    assert lt.tolist() == [1000] and lp.tolist() == [7]
    huge = true.astype(np.uint64) * np.uint64(2**40)
    np.testing.assert_array_equal(average_precision(huge, pred)[0], ap1)


def test_missed_and_extra_masks_are_false_negatives_and_false_positives(ndim):
    shape = (40,) * ndim
    true = square(shape, (2,) * ndim, 8, label=1)
    square(shape, (20,) * ndim, 8, label=2, out=true)
    pred = square(shape, (2,) * ndim, 8, label=5)  # exact copy of true 1
    square(shape, (12,) + (30,) * (ndim - 1), 5, label=6, out=pred)  # touches nothing
    ap, tp, fp, fn = average_precision(true, pred, thresholds=0.5)
    assert (tp[0, 0], fp[0, 0], fn[0, 0]) == (1, 1, 1)
    assert ap[0, 0] == pytest.approx(1 / 3)


def test_empty_images_score_one_and_spurious_masks_score_zero(ndim):
    empty = np.zeros((16,) * ndim, np.int32)
    ap, tp, fp, fn = average_precision(empty, empty)
    assert ap.tolist() == [[1.0, 1.0, 1.0]]
    assert tp.sum() == fp.sum() == fn.sum() == 0
    one = square((16,) * ndim, (2,) * ndim, 4)
    ap, _, fp, _ = average_precision(empty, one)
    assert ap.tolist() == [[0.0, 0.0, 0.0]] and fp.tolist() == [[1, 1, 1]]
    ap, _, _, fn = average_precision(one, empty)
    assert ap.tolist() == [[0.0, 0.0, 0.0]] and fn.tolist() == [[1, 1, 1]]


def test_matching_maximises_the_number_of_pairs_not_the_best_iou():
    # 1-pixel-high strips: true A=[0,10) B=[10,20); pred P1=[4,14) P2=[0,4)
    # IoU(A,P1)=6/14, IoU(A,P2)=4/10, IoU(B,P1)=4/16. Greedy best-IoU pairs A-P1 and leaves B
    # unmatched; the optimal matching at 0.25 is A-P2 and B-P1.
    true = np.zeros((1, 24), np.int32)
    true[0, 0:10], true[0, 10:20] = 1, 2
    pred = np.zeros((1, 24), np.int32)
    pred[0, 4:14], pred[0, 0:4] = 1, 2
    iou = mask_ious(true, pred)[0].toarray()
    np.testing.assert_allclose(iou, [[6 / 14, 4 / 10], [4 / 16, 0]])
    ap, tp, fp, fn = average_precision(true, pred, thresholds=(0.25, 0.41, 0.5))
    assert tp.tolist() == [[2, 1, 0]]
    assert ap[0, 0] == 1.0


def test_lists_of_images_give_one_row_per_image(ndim):
    true, pred = shifted_pair(ndim)
    empty = np.zeros_like(true)
    ap, tp, fp, fn = average_precision([true, true, empty], [pred, true, empty])
    assert ap.shape == tp.shape == fp.shape == fn.shape == (3, 3)
    assert tp.dtype == fp.dtype == fn.dtype == np.int64
    assert ap.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def random_labels(rng, shape, n):
    """Overlapping random boxes painted in order; later boxes cover earlier ones."""
    out = np.zeros(shape, np.int32)
    for label in range(1, n + 1):
        lo = [rng.integers(0, s - 3) for s in shape]
        hi = [min(s, a + rng.integers(2, 9)) for a, s in zip(lo, shape)]
        out[tuple(slice(a, b) for a, b in zip(lo, hi))] = label * 3 + 1
    return out


def slow_ious(true, pred):
    lt = [v for v in np.unique(true) if v]
    lp = [v for v in np.unique(pred) if v]
    out = np.zeros((len(lt), len(lp)))
    for i, a in enumerate(lt):
        for j, b in enumerate(lp):
            inter = np.sum((true == a) & (pred == b))
            union = np.sum((true == a) | (pred == b))
            out[i, j] = inter / union
    return out


def slow_max_matching(iou, th):
    ok = iou >= th
    n_true, n_pred = ok.shape
    best = 0
    if n_true <= n_pred:
        for perm in itertools.permutations(range(n_pred), n_true):
            best = max(best, sum(ok[i, j] for i, j in enumerate(perm)))
    else:
        for perm in itertools.permutations(range(n_true), n_pred):
            best = max(best, sum(ok[i, j] for j, i in enumerate(perm)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_a_slow_obvious_implementation(seed):
    rng = np.random.default_rng(seed)
    shape = (20, 20) if seed % 2 == 0 else (8, 10, 10)
    true, pred = random_labels(rng, shape, 5), random_labels(rng, shape, 6)
    iou = mask_ious(true, pred)[0].toarray()
    expected = slow_ious(true, pred)
    np.testing.assert_allclose(iou, expected)
    ths = (0.1, 0.2, 0.3, 0.5)
    _, tp, fp, fn = average_precision(true, pred, thresholds=ths)
    for k, th in enumerate(ths):
        assert tp[0, k] == slow_max_matching(expected, th)
    assert (tp + fn == expected.shape[0]).all() and (tp + fp == expected.shape[1]).all()


def test_thousands_of_masks_are_fast():
    import time

    grid = np.arange(1, 101 * 101 + 1).reshape(101, 101)[:100, :100]
    true = np.kron(grid, np.ones((8, 8), np.int32)).astype(np.int32)  # 10,000 squares
    pred = np.roll(true, 1, axis=1)
    t0 = time.perf_counter()
    ap, tp, _, _ = average_precision(true, pred, thresholds=(0.5, 0.8))
    assert time.perf_counter() - t0 < 5
    # IoU of an 8-wide square shifted by one pixel: 7/9
    assert tp[0].tolist() == [10_000, 0]


def test_aggregated_jaccard_index_of_hand_computed_cases(ndim):
    true, pred = shifted_pair(ndim)
    assert aggregated_jaccard_index(true, pred)[0] == pytest.approx(8 / 12)
    empty = np.zeros_like(true)
    np.testing.assert_allclose(aggregated_jaccard_index([true, empty, empty], [true, empty, pred]),
                               [1.0, 1.0, 0.0])
    # an unmatched extra prediction adds its area to the union
    extra = pred.copy()
    extra[tuple(slice(25, 29) for _ in range(ndim))] = 9
    n = 4 ** ndim
    union = 12 * 10 ** (ndim - 1) + n
    assert aggregated_jaccard_index(true, extra)[0] == pytest.approx(8 * 10 ** (ndim - 1) / union)


def test_it_rejects_float_masks_and_mismatched_shapes():
    a = np.zeros((8, 8), np.int32)
    with pytest.raises(ValueError, match="integer label image"):
        average_precision(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="same shape"):
        average_precision(a, np.zeros((8, 9), np.int32))
    with pytest.raises(ValueError, match="2 images but masks_pred has 1"):
        average_precision([a, a], [a])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        average_precision(a, a, thresholds=(0.0,))
    with pytest.raises(ValueError, match="negative"):
        mask_ious(a - 1, a)
