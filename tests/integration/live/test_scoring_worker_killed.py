"""A worker killed while it runs the automatic checks of a contribution (SIGKILL, as the OOM killer
does) is recovered like a killed segmentation worker (test_worker_killed.py): the scoring's
heartbeat goes stale, the recovery sweep re-queues it, another worker scores it again, and the
contribution's checks are filled; until then a curator cannot approve it."""
import io

import numpy as np
import tifffile

from tests.integration.live.conftest import upload
from tests.integration.servers import wait_until

RUN_END = ("succeeded", "failed", "cancelled")


def mosaic(n=4):
    """A large 2D image (n x n tiles of the real test image) with its hand-drawn masks, relabelled
    per tile, so that scoring takes long enough to be killed mid-way: (TIFF bytes, int32 masks)."""
    from tests.web.conftest import DATA

    picture = tifffile.imread(DATA / "img2d.tif")
    truth = tifffile.imread(DATA / "mask2d.tif").astype(np.int32)
    offset = int(truth.max())
    tiles = [[np.where(truth > 0, truth + offset * (i * n + j), 0) for j in range(n)] for i in range(n)]
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.tile(picture, (n, n)))
    return buf.getvalue(), np.block(tiles).astype(np.int32)


def scoring_of(stack, contribution_id):
    from community.models import ContributionScoring

    with stack.orm():
        return ContributionScoring.objects.get(contribution_id=contribution_id)


def test_a_killed_scoring_worker_is_recovered_like_a_killed_segmentation_worker(stack):
    from annotations.models import Image
    from annotations.services import annotation_save
    from community.models import Contribution

    user, token = stack.user("scorer")
    curator, curator_token = stack.user("score-curator", is_staff=True, is_superuser=True)
    client = stack.http(token)
    content, masks = mosaic()
    image_id = upload(client, content, name="score-kill.tif")["id"]
    with stack.orm():
        annotation_save(image=Image.objects.get(pk=image_id), base_version=None, masks=masks, created_by=user)
    created = client.post("/api/contributions/", json={"image": image_id, "license": "CC0", "consent": True})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["checks_run"]["status"] in ("queued", "running")

    wait_until(lambda: (s := scoring_of(stack, cid)).status == "running" and s.progress > 0.1, timeout=300,
               interval=0.05, what=f"the checks of contribution {cid} to be mid-way")
    stack.worker.kill()
    assert scoring_of(stack, cid).status == "running"  # what a killed worker leaves behind
    refused = stack.http(curator_token).post(f"/api/contributions/{cid}/review/", json={"decision": "approve"})
    assert refused.status_code == 409 and "cannot be approved yet" in refused.text
    stack.start_worker("score2@it")  # another worker: only the stale heartbeat tells

    scoring = wait_until(lambda: (s := scoring_of(stack, cid)).status in RUN_END and s, timeout=600,
                         what=f"the checks of contribution {cid} to end")
    assert scoring.status == "succeeded" and scoring.attempts == 2, (scoring.status, scoring.error)
    assert scoring.worker == "score2@it"
    with stack.orm():
        contribution = Contribution.objects.get(pk=cid)
        assert contribution.checks and contribution.prediction_file and contribution.current_ap is not None
    approved = stack.http(curator_token).post(f"/api/contributions/{cid}/review/", json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
