"""Page URLs, included at the site root: ``path("", include("annotations.page_urls"))``.

``home`` is the image list (settings.LOGIN_REDIRECT_URL points to it).
"""
from django.urls import path

from annotations import pages

urlpatterns = [
    path("", pages.image_list_page, name="home"),
    path("images/<int:image_id>/", pages.image_page, name="image-page"),
    path("images/<int:image_id>/slide/", pages.slide_page, name="slide-page"),
    path("images/<int:image_id>/region/", pages.region_page, name="region-page"),
]
