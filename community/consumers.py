"""Websocket ``/ws/training-runs/<id>/``: a training run's progress, loss and validation AP, for
administrators (session authentication)."""
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from community.access import can_manage
from community.events import training_run_event, training_run_group
from community.models import TrainingRun

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _snapshot(user, run_id):
    if not can_manage(user):
        return CLOSE_FORBIDDEN
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return CLOSE_NOT_FOUND
    return {**training_run_event(run), "history": run.history}


class TrainingRunConsumer(AsyncJsonWebsocketConsumer):
    """Authenticates, subscribes to the run's group, sends the current state, then forwards events."""

    group = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        snapshot = await _snapshot(user, run_id)
        if isinstance(snapshot, int):
            await self.close(code=snapshot)
            return
        self.group = training_run_group(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(snapshot)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """Clients only listen."""

    async def training_progress(self, event):
        await self.send_json(event)
