"""The release decision: a finished run's candidate beside the current model on every test image
(AP of both, cells gained and lost, both predictions stored), the data it saw, AP per image kind
over the releases; served to administrators only."""
import numpy as np
import pytest

from community.comparison import found_cells, image_comparison
from community.training import training_run_execute
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for, stored_names


def _square(masks, label, y, x, size=6):
    masks[y:y + size, x:x + size] = label


def test_cells_are_found_at_iou_one_half_and_gained_and_lost_are_counted_per_true_cell():
    truth = np.zeros((40, 40), np.int32)
    for label, (y, x) in enumerate([(2, 2), (2, 20), (20, 2), (20, 20)], start=1):
        _square(truth, label, y, x)
    candidate = np.zeros_like(truth)
    _square(candidate, 7, 2, 2)             # cell 1 exactly
    _square(candidate, 8, 2, 20)            # cell 2 exactly
    _square(candidate, 9, 20, 4)            # cell 3 shifted by 2 px: IoU 24/48 = 0.5, found
    current = np.zeros_like(truth)
    _square(current, 1, 2, 2)               # cell 1
    _square(current, 2, 20, 20)             # cell 4
    _square(current, 3, 2, 23)              # cell 2 shifted by 3 px: IoU 18/54 < 0.5, missed

    assert found_cells(truth, candidate) == {1, 2, 3}
    assert found_cells(truth, current) == {1, 4}
    row = image_comparison(truth, candidate, current)
    assert (row["n_true"], row["gained"], row["lost"]) == (4, 2, 1)
    assert (row["candidate"]["n_found"], row["current"]["n_found"]) == (3, 2)
    assert (row["candidate"]["n_cells"], row["current"]["n_cells"]) == (3, 3)
    assert row["candidate"]["ap50"] == 0.75 and row["current"]["ap50"] == pytest.approx(0.4)
    assert row["verdict"] == "better" and row["delta_ap50"] == pytest.approx(0.35)


def test_a_model_that_finds_nothing_found_no_cell_and_is_worse():
    truth = np.zeros((20, 20), np.int32)
    _square(truth, 1, 2, 2)
    row = image_comparison(truth, np.zeros_like(truth), truth)
    assert found_cells(truth, np.zeros_like(truth)) == set()
    assert (row["gained"], row["lost"], row["verdict"]) == (0, 1, "worse")


@pytest.mark.django_db(transaction=True)
def test_a_finished_run_compares_both_models_on_every_test_image_and_stores_their_predictions(
    approved_pair, admin_user, model_version, curator
):
    train_id, test_id = approved_pair
    admin = client_for(admin_user)
    run_id = admin.post("/api/training-runs/", TINY_TRAINING, format="json").json()["id"]
    training_run_execute(run_id=run_id, device="cpu")

    body = admin.get(f"/api/training-runs/{run_id}/comparison/").json()
    assert body["current"]["id"] == model_version.pk and body["candidate"]["is_current"] is False
    [row] = body["rows"]
    assert row["contribution"] == test_id and row["image_name"] == "nuclei-1-1.tif"
    assert row["kind"] == "fluorescent" and row["n_true"] > 0 and "masks" not in row
    for who in ("candidate", "current"):
        assert set(row[who]) == {"ap50", "ap75", "ap90", "n_cells", "n_found"}
    assert row["delta_ap50"] == pytest.approx(row["candidate"]["ap50"] - row["current"]["ap50"], abs=1e-4)
    assert sum(body["counts"].values()) == 1 and body["counts"][row["verdict"]] == 1
    data = body["training_data"]
    assert data["n_images"] == 1 and data["contributors"] == [{"name": "olivia", "n_images": 1}]
    assert data["per_kind"]["fluorescent"]["n_images"] == 1 and data["per_kind"]["fluorescent"]["n_cells"] > 0
    assert body["releases"][-1]["label"].endswith("(candidate)") and "fluorescent" in body["releases"][-1]["per_kind"]

    masks = admin.get(f"/api/training-runs/{run_id}/comparison/{test_id}/masks/").json()
    assert masks["candidate"]["shape"] == masks["current"]["shape"] == [128, 128]
    assert admin.get(f"/api/training-runs/{run_id}/comparison/{train_id}/masks/").status_code == 404
    assert client_for(curator).get(f"/api/training-runs/{run_id}/comparison/").status_code == 403

    from community.models import TrainingRun

    run = TrainingRun.objects.get(pk=run_id)
    folder = run.metrics["comparison_folder"]
    assert stored_names(folder) == [f"{folder}/{test_id}.npz"]
    assert folder in TrainingRun.stored_folders()  # the orphan sweep keeps them
    public = client_for().get("/api/community/models/").json()  # released ones only: none yet
    assert all("per_image" not in m["metrics"] for m in public)
    assert "per_image" not in run.candidate.metrics and "training_data" not in run.candidate.metrics


@pytest.mark.django_db
def test_ap_per_kind_over_releases_lists_each_release_in_order_then_the_candidate(model_version, admin_user):
    from annotations.files import local_path
    from community.selectors import release_ap_per_kind
    from community.services import model_version_release
    from inference.model_versions import model_version_create

    def version(name, ap, path):
        return model_version_create(name=name, file_path=path,
                                    metrics={"candidate": {"per_kind": {"fluorescent": {"ap50": ap, "n_images": 2}}}})

    with local_path(model_version.file, suffix=".pt") as path:  # (a copy where storage is remote: S3)
        first, second, candidate = (version("community", ap, path) for ap in (0.5, 0.6, 0.7))
    model_version_release(model_version=first, actor=admin_user)
    model_version_release(model_version=second, actor=admin_user)

    points = release_ap_per_kind(candidate=candidate)
    assert [p["label"] for p in points] == [f"community v{first.version}", f"community v{second.version}",
                                            f"community v{candidate.version} (candidate)"]
    assert [p["per_kind"]["fluorescent"] for p in points] == [0.5, 0.6, 0.7]
    assert release_ap_per_kind(candidate=second)[-1]["label"] == f"community v{second.version}"


@pytest.mark.django_db
def test_a_run_without_stored_comparisons_says_so_with_no_rows(model_version, admin_user):
    from community.models import TrainingRun

    run = TrainingRun.objects.create(base=model_version, status="succeeded", active=None, params={},
                                     metrics={"candidate": {"ap50": 0.5}, "current": {"ap50": 0.4}})
    body = client_for(admin_user).get(f"/api/training-runs/{run.pk}/comparison/").json()
    assert body["rows"] == [] and body["counts"] == {"better": 0, "worse": 0, "same": 0}
    assert client_for(admin_user).get(f"/api/training-runs/{run.pk}/comparison/1/masks/").status_code == 404
