"""The default model's recipe (train-default): a synthetic stage, a real-data stage, the card."""
import hashlib
import json
from pathlib import Path

import pytest

from inference.engine import accuracy, train_recipe
from inference.engine.model import load_model

DSB = Path(__file__).resolve().parents[1] / "data" / "dsb2018"


def test_the_default_recipe_is_a_valid_config():
    recipe = train_recipe.DEFAULT_RECIPE
    config = train_recipe.default_recipe_config(epochs=3)
    assert config.n_epochs == 3 and config.nbase == tuple(recipe["nbase"])
    assert train_recipe.default_recipe_config().n_epochs == recipe["n_epochs"]
    stage2 = train_recipe.default_recipe_config(stage=2)
    assert stage2.n_epochs == recipe["stage2"]["n_epochs"]
    assert stage2.learning_rate == recipe["stage2"]["learning_rate"]
    assert stage2.fit_size_model and not config.fit_size_model
    with pytest.raises(ValueError, match="stage"):
        train_recipe.default_recipe_config(stage=3)


def test_the_real_data_stage_mixes_the_folders_training_split_with_synthetic_images():
    mix = train_recipe.real_data_mix(DSB, split="train")
    val = train_recipe.real_data_mix(DSB, split="val")
    folder, synthetic, volume = mix.sources
    s2 = train_recipe.DEFAULT_RECIPE["stage2"]
    assert (folder.weight, synthetic.weight, volume.weight) == (
        s2["folder_weight"], s2["synthetic_weight"], s2["volume_weight"])
    assert folder.split == "train" and val.sources[0].split == "val" and folder.balance == "sqrt_kinds"
    assert synthetic.sister_nuclei and synthetic.seed != val.sources[1].seed
    assert volume.styles == ("nuclei3d",) and volume.seed != val.sources[2].seed
    train_names, val_names = folder.load().names, val.sources[0].load().names
    assert train_names and val_names and not set(train_names) & set(val_names)


@pytest.fixture
def tiny_recipe(monkeypatch):
    """DEFAULT_RECIPE shrunk to seconds: 3 synthetic images of 64 px, one short epoch per stage,
    and a report on the folder's validation split only."""
    small = dict(n_images=3, n_val=1, shape=(64, 64), nbase=(2, 8, 16, 32, 64), n_epochs=1,
                 n_samples_per_epoch=8, batch_size=4, bsize=48, warmup_epochs=1, val_every=1,
                 size_max_side=96, precision="fp32")
    for key, value in small.items():
        monkeypatch.setitem(train_recipe.DEFAULT_RECIPE, key, value)
    monkeypatch.setitem(train_recipe.DEFAULT_RECIPE, "stage2",
                        dict(train_recipe.DEFAULT_RECIPE["stage2"], n_epochs=1, warmup_epochs=1,
                             val_fraction=0.34, n_volume=2))
    # the committed checkpoint (of the full-size network) is for real runs on CPUs without bfloat16
    monkeypatch.setattr(train_recipe, "STAGE2_CHECKPOINT", Path("/nonexistent/stage2.ckpt"))
    standard = accuracy.standard_items
    monkeypatch.setattr(accuracy, "standard_items",
                        lambda **kw: standard(**{**kw, "test_data": None, "synthetic": False}))


@pytest.mark.slow
def test_train_default_trains_on_synthetic_then_real_images_and_writes_its_card(tiny_recipe, tmp_path, capsys):
    from inference.engine.__main__ import main

    out = tmp_path / "m.pt"
    argv = ["train-default", "--out", str(out), "--data-folder", str(DSB), "--threads", "2", "--device", "cpu"]
    assert main(argv) == 0
    stage1 = load_model(tmp_path / "m.pt.stage1.pt", device="cpu")
    final = load_model(out, device="cpu")
    assert stage1.meta["data"]["stage"] == 1 and stage1.size_model is None
    assert final.meta["data"]["stage"] == 2 and final.size_model is not None
    assert final.meta["base"] == str(tmp_path / "m.pt.stage1.pt")
    card = final.meta["card"]
    folder, synthetic, volume = card["training_data"]
    assert volume["kinds"] == {"synthetic/nuclei3d": 2}
    assert folder["source"] == "dsb2018" and "CC0" in folder["licence"]
    assert folder["n_images"] + card["validation"][0]["n_images"] == 6
    assert synthetic["n_images"] == 3 and synthetic["kinds"]
    assert set(card["accuracy"]) >= {"dsb2018-val/fluorescent", "dsb2018-val/stained"}
    lines = (tmp_path / "m.pt.log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["report"] == card["accuracy"]
    assert "val_ap50_by_kind" in json.loads(lines[-2])

    # --resume keeps a finished stage 1 and trains stage 2 again from it
    before = (tmp_path / "m.pt.stage1.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv + ["--resume", "--no-report"]) == 0
    assert "stage 1: done before" in capsys.readouterr().err
    assert (tmp_path / "m.pt.stage1.pt").stat().st_mtime_ns == before

    # a model trained from an earlier one (--stage1) names it on its card, with that one's recipe
    again = tmp_path / "again.pt"
    assert main(["train-default", "--out", str(again), "--stage1", str(out), "--data-folder", str(DSB),
                 "--threads", "2", "--device", "cpu", "--no-report"]) == 0
    stage1_card = load_model(again, device="cpu").meta["card"]["recipe"]["stage1"]
    assert stage1_card["model_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert stage1_card["model_recipe"] == card["recipe"]


def test_train_default_names_a_missing_stage_1_model_or_data_folder(tmp_path, capsys):
    from inference.engine.__main__ import main

    rc = main(["train-default", "--out", str(tmp_path / "m.pt"), "--data-folder", str(DSB),
               "--stage1", str(tmp_path / "no.pt")])
    assert rc == 2 and "no.pt" in capsys.readouterr().err
    rc = main(["train-default", "--out", str(tmp_path / "m.pt"), "--data-folder", str(tmp_path / "nowhere")])
    assert rc == 2 and "nowhere" in capsys.readouterr().err


@pytest.mark.slow
def test_stage_2_can_continue_from_a_kept_checkpoint_without_stage_1(tiny_recipe, monkeypatch, tmp_path, capsys):
    from inference.engine.__main__ import main

    monkeypatch.setitem(train_recipe.DEFAULT_RECIPE, "stage2",
                        dict(train_recipe.DEFAULT_RECIPE["stage2"], n_epochs=2, keep_checkpoints=(1,)))
    first = tmp_path / "a" / "m.pt"
    common = ["--data-folder", str(DSB), "--threads", "2", "--device", "cpu", "--no-report"]
    assert main(["train-default", "--out", str(first), *common]) == 0
    kept = tmp_path / "a" / "m.pt.ckpt.e1"
    assert kept.is_file()
    second = tmp_path / "b" / "m.pt"
    # what the checkpoint's run took as stage 1, written beside it, goes onto the card
    lineage = {"model_sha256": "ab" * 32, "model_recipe": {"stage2": {"n_epochs": 420}}}
    Path(f"{kept}.stage1.json").write_text(json.dumps(lineage))
    capsys.readouterr()
    assert main(["train-default", "--out", str(second), "--stage2-from", str(kept), *common]) == 0
    assert "continuing from the checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "b" / "m.pt.stage1.pt").exists()  # stage 1 was not needed
    model = load_model(second, device="cpu")
    assert model.meta["data"]["continued_from"] == str(kept)
    assert model.meta["card"]["recipe"]["stage1"] == lineage
    log = [json.loads(line) for line in (tmp_path / "b" / "m.pt.log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]  # epoch 1 from the checkpoint's history, then epoch 2


def test_a_cpu_without_bfloat16_continues_from_the_committed_checkpoint(monkeypatch, tmp_path):
    from inference.engine import train_runtime

    said = []
    fake = tmp_path / "committed.ckpt"
    fake.write_bytes(b"x")
    monkeypatch.setattr(train_recipe, "STAGE2_CHECKPOINT", fake)
    monkeypatch.setattr(train_runtime, "amp_dtype", lambda precision, device: None)
    assert train_recipe._committed_checkpoint_if_slow("cpu", said.append) == fake
    assert "no native bfloat16" in said[0]
    monkeypatch.setattr(train_runtime, "amp_dtype", lambda precision, device: "bf16")
    assert train_recipe._committed_checkpoint_if_slow("cpu", said.append) is None
