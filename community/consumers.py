"""Websocket ``/ws/training-runs/<id>/``: a training run's progress, loss and validation AP, for
administrators (session authentication)."""
from channels.db import database_sync_to_async

from cellposeweb.realtime import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, ProgressConsumer
from community.access import can_manage
from community.events import training_run_event, training_run_group
from community.models import TrainingRun


@database_sync_to_async
def _snapshot(user, run_id):
    if not can_manage(user):
        return CLOSE_FORBIDDEN
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return CLOSE_NOT_FOUND
    return {**training_run_event(run), "history": run.history}


class TrainingRunConsumer(ProgressConsumer):
    """Authenticates, subscribes to the run's group, sends the current state, then forwards events."""

    url_kwarg = "run_id"

    def group_name(self, object_id) -> str:
        return training_run_group(object_id)

    async def snapshot(self, user, object_id):
        return await _snapshot(user, object_id)

    async def training_progress(self, event):
        await self.send_json(event)
