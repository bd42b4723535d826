"""The image page's HTML: what the template says to developers stays out of the page."""
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_segment_form_shows_no_template_comment_text(owner, make_image, model_version):
    browser = Client()
    browser.force_login(owner)
    html = browser.get(f"/images/{make_image().pk}/").content.decode()
    assert 'name="diameter"' in html or "Cell diameter" in html  # the segment form is there
    assert "{#" not in html and "Segmentation options: read by" not in html
