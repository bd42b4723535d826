"""Reading jobs and model versions, already filtered by who may see them (cellposeweb.access);
and, for the workers and the operator, the fair order of the queue, stale jobs and job statistics."""
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils import timezone

from cellposeweb import work
from cellposeweb.access import visible
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, ModelVersion, SegmentationJob


def job_list(*, user, image_id: int | None = None, active: bool = False) -> QuerySet[SegmentationJob]:
    """The jobs ``user`` may see, newest first; ``image_id``: only those segmenting that image;
    ``active``: only queued or running ones."""
    jobs = visible(SegmentationJob.objects.all(), user=user).select_related("model_version", "owner")
    if image_id is not None:
        jobs = jobs.filter(items__image_id=image_id).distinct()
    if active:
        jobs = jobs.filter(status__in=ACTIVE_STATUSES)
    return jobs


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


# -- for workers and operators (no user filter: never return these to a request) --------------------


def job_queue_fair(*, now: datetime | None = None) -> QuerySet[SegmentationJob]:
    """Queued jobs in the order workers take them: fair over their owners.

    A job's turn is its place in its owner's own queue (1 for the oldest) plus the number of the
    owner's jobs served lately (running, or started in the last JOB_FAIR_WINDOW_S); ties go to the
    older job. So users take turns, and a user who has just had many jobs run waits behind one who
    has had none: a hundred jobs from one user delay another user's job by at most one job per worker.
    """
    since = (now or timezone.now()) - timedelta(seconds=settings.JOB_FAIR_WINDOW_S)
    served = (
        SegmentationJob.objects.filter(owner=OuterRef("owner"))
        .filter(Q(status=JobStatus.RUNNING) | Q(started_at__gte=since))
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        SegmentationJob.objects.filter(status=JobStatus.QUEUED)
        .annotate(
            place=Window(RowNumber(), partition_by=[F("owner")], order_by=[F("created_at").asc(), F("id").asc()]),
            served=Coalesce(Subquery(served, output_field=IntegerField()), Value(0)),
        )
        .annotate(turn=F("place") + F("served"))
        .order_by("turn", "created_at", "id")
    )


def jobs_stale(*, now: datetime | None = None) -> QuerySet[SegmentationJob]:
    """Running jobs whose worker has not stamped ``heartbeat_at`` for JOB_HEARTBEAT_TIMEOUT_S."""
    return work.stale(SegmentationJob, now=now)


def job_counts() -> dict[str, int]:
    """The number of jobs in each status (every status present, 0 when none)."""
    counts = dict(SegmentationJob.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in JobStatus.values}


def job_durations(*, since: datetime, limit: int = 10000) -> tuple[list[float], list[float]]:
    """(run seconds of the jobs finished since ``since``, queued seconds of the jobs started since
    ``since``), at most ``limit`` of each, newest first."""
    finished = (
        SegmentationJob.objects.filter(finished_at__gte=since, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:limit]
    )
    started = (
        SegmentationJob.objects.filter(started_at__gte=since)
        .order_by("-started_at")
        .values_list("created_at", "started_at")[:limit]
    )
    return (
        [max(0.0, (end - start).total_seconds()) for start, end in finished],
        [max(0.0, (start - created).total_seconds()) for created, start in started],
    )
