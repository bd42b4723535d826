"""A training worker killed mid-run (SIGKILL, as the OOM killer does) is recovered like a killed
segmentation worker (test_worker_killed.py): the run's heartbeat goes stale, the recovery sweep
re-queues it, another worker trains it again from the start, and it succeeds on its second start;
it is never left "running" (which would answer 409 to every later run)."""
import io

import numpy as np
import tifffile

from tests.integration.live.conftest import upload
from tests.integration.servers import wait_until

# Long enough to be killed mid-way (an epoch of this takes seconds to a minute on a loaded 2-core
# machine), short enough to train twice.
TRAINING = {"n_epochs": 4, "n_samples_per_epoch": 2, "batch_size": 2, "bsize": 64, "learning_rate": 0.05,
            "val_every": 1}
RUN_END = ("succeeded", "failed", "cancelled")


def crops(n=2, size=128):
    """Crops of the real test image with their hand-drawn masks: (TIFF bytes, int32 masks)."""
    from tests.web.conftest import DATA

    picture = tifffile.imread(DATA / "img2d.tif")
    truth = tifffile.imread(DATA / "mask2d.tif").astype(np.int32)
    for i in range(n):
        buf = io.BytesIO()
        tifffile.imwrite(buf, np.ascontiguousarray(picture[i * size:(i + 1) * size, i * size:(i + 1) * size]))
        yield buf.getvalue(), truth[i * size:(i + 1) * size, i * size:(i + 1) * size]


def checked(stack, contribution_id):
    """Wait until the automatic checks of a contribution have run (a gpu worker of the stack runs
    them once the sweep sends their message; running them here first is as good)."""
    from community.models import ContributionScoring
    from community.scoring import contribution_score

    with stack.orm():
        scoring = ContributionScoring.objects.get(contribution_id=contribution_id)
        contribution_score(scoring_id=scoring.pk, worker="it-test")

    def done():
        with stack.orm():
            return ContributionScoring.objects.get(pk=scoring.pk).status == "succeeded"

    wait_until(done, timeout=300, what=f"the checks of contribution {contribution_id}")


def approved_contributions(stack, client, user):
    """One approved training and one approved test contribution, made through the services."""
    from annotations.models import Image
    from annotations.services import annotation_save
    from community.services import contribution_create, contribution_review, contribution_set_split

    from django.contrib.auth import get_user_model

    with stack.orm():  # nobody reviews their own contribution
        curator, _ = get_user_model().objects.get_or_create(username="train-kill-curator", defaults={"is_staff": True})
    ids = []
    for i, (content, masks) in enumerate(crops()):
        image_id = upload(client, content, name=f"train-kill-{i}.tif")["id"]
        with stack.orm():
            image = Image.objects.get(pk=image_id)
            annotation_save(image=image, base_version=None, masks=masks, created_by=user)
            contribution = contribution_create(contributor=user, image=image, license="CC0", consent=True,
                                               tags=["nuclei"])
        checked(stack, contribution.pk)
        with stack.orm():
            contribution_review(contribution=contribution, reviewer=curator, decision="approve")
            if i == 1:
                contribution_set_split(contribution=contribution, split="test", actor=user)
            ids.append(contribution.pk)
    return ids


def run_of(stack, run_id):
    from community.models import TrainingRun

    with stack.orm():
        return TrainingRun.objects.get(pk=run_id)


def test_a_killed_training_worker_is_recovered_like_a_killed_segmentation_worker(stack):
    user, token = stack.user("trainer", is_staff=True, is_superuser=True)
    client = stack.http(token)
    approved_contributions(stack, client, user)
    started = client.post("/api/training-runs/", json=TRAINING)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    first = stack.start_worker("train1@it", queues="training")
    wait_until(lambda: (run := run_of(stack, run_id)).status == "running" and len(run.history) >= 1, timeout=600,
               interval=0.05, what=f"training run {run_id} to be mid-way")
    first.kill()
    assert run_of(stack, run_id).status == "running"  # what a killed worker leaves behind
    stack.start_worker("train2@it", queues="training")  # another worker: only the stale heartbeat tells

    run = wait_until(lambda: (run := run_of(stack, run_id)).status in RUN_END and run, timeout=1200,
                     what=f"training run {run_id} to end")
    assert run.status == "succeeded" and run.attempts == 2, (run.status, run.error)
    assert run.worker == "train2@it" and run.active is None and run.candidate_id is not None
    assert len(run.history) == TRAINING["n_epochs"]  # trained again from the start, not appended to
