"""Websocket routing that refuses an unknown path with close code 4404 instead of an exception.

Channels' URLRouter raises ValueError("No route found ...") for a path no route matches, which the
server logs as an application error; a client asking for a route that does not exist is not one.
"""
import logging

from channels.routing import URLRouter

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404


class NotFoundURLRouter(URLRouter):
    """URLRouter whose unknown websocket paths are closed with 4404 during the handshake."""

    async def __call__(self, scope, receive, send):
        try:
            return await super().__call__(scope, receive, send)
        except ValueError as exc:
            if scope.get("type") != "websocket" or not str(exc).startswith("No route found"):
                raise
        logger.info("websocket %s: no such route", scope.get("path", ""))
        message = await receive()
        if message.get("type") == "websocket.connect":
            await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})
