import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import roifile
from pycocotools import mask as mask_utils

from inference.engine import annotation_import, export
from inference.engine.annotation_import import AnnotationImportError, read_annotations
from inference.engine.io import read_labels

from .shape_zoo import shape_zoo

DATA = Path(__file__).parents[1] / "data"
ZOO = shape_zoo()
ROUND_TRIP = ["geojson", "roi", "npy", "tif", "png"]


@pytest.fixture(scope="module")
def real_masks():
    return read_labels(DATA / "mask2d.tif")


@pytest.fixture(scope="module")
def real_masks_3d():
    return read_labels(DATA / "mask3d.tif")


def renumbered(masks):
    """Labels 1..N in label order, as the _seg.npy and COCO writers store them."""
    _, inverse = np.unique(masks, return_inverse=True)
    return inverse.reshape(masks.shape)


def written(tmp_path, masks, fmt):
    (path,) = export.save_masks(tmp_path / "cells", masks, formats=[fmt])
    return path


def geojson(features):
    return io.BytesIO(json.dumps({"type": "FeatureCollection", "features": features}).encode())


def polygon(*rings, **props):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": list(rings)},
            "properties": props}


def square(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def roi_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    buf.seek(0)
    return buf


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ROUND_TRIP)
@pytest.mark.parametrize("name, masks", ZOO, ids=[n for n, _ in ZOO])
def test_export_then_import_gives_back_the_masks(tmp_path, name, masks, fmt):
    back = read_annotations(written(tmp_path, masks, fmt), masks.shape)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, masks)


@pytest.mark.parametrize("fmt", ROUND_TRIP + ["coco"])
def test_export_then_import_of_real_masks_keeps_every_cell(tmp_path, real_masks, fmt):
    back = read_annotations(written(tmp_path, real_masks, fmt), real_masks.shape)
    if fmt in ("coco", "npy"):  # these renumber the cells 1..N in label order
        np.testing.assert_array_equal(back, renumbered(real_masks))
    else:
        np.testing.assert_array_equal(back, real_masks)


@pytest.mark.parametrize("fmt", ["geojson", "roi", "npy", "tif"])
def test_export_then_import_of_3d_masks_gives_back_the_volume(tmp_path, real_masks_3d, fmt):
    back = read_annotations(written(tmp_path, real_masks_3d, fmt), real_masks_3d.shape)
    np.testing.assert_array_equal(back, renumbered(real_masks_3d) if fmt == "npy" else
                                  real_masks_3d)


def test_non_consecutive_labels_survive_geojson_and_roi(tmp_path):
    m = np.zeros((10, 10), np.int32)
    m[1:3, 1:3], m[5:9, 4:6] = 17, 40000
    for fmt in ("geojson", "roi"):
        np.testing.assert_array_equal(read_annotations(written(tmp_path, m, fmt), m.shape), m)


def test_file_objects_seekable_or_not_are_read_like_paths(tmp_path, real_masks):
    path = written(tmp_path, real_masks, "roi")
    data = path.read_bytes()

    class Stream(io.RawIOBase):  # a pipe: read() only
        def __init__(self):
            self.buf = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.buf.readinto(b)

    for source in (io.BytesIO(data), Stream()):
        np.testing.assert_array_equal(read_annotations(source, real_masks.shape), real_masks)


# --- GeoJSON from other tools ----------------------------------------------------------------

def test_qupath_detections_are_the_cells_when_present():
    region = polygon(square(0, 0, 20, 20), objectType="annotation")
    cells = [polygon(square(2, 2, 6, 6), objectType="detection"),
             polygon(square(10, 10, 14, 13), objectType="cell")]
    tile = polygon(square(0, 0, 20, 20), objectType="tile")
    labels = read_annotations(geojson([region, *cells, tile]), (20, 20))
    assert np.unique(labels).tolist() == [0, 1, 2]
    assert (labels[2:6, 2:6] == 1).all() and (labels[10:13, 10:14] == 2).all()
    # without detections, annotations are the cells
    labels = read_annotations(geojson([region]), (20, 20))
    assert (labels == 1).all()


def test_polygons_with_holes_and_multipolygons_fill_by_pixel_centres():
    ring = polygon(square(1, 1, 9, 9), square(3, 3, 6, 6))
    multi = {"type": "Feature", "properties": {}, "geometry": {
        "type": "MultiPolygon",
        "coordinates": [[square(12, 1, 14, 3)], [square(12.4, 5.4, 12.6, 6.6)]]}}
    labels = read_annotations(geojson([ring, multi]), (10, 16))
    expected = np.zeros((10, 16), np.int32)
    expected[1:9, 1:9] = 1
    expected[3:6, 3:6] = 0
    expected[1:3, 12:14] = 2
    expected[5:7, 12:13] = 2  # centres (12.5, 5.5) and (12.5, 6.5) lie in the thin strip
    np.testing.assert_array_equal(labels, expected)


def test_labels_come_from_properties_and_others_follow_the_largest():
    feats = [polygon(square(0, 0, 2, 2), label=7), polygon(square(3, 0, 5, 2)),
             polygon(square(6, 0, 8, 2), label="Tumor"), polygon(square(0, 3, 2, 5), label=7)]
    labels = read_annotations(geojson(feats), (6, 9))
    assert labels[0, 0] == 7 and labels[4, 1] == 7
    assert labels[0, 4] == 8 and labels[0, 7] == 9


def test_later_shapes_win_where_they_overlap():
    feats = [polygon(square(0, 0, 6, 6)), polygon(square(3, 3, 8, 8))]
    labels = read_annotations(geojson(feats), (8, 8))
    assert labels[4, 4] == 2 and labels[1, 1] == 1


def test_a_list_of_features_a_single_feature_and_a_bare_geometry_are_accepted():
    feat = polygon(square(1, 1, 3, 3))
    for doc in ([feat], feat, feat["geometry"]):
        labels = read_annotations(io.BytesIO(json.dumps(doc).encode()), (4, 4))
        assert labels.sum() == 4


def test_geojson_planes_follow_qupath_then_the_z_property():
    feats = [polygon(square(0, 0, 2, 2)),
             dict(polygon(square(0, 0, 2, 2), z=1)),
             {"type": "Feature", "properties": {},
              "geometry": {"type": "Polygon", "coordinates": [square(2, 2, 4, 4)],
                           "plane": {"c": -1, "z": 2, "t": 0}}}]
    labels = read_annotations(geojson(feats), (3, 4, 4))
    assert labels[0, 0, 0] == 1 and labels[1, 0, 0] == 2 and labels[2, 3, 3] == 3
    with pytest.raises(AnnotationImportError, match="plane 4, the image has 3 planes"):
        read_annotations(geojson([dict(polygon(square(0, 0, 2, 2), z=3))]), (3, 4, 4))


# --- ImageJ ROI sets from other tools --------------------------------------------------------

def test_an_imagej_roi_set_is_numbered_in_file_order():
    a = roifile.ImagejRoi.frompoints([[1, 1], [5, 1], [5, 4], [1, 4]])
    b = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=6, top=0, right=12, bottom=6)
    labels = read_annotations(roi_zip([("0002-0003.roi", a.tobytes()),
                                       ("0003-0009.roi", b.tobytes())]), (8, 12))
    assert (labels[1:4, 1:5] == 1).all() and labels[3, 9] == 2 and labels[0, 6] == 0


def test_a_single_roi_file_is_one_cell(tmp_path):
    path = tmp_path / "cell.roi"
    roifile.ImagejRoi.frompoints([[1, 1], [5, 1], [5, 4], [1, 4]]).tofile(path)
    assert read_annotations(path, (6, 6)).sum() == 12


def test_rois_on_a_stack_go_to_their_planes_and_need_one():
    roi = roifile.ImagejRoi.frompoints([[0, 0], [2, 0], [2, 2], [0, 2]])
    roi.position = 2
    labels = read_annotations(roi_zip([("a.roi", roi.tobytes())]), (3, 4, 4))
    assert labels[1].sum() == 4 and labels[[0, 2]].sum() == 0
    roi.position = 0
    with pytest.raises(AnnotationImportError, match="no stack position"):
        read_annotations(roi_zip([("a.roi", roi.tobytes())]), (3, 4, 4))
    roi.position = 5
    with pytest.raises(AnnotationImportError, match="plane 5"):
        read_annotations(roi_zip([("a.roi", roi.tobytes())]), (3, 4, 4))
    with pytest.raises(AnnotationImportError, match="image is 2D"):
        read_annotations(roi_zip([("a.roi", roi.tobytes())]), (4, 4))


# --- COCO ------------------------------------------------------------------------------------

def test_coco_rle_segmentations_are_decoded():
    cell = np.zeros((7, 9), np.uint8, order="F")
    cell[2:5, 1:7] = 1
    cell[3, 3] = 0
    rle = mask_utils.encode(np.asfortranarray(cell))
    compressed = {"size": rle["size"], "counts": rle["counts"].decode()}
    flat = cell.T.ravel().tolist()  # runs down the columns, starting with background
    runs, value, n = [], 0, 0
    for v in flat:
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    runs.append(n)
    for seg in (compressed, {"size": [7, 9], "counts": runs}):
        doc = {"images": [{"id": 1, "height": 7, "width": 9}],
               "annotations": [{"id": 1, "image_id": 1, "segmentation": seg}]}
        labels = read_annotations(io.BytesIO(json.dumps(doc).encode()), (7, 9))
        np.testing.assert_array_equal(labels, cell.astype(np.int32))
    doc["annotations"][0]["segmentation"] = {"size": [7, 9], "counts": runs[:-1]}
    with pytest.raises(AnnotationImportError, match="add up to"):
        read_annotations(io.BytesIO(json.dumps(doc).encode()), (7, 9))


def test_coco_for_another_image_size_or_several_images_is_refused(tmp_path, real_masks):
    path = written(tmp_path, real_masks, "coco")
    with pytest.raises(AnnotationImportError, match="the COCO image is 512 x 512"):
        read_annotations(path, (256, 512))
    doc = json.loads(path.read_text())
    doc["annotations"][1]["image_id"] = 2
    with pytest.raises(AnnotationImportError, match="2 images"):
        read_annotations(io.BytesIO(json.dumps(doc).encode()), real_masks.shape)


# --- errors ----------------------------------------------------------------------------------

def test_files_that_do_not_fit_the_image_are_refused_naming_the_file(tmp_path, real_masks):
    tif = written(tmp_path, real_masks, "tif")
    with pytest.raises(AnnotationImportError, match=r"cells_masks\.tif: the label image is "
                                                    r"512 x 512, the image is 100 x 100"):
        read_annotations(tif, (100, 100))
    with pytest.raises(AnnotationImportError, match="_seg.npy masks is 512 x 512"):
        read_annotations(written(tmp_path, real_masks, "npy"), (3, 512, 512))
    far = geojson([polygon(square(1000, 1000, 1010, 1010))])
    with pytest.raises(AnnotationImportError, match="none of the 1 shapes covers a pixel"):
        read_annotations(far, (64, 64))


@pytest.mark.parametrize("content, message", [
    (b"hello, world", "not a format annotations can be imported from"),
    (b"\xff\xd8\xff\xe0" + bytes(200), "JPEG"),
    (b"", "empty file"),
    (b'{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [3, 3]]}}',
     "LineString, which holds no area"),
    (b'{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [NaN, 1], '
     b'[1, 1]]]}}', "not valid JSON"),
    (b'{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1e15, 1], '
     b'[1, 1]]]}}', "within"),
    (b'{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [["a", "b"]]}}',
     "not a list of \\[x, y\\] positions"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply|not valid JSON"),
    (b'{"rows": 3}', "neither GeoJSON"),
    (b"PK\x05\x06" + bytes(18), "no ImageJ .roi files"),
    (b"Iout" + bytes(10), "not an ImageJ ROI|truncated"),
])
def test_bad_files_raise_a_value_error_naming_the_file(content, message):
    src = io.BytesIO(content)
    src.name = "upload.bin"
    with pytest.raises(AnnotationImportError, match=message) as info:
        read_annotations(src, (8, 8))
    assert isinstance(info.value, ValueError) and "upload.bin" in str(info.value)


def test_unsafe_seg_npy_files_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    np.save(tmp_path / "evil_seg.npy", {"masks": Evil()}, allow_pickle=True)
    with pytest.raises(AnnotationImportError, match="refusing to load"):
        read_annotations(tmp_path / "evil_seg.npy", (4, 4))


def test_line_and_point_rois_are_refused_by_name():
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=1, y1=1, x2=8, y2=5)
    with pytest.raises(AnnotationImportError, match="ROI 'scratch': a line ROI holds no area"):
        read_annotations(roi_zip([("scratch.roi", line.tobytes())]), (8, 8))


def test_zip_limits_stop_bombs_and_floods(monkeypatch):
    roi = roifile.ImagejRoi.frompoints([[0, 0], [2, 0], [2, 2], [0, 2]]).tobytes()
    bomb = roi + bytes(10_000)  # compresses to almost nothing
    monkeypatch.setattr(annotation_import, "MAX_ROI_BYTES", 5_000)
    with pytest.raises(AnnotationImportError, match="larger than 5000 bytes"):
        read_annotations(roi_zip([("bomb.roi", bomb)]), (8, 8))
    monkeypatch.setattr(annotation_import, "MAX_ZIP_MEMBERS", 3)
    with pytest.raises(AnnotationImportError, match="holds 4 ROIs, more than 3"):
        read_annotations(roi_zip([(f"{i}.roi", roi) for i in range(4)]), (8, 8))
    monkeypatch.setattr(annotation_import, "MAX_ZIP_BYTES", 2 * len(roi))
    with pytest.raises(AnnotationImportError, match="more than"):
        read_annotations(roi_zip([(f"{i}.roi", roi) for i in range(3)]), (8, 8))


def test_json_size_and_fill_work_are_bounded(monkeypatch):
    monkeypatch.setattr(annotation_import, "MAX_JSON_BYTES", 1000)
    with pytest.raises(AnnotationImportError, match="larger than 1000 bytes"):
        read_annotations(geojson([polygon(square(0, 0, 2, 2))] * 50), (8, 8))
    monkeypatch.setattr(annotation_import, "MAX_JSON_BYTES", 2**26)
    # a zigzag with many edges across a tall image: far more crossings than pixels
    zigzag = [[float(i % 2) * 4, i * 0.0] for i in range(4000)]
    zigzag = [[x, -1e5 if k % 2 else 1e5] for k, (x, _) in enumerate(zigzag)]
    with pytest.raises(AnnotationImportError, match="too large or too many"):
        read_annotations(geojson([polygon(zigzag)]), (4000, 4))
    monkeypatch.setattr(annotation_import, "WORK_PER_PIXEL", 0)
    many = [polygon(square(-1e6, -1e6, 1e6, 1e6))] * 200
    with pytest.raises(AnnotationImportError, match="too large or too many"):
        read_annotations(geojson(many), (300, 300))


def test_roi_names_give_labels_only_when_every_roi_follows_the_export_naming():
    a = roifile.ImagejRoi.frompoints([[0, 0], [2, 0], [2, 2], [0, 2]]).tobytes()
    b = roifile.ImagejRoi.frompoints([[4, 4], [6, 4], [6, 6], [4, 6]]).tobytes()
    ours = read_annotations(roi_zip([("0005-0001-0001.roi", a), ("0009-0005-0005.roi", b)]),
                            (8, 8))
    assert ours[1, 1] == 5 and ours[5, 5] == 9
    mixed = read_annotations(roi_zip([("0005-0001-0001.roi", a), ("nucleus.roi", b)]), (8, 8))
    assert mixed[1, 1] == 1 and mixed[5, 5] == 2
