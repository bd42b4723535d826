"""Account pages (sign up; sign in and out are Django's views), error pages, and the probes:
``/livez`` (the process answers), ``/healthz`` (and so do the database, broker, cache and storage)
and ``/metrics`` (Prometheus text, for administrators and the holder of METRICS_TOKEN)."""
import hmac
import sys

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.generic import FormView
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from cellposeweb import health, metrics
from cellposeweb.access import is_admin
from cellposeweb.exceptions import RETRY_AFTER_UNAVAILABLE_S, service_unavailable_body, unavailable_service


@never_cache
def livez(request):
    """The process is up and serving (no other service is asked): for a container's liveness."""
    return JsonResponse({"status": "ok"})


@never_cache
def healthz(request):
    """200 when every service this process needs answers, else 503 naming the ones that do not
    (the reasons are logged, not shown). For load balancers and container health checks."""
    checks = health.run_checks()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)


class MetricsTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <METRICS_TOKEN>``, for a Prometheus scraper."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        token = settings.METRICS_TOKEN.encode()
        if token and hmac.compare_digest(parts[1], token):
            return AnonymousUser(), "metrics"
        raise AuthenticationFailed("Invalid metrics token.")

    def authenticate_header(self, request):
        return 'Bearer realm="metrics"'


class CanReadMetrics(BasePermission):
    def has_permission(self, request, view):
        return request.auth == "metrics" or is_admin(request.user)


class MetricsApi(APIView):
    """Job counts by status, queue lengths, job durations and the health checks, in Prometheus'
    text format."""

    authentication_classes = [
        MetricsTokenAuthentication,
        *APIView.authentication_classes,
    ]
    permission_classes = [CanReadMetrics]

    @extend_schema(exclude=True)
    def get(self, request):
        response = HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response


def not_found(request, exception):
    """JSON under /api/ (clients parse {"detail"}), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"No API endpoint at {request.path}."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """500, or 503 with Retry-After when the error was a backing service being unavailable (the
    request may be repeated as it is once the service is back)."""
    service = unavailable_service(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
    if service is not None:
        body = service_unavailable_body(service)
        if request.path.startswith("/api/"):
            response = JsonResponse(body, status=503)
        else:
            response = HttpResponse(body["detail"], status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_S)
        return response
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "The server failed to handle this request; the error was logged."}, status=500)
    return defaults.server_error(request)


class SignUpView(FormView):
    template_name = "registration/signup.html"
    form_class = UserCreationForm

    def dispatch(self, request, *args, **kwargs):
        if not settings.SIGNUP_ENABLED:
            raise Http404("Sign-up is closed on this server.")
        if request.user.is_authenticated:
            return redirect(settings.LOGIN_REDIRECT_URL)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.save()
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
