"""Releases, roll-backs, the dataset export and the .pth import."""
import io
import json
import zipfile

import pytest
import torch

from community.models import Release
from community.training import training_run_execute
from inference.models import ModelVersion
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import DATA, client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trained(approved_pair, admin_user):
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    run = training_run_execute(run_id=run["id"], device="cpu")
    assert run.status == "succeeded", run.error
    return run


def test_the_dataset_of_a_model_holds_images_masks_licences_and_a_manifest(trained, admin_user, approved_pair):
    response = client_for(admin_user).get(f"/api/models/{trained.candidate_id}/dataset.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert [(e["contribution"], e["split"], e["license"]) for e in manifest["contributions"]] == [
        (approved_pair[0], "train", "CC0"), (approved_pair[1], "test", "CC0")]
    names = archive.namelist()
    assert "LICENSES.txt" in names and sum(n.startswith("masks/") for n in names) == 2
    assert sum(n.startswith("images/") for n in names) == 2


def test_release_is_atomic_and_roll_back_returns_to_the_previous_version(trained, admin_user, model_version):
    admin = client_for(admin_user)
    assert admin.post(f"/api/models/{trained.candidate_id}/release/").status_code == 200
    assert admin.post(f"/api/models/{trained.candidate_id}/release/").status_code == 409
    assert list(ModelVersion.objects.filter(is_current=True).values_list("pk", flat=True)) == [trained.candidate_id]
    assert admin.post(f"/api/models/{model_version.pk}/rollback/").status_code == 409  # not current
    assert admin.post(f"/api/models/{trained.candidate_id}/rollback/").json()["id"] == model_version.pk
    assert [r.action for r in Release.objects.order_by("id")] == ["release", "rollback"]


def test_a_cellpose3_pth_file_becomes_a_model_version(admin_user, model_version):
    from inference.engine.net import CellposeNet

    buf = io.BytesIO()
    torch.save(CellposeNet(nbase=(2, 8, 16)).to_cellpose_state_dict(), buf)
    buf.seek(0)
    buf.name = "cyto3.pth"
    response = client_for(admin_user).post("/api/models/import/", {"file": buf, "name": "cyto3"}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["imported_from"] == "cyto3.pth" and not response.json()["is_current"]
    bad = io.BytesIO(b"not a model")
    bad.name = "x.pth"
    refused = client_for(admin_user).post("/api/models/import/", {"file": bad}, format="multipart")
    assert refused.status_code == 400 and "not a Cellpose model file" in refused.json()["detail"]


def test_a_model_file_of_the_right_format_with_wrong_weights_is_refused_with_a_400(admin_user, tiny_model_path):
    d = torch.load(tiny_model_path, weights_only=True)
    d["state_dicts"] = [{"encoder.nothing.weight": torch.zeros(3)}]
    buf = io.BytesIO()
    torch.save(d, buf)
    buf.seek(0)
    buf.name = "wrong-keys.pt"

    response = client_for(admin_user).post("/api/models/import/", {"file": buf}, format="multipart")

    assert response.status_code == 400
    assert "do not fit a CellposeNet" in response.json()["detail"] and "Traceback" not in response.json()["detail"]


def _file(name, obj=None, raw=None):
    buf = io.BytesIO(raw) if raw is not None else io.BytesIO()
    if raw is None:
        torch.save(obj, buf)
        buf.seek(0)
    buf.name = name
    return buf


@pytest.mark.parametrize("upload, words", [
    (lambda: _file("notes.pth", raw=b"hello, not a model"), "not a file written by torch.save"),
    (lambda: _file("cut.pth", raw=(DATA / "cpnet_small.pth").read_bytes()[:5000]), "cut short"),
    (lambda: _file("whole.pth", torch.nn.Linear(2, 2)), "save the network's state_dict() instead"),
    (lambda: _file("keys.pth", {"linear.weight": torch.zeros(2, 2)}), "not a Cellpose 3 CPnet"),
    (lambda: _file("list.pth", [1, 2, 3]), "neither"),
])
def test_a_bad_pth_file_is_refused_in_words_never_with_torchs_own_error(admin_user, upload, words):
    response = client_for(admin_user).post("/api/models/import/", {"file": upload()}, format="multipart")

    detail = response.json()["detail"]
    assert response.status_code == 400 and detail.startswith(f"{response.wsgi_request.FILES['file'].name} is not a "
                                                             "Cellpose model file: ")
    assert words in detail
    for raw in ("torch.load", "Weights only", "WeightsUnpickler", "Error(s) in loading", "KeyError", "Traceback",
                "/tmp", "upload.pth"):
        assert raw not in detail, detail
    assert not ModelVersion.objects.exists()


def test_weights_of_the_wrong_shape_are_named_with_both_shapes(admin_user, tiny_model_path):
    d = torch.load(tiny_model_path, weights_only=True)
    key = next(k for k, v in d["state_dicts"][0].items() if v.ndim == 4)
    d["state_dicts"][0][key] = torch.zeros(1, 1, 1, 1)

    response = client_for(admin_user).post("/api/models/import/", {"file": _file("shape.pt", d)}, format="multipart")

    detail = response.json()["detail"]
    assert response.status_code == 400 and "do not fit a CellposeNet" in detail
    assert f"wrong shape ['{key} (1, 1, 1, 1) (expected " in detail and "size mismatch" not in detail
