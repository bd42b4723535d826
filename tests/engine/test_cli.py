import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import inference.engine.__main__ as cli
from inference.engine import export
from inference.engine.io import read_labels
from inference.engine.metrics import average_precision

DATA = Path(__file__).parents[1] / "data"
ROOT = Path(__file__).parents[2]
WEIGHTS = ROOT / "inference" / "engine" / "weights" / "default.pt"


class FakeModel:
    """Stands in for the real model: two square cells in every 2D image (a cube per 3D one)."""

    def __init__(self):
        self.calls = []

    def segment(self, image, **kwargs):
        self.calls.append(kwargs)
        shape = image.shape[:2] if image.ndim == 3 and image.shape[-1] == 3 else image.shape
        masks = np.zeros(shape, np.int32)
        masks[..., 2:8, 2:8] = 1
        masks[..., 10:16, 10:16] = 2
        return SimpleNamespace(masks=masks, dP=np.zeros((masks.ndim, *shape), np.float32),
                               cellprob=np.zeros(shape, np.float32),
                               styles=np.zeros(256, np.float32), diameter=17.0)


@pytest.fixture
def fake_model(monkeypatch):
    model = FakeModel()
    loads = []

    def load(name):
        loads.append(name)
        return model

    monkeypatch.setattr(cli, "_load_model", load)
    model.loads = loads
    return model


# --- segment ---------------------------------------------------------------------------------

def test_a_bad_file_is_named_and_the_good_ones_are_still_segmented(tmp_path, fake_model, capsys):
    images = tmp_path / "images"
    images.mkdir()
    good = shutil.copy(DATA / "img2d.tif", images / "good.tif")
    (images / "broken.tif").write_bytes(b"this is not an image")
    out = tmp_path / "out"
    code = cli.main(["segment", str(images), str(tmp_path / "missing.png"), "--out", str(out),
                     "--save", "png,npy,csv"])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.tif" in captured.err and "unsupported format" in captured.err
    assert "missing.png: file not found" in captured.err
    assert "segmented 1 of 3 inputs" in captured.err
    assert f"{good}: 2 cells" in captured.out
    masks = read_labels(out / "good_masks.png")
    assert masks.shape == (512, 512) and set(np.unique(masks)) == {0, 1, 2}
    assert (out / "good_seg.npy").is_file() and (out / "good_cells.csv").is_file()
    assert not (out / "broken_masks.png").exists()
    assert fake_model.loads == [None]  # loaded once


def test_segment_passes_the_options_to_the_model(tmp_path, fake_model):
    img = shutil.copy(DATA / "img2d.tif", tmp_path / "a.tif")
    code = cli.main(["segment", str(img), "--model", "mine.pt", "--diameter", "0", "--chan", "2",
                     "--chan2", "1", "--no-augment", "--cellprob-threshold", "-1",
                     "--flow-threshold", "0.6"])
    assert code == 0
    assert fake_model.loads == ["mine.pt"]
    assert fake_model.calls == [dict(channels=(2, 1), diameter=None, augment=False,
                                     do_3d=False, anisotropy=None, stitch_threshold=None,
                                     cellprob_threshold=-1.0, flow_threshold=0.6)]
    assert (tmp_path / "a_masks.png").is_file()  # default: next to the image, png


def test_3d_masks_default_to_tif_and_png_is_refused_per_file(tmp_path, fake_model, capsys):
    stack = shutil.copy(DATA / "img3d.tif", tmp_path / "stack.tif")
    assert cli.main(["segment", str(stack), "--do-3d", "--diameter", "12"]) == 0
    assert read_labels(tmp_path / "stack_masks.tif").shape == (31, 61, 57)
    assert fake_model.calls[0]["do_3d"] and fake_model.calls[0]["diameter"] == 12.0
    assert cli.main(["segment", str(stack), "--do-3d", "--save", "png", "--out",
                     str(tmp_path / "o")]) == 1
    assert "png cannot hold 3D masks" in capsys.readouterr().err


def test_a_stack_can_be_segmented_plane_by_plane_with_a_stitch_threshold(tmp_path, fake_model, capsys):
    stack = shutil.copy(DATA / "img3d.tif", tmp_path / "stack.tif")
    assert cli.main(["segment", str(stack), "--stitch-threshold", "0.3", "--diameter", "12"]) == 0
    assert fake_model.calls[0]["stitch_threshold"] == 0.3 and not fake_model.calls[0]["do_3d"]
    with pytest.raises(SystemExit):
        cli.main(["segment", str(stack), "--stitch-threshold", "1.5"])
    assert "(0, 1]" in capsys.readouterr().err


def test_rerunning_on_a_folder_skips_the_outputs_of_the_last_run(tmp_path, fake_model):
    shutil.copy(DATA / "img2d.tif", tmp_path / "a.tif")
    assert cli.main(["segment", str(tmp_path), "--save", "png,tif,flows"]) == 0
    assert cli.main(["segment", str(tmp_path)]) == 0
    assert len(fake_model.calls) == 2
    assert not any("_masks_masks" in p.name for p in tmp_path.iterdir())


def test_inputs_whose_outputs_would_collide_are_refused(tmp_path, fake_model, capsys):
    shutil.copy(DATA / "img2d.tif", tmp_path / "a.tif")
    shutil.copy(DATA / "histo.jpg", tmp_path / "a.jpg")
    assert cli.main(["segment", str(tmp_path)]) == 1
    assert "would overwrite" in capsys.readouterr().err
    assert len(fake_model.calls) == 1


def test_a_model_that_cannot_be_loaded_stops_before_any_work(tmp_path, monkeypatch, capsys):
    def broken(name):
        raise FileNotFoundError(f"no model file {name}")

    monkeypatch.setattr(cli, "_load_model", broken)
    img = shutil.copy(DATA / "img2d.tif", tmp_path / "a.tif")
    assert cli.main(["segment", str(img), "--model", "nope.pt"]) == 2
    assert "cannot load model nope.pt" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["segment", "x.tif", "--save", "png,jpg"],
    ["segment", "x.tif", "--diameter", "-3"],
    ["eval", "--pred", "a", "--labels", "b", "--thresholds", "0.5,1.5"],
    ["segment"],
])
def test_usage_errors_exit_with_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_help_is_fast_because_torch_is_not_imported():
    code = ("import sys; from inference.engine.__main__ import build_parser; "
            "build_parser().format_help(); print('torch' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_help_lists_every_export_format():
    seg_help = cli.build_parser()._subparsers._group_actions[0].choices["segment"].format_help()
    assert all(f in seg_help for f in export.FORMATS)


# --- eval ------------------------------------------------------------------------------------

def perturbed(masks):
    """Drop a few cells, shift everything by 2 pixels and add a spurious cell."""
    out = masks.copy()
    labels = np.unique(out[out > 0])
    out[np.isin(out, labels[:5])] = 0
    out = np.roll(out, 2, axis=1)
    out[0:6, 0:6] = 999
    return out


def test_eval_prints_the_average_precision_of_each_image_and_the_mean(tmp_path, capsys):
    truth = read_labels(DATA / "mask2d.tif")
    pred = perturbed(truth)
    (tmp_path / "labels").mkdir()
    (tmp_path / "pred").mkdir()
    shutil.copy(DATA / "mask2d.tif", tmp_path / "labels" / "cells_masks.tif")
    shutil.copy(DATA / "img2d.tif", tmp_path / "labels" / "cells.tif")  # image beside its masks
    export.save_png(tmp_path / "pred" / "cells_masks.png", pred)
    export.save_png(tmp_path / "labels" / "same_masks.png", truth)
    export.save_tif(tmp_path / "pred" / "same_masks.tif", truth)
    code = cli.main(["eval", "--pred", str(tmp_path / "pred"), "--labels",
                     str(tmp_path / "labels"), "--thresholds", "0.5,0.75"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split() == ["image", "n_true", "n_pred", "AP@0.50", "AP@0.75"]
    ap, tp, fp, fn = average_precision(truth, pred, thresholds=(0.5, 0.75))
    cells = out[1].split()
    assert cells[0] == "cells" and int(cells[1]) == 125 and int(cells[2]) == 121
    assert [float(v) for v in cells[3:]] == pytest.approx(ap[0], abs=5e-4)
    assert out[2].split() == ["same", "125", "125", "1.000", "1.000"]
    mean = out[3].split()
    assert mean[0] == "mean"
    assert [float(v) for v in mean[1:]] == pytest.approx((ap[0] + 1) / 2, abs=5e-4)


def test_eval_names_unpaired_files(tmp_path, capsys):
    (tmp_path / "labels").mkdir()
    (tmp_path / "pred").mkdir()
    shutil.copy(DATA / "mask2d.tif", tmp_path / "labels" / "a.tif")
    shutil.copy(DATA / "mask2d.tif", tmp_path / "labels" / "b.tif")
    shutil.copy(DATA / "mask2d.tif", tmp_path / "pred" / "a_masks.tif")
    shutil.copy(DATA / "mask2d.tif", tmp_path / "pred" / "c_masks.tif")
    code = cli.main(["eval", "--pred", str(tmp_path / "pred"), "--labels",
                     str(tmp_path / "labels")])
    captured = capsys.readouterr()
    assert code == 1
    assert "no prediction for label file" in captured.err and "b.tif" in captured.err
    assert "no label file for prediction" in captured.err and "c_masks.tif" in captured.err
    assert captured.out.splitlines()[1].split()[0] == "a"


def test_eval_with_nothing_to_pair_fails_clearly(tmp_path, capsys):
    (tmp_path / "labels").mkdir()
    (tmp_path / "pred").mkdir()
    assert cli.main(["eval", "--pred", str(tmp_path / "pred"), "--labels",
                     str(tmp_path / "labels")]) == 1
    assert "no prediction could be paired" in capsys.readouterr().err
    assert cli.main(["eval", "--pred", str(tmp_path / "nope"), "--labels",
                     str(tmp_path / "labels")]) == 2


# --- the real model --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not WEIGHTS.exists(), reason="embedded default model not trained yet")
def test_the_default_model_segments_the_test_image(tmp_path, capsys):
    code = cli.main(["segment", str(DATA / "img2d.tif"), "--out", str(tmp_path), "--save",
                     "png,npy", "--no-augment"])
    assert code == 0, capsys.readouterr().err
    masks = read_labels(tmp_path / "img2d_masks.png")
    truth = read_labels(DATA / "mask2d.tif")
    ap = average_precision(truth, masks, thresholds=0.5)[0][0, 0]
    assert len(np.unique(masks)) > 50 and ap > 0.5
    dat = np.load(tmp_path / "img2d_seg.npy", allow_pickle=True).item()
    assert dat["flows"][4].shape == (3, 512, 512)
