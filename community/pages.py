"""The community pages. They render templates; every piece of data comes from the API, fetched
by the page's JavaScript (frontend/src/community/). Access: the API decides (community.access)."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from community.access import can_manage


@login_required
@ensure_csrf_cookie
def contributions_page(request):
    return render(request, "community/contributions.html")


@login_required
@ensure_csrf_cookie
def review_page(request):
    return render(request, "community/review.html")


@login_required
@ensure_csrf_cookie
def dashboard_page(request):
    """Administrators' page; anyone else is told so instead of seeing forms that would be refused."""
    return render(request, "community/dashboard.html", {"can_manage": can_manage(request.user)})


@ensure_csrf_cookie
def models_page(request):
    return render(request, "community/models.html")
