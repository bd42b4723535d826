"""Request bodies are bounded before they are read (cellposeweb.bodylimit), in front of Django in
every mode: a declared or streamed body past REQUEST_MAX_BYTES is a 413 and costs no memory, and an
upload within the limit is streamed to disk, so the server's memory stays flat."""
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

MiB = 2**20


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


class PeakRss:
    """The highest resident memory of this process while the block runs, above where it started."""

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.growth = self.peak - self.base


def post(path, chunks, *, headers=(), content_length=None):
    """POST ``chunks`` (bytes, sent one message each) to the ASGI application; (status, body, n_sent)."""
    from cellposeweb.asgi import application

    all_headers = [(b"host", b"testserver"), *headers]
    if content_length is not None:
        all_headers.append((b"content-length", str(content_length).encode()))

    async def run():
        scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "headers": all_headers,
                 "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
        communicator = ApplicationCommunicator(application, scope)
        sent = 0
        for i, chunk in enumerate(chunks):
            await communicator.send_input({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
            sent += len(chunk)
            if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
                break  # the application answered before the body ended
        start = await communicator.receive_output(30)
        body = b""
        while True:
            message = await communicator.receive_output(30)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        return start["status"], body, sent

    return async_to_sync(run)()


@pytest.mark.django_db
def test_a_body_declared_larger_than_the_limit_is_refused_unread(settings):
    settings.REQUEST_MAX_BYTES = 4 * MiB

    status, body, _ = post("/livez", [b""], content_length=211 * 10**6)

    assert status == 413 and b"REQUEST_MAX_BYTES" in body


@pytest.mark.django_db
def test_a_chunked_body_is_read_only_until_it_passes_the_limit(settings):
    settings.REQUEST_MAX_BYTES = 4 * MiB
    chunk = b"x" * MiB

    status, _, sent = post("/api/images/", [chunk] * 50)

    assert status == 413
    assert sent <= 6 * MiB  # the server stopped reading right after the limit


@pytest.mark.django_db
def test_memory_stays_flat_under_a_200_mb_body_to_any_url(settings):
    settings.REQUEST_MAX_BYTES = 8 * MiB
    chunk = b"-" * MiB  # one buffer sent 211 times: what the test holds stays at 1 MiB

    with PeakRss() as declared:
        assert post("/livez", [chunk] * 211, content_length=211 * MiB)[0] == 413
    with PeakRss() as streamed:
        assert post("/api/images/", [chunk] * 211)[0] == 413

    assert declared.growth < 32 * MiB and streamed.growth < 32 * MiB, (declared.growth, streamed.growth)


@pytest.mark.django_db(transaction=True)  # the application reads the token on its own thread
def test_an_upload_within_the_limit_is_streamed_with_flat_memory(owner, settings):
    from rest_framework.authtoken.models import Token

    settings.REQUEST_MAX_BYTES = 200 * MiB
    token = Token.objects.create(user=owner).key
    boundary = b"cellposewebtestboundary"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.tif"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + boundary + b"--\r\n"
    chunk = b"\0" * MiB
    chunks = [head] + [chunk] * 96 + [tail]
    headers = [(b"authorization", f"Token {token}".encode()), (b"content-type", b"multipart/form-data; boundary=" + boundary)]

    with PeakRss() as upload:
        status, body, _ = post("/api/images/", chunks, headers=headers,
                               content_length=sum(map(len, chunks)))

    assert status == 400, body  # read to the end and refused as not an image, not held in memory
    assert upload.growth < 48 * MiB, upload.growth
