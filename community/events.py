"""Training-run events for websocket subscribers (the admin dashboard), sent after commit."""
from cellposeweb.realtime import send_on_commit

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
    send_on_commit(training_run_group(event["run"]), event)
