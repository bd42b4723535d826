"""The training dataset layer: labelled folders, synthetic sources, mixing by weight, kinds, splits."""
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from inference.engine import train as tr
from inference.engine.export import save_seg_npy
from inference.engine.train_sources import (
    ArraySource,
    DataMix,
    FolderSource,
    SyntheticSource,
    image_kind,
    split_by_kind,
)

DSB = Path(__file__).resolve().parents[1] / "data" / "dsb2018"


def _disks(shape, centres, radius, value_in, value_out, rgb=False):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k
    image = np.where(labels > 0, value_in, value_out).astype(np.uint8)
    if rgb:
        image = np.stack([image, (image * 0.5).astype(np.uint8), image], axis=-1)
    return image, labels


def test_image_kind_tells_fluorescent_brightfield_and_stained_apart():
    bright, labels = _disks((64, 64), [(20, 20), (44, 40)], 8, 200, 20)
    dark, _ = _disks((64, 64), [(20, 20), (44, 40)], 8, 40, 220)
    purple, _ = _disks((64, 64), [(20, 20), (44, 40)], 8, 90, 230, rgb=True)
    grey_rgb = np.repeat(dark[..., None], 3, axis=-1)
    assert image_kind(bright, labels) == "fluorescent"
    assert image_kind(dark, labels) == "brightfield"
    assert image_kind(purple, labels) == "stained"
    assert image_kind(grey_rgb, labels) == "brightfield"  # a grey image stored as RGB


def test_the_real_test_images_have_the_kinds_they_were_chosen_for():
    kinds = FolderSource(str(DSB)).load().kinds
    assert sorted(kinds) == ["brightfield"] + ["fluorescent"] * 3 + ["stained"] * 2


def test_the_split_is_by_image_stratified_by_kind_and_fixed_by_the_seed():
    names = [f"f{i:03d}" for i in range(100)] + [f"s{i:02d}" for i in range(20)] + ["b0", "b1", "b2", "b3"]
    kinds = ["fl"] * 100 + ["st"] * 20 + ["bf"] * 4
    train, val = split_by_kind(names, kinds, fraction=0.1, seed=0)
    assert not set(train) & set(val) and sorted(train + val) == sorted(names)
    per_kind = {k: sum(n[0] == k[0] for n in val) for k in ("f", "s", "b")}
    assert per_kind == {"f": 10, "s": 3, "b": 3}  # 10 %, at least 3, never a whole kind
    assert split_by_kind(names[::-1], kinds[::-1], seed=0) == (train, val)  # order does not matter
    assert split_by_kind(names, kinds, seed=1)[1] != val


def test_a_folder_source_pairs_images_with_label_tiffs_pngs_and_seg_npy_files(tmp_path):
    image, labels = _disks((48, 48), [(12, 12), (34, 30)], 6, 180, 10)
    Image.fromarray(image).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a_masks.tif", labels.astype(np.uint16))
    Image.fromarray(image).save(tmp_path / "b.png")
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "b_labels.png")
    Image.fromarray(image).save(tmp_path / "c.png")
    save_seg_npy(tmp_path / "c_seg.npy", image=image, masks=labels, diameter=12.0, channels=(0, 0),
                 filename="c.png")
    data = FolderSource(str(tmp_path)).load()
    assert data.names == ["a", "b", "c"]
    for lab in data.labels:
        assert np.array_equal(lab > 0, labels > 0) and lab.max() == 2
    assert data.kinds == ["fluorescent"] * 3


def test_a_folder_with_images_and_masks_subfolders_is_read_whole_or_by_split():
    whole = FolderSource(str(DSB)).load()
    assert len(whole.images) == 6 and whole.channels == (0, 0)
    train = FolderSource(str(DSB), split="train", val_fraction=0.34).load()
    val = FolderSource(str(DSB), split="val", val_fraction=0.34).load()
    assert sorted(train.names + val.names) == sorted(whole.names)
    assert not set(train.names) & set(val.names)


def test_rgb_stained_images_become_grey_as_segment_reads_them():
    data = DataMix([FolderSource(str(DSB))]).prepare()
    stained = [i for i, k in enumerate(data.kinds) if k == "stained"]
    for i in stained:
        assert data.images[i].shape[0] == 2 and not data.images[i][1].any()  # grey, no nucleus channel


def test_each_real_image_keeps_the_diameter_of_its_own_labels():
    small, small_lab = _disks((96, 96), [(20, 20), (60, 60), (30, 70)], 5, 200, 10)
    large, large_lab = _disks((96, 96), [(30, 30), (66, 64)], 18, 200, 10)
    data = DataMix([ArraySource([small, large], [small_lab, large_lab])]).prepare()
    assert data.diameters[0] == pytest.approx(11, rel=0.15)
    assert data.diameters[1] == pytest.approx(37, rel=0.15)


def test_sources_are_sampled_in_proportion_to_their_weights(monkeypatch):
    a = [_disks((64, 64), [(20, 20), (44, 40)], 8, 200, 20) for _ in range(2)]
    b = [_disks((64, 64), [(30, 30)], 10, 200, 20) for _ in range(6)]
    mix = DataMix([ArraySource([x for x, _ in a], [y for _, y in a], weight=3.0, name="a"),
                   ArraySource([x for x, _ in b], [y for _, y in b], weight=1.0, name="b")])
    data = mix.prepare()
    assert data.sample_weights.sum() == pytest.approx(1.0)
    assert data.sample_weights[:2] == pytest.approx([0.375, 0.375])
    assert list(data.sources) == [0, 0, 1, 1, 1, 1, 1, 1]
    drawn = []
    real_batch = tr._batch

    def recording(data_, idx, *args):
        drawn.extend(int(i) for i in idx)
        return real_batch(data_, idx, *args)

    monkeypatch.setattr(tr, "_batch", recording)
    config = tr.TrainConfig(nbase=(2, 8, 16), n_epochs=1, n_samples_per_epoch=400, batch_size=50, bsize=32,
                            val_every=10, fit_size_model=False, device="cpu", num_threads=1,
                            checkpoint_every=100)
    tr.train(data, None, config=config)
    from_a = np.mean([i < 2 for i in drawn])
    assert len(drawn) == 400 and 0.68 <= from_a <= 0.82  # 0.75 expected


def test_a_mix_is_read_from_one_json_config_with_paths_relative_to_it(tmp_path):
    config = {"sources": [{"type": "folder", "images": str(DSB), "weight": 2, "split": "train"},
                          {"type": "synthetic", "n_images": 3, "seed": 5, "shape": [64, 64],
                           "styles": ["nuclei"], "weight": 1}],
              "validation": [{"type": "folder", "images": "dsb", "split": "val"}]}
    (tmp_path / "dsb").symlink_to(DSB)
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(config))
    mix, validation = DataMix.from_file(path)
    assert isinstance(mix.sources[0], FolderSource) and mix.sources[0].weight == 2
    assert mix.sources[1] == SyntheticSource(3, 5, weight=1, shape=(64, 64), styles=("nuclei",))
    assert validation.sources[0].images == str(tmp_path / "dsb")
    data = mix.prepare()
    assert data.kinds[-3:] == ["synthetic/nuclei"] * 3
    assert DataMix.from_config(mix.to_config()).to_config() == mix.to_config()


@pytest.mark.parametrize("config, message", [
    ({"sources": []}, "non-empty list 'sources'"),
    ({"sources": [{"type": "web"}]}, r"sources\[0\] needs 'type'"),
    ({"sources": [{"type": "synthetic", "n_images": 2, "seed": 1, "weight": -1}]}, "positive number"),
    ({"sources": [{"type": "folder", "images": "x", "colour": 1}]}, r"sources\[0\] \(folder\)"),
])
def test_a_bad_mix_config_is_refused_with_the_source_named(config, message):
    with pytest.raises(ValueError, match=message):
        DataMix.from_config(config)


def test_a_missing_folder_is_named():
    with pytest.raises(ValueError, match="no-such-folder"):
        DataMix([FolderSource("/tmp/no-such-folder")]).prepare()


@pytest.mark.slow
def test_validation_reports_ap50_per_image_kind(tmp_path):
    mix = DataMix([FolderSource(str(DSB)), SyntheticSource(2, 3, shape=(96, 96), styles=("nuclei",))])
    data = mix.prepare()
    config = tr.TrainConfig(nbase=(2, 8, 16), n_epochs=1, n_samples_per_epoch=8, batch_size=8, bsize=48,
                            val_every=1, fit_size_model=False, device="cpu", num_threads=2)
    result = tr.train(data, None, config=config, val_images=data, val_labels=None,
                      log_path=tmp_path / "log.jsonl")
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert set(record["val_ap50_by_kind"]) == {"brightfield", "fluorescent", "stained", "synthetic/nuclei"}
    assert result.history[-1]["val_ap50_by_kind"] == record["val_ap50_by_kind"]


@pytest.mark.slow
def test_the_train_command_trains_on_a_json_mix_with_its_validation_sources(tmp_path, capsys):
    from inference.engine.__main__ import main

    config = {"sources": [{"type": "folder", "images": str(DSB), "split": "train", "val_fraction": 0.34},
                          {"type": "synthetic", "n_images": 2, "seed": 1, "shape": [64, 64], "weight": 0.5}],
              "validation": [{"type": "folder", "images": str(DSB), "split": "val", "val_fraction": 0.34}]}
    (tmp_path / "mix.json").write_text(json.dumps(config))
    rc = main(["train", "--data", str(tmp_path / "mix.json"), "--out", str(tmp_path / "m.pt"),
               "--epochs", "1", "--samples-per-epoch", "8", "--nbase", "2,8,16", "--val-every", "1",
               "--threads", "2", "--log", str(tmp_path / "log.jsonl")])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert "fluorescent" in record["val_ap50_by_kind"]
    from inference.engine.model import load_model

    meta = load_model(tmp_path / "m.pt", device="cpu").meta
    assert [c["source"] for c in meta["data"]["counts"]] == ["dsb2018", "synthetic-1"]


def test_the_train_command_wants_a_folder_or_a_mix_not_both(tmp_path, capsys):
    from inference.engine.__main__ import main

    rc = main(["train", "--out", str(tmp_path / "m.pt")])
    assert rc == 2 and "either --images" in capsys.readouterr().err


def test_sqrt_kind_balance_draws_a_rare_kind_more_often_than_its_count():
    from inference.engine.train_sources import _within

    kinds = ["fluorescent"] * 9 + ["stained"]
    assert np.allclose(_within(kinds, "images"), 0.1)
    shares = _within(kinds, "sqrt_kinds")
    assert shares.sum() == pytest.approx(1.0)
    assert shares[-1] == pytest.approx(1 / 4)  # sqrt(1) / (sqrt(9) + sqrt(1))
    assert np.allclose(shares[:9], 3 / 4 / 9)
    with pytest.raises(ValueError, match="balance must be"):
        FolderSource("unused", balance="kinds")


def test_a_synthetic_source_cached_on_disk_reads_back_the_same_images_without_generating(tmp_path, monkeypatch):
    from inference.engine import synth

    source = SyntheticSource(3, seed=5, shape=(96, 96), styles=("nuclei3d",), name="volumes")
    first = source.load(tmp_path)
    assert len(list(tmp_path.glob("synthetic-*.npz"))) == 1

    def must_not_generate(*args, **kwargs):
        raise AssertionError("the cached images should have been read back")

    monkeypatch.setattr(synth, "make_samples", must_not_generate)
    again = SyntheticSource(3, seed=5, shape=(96, 96), styles=("nuclei3d",), weight=2.0, name="other name").load(tmp_path)
    assert again.kinds == first.kinds
    for a, b in zip(first.images + first.labels, again.images + again.labels):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    with pytest.raises(AssertionError, match="cached"):
        SyntheticSource(3, seed=6, shape=(96, 96), styles=("nuclei3d",)).load(tmp_path)
