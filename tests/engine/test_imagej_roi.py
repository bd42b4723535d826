import struct

import numpy as np
import pytest
import roifile

from inference.engine import imagej_roi
from inference.engine.imagej_roi import RoiFormatError, decode, roi_mask

SHAPE = (20, 24)


def mask_of(roi, shape=SHAPE):
    out = np.zeros(shape, bool)
    sl, inside = roi_mask(roi, shape)
    out[sl] = inside
    return out


def centres_inside(test, shape=SHAPE):
    yy, xx = np.mgrid[:shape[0], :shape[1]] + 0.5
    return test(xx, yy)


def test_polygon_freehand_and_traced_rois_written_by_roifile_fill_by_pixel_centres():
    square = [[2, 3], [9, 3], [9, 8], [2, 8]]
    for kind in (roifile.ROI_TYPE.POLYGON, roifile.ROI_TYPE.FREEHAND, roifile.ROI_TYPE.TRACED):
        ref = roifile.ImagejRoi.frompoints(square)
        ref.roitype = kind
        roi = decode(ref.tobytes())
        assert roi.kind in ("polygon", "freehand", "traced")
        expected = np.zeros(SHAPE, bool)
        expected[3:8, 2:9] = True
        np.testing.assert_array_equal(mask_of(roi), expected)


def test_sub_pixel_vertices_are_read_as_floats():
    tri = np.array([[1.25, 1.5], [15.5, 2.75], [6.0, 17.25]], np.float32)
    ref = roifile.ImagejRoi.frompoints(tri)
    roi = decode(ref.tobytes())
    np.testing.assert_allclose(roi.points, tri)

    def inside(x, y):  # the triangle's three half-planes
        (x0, y0), (x1, y1), (x2, y2) = tri.astype(float)
        s = [(x1 - x0) * (y - y0) - (y1 - y0) * (x - x0),
             (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1),
             (x0 - x2) * (y - y2) - (y0 - y2) * (x - x2)]
        return ((s[0] > 0) & (s[1] > 0) & (s[2] > 0)) | ((s[0] < 0) & (s[1] < 0) & (s[2] < 0))
    np.testing.assert_array_equal(mask_of(roi), centres_inside(inside))


def test_rectangles_and_ovals_fill_as_imagej_fills_them():
    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=3, top=2, right=10, bottom=7)
    expected = np.zeros(SHAPE, bool)
    expected[2:7, 3:10] = True
    np.testing.assert_array_equal(mask_of(decode(rect.tobytes())), expected)
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=2, top=3, right=17, bottom=12)
    roi = decode(oval.tobytes())
    a, b, cx, cy = 7.5, 4.5, 9.5, 7.5  # ImageJ's OvalRoi: centre inside or on the ellipse
    expected = centres_inside(lambda x, y: ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1)
    np.testing.assert_array_equal(mask_of(roi), expected)
    assert mask_of(roi)[7, 2] and not mask_of(roi)[3, 2]


def test_rounded_rectangles_lose_their_corners():
    ref = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=0, top=0, right=12, bottom=10,
                            rounded_rect_arc_size=8)
    m = mask_of(decode(ref.tobytes()))
    assert m[5, 6] and m[0, 6] and m[5, 0]
    assert not m[0, 0] and not m[9, 11] and m.sum() < 120


def test_composite_rois_fill_even_odd_and_keep_their_position():
    outer = [[1, 1], [11, 1], [11, 11], [1, 11]]
    hole = [[4, 4], [8, 4], [8, 8], [4, 8]]
    data = imagej_roi.composite_roi_bytes([np.array(outer), np.array(hole)], position=3)
    roi = decode(data)
    assert roi.kind == "composite" and roi.position == 3
    expected = np.zeros(SHAPE, bool)
    expected[1:11, 1:11] = True
    expected[4:8, 4:8] = False
    np.testing.assert_array_equal(mask_of(roi), expected)
    ref = roifile.ImagejRoi.frombytes(data)
    assert ref.composite and ref.position == 3


def test_composite_curves_are_flattened():
    # a quadratic curve path closing a shape: MOVETO, QUADTO, LINETO, CLOSE
    path = np.array([0, 2, 10, 2, 10, 2, 10, 10, 1, 2, 10, 4], ">f4")
    header = struct.pack(">4shBxhhhhH4fhiiihhBBhii", b"Iout", 228, 1, 2, 2, 10, 10, 0,
                         0, 0, 0, 0, 0, len(path), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    roi = decode(header + path.tobytes())
    assert len(roi.path) == 1 and len(roi.path[0]) > 10
    assert mask_of(roi).sum() > 0


def test_stack_positions_come_from_the_header_or_the_hyperstack_z():
    ref = roifile.ImagejRoi.frompoints([[0, 0], [4, 0], [4, 4]])
    ref.position = 5
    assert decode(ref.tobytes()).position == 5
    ref.position = 0
    ref.z_position = 7
    assert decode(ref.tobytes()).position == 7


def test_lines_points_and_text_hold_no_area():
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=1, y1=1, x2=8, y2=5)
    point = roifile.ImagejRoi.frompoints([[3, 3]])
    point.roitype = roifile.ROI_TYPE.POINT
    for ref in (line, point):
        with pytest.raises(RoiFormatError, match="holds no area"):
            roi_mask(decode(ref.tobytes()), SHAPE)


def test_bad_bytes_are_refused_with_the_reason():
    with pytest.raises(RoiFormatError, match="Iout"):
        decode(b"PK\x03\x04" + bytes(80))
    data = roifile.ImagejRoi.frompoints([[0, 0], [4, 0], [4, 4], [0, 4]]).tobytes()
    with pytest.raises(RoiFormatError, match="truncated"):
        decode(data[:70])
    nan_path = imagej_roi.composite_roi_bytes([np.array([[0, 0], [4, 0], [4, 4]])])
    broken = nan_path[:68] + struct.pack(">f", float("nan")) + nan_path[72:]
    with pytest.raises(RoiFormatError, match="non-finite"):
        decode(broken)


def test_writing_refuses_what_imagej_cannot_hold():
    with pytest.raises(ValueError, match="32767"):
        imagej_roi.traced_roi_bytes(np.array([[0, 0], [40000, 0], [40000, 1], [0, 1]]))
    with pytest.raises(ValueError, match="3 to 65535"):
        imagej_roi.traced_roi_bytes(np.array([[0, 0], [1, 1]]))
