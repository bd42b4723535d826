"""The segment form's bounds and defaults are the API's own: the page renders them from the
options serializer, so a value the form accepts is one the API accepts."""
from html.parser import HTMLParser

import pytest
from django.test import Client

from inference.options import SegmentationOptionsSerializer, option_bounds

pytestmark = pytest.mark.django_db

NUMERIC = ("flow_threshold", "cellprob_threshold", "anisotropy", "stitch_threshold", "tile_overlap", "min_size")


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "number":
            self.inputs.setdefault(attrs["name"], attrs)


def form_inputs(user, url):
    client = Client()
    client.force_login(user)
    parser = _Inputs()
    parser.feed(client.get(url).content.decode())
    return parser.inputs


@pytest.mark.parametrize("url", ["/", "image", "slide"])
def test_the_segment_form_takes_its_bounds_and_defaults_from_the_api_schema(owner, image, url):
    pages = {"/": "/", "image": f"/images/{image.pk}/", "slide": f"/images/{image.pk}/slide/"}
    inputs = form_inputs(owner, pages[url])
    fields = SegmentationOptionsSerializer().fields
    for name in NUMERIC:
        field = fields[name]
        assert float(inputs[name]["min"]) == field.min_value, name
        assert float(inputs[name]["max"]) == field.max_value, name
        if field.default is not None:
            assert float(inputs[name]["value"]) == field.default, name
    assert float(inputs["diameter"]["max"]) == fields["diameter"].max_value


def test_a_changed_bound_in_the_schema_changes_the_rendered_form(owner, monkeypatch):
    bounds = option_bounds()
    bounds["flow_threshold"] = {"min": 0.0, "max": 7.5, "default": 1.25}
    monkeypatch.setattr("annotations.pages.option_bounds", lambda: bounds)

    inputs = form_inputs(owner, "/")

    assert (inputs["flow_threshold"]["max"], inputs["flow_threshold"]["value"]) == ("7.5", "1.25")
