"""The embedded channel layer delivers events sent from the worker thread promptly."""
import asyncio
from concurrent.futures import ThreadPoolExecutor
import threading
import time

from asgiref.sync import async_to_sync

from cellposeweb.channel_layers import ThreadSafeInMemoryChannelLayer


def test_an_event_sent_from_another_thread_wakes_the_waiting_receiver():
    layer = ThreadSafeInMemoryChannelLayer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("job_1", channel)

        def worker():
            time.sleep(0.2)
            async_to_sync(layer.group_send)("job_1", {"type": "job.progress", "progress": 0.5})

        threading.Thread(target=worker).start()
        started = time.monotonic()
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        return message, time.monotonic() - started

    message, waited = _run_in_fresh_loop(scenario)

    assert message == {"type": "job.progress", "progress": 0.5}
    assert waited < 1.0


def test_events_sent_on_the_receivers_own_loop_still_arrive():
    layer = ThreadSafeInMemoryChannelLayer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        await layer.group_send("g", {"type": "x"})
        return await asyncio.wait_for(layer.receive(channel), timeout=1)

    assert _run_in_fresh_loop(scenario) == {"type": "x"}


def _run_in_fresh_loop(scenario):
    """asyncio.run in a thread of its own, whatever loop the test runner's thread may have."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=30)
