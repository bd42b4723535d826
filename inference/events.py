"""Job progress events for websocket subscribers, sent only once the change is committed."""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_TYPE = "job.progress"


def job_group(job_id: int) -> str:
    return f"job_{job_id}"


def job_event(*, job_id: int, status: str, stage: str, progress: float, error: str = "") -> dict:
    return {
        "type": EVENT_TYPE,
        "job": job_id,
        "status": status,
        "stage": stage,
        "progress": round(float(progress), 4),
        "error": error,
    }


def job_event_send_on_commit(**fields) -> None:
    """Send a ``job.progress`` event to the job's group after the current transaction commits
    (at once in autocommit)."""
    event = job_event(**fields)
    transaction.on_commit(lambda: _send(event))


def _send(event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(job_group(event["job"]), event)
    except Exception:  # a lost progress event must never fail the job
        logger.warning("could not send %s for job %s", event["type"], event["job"], exc_info=True)
