"""The HTML pages: the image list (upload, search, batch segmentation), the image viewer, the
tiled viewer of large images and its region editor.

They only render templates; every piece of data comes from the REST API, fetched by the page's
JavaScript (frontend/src/pages/). The CSRF cookie is set so those scripts can send it back as
``X-CSRFToken`` on POST and DELETE.
"""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotations.selectors import image_get
from annotations.uploads import chunk_size
from cellposeweb.access import is_admin
from inference.options import option_bounds


@login_required
@ensure_csrf_cookie
def image_list_page(request):
    # Files larger than one chunk (or than POST /api/images/ takes) go through the chunked upload
    # (frontend/src/controller/chunkedUpload.js), in chunks of that size.
    return render(request, "pages/image_list.html", {"is_admin": is_admin(request.user), "options": option_bounds(),
                                                     "chunk_bytes": min(chunk_size(), settings.UPLOAD_MAX_BYTES)})


@login_required
@ensure_csrf_cookie
def image_page(request, image_id: int):
    # The same selector as the API (cellposeweb.access): someone else's image, or a missing one,
    # is a 404 page here too. The page itself carries only the id; its script fetches the rest.
    image_get(user=request.user, image_id=image_id)
    return render(request, "pages/image_detail.html", {"image_id": image_id, "options": option_bounds()})


@login_required
@ensure_csrf_cookie
def slide_page(request, image_id: int):
    # The deep-zoom viewer of tiled images, with the same access rule as the image page. Whether
    # the image is tiled is the page script's question (GET /api/images/<id>/pyramid/): a small
    # image is sent back to the image page.
    image_get(user=request.user, image_id=image_id)
    return render(request, "pages/slide.html", {"image_id": image_id, "options": option_bounds(),
                                                "edit_max_side": settings.TILED_EDIT_MAX_SIDE})


@login_required
@ensure_csrf_cookie
def region_page(request, image_id: int):
    # The canvas editor on one rectangle of a tiled image (?x=&y=&width=&height=&z=, checked by
    # the region API the page's script calls), with the same access rule as the image page.
    image_get(user=request.user, image_id=image_id)
    return render(request, "pages/region_editor.html", {"image_id": image_id})
