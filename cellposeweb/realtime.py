"""Progress pushed to websocket subscribers: the pieces jobs and training runs share.

* ``send_on_commit(group, event)``: deliver ``event`` to a channel-layer group once the current
  transaction commits (at once in autocommit). A lost event is logged, never raised: progress
  reporting must not fail the work it reports on.
* ``ProgressConsumer``: a listen-only websocket that authenticates the session, asks its subclass
  for a snapshot of the object (or a close code), joins the object's group, sends the snapshot,
  then forwards the group's events.
"""
import logging

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.db import transaction

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_NOT_FOUND", "CLOSE_UNAUTHENTICATED", "ProgressConsumer", "send_on_commit"]

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


def send_on_commit(group: str, event: dict) -> None:
    """Send ``event`` (a dict with a ``type``) to ``group`` after the current transaction commits."""
    transaction.on_commit(lambda: _send(group, event))


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # a lost progress event must never fail the job or run it reports on
        logger.warning("could not send %s to %s", event.get("type"), group, exc_info=True)


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    """Subclasses set ``url_kwarg`` and implement ``group_name(object_id)`` and
    ``async snapshot(user, object_id) -> dict | int`` (an int is the close code to refuse with)."""

    url_kwarg = ""
    group = None

    def group_name(self, object_id) -> str:
        raise NotImplementedError

    async def snapshot(self, user, object_id):
        raise NotImplementedError

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        object_id = self.scope["url_route"]["kwargs"][self.url_kwarg]
        state = await self.snapshot(user, object_id)
        if isinstance(state, int):
            await self.close(code=state)
            return
        self.group = self.group_name(object_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(state)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """Clients only listen."""
