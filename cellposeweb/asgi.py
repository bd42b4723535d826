"""ASGI entry point: HTTP through Django, websockets through Channels.

Importing this module starts no thread: in embedded mode (JOB_RUNNER=thread) the job worker
threads start with the first request the server handles (cellposeweb.work.start_pools, connected
in InferenceConfig.ready), which works under any ASGI server (daphne has no lifespan events, and
uvicorn runs here with --lifespan off). Request bodies over REQUEST_MAX_BYTES are refused before
they are read (cellposeweb.bodylimit). Static files are served from STATIC_ROOT
(cellposeweb.staticfiles) unless SERVE_STATIC is off (a proxy or CDN serves them).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from cellposeweb.bodylimit import BodySizeLimitMiddleware  # noqa: E402
from cellposeweb.staticfiles import StaticRootHandler  # noqa: E402
from cellposeweb.wsrouting import NotFoundURLRouter  # noqa: E402

from inference.routing import websocket_urlpatterns  # noqa: E402
from community.routing import websocket_urlpatterns as community_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(StaticRootHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(NotFoundURLRouter(websocket_urlpatterns + community_websocket_urlpatterns))),
    }
)
