"""Reading Cellpose GUI _seg.npy files without trusting their pickle."""
import os

import numpy as np
import pytest

from inference.engine.export import save_seg_npy
from inference.engine.seg_file import SegFileError, read_seg_npy


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_seg_npy_written_by_the_exporter_reads_back_masks_flows_and_diameter(tmp_path, ndim):
    shape = (20, 24) if ndim == 2 else (4, 20, 24)
    masks = np.zeros(shape, np.int32)
    masks[..., 2:8, 2:9] = 1
    masks[..., 11:17, 12:20] = 2
    rng = np.random.default_rng(0)
    dP = rng.normal(size=(ndim,) + shape).astype(np.float32)
    cellprob = rng.normal(size=shape).astype(np.float32)
    save_seg_npy(tmp_path / "a_seg.npy", image=np.zeros(shape), masks=masks, flows=(dP, cellprob),
                 diameter=12.5, channels=(2, 1), filename="a.tif", ismanual=[True, False])
    seg = read_seg_npy(tmp_path / "a_seg.npy")
    assert np.array_equal(seg.masks, masks) and seg.masks.dtype == np.int32
    assert np.allclose(seg.dP, dP) and np.allclose(seg.cellprob, cellprob)
    assert seg.diameter == 12.5 and seg.channels == (2, 1) and seg.filename == "a.tif"
    assert seg.ismanual.tolist() == [True, False]


def test_a_seg_npy_without_flows_or_diameter_reads_as_masks_only(tmp_path):
    masks = np.zeros((10, 10), np.uint16)
    masks[2:5, 2:5] = 1
    np.save(tmp_path / "b_seg.npy", {"masks": masks, "diameter": float("nan")}, allow_pickle=True)
    seg = read_seg_npy(tmp_path / "b_seg.npy")
    assert seg.masks.max() == 1 and seg.dP is None and seg.diameter is None


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cellposeweb-pwned",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    np.save(tmp_path / "evil_seg.npy", np.array({"masks": _Payload()}, dtype=object), allow_pickle=True)
    with pytest.raises(SegFileError, match="evil_seg.npy.*refusing to load"):
        read_seg_npy(tmp_path / "evil_seg.npy")
    assert not os.path.exists("/tmp/cellposeweb-pwned")


@pytest.mark.parametrize("content, message", [
    ({"outlines": np.zeros((4, 4))}, "no 'masks'"),
    ({"masks": np.zeros((4, 4), np.float32)}, "integer labels"),
    ({"masks": np.full((4, 4), -1, np.int32)}, "outside"),
])
def test_a_seg_npy_with_bad_masks_is_refused_with_the_file_named(tmp_path, content, message):
    np.save(tmp_path / "c_seg.npy", content, allow_pickle=True)
    with pytest.raises(SegFileError, match=message):
        read_seg_npy(tmp_path / "c_seg.npy")


def test_a_file_that_is_not_a_seg_npy_is_refused(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((3, 3)))
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(SegFileError, match="expected a pickled dict"):
        read_seg_npy(tmp_path / "plain.npy")
    with pytest.raises(SegFileError, match="junk.npy"):
        read_seg_npy(tmp_path / "junk.npy")
