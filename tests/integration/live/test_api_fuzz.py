"""The API fuzzed from its own OpenAPI schema (schemathesis) against the production stack, as an
ordinary signed-in user: no request, however malformed, gets a server error (5xx)."""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.live.conftest import HTTPS, segment, tiff, upload

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 12))


def _schema():
    from drf_spectacular.generators import SchemaGenerator

    return schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


OPERATIONS = [result.ok() for result in _schema().get_all_operations()]


@pytest.fixture(scope="module")
def fuzzer(stack):
    """A user with an image, a finished job and an annotation, so fuzzed ids can hit real objects."""
    _, token = stack.user("fuzzer")
    client = stack.http(token)
    image = upload(client, tiff(64, seed=7), name="fuzz.tif")["id"]
    job = segment(client, image).json()["id"]
    stack.wait_job(job)
    return {"token": token, "ids": {"image_id": image, "job_id": job, "version": 1}}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_fuzzed_request_gets_a_server_error(stack, fuzzer, operation):
    headers = {**HTTPS, "Authorization": f"Token {fuzzer['token']}"}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(), real_ids=st.booleans())
    def fuzz(case, real_ids):
        if real_ids and case.path_parameters and operation.method.lower() != "delete":
            case.path_parameters = {
                name: fuzzer["ids"].get(name, value) for name, value in case.path_parameters.items()
            }
        response = case.call(base_url=stack.url, headers=headers, timeout=60)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )

    fuzz()
