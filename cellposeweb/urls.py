"""URL map.

Pages: ``/`` (image list and upload), ``/images/<id>/`` (viewer), ``/accounts/{login,logout,signup,tokens}/``,
``/admin/``; probes ``/livez``, ``/healthz`` and ``/metrics``. API under ``/api/`` (see the schema at
``/api/schema/`` and ``/api/docs/``); websocket ``/ws/jobs/<id>/`` is routed in asgi.py.
"""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import LoginView, tokens_page
from cellposeweb.apis import TokenCreateApi, TokenRevokeApi
from cellposeweb.views import MetricsApi, SignUpView, healthz, livez

handler404 = "cellposeweb.views.not_found"
handler500 = "cellposeweb.views.server_error"

urlpatterns = [
    path("", include("annotations.page_urls")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/tokens/", tokens_page, name="account-tokens"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", SignUpView.as_view(), name="signup"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("metrics", MetricsApi.as_view(), name="metrics"),
    path("api/auth/token/", TokenCreateApi.as_view(), name="api-token"),
    path("api/auth/token/revoke/", TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("annotations.urls")),
    path("api/", include("inference.urls")),
    path("", include("community.urls")),
]
