"""Websocket: ``/ws/jobs/<id>/`` streams a job's progress to its owner (session authentication)."""
from channels.db import database_sync_to_async
from django.http import Http404

from cellposeweb.realtime import CLOSE_NOT_FOUND, ProgressConsumer
from inference import selectors
from inference.events import job_event, job_group


@database_sync_to_async
def _job_snapshot(user, job_id):
    try:
        job = selectors.job_get(user=user, job_id=job_id)
    except Http404:
        return CLOSE_NOT_FOUND
    return job_event(job_id=job.pk, status=job.status, stage=job.stage, progress=job.progress, error=job.error)


class JobProgressConsumer(ProgressConsumer):
    """Authenticates, subscribes to the job's group, sends the current state, then forwards events."""

    url_kwarg = "job_id"

    def group_name(self, object_id) -> str:
        return job_group(object_id)

    async def snapshot(self, user, object_id):
        return await _job_snapshot(user, object_id)

    async def job_progress(self, event):
        await self.send_json({key: event[key] for key in ("type", "job", "status", "stage", "progress", "error")})
