"""Training-run events for websocket subscribers (the admin dashboard), sent after commit."""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_TYPE = "training.progress"


def training_run_group(run_id: int) -> str:
    return f"training_run_{run_id}"


def training_run_event(run, *, record: dict | None = None) -> dict:
    """The run's state; ``record`` is the epoch that just ended (loss, validation AP), if any."""
    return {
        "type": EVENT_TYPE,
        "run": run.pk,
        "status": run.status,
        "stage": run.stage,
        "progress": round(float(run.progress), 4),
        "error": run.error,
        "record": record,
        "candidate": run.candidate_id,
    }


def training_run_event_send_on_commit(run, *, record: dict | None = None) -> None:
    event = training_run_event(run, record=record)
    transaction.on_commit(lambda: _send(event))


def _send(event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(training_run_group(event["run"]), event)
    except Exception:  # a lost progress event must never fail the run
        logger.warning("could not send %s for run %s", event["type"], event["run"], exc_info=True)
