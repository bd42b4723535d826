"""Job progress events for websocket subscribers, sent only once the change is committed."""
from cellposeweb.realtime import send_on_commit

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
    send_on_commit(job_group(event["job"]), event)
