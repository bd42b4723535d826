"""The tiled viewer's page (/images/<id>/slide/): a shell like the image page, with its access rule.

Whether an image is tiled is asked by the page's script (GET /api/images/<id>/pyramid/); the
browser test tests/browser/test_slide_viewer.py drives it.
"""
import re

from django.test import Client


def test_the_slide_page_is_a_shell_that_loads_the_tiled_viewer_and_links_back(owner, image):
    client = Client()
    client.force_login(owner)

    response = client.get(f"/images/{image.pk}/slide/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-page="slide"' in html
    assert f'data-image-page-url="/images/{image.pk}/"' in html
    assert re.search(r'src="/static/frontend/pages/slide\.[0-9a-f]{12}\.js"', html), "the entry module by its hashed name"
    assert image.name not in html, "the page holds no data of its own"


def test_the_slide_page_of_someone_elses_image_is_not_found(other_user, image):
    client = Client()
    client.force_login(other_user)

    assert client.get(f"/images/{image.pk}/slide/").status_code == 404


def test_the_slide_page_asks_a_visitor_to_sign_in(image):
    response = Client().get(f"/images/{image.pk}/slide/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_image_page_names_the_slide_page_its_script_sends_tiled_images_to(owner, image):
    client = Client()
    client.force_login(owner)

    html = client.get(f"/images/{image.pk}/").content.decode()

    assert f'data-slide-url="/images/{image.pk}/slide/"' in html
