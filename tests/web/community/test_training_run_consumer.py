"""/ws/training-runs/<id>/: administrators receive the run's state, then an event per epoch
(loss, validation AP) until it ends; nobody else may listen."""
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from community.training import training_run_execute
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for
from tests.web.inference.test_consumers import application, session_headers

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_sees_every_epoch_stream_by(approved_pair, admin_user):
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    headers, app = session_headers(admin_user), application()

    async def scenario():
        communicator = WebsocketCommunicator(app, f"/ws/training-runs/{run['id']}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        events = [await communicator.receive_json_from(timeout=10)]
        await database_sync_to_async(training_run_execute)(run_id=run["id"], device="cpu")
        while events[-1]["status"] not in ("succeeded", "failed", "cancelled"):
            events.append(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert events[0]["status"] == "queued" and events[0]["history"] == []
    records = [e["record"] for e in events if e.get("record")]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(r["train_loss"] > 0 and r["val_ap50"] is not None for r in records)
    assert events[-1]["status"] == "succeeded" and events[-1]["candidate"] is not None


@pytest.mark.parametrize("who, code", [("anonymous", 4401), ("owner", 4403), ("curator", 4403)])
def test_only_admins_may_listen(approved_pair, admin_user, owner, curator, who, code):
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    headers = [(b"origin", b"http://testserver")] if who == "anonymous" else session_headers(
        {"owner": owner, "curator": curator}[who])

    async def scenario():
        communicator = WebsocketCommunicator(application(), f"/ws/training-runs/{run['id']}/", headers=headers)
        connected, close_code = await communicator.connect()
        return connected, close_code

    assert async_to_sync(scenario)() == (False, code)
