import copy
import json
import warnings

import numpy as np
import pytest
import torch

from inference.engine import io
from inference.engine import train as tr
from inference.engine.model import CellposeModel, load_model
from inference.engine.net import CellposeNet

LOG_KEYS = {"epoch", "lr", "train_loss", "val_loss", "val_ap50", "time", "samples_per_s"}


def tiny(cls=None, **overrides) -> tr.TrainConfig:
    """A network and crops small enough for a 2-core CPU test."""
    settings = dict(nbase=(2, 8, 16, 32, 64), n_epochs=2, batch_size=4, bsize=48,
                    learning_rate=0.05, warmup_epochs=1, fit_size_model=False, num_threads=2,
                    val_every=1, size_n_rescales=1, size_max_side=96, checkpoint_every=1,
                    device="cpu")
    settings.update(overrides)
    return (cls or tr.TrainConfig)(**settings)


@pytest.fixture(scope="module")
def data():
    images, labels = tr.synthetic_dataset(5, seed=3, shape=(80, 80))
    return images, labels


def _weights(model):
    return {k: v.detach().clone() for k, v in model.nets[0].state_dict().items()}


def _fixed_batch_loss(net, data_set, config):
    """The loss on one fixed batch of crops (no jitter), with batch statistics as in training.

    (Eval mode would read the batch-norm running averages, which move slowly, momentum 0.05.)
    """
    rng = np.random.default_rng(123)
    x, y = tr._batch(data_set, np.arange(len(data_set)), rng, config, config.diam_mean, None)
    net = copy.deepcopy(net).train()
    with torch.no_grad():
        return float(tr.training_loss(net(x)[0], y))


# -- schedule and loss -------------------------------------------------------------------------


def test_the_learning_rate_schedule_warms_up_then_anneals():
    lr = tr.schedule(tr.TrainConfig())
    assert lr.shape == (500,)
    np.testing.assert_allclose(lr[:10], 0.2 * np.arange(1, 11) / 10)
    assert np.all(np.diff(lr[:10]) > 0)
    np.testing.assert_allclose(lr[10:400], 0.2)
    for k in range(10):  # the last 100 epochs: halved every 10
        np.testing.assert_allclose(lr[400 + 10 * k: 410 + 10 * k], 0.2 / 2 ** (k + 1))
    assert np.all(np.diff(lr[10:]) <= 0)
    short = tr.schedule(tr.TrainConfig(n_epochs=3, warmup_epochs=10, anneal_fraction=0.0))
    np.testing.assert_allclose(short, 0.2 * np.array([1, 2, 3]) / 10)


@pytest.mark.parametrize("bad", [dict(n_epochs=0), dict(learning_rate=0.0), dict(bsize=100),
                                 dict(nbase=(3, 32, 64)), dict(val_every=0),
                                 dict(scale_range=(1.2, 0.8)), dict(nucleus_dropout=1.5)])
def test_the_config_rejects_impossible_settings(bad):
    with pytest.raises(ValueError):
        tr.TrainConfig(**bad)


def test_the_loss_is_half_the_flow_mse_plus_the_cellprob_cross_entropy():
    targets = torch.zeros(1, 3, 4, 4)
    targets[0, 0, :2] = 1
    targets[0, 1, :2] = 0.6
    targets[0, 2, :2] = -0.8
    out = torch.zeros(1, 3, 4, 4)
    expected_mse = ((5 * 0.6) ** 2 + (5 * 0.8) ** 2) * 8 / 32
    assert float(tr.training_loss(out, targets)) == pytest.approx(0.5 * expected_mse + np.log(2))
    perfect = torch.cat([5 * targets[:, 1:], 40 * (2 * targets[:, :1] - 1)], dim=1)
    assert float(tr.training_loss(perfect, targets)) < 1e-6


# -- training ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_epoch_on_tiny_synthetic_data_makes_the_loss_go_down(data):
    images, labels = data
    config = tiny(n_epochs=1, n_samples_per_epoch=32, learning_rate=0.2, jitter_prob=0.0,
                  nucleus_dropout=0.0)
    data_set = tr.prepare_training_set(images, labels)
    torch.manual_seed(config.seed)
    fresh = CellposeNet(nbase=config.nbase)
    before = _fixed_batch_loss(fresh, data_set, config)
    result = tr.train(images, labels, config=config)
    after = _fixed_batch_loss(result.model.nets[0], data_set, config)
    assert after < 0.97 * before  # 8 SGD steps: about -5 %
    assert result.history[0]["train_loss"] > 0 and not result.stopped


@pytest.mark.slow
def test_resuming_from_a_checkpoint_gives_the_same_weights_as_an_uninterrupted_run(data, tmp_path):
    images, labels = data
    config = tiny(n_epochs=3, n_samples_per_epoch=8)
    whole = tr.train(images, labels, config=config, out=tmp_path / "whole.pt")

    polls = []

    def stop_at_second_epoch():  # 2 batches per epoch: the third poll opens epoch 2
        polls.append(1)
        return len(polls) == 3

    log = tmp_path / "part.jsonl"
    first = tr.train(images, labels, config=config, out=tmp_path / "part.pt", log_path=log,
                     should_stop=stop_at_second_epoch)
    assert first.stopped and first.epochs_completed == 1
    ckpt = tmp_path / "part.pt.ckpt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    resumed = tr.train(images, labels, config=config, out=tmp_path / "part.pt", resume=ckpt,
                       log_path=log)

    a, b = _weights(whole.model), _weights(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2, 3]


@pytest.mark.slow
def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(data):
    images, labels = data
    config = tiny(n_epochs=1, n_samples_per_epoch=4)
    a = _weights(tr.train(images[:2], labels[:2], config=config).model)
    b = _weights(tr.train(images[:2], labels[:2], config=config).model)
    c = _weights(tr.train(images[:2], labels[:2], config=tiny(n_epochs=1, n_samples_per_epoch=4,
                                                               seed=1)).model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.slow
def test_the_json_lines_log_has_one_record_per_epoch_with_the_documented_keys(data, tmp_path):
    images, labels = data
    log = tmp_path / "log.jsonl"
    seen = []
    config = tiny(n_epochs=2, n_samples_per_epoch=4, val_every=2)
    result = tr.train(images[:3], labels[:3], config=config, val_images=images[3:],
                      val_labels=labels[3:], log_path=log,
                      progress=lambda e, n, rec: seen.append((e, n, rec)))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(set(r) == LOG_KEYS for r in records)
    assert records[0]["val_loss"] is None and records[0]["val_ap50"] is None  # not this epoch
    assert records[1]["val_loss"] > 0 and 0.0 <= records[1]["val_ap50"] <= 1.0
    assert records[1]["time"] >= records[0]["time"] > 0
    assert records == result.history
    assert [(e, n) for e, n, _ in seen] == [(1, 2), (2, 2)]


@pytest.mark.slow
def test_should_stop_stops_training_cleanly(data, tmp_path):
    images, labels = data
    out = tmp_path / "m.pt"
    result = tr.train(images, labels, config=tiny(n_epochs=5, n_samples_per_epoch=4), out=out,
                      should_stop=lambda: True)
    assert result.stopped and result.history == [] and result.epochs_completed == 0
    assert not out.exists()  # a cancelled run publishes no model

    calls = []

    def after_two_epochs():
        calls.append(1)
        return len(calls) > 2  # one batch per epoch

    result = tr.train(images, labels, config=tiny(n_epochs=5, n_samples_per_epoch=4), out=out,
                      should_stop=after_two_epochs)
    assert result.stopped and result.epochs_completed == 2 and len(result.history) == 2
    assert result.model.size_model is None and not out.exists()
    assert torch.load(result.checkpoint_path, weights_only=True)["epoch"] == 2


@pytest.mark.slow
def test_the_size_model_is_fitted_and_saved(data, tmp_path):
    images, labels = data
    out = tmp_path / "sized.pt"
    config = tiny(n_epochs=1, n_samples_per_epoch=4, fit_size_model=True, size_n_rescales=2)
    result = tr.train(images[:3], labels[:3], config=config, out=out,
                      data_description={"source": "test"})
    loaded = load_model(out, device="cpu")
    assert loaded.size_model is not None
    assert loaded.size_model.n_features == config.nbase[-1]
    assert loaded.size_model.to_dict() == result.model.size_model.to_dict()
    assert loaded.meta["data"]["source"] == "test" and loaded.meta["data"]["n_train"] == 3
    assert loaded.meta["config"]["nbase"] == list(config.nbase)
    assert loaded.meta["seed"] == 0 and loaded.meta["training_time_s"] >= 0
    from inference.engine.size import style_for_size

    x = tr.prepare_training_set(images[:1], labels[:1]).images[0]
    d = loaded.size_model.predict(style_for_size(loaded.nets, x))
    assert np.isfinite(d) and d > 0


@pytest.mark.slow
def test_fine_tuning_loads_the_base_and_keeps_its_width(data, tmp_path):
    images, labels = data
    torch.manual_seed(5)
    base_net = CellposeNet(nbase=(2, 8, 16, 32, 64))
    base_path = tmp_path / "base.pt"
    CellposeModel([base_net], diam_mean=30.0, name="base").save(base_path)
    before = {k: v.clone() for k, v in base_net.state_dict().items()}

    config = tiny(nbase=(2, 32, 64, 128, 256), n_epochs=1, n_samples_per_epoch=4,
                  learning_rate=1e-4)
    with pytest.warns(UserWarning, match="keeps the base model's width"):
        result = tr.train(images[:2], labels[:2], config=config, base=str(base_path))
    net = result.model.nets[0]
    assert tuple(net.nbase) == (2, 8, 16, 32, 64)
    assert result.model.meta["base"] == str(base_path)
    # started from the base weights: a tiny learning rate moves them only a little
    conv = "encoder.0.convs.0.conv.weight"
    assert torch.allclose(net.state_dict()[conv], before[conv], atol=1e-3)
    assert not torch.equal(net.state_dict()[conv], before[conv])

    with warnings.catch_warnings():  # a CellposeModel object works too and is not modified
        warnings.simplefilter("ignore")
        model = load_model(base_path, device="cpu")
        tr.train(images[:2], labels[:2], config=config, base=model)
    assert torch.equal(model.nets[0].state_dict()[conv], before[conv])


def test_train_rejects_empty_labels_and_mismatched_shapes_naming_the_image(data):
    images, labels = data
    with pytest.raises(ValueError, match=r"images\[1\] are empty"):
        tr.train(images[:2], [labels[0], np.zeros_like(labels[1])], config=tiny())
    with pytest.raises(ValueError, match=r"images\[0\] have shape"):
        tr.train(images[:1], [labels[0][:-1]], config=tiny())


def test_training_targets_are_cached_on_disk_by_a_hash_of_the_labels(data, tmp_path):
    _, labels = data
    first = tr.prepare_training_set([np.ones((2, 80, 80), np.float32)], labels[:1],
                                    flow_cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), first.targets[0])
    np.save(files[0], np.full_like(first.targets[0], 7.0))  # the cache is read, not recomputed
    again = tr.prepare_training_set([np.ones((2, 80, 80), np.float32)], labels[:1],
                                    flow_cache_dir=tmp_path)
    assert np.all(again.targets[0] == 7.0)


# -- load_pairs --------------------------------------------------------------------------------


def _write_pair(folder_images, folder_labels, stem, *, shape=(32, 32), label_shape=None,
                empty=False, tag="_masks"):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    labels = np.zeros(label_shape or shape, np.uint16)
    if not empty:
        labels[4:12, 4:12] = 1
    io.imsave(folder_images / f"{stem}.tif", image)
    io.imsave(folder_labels / f"{stem}{tag}.tif", labels)


def test_load_pairs_pairs_images_with_their_labels_by_name(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    _write_pair(tmp_path / "img", tmp_path / "lab", "b", tag="_labels")
    _write_pair(tmp_path / "img", tmp_path / "lab", "a", tag="")
    images, labels, names = tr.load_pairs(tmp_path / "img", tmp_path / "lab")
    assert names == ["a", "b"]
    assert labels[0].shape == images[0].shape == (32, 32) and labels[0].max() == 1
    # one shared folder with NAME.tif and NAME_masks.tif
    _write_pair(tmp_path, tmp_path, "c")
    assert tr.load_pairs(tmp_path, tmp_path)[2] == ["c"]


def test_load_pairs_rejects_a_missing_pair_naming_the_file(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    _write_pair(tmp_path / "img", tmp_path / "lab", "a")
    io.imsave(tmp_path / "img" / "lonely.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"no labels for image .*lonely\.tif"):
        tr.load_pairs(tmp_path / "img", tmp_path / "lab")
    (tmp_path / "img" / "lonely.tif").unlink()
    io.imsave(tmp_path / "lab" / "orphan_masks.tif", np.ones((8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"labels without an image.*orphan_masks\.tif"):
        tr.load_pairs(tmp_path / "img", tmp_path / "lab")


def test_load_pairs_rejects_a_mismatched_shape_naming_the_file(tmp_path):
    _write_pair(tmp_path, tmp_path, "a", label_shape=(30, 32))
    with pytest.raises(ValueError, match=r"a_masks\.tif have shape \(30, 32\)"):
        tr.load_pairs(tmp_path, tmp_path)


def test_load_pairs_rejects_an_empty_label_naming_the_file(tmp_path):
    _write_pair(tmp_path, tmp_path, "a", empty=True)
    with pytest.raises(ValueError, match=r"a_masks\.tif are empty"):
        tr.load_pairs(tmp_path, tmp_path)


# -- command line ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_train_command_trains_saves_and_logs(tmp_path, monkeypatch):
    from inference.engine.__main__ import main

    images, labels = tr.synthetic_dataset(2, seed=4, shape=(64, 64))
    for i, (image, lab) in enumerate(zip(images, labels)):
        io.imsave(tmp_path / f"im{i}.tif", image)
        io.imsave(tmp_path / f"im{i}_masks.tif", lab)
    out, log = tmp_path / "out" / "m.pt", tmp_path / "log.jsonl"
    real = tr.TrainConfig
    monkeypatch.setattr(tr, "TrainConfig", lambda **kw: tiny(cls=real, **{
        k: v for k, v in kw.items() if k not in ("nbase", "batch_size", "device", "num_threads")}))
    rc = main(["train", "--images", str(tmp_path), "--labels", str(tmp_path), "--epochs", "1",
               "--chan", "1", "--chan2", "2", "--out", str(out), "--log", str(log)])
    assert rc == 0 and out.exists()
    assert len(log.read_text().splitlines()) == 1
    assert load_model(out, device="cpu").meta["data"]["train_names"] == ["im0", "im1"]


def test_the_train_command_exits_with_2_and_a_message_for_bad_data(tmp_path, capsys):
    from inference.engine.__main__ import main

    _write_pair(tmp_path, tmp_path, "a", empty=True)
    rc = main(["train", "--images", str(tmp_path), "--labels", str(tmp_path),
               "--out", str(tmp_path / "m.pt")])
    assert rc == 2
    assert "a_masks.tif are empty" in capsys.readouterr().err


@pytest.mark.slow
def test_bf16_channels_last_training_lowers_the_loss_and_saves_ordinary_float32_weights(data, tmp_path):
    images, labels = data
    config = tiny(n_epochs=1, n_samples_per_epoch=32, learning_rate=0.2, jitter_prob=0.0,
                  nucleus_dropout=0.0, precision="bf16", channels_last=True)
    data_set = tr.prepare_training_set(images, labels)
    torch.manual_seed(config.seed)
    fresh = CellposeNet(nbase=config.nbase)
    before = _fixed_batch_loss(fresh, data_set, config)
    result = tr.train(images, labels, config=config, out=tmp_path / "m.pt")
    net = result.model.nets[0]
    assert _fixed_batch_loss(net, data_set, config) < 0.97 * before
    assert result.meta["precision"] == "bf16"
    for name, w in net.state_dict().items():
        assert w.dtype in (torch.float32, torch.int64), name
        assert w.is_contiguous(), f"{name} is left in channels-last layout"
    reloaded = load_model(tmp_path / "m.pt", device="cpu")
    for k, v in _weights(reloaded).items():
        assert torch.equal(v, net.state_dict()[k]), k


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_precision_auto_is_bf16_only_where_the_hardware_has_it(device, monkeypatch):
    from inference.engine import train_runtime

    dev = torch.device(device)
    assert train_runtime.amp_dtype("fp32", dev) is None
    assert train_runtime.amp_dtype("bf16", dev) is torch.bfloat16
    if device == "cuda":
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        assert train_runtime.amp_dtype("auto", dev) is None
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        assert train_runtime.amp_dtype("auto", dev) is torch.bfloat16
    else:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        assert train_runtime.amp_dtype("auto", dev) is (torch.bfloat16 if native else None)


def test_the_config_rejects_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be"):
        tr.TrainConfig(precision="fp16")
