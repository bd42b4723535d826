"""Fixtures of the community loop: real-looking curated images (crops of img2d.tif with their
hand-drawn masks), contributions in every state, and a tiny training recipe."""
import numpy as np
import pytest
import tifffile

from tests.web.conftest import DATA, client_for, make_user, tiff_bytes

# A few seconds of training on 2 cores: tiny crops and batches.
TINY_TRAINING = {"n_epochs": 2, "n_samples_per_epoch": 2, "batch_size": 2, "bsize": 64, "learning_rate": 0.05,
                 "val_every": 1, "replay_synthetic_images": 3}


@pytest.fixture(scope="session")
def img2d():
    return tifffile.imread(DATA / "img2d.tif"), tifffile.imread(DATA / "mask2d.tif").astype(np.int32)


def crop(pair, i, j, size=128):
    image, masks = pair
    return image[i * size:(i + 1) * size, j * size:(j + 1) * size], masks[i * size:(i + 1) * size, j * size:(j + 1) * size]


@pytest.fixture
def contributor_b(django_user_model):
    return make_user(django_user_model, "bruno")


@pytest.fixture
def curated_image(img2d, make_image):
    """curated_image(user, i, j): an uploaded crop of img2d.tif whose masks the user drew (saved
    as a manual annotation)."""
    from annotations.services import annotation_save

    def make(user, i=0, j=0, masks=None):
        picture, truth = crop(img2d, i, j)
        image = make_image(name=f"nuclei-{i}-{j}.tif", content=tiff_bytes(picture), user=user)
        annotation_save(image=image, base_version=None, masks=truth if masks is None else masks, created_by=user)
        return image

    return make


def run_checks_of(contribution_id):
    """Run the queued automatic checks of a contribution in the test's thread (JOB_RUNNER is off,
    as a worker would); returns the scoring row."""
    from community.models import ContributionScoring
    from community.scoring import contribution_score

    scoring = ContributionScoring.objects.get(contribution_id=contribution_id)
    return contribution_score(scoring_id=scoring.pk, worker="test-worker") or scoring


@pytest.fixture
def contribute():
    """contribute(user, image, checks=True, **fields) -> the API response of POST
    /api/contributions/, re-read after its automatic checks ran (unless ``checks`` is False)."""

    def post(user, image, checks=True, **fields):
        body = {"image": image.pk, "license": "CC0", "consent": True, "tags": ["fluorescence", "nuclei"], **fields}
        client = client_for(user)
        response = client.post("/api/contributions/", body, format="json")
        if not checks or response.status_code != 201:
            return response
        run_checks_of(response.json()["id"])
        return Checked(response.status_code, client.get(f"/api/contributions/{response.json()['id']}/").json())

    return post


class Checked:
    """The POST's status code, with the contribution as it reads once its checks ran."""

    def __init__(self, status_code, body):
        self.status_code, self.body = status_code, body

    def json(self):
        return self.body


@pytest.fixture
def approved_pair(model_version, owner, contributor_b, curator, admin_user, curated_image, contribute):
    """Two approved contributions, the second held out as test data: (train id, test id)."""
    train = contribute(owner, curated_image(owner, 0, 0)).json()["id"]
    test = contribute(contributor_b, curated_image(contributor_b, 1, 1)).json()["id"]
    for cid in (train, test):
        assert client_for(curator).post(f"/api/contributions/{cid}/review/", {"decision": "approve"}, format="json").status_code == 200
    assert client_for(admin_user).post(f"/api/contributions/{test}/split/", {"split": "test"}, format="json").status_code == 200
    return train, test
