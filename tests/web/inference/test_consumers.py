"""/ws/jobs/<id>/: the owner receives the job's state, then its progress events as it runs."""
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from inference.job_run import segmentation_job_run
from inference.jobs import segmentation_job_create

pytestmark = pytest.mark.django_db(transaction=True)


def session_headers(user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://testserver")]


def application():
    from cellposeweb.asgi import application  # imported here: settings.JOB_RUNNER is "off" now

    return application


def test_the_owner_receives_progress_until_the_job_succeeds(owner, image, model_version, monkeypatch):
    from inference import job_run

    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)
    job = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    headers, app = session_headers(owner), application()

    async def scenario():
        communicator = WebsocketCommunicator(app, f"/ws/jobs/{job.pk}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        events = [await communicator.receive_json_from(timeout=10)]
        await database_sync_to_async(segmentation_job_run)(job_id=job.pk)
        while events[-1]["status"] not in ("succeeded", "failed", "cancelled"):
            events.append(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
        return events

    events = async_to_sync(scenario)()

    assert events[0] == {"type": "job.progress", "job": job.pk, "status": "queued", "stage": "", "progress": 0.0, "error": ""}
    assert {"loading model", "normalize", "network", "dynamics"} <= {event["stage"] for event in events}
    assert all(event["type"] == "job.progress" and event["job"] == job.pk for event in events)
    assert [event["progress"] for event in events] == sorted(event["progress"] for event in events)
    assert events[-1]["status"] == "succeeded" and events[-1]["progress"] == 1.0


@pytest.mark.parametrize("who, code", [("anonymous", 4401), ("other user", 4404)])
def test_anyone_but_the_owner_is_turned_away(owner, other_user, image, model_version, who, code):
    job = segmentation_job_create(owner=owner, images=[image], options={})
    headers = [(b"origin", b"http://testserver")] if who == "anonymous" else session_headers(other_user)
    app = application()

    async def scenario():
        communicator = WebsocketCommunicator(app, f"/ws/jobs/{job.pk}/", headers=headers)
        connected, close_code = await communicator.connect()
        return connected, close_code

    assert async_to_sync(scenario)() == (False, code)


def test_a_cancel_is_announced_to_subscribers(owner, image, model_version, api):
    job = segmentation_job_create(owner=owner, images=[image], options={})
    headers, app = session_headers(owner), application()

    async def scenario():
        communicator = WebsocketCommunicator(app, f"/ws/jobs/{job.pk}/", headers=headers)
        await communicator.connect()
        await communicator.receive_json_from(timeout=10)
        await database_sync_to_async(api.post)(f"/api/jobs/{job.pk}/cancel/")
        event = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return event

    assert async_to_sync(scenario)()["status"] == "cancelled"
