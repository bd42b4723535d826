"""When more jobs are queued than workers can run, workers take them round-robin over users, and a
user with too many active jobs is answered 429 with Retry-After."""
import pytest

from inference.models import SegmentationJob
from inference.selectors import job_queue_fair
from inference.job_run import segmentation_job_run_next
from inference.jobs import segmentation_job_create
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

OPTIONS = {"augment": False, "diameter": 30}


def queue(user, image, n):
    return [segmentation_job_create(owner=user, images=[image], options=OPTIONS).pk for _ in range(n)]


def test_the_queue_goes_round_robin_over_users(owner, other_user, make_image, model_version):
    mine, theirs = make_image(name="a.tif"), make_image(name="b.tif", user=other_user)
    a = queue(owner, mine, 4)
    b = queue(other_user, theirs, 2)

    order = list(job_queue_fair().values_list("pk", flat=True))

    assert order == [a[0], b[0], a[1], b[1], a[2], a[3]]


def test_a_user_with_a_running_job_waits_behind_one_who_has_none(owner, other_user, make_image, model_version):
    mine, theirs = make_image(name="a.tif"), make_image(name="b.tif", user=other_user)
    a = queue(owner, mine, 3)
    SegmentationJob.objects.filter(pk=a[0]).update(status="running")
    b = queue(other_user, theirs, 1)

    assert list(job_queue_fair().values_list("pk", flat=True)) == [b[0], a[1], a[2]]


def test_a_worker_runs_the_job_whose_turn_it_is(owner, other_user, make_image, model_version):
    mine, theirs = make_image(name="a.tif"), make_image(name="b.tif", user=other_user)
    a = queue(owner, mine, 3)
    b = queue(other_user, theirs, 1)

    ran = [segmentation_job_run_next(worker="w").pk for _ in range(4)]

    assert ran == [a[0], b[0], a[1], a[2]]
    assert segmentation_job_run_next(worker="w") is None


def test_a_user_with_too_many_active_jobs_gets_429_with_retry_after(owner, other_user, image, make_image, model_version,
                                                                   settings):
    settings.JOB_MAX_ACTIVE_PER_USER = 2
    settings.JOB_RETRY_AFTER_S = 17
    api = client_for(owner)
    statuses = [api.post(f"/api/images/{image.pk}/segment/", OPTIONS, format="json").status_code for _ in range(3)]

    refused = api.post(f"/api/images/{image.pk}/segment/", OPTIONS, format="json")

    assert statuses == [202, 202, 429]
    assert refused.status_code == 429 and refused["Retry-After"] == "17"
    assert "2 jobs queued or running" in refused.json()["detail"]
    theirs = make_image(name="theirs.tif", user=other_user)
    assert client_for(other_user).post(f"/api/images/{theirs.pk}/segment/", OPTIONS, format="json").status_code == 202
    SegmentationJob.objects.filter(owner=owner).update(status="succeeded")
    assert api.post(f"/api/images/{image.pk}/segment/", OPTIONS, format="json").status_code == 202


def test_the_per_user_rate_limit_answers_429_with_retry_after(owner, other_user, image, make_image, model_version,
                                                             settings):
    settings.THROTTLE_RATES = {"uploads": None, "jobs": "2/minute", "auth": None}
    api = client_for(owner)
    for _ in range(2):
        assert api.post(f"/api/images/{image.pk}/segment/", OPTIONS, format="json").status_code == 202

    refused = api.post(f"/api/images/{image.pk}/segment/", OPTIONS, format="json")

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    theirs = make_image(name="theirs.tif", user=other_user)
    assert client_for(other_user).post(f"/api/images/{theirs.pk}/segment/", OPTIONS, format="json").status_code == 202
