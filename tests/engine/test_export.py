import csv
import io
import json
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import roifile
import shapely
import shapely.geometry
import tifffile
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from inference.engine import export, imagej_roi
from inference.engine.io import read_labels
from inference.engine.pixel_polygons import ring_area

from .shape_zoo import shape_zoo

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def real_masks():
    return read_labels(DATA / "mask2d.tif")


@pytest.fixture(scope="module")
def real_masks_3d():
    return read_labels(DATA / "mask3d.tif")


def toy_masks():
    """Shapes that stress polygon tracing: a square, a disc, a 1-pixel cell, a 1-pixel-wide
    line, a cell touching the border, non-consecutive labels."""
    m = np.zeros((40, 48), np.int32)
    m[2:10, 3:13] = 4
    cv2.circle(m, (30, 12), 7, 9, thickness=-1)
    m[20, 5] = 11
    m[25:33, 20] = 12
    m[30:40, 38:48] = 300
    return m


def fill_polygon(poly, shape):
    """Pixels whose centre lies inside or on the polygon."""
    poly = np.asarray(poly, dtype=np.float32)
    out = np.zeros(shape, np.uint8)
    if np.array_equal(poly, np.round(poly)):
        cv2.fillPoly(out, [poly.astype(np.int32).reshape(-1, 1, 2)], 1)
        return out.astype(bool)
    x0, y0 = np.floor(poly.min(axis=0)).astype(int)
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int)
    contour = poly.reshape(-1, 1, 2)
    for y in range(max(y0, 0), min(y1, shape[0] - 1) + 1):
        for x in range(max(x0, 0), min(x1, shape[1] - 1) + 1):
            out[y, x] = cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
    return out.astype(bool)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def assert_polygons_match(masks, labels, polys, min_iou=0.8):
    assert sorted(labels) == sorted(np.unique(masks[masks > 0]).tolist())
    for label, poly in zip(labels, polys):
        assert iou(fill_polygon(poly, masks.shape), masks == label) > min_iou, label


# --- PNG / TIFF ------------------------------------------------------------------------------

def test_png_round_trip_recovers_every_label(tmp_path, real_masks):
    export.save_png(tmp_path / "m.png", real_masks)
    back = read_labels(tmp_path / "m.png")
    np.testing.assert_array_equal(back, real_masks)
    buf = io.BytesIO()
    export.save_png(buf, real_masks)
    assert buf.getvalue() == (tmp_path / "m.png").read_bytes()


def test_png_refuses_3d_masks_and_more_than_65535_labels(real_masks_3d):
    with pytest.raises(ValueError, match=r"\(Ly, Lx\)"):
        export.save_png(io.BytesIO(), real_masks_3d)
    with pytest.raises(ValueError, match="65535"):
        export.save_png(io.BytesIO(), np.full((4, 4), 70000, np.int32))


@pytest.mark.parametrize("which", ["2d", "3d", "many"])
def test_tif_round_trip_recovers_every_label(tmp_path, real_masks, real_masks_3d, which):
    masks = {"2d": real_masks, "3d": real_masks_3d,
             "many": np.arange(300 * 300, dtype=np.int32).reshape(300, 300)}[which]
    export.save_tif(tmp_path / "m.tif", masks)
    back = read_labels(tmp_path / "m.tif")
    np.testing.assert_array_equal(back, masks)
    stored = tifffile.imread(tmp_path / "m.tif")
    assert stored.dtype == (np.uint32 if which == "many" else np.uint16)


# --- outlines --------------------------------------------------------------------------------

def slow_outlines(masks):
    out = np.zeros(masks.shape, bool)
    ly, lx = masks.shape
    for y in range(ly):
        for x in range(lx):
            v = masks[y, x]
            if v == 0:
                continue
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                yy, xx = y + dy, x + dx
                if not (0 <= yy < ly and 0 <= xx < lx) or masks[yy, xx] != v:
                    out[y, x] = True
    return out


def test_outlines_of_a_square_are_its_border_pixels():
    m = np.zeros((8, 8), np.int32)
    m[2:6, 2:6] = 3
    out = export.masks_to_outlines(m)
    expected = np.zeros_like(out)
    expected[2:6, 2:6] = True
    expected[3:5, 3:5] = False
    np.testing.assert_array_equal(out, expected)


def test_outlines_agree_with_a_slow_implementation_in_2d_and_3d():
    m = toy_masks()
    np.testing.assert_array_equal(export.masks_to_outlines(m), slow_outlines(m))
    vol = np.stack([m, np.roll(m, 3, axis=1), np.zeros_like(m)])
    out = export.masks_to_outlines(vol)
    for z in range(3):
        np.testing.assert_array_equal(out[z], slow_outlines(vol[z]))


def test_outline_polygons_fill_back_to_the_cells(real_masks):
    for masks in (toy_masks(), real_masks):
        polys = export.outlines_list(masks)
        labels = np.unique(masks[masks > 0]).tolist()
        assert len(polys) == len(labels)
        assert all(p.dtype == np.int32 and p.ndim == 2 and p.shape[1] == 2 for p in polys)
        assert_polygons_match(masks, labels, polys)


def test_a_polygon_is_the_outer_boundary_so_holes_are_filled():
    m = np.zeros((20, 20), np.int32)
    cv2.circle(m, (10, 10), 7, 1, thickness=3)
    (poly,) = export.outlines_list(m)
    filled = fill_polygon(poly, m.shape)
    assert filled[m > 0].all()
    yy, xx = np.mgrid[:20, :20]
    hole = (yy - 10) ** 2 + (xx - 10) ** 2 < 4**2
    assert (m[hole] == 0).all() and filled[hole].all()


def test_a_cell_in_two_pieces_is_described_by_the_larger_piece():
    m = np.zeros((20, 20), np.int32)
    m[2:5, 2:5] = 1
    m[10:18, 10:18] = 1
    (poly,) = export.outlines_list(m)
    assert poly[:, 0].min() == 10 and poly[:, 1].max() == 17


# --- exact polygon formats: ImageJ ROI, GeoJSON, COCO ---------------------------------------

ZOO = shape_zoo()
ZOO_IDS = [name for name, _ in ZOO]


def coco_mask(segmentation, shape):
    """What pycocotools' annToMask gives for a polygon segmentation (the reference tool)."""
    rles = mask_utils.frPyObjects(segmentation, int(shape[0]), int(shape[1]))
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def geometry_mask(geometry, shape):
    """A GeoJSON Polygon/MultiPolygon filled with pycocotools: each ring by pixel centres, rings
    of a polygon combined by the even-odd rule, polygons by union."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else \
        geometry["coordinates"]
    out = np.zeros(shape, bool)
    for rings in polys:
        acc = np.zeros(shape, bool)
        for ring in rings:
            acc ^= coco_mask([np.asarray(ring[:-1], float).ravel().tolist()], shape)
        out |= acc
    return out


def read_zip_rois(path):
    with zipfile.ZipFile(path) as zf:
        return {name: imagej_roi.decode(zf.read(name)) for name in zf.namelist()}


@pytest.mark.parametrize("name, masks", ZOO, ids=ZOO_IDS)
def test_geojson_polygons_are_valid_and_fill_back_to_each_cell_exactly(tmp_path, name, masks):
    export.save_geojson(tmp_path / "m.geojson", masks)
    doc = json.loads((tmp_path / "m.geojson").read_text())
    assert doc["type"] == "FeatureCollection"
    labels = [f["properties"]["label"] for f in doc["features"]]
    assert labels == np.unique(masks[masks > 0]).tolist()
    for f in doc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid, shapely.is_valid_reason(geom)
        cell = masks == f["properties"]["label"]
        assert geom.area == cell.sum()
        np.testing.assert_array_equal(geometry_mask(f["geometry"], masks.shape), cell)
        polys = [geom] if geom.geom_type == "Polygon" else list(geom.geoms)
        for poly in polys:  # RFC 7946 winding in (x, y)
            assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors)


def test_geojson_features_are_qupath_detections_with_a_classification(tmp_path):
    masks = toy_masks()
    export.save_geojson(tmp_path / "m.geojson", masks)
    feats = json.loads((tmp_path / "m.geojson").read_text())["features"]
    for f in feats:
        assert f["type"] == "Feature"
        assert f["properties"]["objectType"] == "detection"
        assert f["properties"]["classification"] == {"name": "Cell", "color": [0, 170, 255]}
        assert "plane" not in f["geometry"]
    export.save_geojson(tmp_path / "a.geojson", masks, object_type="annotation",
                        classification=("Nucleus", (1, 2, 3)))
    props = json.loads((tmp_path / "a.geojson").read_text())["features"][0]["properties"]
    assert props["objectType"] == "annotation"
    assert props["classification"] == {"name": "Nucleus", "color": [1, 2, 3]}


def test_geojson_holes_are_interior_rings_and_pieces_a_multipolygon(tmp_path):
    m = np.zeros((12, 12), np.int32)
    m[1:6, 1:6] = 1
    m[2:4, 2:4] = 0
    m[8:10, 8:10] = 1
    export.save_geojson(tmp_path / "m.geojson", m)
    (f,) = json.loads((tmp_path / "m.geojson").read_text())["features"]
    assert f["geometry"]["type"] == "MultiPolygon"
    outer, inner = f["geometry"]["coordinates"]
    assert outer == [[[1, 1], [6, 1], [6, 6], [1, 6], [1, 1]],
                     [[2, 4], [4, 4], [4, 2], [2, 2], [2, 4]]]
    assert inner == [[[8, 8], [10, 8], [10, 10], [8, 10], [8, 8]]]


def test_geojson_of_3d_masks_puts_each_feature_on_its_qupath_plane(tmp_path, real_masks_3d):
    export.save_geojson(tmp_path / "m.geojson", real_masks_3d)
    feats = json.loads((tmp_path / "m.geojson").read_text())["features"]
    assert len(feats) == sum(len(np.unique(p[p > 0])) for p in real_masks_3d)
    for f in feats[::25]:
        z, label = f["properties"]["z"], f["properties"]["label"]
        assert f["geometry"]["plane"] == {"c": -1, "z": z, "t": 0}
        cell = real_masks_3d[z] == label
        np.testing.assert_array_equal(geometry_mask(f["geometry"], cell.shape), cell)


@pytest.mark.parametrize("name, masks", ZOO + [("real", None)], ids=ZOO_IDS + ["real"])
def test_coco_polygons_give_back_each_cell_with_pycocotools(tmp_path, name, masks, real_masks):
    masks = real_masks if masks is None else masks
    export.save_coco(tmp_path / "c.json", masks, image_name="x.png")
    coco = COCO()
    coco.dataset = json.loads((tmp_path / "c.json").read_text())
    coco.createIndex()
    labels = np.unique(masks[masks > 0])
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert len(anns) == len(labels)
    for ann, label in zip(anns, labels):
        cell = masks == label
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), cell)
        shoelace = sum(ring_area(np.reshape(p, (-1, 2))) for p in ann["segmentation"])
        assert ann["area"] == cell.sum() == shoelace


def test_coco_annotations_describe_the_image_and_the_cells(tmp_path):
    masks = toy_masks()
    export.save_coco(tmp_path / "c.json", masks, image_name="toy.png", image_id=7)
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["images"] == [{"id": 7, "file_name": "toy.png", "height": 40, "width": 48}]
    assert doc["categories"][0]["id"] == 1 and doc["categories"][0]["name"] == "cell"
    labels = np.unique(masks[masks > 0])
    anns = doc["annotations"]
    assert [a["id"] for a in anns] == list(range(1, len(labels) + 1))
    for a, label in zip(anns, labels):
        ys, xs = np.nonzero(masks == label)
        assert a["image_id"] == 7 and a["category_id"] == 1 and a["iscrowd"] == 0
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    # the square 3:13 x 2:10 (label 4): its corners
    assert anns[0]["segmentation"] == [[3, 2, 13, 2, 13, 10, 3, 10]]
    with pytest.raises(ValueError):
        export.save_coco(io.BytesIO(), np.zeros((2, 4, 4), np.int32), image_name="x")


def test_coco_joins_a_hole_to_its_outline_by_a_zero_width_cut(tmp_path):
    m = np.zeros((8, 8), np.int32)
    m[1:7, 1:7] = 1
    m[3:5, 3:5] = 0
    export.save_coco(tmp_path / "c.json", m, image_name="x")
    (ann,) = json.loads((tmp_path / "c.json").read_text())["annotations"]
    (poly,) = ann["segmentation"]
    pts = np.reshape(poly, (-1, 2)).tolist()
    assert [3, 1] in pts and [3, 3] in pts  # the cut runs up x = 3 from the hole to the outline
    assert ann["area"] == 32 and coco_mask(ann["segmentation"], m.shape).sum() == 32


@pytest.mark.parametrize("name, masks", ZOO + [("real", None)], ids=ZOO_IDS + ["real"])
def test_roi_zip_holds_corner_outlines_that_fill_back_exactly(tmp_path, name, masks, real_masks):
    masks = real_masks if masks is None else masks
    export.save_roi_zip(tmp_path / "r.zip", masks)
    rois = read_zip_rois(tmp_path / "r.zip")
    pieces = dict(export.cell_polygons(masks))
    assert len(rois) == len(pieces)
    for entry, roi in rois.items():
        label, y, x = (int(v) for v in entry[:-4].split("-"))
        cell = masks == label
        assert roi.position == 0
        simple = len(pieces[label]) == 1 and len(pieces[label][0]) == 1
        assert roi.kind == ("traced" if simple else "composite")
        out = np.zeros(cell.shape, bool)
        sl, inside = imagej_roi.roi_mask(roi, cell.shape)
        out[sl] = inside
        np.testing.assert_array_equal(out, cell)
        ys, xs = np.nonzero(cell)
        assert ys.min() <= y <= ys.max() and xs.min() <= x <= xs.max()


def test_roi_zip_reads_back_in_roifile_with_the_same_outlines(tmp_path):
    m = ZOO[ZOO_IDS.index("holes")][1]
    export.save_roi_zip(tmp_path / "r.zip", m)
    ours = read_zip_rois(tmp_path / "r.zip")
    theirs = roifile.roiread(tmp_path / "r.zip")
    assert len(theirs) == len(ours)
    for ref, roi in zip(theirs, ours.values()):  # both in the zip's order
        if roi.kind == "traced":
            assert ref.roitype == roifile.ROI_TYPE.TRACED
            np.testing.assert_array_equal(ref.coordinates(), roi.points)
        else:
            assert ref.composite and ref.roitype == roifile.ROI_TYPE.RECT
            paths = [np.asarray(p) for p in ref.coordinates(multi=True)]
            assert len(paths) == len(roi.path)
            for p, q in zip(paths, roi.path):
                np.testing.assert_array_equal(p[: len(q)], q)


def test_roi_bytes_follow_the_imagej_layout():
    m = np.zeros((12, 12), np.int32)
    m[5:8, 2:5] = 1  # 3 x 3 square: pixels x 2..4, y 5..7, corners x 2..5, y 5..8
    buf = io.BytesIO()
    export.save_roi_zip(buf, m)
    with zipfile.ZipFile(buf) as zf:
        assert zf.namelist() == ["0001-0006-0003.roi"]
        data = zf.read("0001-0006-0003.roi")
    # magic, version, type (8 = traced), pad, top, left, bottom, right, n
    assert data[:18] == struct.pack(">4shBBhhhhH", b"Iout", 228, 8, 0, 5, 2, 8, 5, 4)
    assert data[18:64] == bytes(46) and len(data) == 64 + 4 * 4
    xs = np.frombuffer(data, ">i2", 4, 64) + 2
    ys = np.frombuffer(data, ">i2", 4, 72) + 5
    assert list(zip(xs.tolist(), ys.tolist())) == [(2, 5), (5, 5), (5, 8), (2, 8)]


def test_huge_label_values_are_handled():
    m = toy_masks().astype(np.int64) * (2**40)
    polys = export.outlines_list(m)
    assert len(polys) == 5
    assert [label for label, _ in export.cell_polygons(m)] == sorted(np.unique(m[m > 0]).tolist())
    rows = export.measurements(m)
    assert [r["label"] for r in rows] == sorted(np.unique(m[m > 0]).tolist())
    dat_buf = io.BytesIO()
    export.save_seg_npy(dat_buf, image=None, masks=m, diameter=None, channels=(0, 0),
                        filename="x")
    dat_buf.seek(0)
    assert np.load(dat_buf, allow_pickle=True).item()["masks"].max() == 5


def test_roi_zip_of_3d_masks_has_one_roi_per_cell_per_plane(tmp_path, real_masks_3d):
    export.save_roi_zip(tmp_path / "r.zip", real_masks_3d)
    rois = read_zip_rois(tmp_path / "r.zip")
    expected = sum(len(np.unique(p[p > 0])) for p in real_masks_3d)
    assert len(rois) == expected
    for name, roi in list(rois.items())[::20]:
        label, z = (int(v) for v in name.split("-")[:2])
        assert roi.position == z
        cell = real_masks_3d[z - 1] == label
        out = np.zeros(cell.shape, bool)
        sl, inside = imagej_roi.roi_mask(roi, cell.shape)
        out[sl] = inside
        np.testing.assert_array_equal(out, cell)


# --- Cellpose outline text (pixel centres) ---------------------------------------------------

def test_outlines_txt_has_one_line_of_xy_pairs_per_cell(tmp_path):
    masks = toy_masks()
    export.save_outlines_txt(tmp_path / "o.txt", masks)
    lines = (tmp_path / "o.txt").read_text().splitlines()
    polys = [np.array(list(map(int, ln.split(","))), int).reshape(-1, 2) for ln in lines]
    expected = export.outlines_list(masks)
    assert len(polys) == len(expected)
    for p, e in zip(polys, expected):
        np.testing.assert_array_equal(p, e)
    # Cellpose's convention: vertices are the (column, row) of boundary pixels
    square = polys[0]
    assert square[:, 0].min() == 3 and square[:, 0].max() == 12
    assert square[:, 1].min() == 2 and square[:, 1].max() == 9


# --- Cellpose GUI file -----------------------------------------------------------------------

def test_seg_npy_holds_what_the_cellpose_gui_reads(tmp_path, real_masks, data_dir):
    rng = np.random.default_rng(0)
    dP = rng.normal(size=(2, *real_masks.shape)).astype(np.float32)
    cellprob = rng.normal(size=real_masks.shape).astype(np.float32)
    image = tifffile.imread(data_dir / "img2d.tif")
    export.save_seg_npy(tmp_path / "a_seg.npy", image=image, masks=real_masks,
                        flows=(dP, cellprob), diameter=17.5, channels=(2, 1),
                        filename="/data/a.tif")
    dat = np.load(tmp_path / "a_seg.npy", allow_pickle=True).item()
    n = len(np.unique(real_masks)) - 1
    assert {"masks", "outlines", "flows", "chan_choose", "ismanual", "filename", "diameter",
            "img"} <= set(dat)
    assert dat["masks"].dtype == np.uint16 and dat["masks"].max() == n
    # renumbering keeps every cell's pixels
    pairs = np.unique(np.stack([real_masks.ravel(), dat["masks"].ravel()]), axis=1)
    assert pairs.shape[1] == n + 1
    assert dat["outlines"].dtype == np.uint16
    np.testing.assert_array_equal(dat["outlines"] > 0, export.masks_to_outlines(real_masks))
    assert dat["chan_choose"] == [2, 1] and dat["filename"] == "/data/a.tif"
    assert dat["diameter"] == 17.5 and dat["est_diam"] == 17.5
    assert dat["ismanual"].dtype == bool and dat["ismanual"].shape == (n,)
    np.testing.assert_array_equal(dat["img"], image)
    rgb, prob, zflow, positions, raw = dat["flows"]
    assert rgb.shape == (1, 512, 512, 3) and rgb.dtype == np.uint8
    assert prob.shape == (1, 512, 512) and prob.dtype == np.uint8
    assert zflow.shape == (1, 512, 512) and positions == []
    assert raw.shape == (3, 512, 512) and raw.dtype == np.float32
    np.testing.assert_array_equal(raw[:2], dP)
    np.testing.assert_array_equal(raw[2], cellprob)
    # the GUI compares flows[0].shape[-3] with the masks' height
    assert rgb.shape[-3] == dat["masks"].shape[-2]


def test_seg_npy_without_flows_or_image_and_in_3d(tmp_path, real_masks_3d):
    export.save_seg_npy(tmp_path / "b_seg.npy", image=None, masks=real_masks_3d, flows=None,
                        diameter=None, channels=(0, 0), filename="b.tif",
                        ismanual=np.ones(len(np.unique(real_masks_3d)) - 1, bool))
    dat = np.load(tmp_path / "b_seg.npy", allow_pickle=True).item()
    assert dat["masks"].shape == real_masks_3d.shape and "img" not in dat
    assert np.isnan(dat["diameter"]) and dat["ismanual"].all()
    with pytest.raises(ValueError, match="one entry per cell"):
        export.save_seg_npy(io.BytesIO(), image=None, masks=real_masks_3d, diameter=None,
                            channels=(0, 0), filename="b.tif", ismanual=[True])


# --- measurements ----------------------------------------------------------------------------

def test_csv_has_one_row_per_cell_with_its_area_and_mean(tmp_path, real_masks):
    rng = np.random.default_rng(1)
    image = rng.random((2, *real_masks.shape)).astype(np.float32)
    export.save_csv(tmp_path / "c.csv", real_masks, image)
    with open(tmp_path / "c.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels = np.unique(real_masks[real_masks > 0])
    assert [int(r["label"]) for r in rows] == labels.tolist()
    assert list(rows[0]) == ["label", "area", "centroid_y", "centroid_x", "mean_ch0", "mean_ch1"]
    for r in rows[::10]:
        cell = real_masks == int(r["label"])
        ys, xs = np.nonzero(cell)
        assert int(r["area"]) == cell.sum()
        assert float(r["centroid_y"]) == pytest.approx(ys.mean(), abs=1e-3)
        assert float(r["centroid_x"]) == pytest.approx(xs.mean(), abs=1e-3)
        assert float(r["mean_ch1"]) == pytest.approx(image[1][cell].mean(), abs=1e-3)


def test_measurements_in_3d_and_with_channels_last(real_masks_3d):
    rows = export.measurements(real_masks_3d)
    assert list(rows[0]) == ["label", "area", "centroid_z", "centroid_y", "centroid_x"]
    cell = real_masks_3d == rows[0]["label"]
    assert rows[0]["area"] == cell.sum()
    assert rows[0]["centroid_z"] == pytest.approx(np.nonzero(cell)[0].mean())
    m = toy_masks()
    rgb = np.zeros((*m.shape, 3), np.uint8)
    rgb[..., 2] = 10
    rows = export.measurements(m, rgb)
    assert all(r["mean_ch2"] == 10 and r["mean_ch0"] == 0 for r in rows)
    with pytest.raises(ValueError, match="does not match"):
        export.measurements(m, np.zeros((5, 5)))


# --- flows -----------------------------------------------------------------------------------

def test_flow_colours_encode_direction_as_hue_and_magnitude_as_brightness():
    dP = np.zeros((2, 1, 6), np.float32)
    dP[1, 0, 0] = 1  # +x
    dP[0, 0, 1] = 1  # +y
    dP[1, 0, 2] = -1  # -x
    dP[1, 0, 3] = 0.5  # +x, half length
    rgb = export.flows_to_rgb(dP)
    assert rgb.shape == (1, 6, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [255, 0, 0]  # hue 0: red
    assert abs(int(rgb[0, 1, 0]) - 128) <= 1 and rgb[0, 1, 1:].tolist() == [255, 0]  # hue 90
    assert rgb[0, 2].tolist() == [0, 255, 255]  # hue 180: cyan
    assert abs(int(rgb[0, 3, 0]) - 128) <= 1 and rgb[0, 3, 1:].tolist() == [0, 0]  # half as bright
    assert rgb[0, 4].tolist() == [0, 0, 0]  # no flow: black
    assert export.flows_to_rgb(np.zeros((3, 2, 4, 5))).shape == (2, 4, 5, 3)


def test_flows_tif_stores_flows_and_cellprob(tmp_path):
    rng = np.random.default_rng(2)
    dP = rng.normal(size=(2, 10, 12)).astype(np.float32)
    cp = rng.normal(size=(10, 12)).astype(np.float32)
    export.save_flows_tif(tmp_path / "f.tif", dP, cp)
    back = tifffile.imread(tmp_path / "f.tif")
    assert back.shape == (3, 10, 12) and back.dtype == np.float32
    np.testing.assert_array_equal(back[:2], dP)
    np.testing.assert_array_equal(back[2], cp)
    with pytest.raises(ValueError, match="flows must be"):
        export.save_flows_tif(tmp_path / "g.tif", dP[:, :5], cp)


# --- dispatcher ------------------------------------------------------------------------------

def test_save_masks_writes_every_format_with_its_suffix(tmp_path, real_masks):
    dP = np.zeros((2, *real_masks.shape), np.float32)
    cp = np.zeros(real_masks.shape, np.float32)
    written = export.save_masks(tmp_path / "out" / "cells", real_masks, formats=export.FORMATS,
                                image=real_masks.astype(np.uint16), flows=(dP, cp),
                                diameter=20.0, filename="cells.tif")
    assert [p.name for p in written] == ["cells" + export.SUFFIXES[f] for f in export.FORMATS]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    n = len(np.unique(real_masks)) - 1
    manual = np.arange(n) % 2 == 0
    (seg,) = export.save_masks(tmp_path / "m", real_masks, formats=["npy"], ismanual=manual)
    np.testing.assert_array_equal(np.load(seg, allow_pickle=True).item()["ismanual"], manual)


def test_save_masks_checks_every_format_before_writing(tmp_path, real_masks_3d):
    with pytest.raises(ValueError, match="png, coco cannot hold 3D"):
        export.save_masks(tmp_path / "v", real_masks_3d, formats=("tif", "png", "coco"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="unknown format"):
        export.save_masks(tmp_path / "v", real_masks_3d, formats=("tif", "jpg"))
    with pytest.raises(ValueError, match="needs flows"):
        export.save_masks(tmp_path / "v", real_masks_3d, formats=("flows",))
    written = export.save_masks(tmp_path / "v", real_masks_3d,
                                formats=("tif", "npy", "roi", "geojson", "csv"))
    assert len(written) == 5


def test_empty_masks_write_empty_but_valid_files(tmp_path):
    empty = np.zeros((16, 16), np.int32)
    formats = ("png", "tif", "npy", "roi", "txt", "geojson", "coco", "csv")
    written = export.save_masks(tmp_path / "e", empty, formats=formats)
    assert len(written) == len(formats)
    assert json.loads((tmp_path / "e_masks.geojson").read_text())["features"] == []
    assert (tmp_path / "e_cells.csv").read_text().splitlines() == [
        "label,area,centroid_y,centroid_x"]


@pytest.mark.parametrize("name, stem", [
    ("cells 01.tif", "cells_01"),
    ("/data/run/plate(3)_A1.ome.tiff", "plate_3_A1"),
    ("C:\\Users\\me\\Zellkern_é.png", "Zellkern_e"),
    ("../../etc/passwd", "passwd"),
    ("...", "image"),
    ("a.b.c.jpg", "a.b.c"),
])
def test_safe_stem_keeps_names_readable_and_harmless(name, stem):
    assert export.safe_stem(name) == stem
