"""The loop on real data with the embedded default model: four quadrants of img2d.tif contributed
with their hand-drawn masks, two approved for training and two held out as the test set; an admin
fine-tunes (the recipe of tests/engine/test_default_model.py) and the candidate is evaluated on the
held-out quadrants against the current model.

About 3 minutes on 2 CPU cores, so it runs only with CELLPOSEWEB_REAL_FINETUNE=1:
``CELLPOSEWEB_REAL_FINETUNE=1 .venv/bin/python -m pytest -s tests/web/community/test_real_finetune.py``
"""
import os

import numpy as np
import pytest
import tifffile

from community.training import training_run_execute
from inference.engine.model import WEIGHTS_DIR
from tests.web.conftest import DATA, client_for, tiff_bytes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("CELLPOSEWEB_REAL_FINETUNE"), reason="set CELLPOSEWEB_REAL_FINETUNE=1 (about 3 minutes)"),
    pytest.mark.skipif(not (WEIGHTS_DIR / "default.pt").exists(), reason="the default model is not built"),
]

RECIPE = {"n_epochs": 10, "n_samples_per_epoch": 16, "learning_rate": 0.05, "warmup_epochs": 1, "batch_size": 8,
          "bsize": 224, "val_every": 5, "seed": 0}


def test_fine_tuning_through_the_loop_raises_ap_on_the_held_out_quadrants(
    owner, contributor_b, curator, admin_user, make_image
):
    from annotations.services import annotation_save
    from inference.model_versions import model_version_create

    default = model_version_create(name="default", file_path=WEIGHTS_DIR / "default.pt", make_current=True)
    image, truth = tifffile.imread(DATA / "img2d.tif"), tifffile.imread(DATA / "mask2d.tif").astype(np.int32)
    ids = {}
    for user, (i, j) in [(owner, (0, 0)), (contributor_b, (1, 1)), (owner, (0, 1)), (contributor_b, (1, 0))]:
        sl = np.s_[i * 256:(i + 1) * 256, j * 256:(j + 1) * 256]
        uploaded = make_image(name=f"img2d-q{i}{j}.tif", content=tiff_bytes(image[sl]), user=user)
        annotation_save(image=uploaded, base_version=None, masks=truth[sl], created_by=user)
        response = client_for(user).post("/api/contributions/", {"image": uploaded.pk, "license": "CC0", "consent": True,
                                                                 "tags": ["fluorescence", "nuclei"]}, format="json")
        assert response.status_code == 201, response.json()
        ids[(i, j)] = response.json()["id"]
        client_for(curator).post(f"/api/contributions/{ids[(i, j)]}/review/", {"decision": "approve"}, format="json")
    for q in [(0, 1), (1, 0)]:
        client_for(admin_user).post(f"/api/contributions/{ids[q]}/split/", {"split": "test"}, format="json")

    run = client_for(admin_user).post("/api/training-runs/", RECIPE, format="json").json()
    training_run_execute(run_id=run["id"], device="cpu")
    run = client_for(admin_user).get(f"/api/training-runs/{run['id']}/").json()
    assert run["status"] == "succeeded", run["error"]
    before, after = run["metrics"]["current"], run["metrics"]["candidate"]
    print(f"\nheld-out quadrants of img2d.tif, {default} -> candidate v{run['candidate']}: "
          f"AP@0.5 {before['ap50']:.3f} -> {after['ap50']:.3f}, AP@0.75 {before['ap75']:.3f} -> {after['ap75']:.3f}, "
          f"AP@0.9 {before['ap90']:.3f} -> {after['ap90']:.3f}; losses {[round(x, 3) for x in run['losses']]}")
    assert after["ap50"] >= before["ap50"] + 0.05
