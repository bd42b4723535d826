"""The in-memory channel layer of embedded mode, made safe to send to from other threads.

Channels' ``InMemoryChannelLayer`` keeps one ``asyncio.Queue`` per channel. The embedded job worker
is a plain thread with its own event loop, and waking a consumer's ``queue.get()`` from that loop is
not thread-safe (the server's loop may sleep through it). This layer remembers the loop each channel
is received on and performs sends to that channel on that loop.
"""
import asyncio

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._receive_loops = {}

    async def receive(self, channel):
        self._receive_loops[channel] = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        loop = self._receive_loops.get(channel)
        if loop is None or loop.is_closed() or loop is asyncio.get_running_loop():
            return await super().send(channel, message)
        future = asyncio.run_coroutine_threadsafe(self._send_here(channel, message), loop)
        return await asyncio.wrap_future(future)

    async def _send_here(self, channel, message):
        return await InMemoryChannelLayer.send(self, channel, message)

    async def flush(self):
        await super().flush()
        self._receive_loops = {}
