"""No request body gets a server error: every route of the OpenAPI schema is sent hostile bodies
(arrays, strings, numbers, deep nesting, NaN, integers past 2^63, objects where scalars belong,
huge strings) as its owner and as an administrator, and must answer below 500.

The list of routes is the schema, so a route added tomorrow is walked tomorrow.
"""
import json
import re

import pytest

from tests.web.conftest import client_for
from tests.web.test_security_matrix import OPERATIONS, SCHEMA, concrete, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

RAW_BODIES = [
    "[]", '"a string"', "42", "null", "true", '{"a": NaN}', '{"a": Infinity}', "[" * 5000 + "]" * 5000,
    '{"a": ' * 5000 + "1" + "}" * 5000, "{not json", "\xff\xfe",
]
HOSTILE_VALUES = [2**64, -(2**63) - 1, 1e308, -1, 0, "x" * 10000, {"a": {"b": 1}}, [[1, [2]]], [{"a": 1}], None,
                  "", "../../etc/passwd", True]


def request_fields(method, path):
    """Names of the JSON body's fields the schema declares for this operation."""
    content = SCHEMA["paths"][path][method].get("requestBody", {}).get("content", {})
    fields = set()
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        component = SCHEMA["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        fields |= set(component.get("properties", {}))
    return sorted(fields)


def hostile_bodies(method, path):
    for raw in RAW_BODIES:
        yield raw
    for field in request_fields(method, path) or ["id"]:
        for value in HOSTILE_VALUES:
            yield json.dumps({field: value})


BODY_METHODS = [(m, p) for m, p in OPERATIONS if m in ("post", "put", "patch")]


@pytest.mark.parametrize("method, path", BODY_METHODS, ids=[f"{m} {p}" for m, p in BODY_METHODS])
def test_no_hostile_body_on_any_route_gets_a_server_error(world, method, path):  # noqa: F811
    url = concrete(path, method, world)
    failures = []
    for role in ("owner", "admin"):
        client = client_for(world["users"][role])
        for raw in hostile_bodies(method, path):
            response = getattr(client, method)(url, data=raw, content_type="application/json")
            if response.status_code >= 500:
                failures.append((role, raw[:60], response.status_code))
    assert not failures, failures


ID_ROUTES = [(m, p) for m, p in OPERATIONS if "{" in p]


@pytest.mark.parametrize("method, path", ID_ROUTES, ids=[f"{m} {p}" for m, p in ID_ROUTES])
def test_ids_past_the_database_range_are_not_found(world, method, path):  # noqa: F811
    url = re.sub(r"\{\w+\}", str(2**63 + 5), path)

    client = client_for(world["users"]["admin"])
    if method in ("get", "delete"):
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, data="{}", content_type="application/json")

    assert response.status_code == 404, (method, url, response.status_code)


def test_a_deeply_nested_body_to_the_anonymous_token_endpoint_is_a_400():
    response = client_for(None).post("/api/auth/token/", data="[" * 100000 + "]" * 100000,
                                     content_type="application/json")

    assert response.status_code == 400 and "levels" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/static/../../etc/passwd", "/static/..%2f..%2fsettings.py", "/static/a\x00b.js",
                                  "/static/" + "a" * 5000 + ".js", "/static/frontend/../../../secret_key"])
def test_traversal_and_malformed_static_paths_are_not_found(path):
    from tests.web.test_static_files import fetch

    status, _, body = fetch(path)

    assert status in (400, 404), (path, status)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/nothing/", "/ws/jobs/abc/", "/", f"/ws/jobs/{2**63 + 5}/"])
def test_an_unknown_websocket_route_is_closed_with_4404(path, owner):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from cellposeweb.asgi import application
    from tests.web.test_security_matrix import session_headers

    headers = session_headers(owner)

    async def connect():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=5)
        return connected, code

    assert async_to_sync(connect)() == (False, 4404)


def test_error_messages_quote_at_most_a_short_prefix_of_what_was_sent(world):  # noqa: F811
    admin = client_for(world["users"]["admin"])

    response = admin.post("/api/training-runs/", {"n_epochs": "x" * 10000, "y" * 5000: 1}, format="json")

    assert response.status_code == 400 and len(response.json()["detail"]) < 200


def findings_bodies(world):  # noqa: F811
    """The request bodies of issue 17's finding 5 that a schema walk does not build by itself."""
    from annotations.encoding import encode_labels

    image = world["image"]
    masks = encode_labels(image.true_masks)
    annotation = f"/api/images/{image.pk}/annotation/"
    return [
        ("owner", "post", "/api/jobs/", {"images": [2**63]}),
        ("owner", "post", "/api/jobs/", {"images": [image.pk, 2**63 + 1]}),
        ("owner", "put", annotation, {"version": 1, "masks": masks, "origins": [[1], {"a": 1}]}),
        ("owner", "put", annotation, {"version": 1, "masks": masks, "origins": ["x" * 5000]}),
        ("admin", "post", "/api/training-runs/", {"base": "x"}),
        ("admin", "post", "/api/training-runs/", {"base": 2**63}),
        ("admin", "post", "/api/training-runs/", {"contributions": [2**63]}),
        ("admin", "post", "/api/training-runs/", {"contributions": "x"}),
        ("admin", "post", "/api/training-runs/", {"contributions": [[1]]}),
    ]


def test_the_bodies_that_once_got_a_server_error_get_a_short_client_error(world):  # noqa: F811
    answers = []
    for role, method, url, data in findings_bodies(world):
        response = getattr(client_for(world["users"][role]), method)(url, data=json.dumps(data),
                                                                     content_type="application/json")
        answers.append((method, url, json.dumps(data)[:50], response.status_code,
                        len(response.json().get("detail", "")) if response.status_code < 500 else None))

    assert all(400 <= status < 500 and length < 300 for *_, status, length in answers), answers
