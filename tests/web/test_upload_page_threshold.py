"""The image list tells its upload queue which files go in chunks (data-chunk-bytes)."""
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def chunk_bytes(user) -> int:
    browser = Client()
    browser.force_login(user)
    html = browser.get("/").content.decode()
    return int(re.search(r'data-page="images"[^>]*data-chunk-bytes="(\d+)"', html).group(1))


def test_files_over_the_servers_chunk_size_go_in_chunks_of_that_size(owner, settings):
    settings.UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
    assert chunk_bytes(owner) == 8 * 1024 * 1024


def test_a_file_too_large_for_one_request_goes_in_chunks_whatever_the_chunk_setting(owner, settings):
    settings.UPLOAD_CHUNK_BYTES = 1024**3
    settings.REQUEST_MAX_BYTES = 1024**3
    settings.UPLOAD_MAX_BYTES = 100 * 1024 * 1024
    assert chunk_bytes(owner) == 100 * 1024 * 1024
