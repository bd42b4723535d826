"""Reading jobs and model versions, already filtered by who may see them (cellposeweb.access)."""
from django.db.models import QuerySet
from django.http import Http404

from cellposeweb.access import visible
from inference.models import JobItem, JobStatus, ModelVersion, SegmentationJob


def job_list(*, user) -> QuerySet[SegmentationJob]:
    return visible(SegmentationJob.objects.all(), user=user).select_related("model_version", "owner")


def job_get(*, user, job_id) -> SegmentationJob:
    """The job, or Http404 when it does not exist or ``user`` may not see it."""
    try:
        return job_list(user=user).get(pk=job_id)
    except SegmentationJob.DoesNotExist:
        raise Http404(f"Job {job_id} not found.") from None


def job_items(*, job: SegmentationJob) -> QuerySet[JobItem]:
    return job.items.select_related("image").order_by("position")


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()


def model_version_current() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_current=True).first()


def job_item_with_flows(*, image, job=None) -> JobItem | None:
    """The most recent succeeded segmentation of ``image`` (in ``job`` if given) with stored flows."""
    items = JobItem.objects.filter(image=image, status=JobStatus.SUCCEEDED).exclude(flows="")
    if job is not None:
        items = items.filter(job=job)
    return items.select_related("job").order_by("-finished_at", "-id").first()
