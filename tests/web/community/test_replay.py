"""Community training runs learn from the contributions mixed with a replay of the base data, and
report AP per image kind before and after."""
import numpy as np
import pytest

from community.replay import contribution_kind, replay_mix
from community.training import training_run_execute
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import DATA, client_for


def _cells(n=2, size=64):
    masks = np.zeros((size, size), np.int32)
    masks[8:24, 8:24], masks[36:56, 30:50] = 1, 2
    image = np.where(masks > 0, 1.0, 0.1).astype(np.float32)
    return [np.stack([image, np.zeros_like(image)])] * n, [masks] * n


def test_the_contributions_keep_their_share_and_the_replay_takes_the_rest():
    images, masks = _cells()
    mix = replay_mix(images=images, masks=masks, kinds=["stained", "stained"],
                     params={"replay_fraction": 0.4, "replay_synthetic_images": 3})
    data = mix.prepare()
    assert [s.describe() for s in mix.sources] == ["contributions", "replay-synthetic"]
    assert data.sample_weights[data.sources == 0].sum() == pytest.approx(0.6)
    assert data.sample_weights[data.sources == 1].sum() == pytest.approx(0.4)
    assert data.kinds[:2] == ["stained", "stained"]
    assert all(kind.startswith("synthetic/") for kind in data.kinds[2:])


def test_a_run_without_replay_learns_from_the_contributions_only():
    images, masks = _cells()
    mix = replay_mix(images=images, masks=masks, kinds=["other"] * 2,
                     params={"replay_fraction": 0.0, "replay_synthetic_images": 3})
    assert [s.describe() for s in mix.sources] == ["contributions"]


def test_a_replay_folder_on_the_server_shares_the_replayed_samples(settings):
    settings.COMMUNITY_REPLAY_FOLDER = str(DATA / "dsb2018")
    settings.COMMUNITY_REPLAY_FOLDER_SHARE = 0.5
    images, masks = _cells()
    mix = replay_mix(images=images, masks=masks, kinds=["fluorescent"] * 2,
                     params={"replay_fraction": 0.5, "replay_synthetic_images": 2})
    data = mix.prepare()
    assert [round(s.weight, 3) for s in mix.sources] == [0.5, 0.25, 0.25]
    assert data.sample_weights[data.sources == 2].sum() == pytest.approx(0.25)
    assert set(data.kinds[data.sources.tolist().index(2):]) <= {"fluorescent", "brightfield", "stained"}


def test_a_missing_replay_folder_is_named_in_the_error(settings, tmp_path):
    settings.COMMUNITY_REPLAY_FOLDER = str(tmp_path / "nowhere")
    images, masks = _cells()
    with pytest.raises(ValueError, match="nowhere"):
        replay_mix(images=images, masks=masks, kinds=["other"] * 2, params={"replay_fraction": 0.5})


def test_the_kind_of_a_stored_colour_image_is_read_with_its_channel_axis():
    masks = np.zeros((32, 32), np.int32)
    masks[8:20, 8:20] = 1
    rgb = np.zeros((3, 32, 32), np.uint8)
    rgb[0], rgb[2] = 200, 60
    rgb[:, masks > 0] = np.array([[90], [20], [120]])
    assert contribution_kind(rgb, "CYX", masks) == "stained"
    grey = np.where(masks > 0, 200, 10).astype(np.uint8)
    assert contribution_kind(grey, "YX", masks) == "fluorescent"
    assert contribution_kind(grey, "YX", np.zeros_like(masks)) == "other"


@pytest.mark.django_db(transaction=True)
def test_a_training_run_reports_ap_per_image_kind_before_and_after(approved_pair, admin_user):
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    assert run["params"]["replay_fraction"] == 0.5
    run = training_run_execute(run_id=run["id"], device="cpu")
    assert run.status == "succeeded", run.error
    for side in ("candidate", "current"):
        per_kind = run.metrics[side]["per_kind"]
        assert sum(row["n_images"] for row in per_kind.values()) == run.metrics[side]["n_images"]
    kind = next(iter(run.metrics["candidate"]["per_kind"]))
    changelog = run.candidate.description
    assert f"Per image kind, AP@0.5 current -> candidate: {kind} " in changelog
    assert "50 % of the training samples replayed the base data (3 synthetic images)" in changelog
