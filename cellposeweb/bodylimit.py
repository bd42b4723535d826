"""An ASGI middleware that bounds request bodies before the application reads them.

A request whose ``Content-Length`` exceeds the limit is answered 413 at once, its body unread; a
body without one (chunked) is passed through until it exceeds the limit, then reading stops and the
client gets 413. It sits in front of Django in every mode (cellposeweb.asgi), so a large body to
any URL, from anyone, costs no memory (Django then spools what it reads to a temporary file).

The limit is REQUEST_MAX_BYTES (default: UPLOAD_MAX_BYTES plus 1 MiB for the multipart envelope).
"""
import json
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


class _BodyTooLarge(Exception):
    pass


def request_max_bytes() -> int:
    return int(settings.REQUEST_MAX_BYTES)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class BodySizeLimitMiddleware:
    """Refuse (413) HTTP requests whose body is larger than `request_max_bytes`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = request_max_bytes()
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > limit):
            return await self._refuse(scope, send, limit, declared)

        received = 0
        started = False

        async def bounded_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send, limit, received)

    @staticmethod
    async def _refuse(scope, send, limit: int, size: int) -> None:
        logger.info("%s %s 413: body of %s bytes over the limit of %s", scope.get("method"), scope.get("path"),
                    size if size >= 0 else "an invalid number of", limit)
        mib = limit / 2**20
        body = json.dumps({"detail": f"The request body is larger than this server accepts ({mib:.0f} MiB; "
                                     "REQUEST_MAX_BYTES)."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
