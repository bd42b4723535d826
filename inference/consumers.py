"""Websocket: ``/ws/jobs/<id>/`` streams a job's progress to its owner (session authentication)."""
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from inference import selectors
from inference.events import job_event, job_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _job_snapshot(user, job_id):
    try:
        job = selectors.job_get(user=user, job_id=job_id)
    except Http404:
        return None
    return job_event(job_id=job.pk, status=job.status, stage=job.stage, progress=job.progress, error=job.error)


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    """Authenticates, subscribes to the job's group, sends the current state, then forwards events."""

    group = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        snapshot = await _job_snapshot(user, job_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(snapshot)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """Clients only listen."""

    async def job_progress(self, event):
        await self.send_json({key: event[key] for key in ("type", "job", "status", "stage", "progress", "error")})
