"""Settings for Cellpose Web, driven by environment variables with safe defaults.

The defaults give the *embedded* mode (SQLite, local media, in-process job worker,
in-memory channel layer). Production (``DJANGO_ENV=production``) sets DATABASE_URL, REDIS_URL,
S3_* and friends; every variable is listed in docs/deploy.md and docker/env.example.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CELLPOSEWEB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _improperly_configured(message):
    from django.core.exceptions import ImproperlyConfigured

    return ImproperlyConfigured(message)


# "embedded" (the default: one machine, nothing else to run) or "production" (stricter: secrets
# and hosts must come from the environment, HTTPS-only cookies and headers, JSON logs).
ENVIRONMENT = os.environ.get("DJANGO_ENV", "embedded").strip().lower()
if ENVIRONMENT not in {"embedded", "production"}:
    raise _improperly_configured(f"DJANGO_ENV must be embedded or production; got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise _improperly_configured("DJANGO_DEBUG must be off when DJANGO_ENV=production.")


def _secret_key():
    key = os.environ.get("DJANGO_SECRET_KEY")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5):
            raise _improperly_configured("DJANGO_SECRET_KEY must be at least 50 random characters in production.")
        return key
    if PRODUCTION:
        raise _improperly_configured(
            "DJANGO_SECRET_KEY is not set: in production the secret key comes from the environment only."
        )
    # Embedded mode: a random key persisted under var/ so sessions survive restarts.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise _improperly_configured("DJANGO_ALLOWED_HOSTS must name the host names this server answers to.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "annotations",
    "inference",
    "community",
]

MIDDLEWARE = [
    "cellposeweb.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "cellposeweb.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cellposeweb.urls"
ASGI_APPLICATION = "cellposeweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    # A connection per request by default (DB_CONN_MAX_AGE=0: what Django advises under ASGI, where
    # each request may run on a different thread; put PgBouncer in front for many web processes).
    # Persistent connections are health-checked before reuse, so after a database restart the next
    # request reconnects; the requests during the outage answer 503 (cellposeweb.exceptions).
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"], conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets the job worker write progress while requests read; IMMEDIATE takes the
            # write lock at BEGIN so two writers queue up instead of failing to upgrade a lock.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.VariedCharactersValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static", ("frontend", BASE_DIR / "frontend" / "src")]
STATIC_ROOT = VAR_DIR / "staticfiles"
SERVE_STATIC = env_bool("SERVE_STATIC", True)  # embedded mode: the ASGI app serves STATIC_ROOT
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"  # never routed: every stored file is served through a permission-checked API

# Storage: local files under MEDIA_ROOT, or S3 (and S3-compatible stores) when S3_BUCKET is set.
S3_BUCKET = os.environ.get("S3_BUCKET", "")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "location": os.environ.get("S3_PREFIX", ""),
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,  # objects stay private: readable only through signed URLs
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": env_int("S3_PRESIGN_EXPIRY", 300),
            "signature_version": "s3v4",
            "addressing_style": os.environ.get("S3_ADDRESSING_STYLE") or None,  # "path" for MinIO and moto
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    # Content-hashed names, ES module imports included (cellposeweb/staticfiles.py): pages need
    # `manage.py collectstatic` to have run (make run, the Docker image and docs/deploy.md do).
    "staticfiles": {"BACKEND": "cellposeweb.staticfiles.HashedModulesStorage"},
}
# Downloads of stored files at least this large are redirects to a short-lived presigned URL of the
# S3 store (signed for S3_PUBLIC_ENDPOINT_URL, the address browsers reach) instead of passing
# through a web process; smaller ones, and all of them on local storage, are streamed.
S3_PRESIGN_MIN_BYTES = env_int("S3_PRESIGN_MIN_BYTES", 8 * 1024 * 1024)
S3_PUBLIC_ENDPOINT_URL = os.environ.get("S3_PUBLIC_ENDPOINT_URL", "")

# Uploads. Files above FILE_UPLOAD_MAX_MEMORY_SIZE stream to a temporary file, never to memory.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 200 * 1024 * 1024))
# Every request body, to any URL (cellposeweb.bodylimit, in front of Django in every mode): larger
# ones are answered 413 before they are read.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", UPLOAD_MAX_BYTES + 2**20)
UPLOAD_MAX_PIXELS = int(os.environ.get("UPLOAD_MAX_PIXELS", 2**28))  # decompression-bomb guard
FILE_UPLOAD_PERMISSIONS = 0o640
THUMBNAIL_SIZE = int(os.environ.get("THUMBNAIL_SIZE", 256))
# Large images (annotations.slides, docs/deploy.md "Large images"): an image with more pixels than
# TILED_MIN_PIXELS (Y x X x Z) is also stored as a multiscale pyramid of 512 x 512 tiles and viewed
# tile by tile; such images may have up to TILED_MAX_PIXELS values (the small-image limit above
# still holds for the others). Files larger than UPLOAD_MAX_BYTES come through the chunked upload
# (POST /api/uploads/), in chunks of at most UPLOAD_CHUNK_BYTES, up to CHUNKED_UPLOAD_MAX_BYTES in
# all; an unfinished upload untouched for UPLOAD_STALE_S is deleted, and a user may have at most
# UPLOAD_MAX_OPEN_PER_USER unfinished ones.
TILED_MIN_PIXELS = env_int("TILED_MIN_PIXELS", 4096 * 4096)
TILED_MAX_PIXELS = env_int("TILED_MAX_PIXELS", 2**32)
# The masks of a tiled image are edited one rectangle at a time (annotations.tiled_edits), each
# side at most TILED_EDIT_MAX_SIDE pixels of full resolution.
TILED_EDIT_MAX_SIDE = env_int("TILED_EDIT_MAX_SIDE", 2048)
UPLOAD_CHUNK_BYTES = env_int("UPLOAD_CHUNK_BYTES", 64 * 1024 * 1024)
CHUNKED_UPLOAD_MAX_BYTES = env_int("CHUNKED_UPLOAD_MAX_BYTES", 64 * 1024**3)
UPLOAD_STALE_S = env_int("UPLOAD_STALE_S", 24 * 3600)
UPLOAD_MAX_OPEN_PER_USER = env_int("UPLOAD_MAX_OPEN_PER_USER", 4)  # unfinished chunked uploads of one user
# Most values (channels x Ly x Lx) one plane may send to the viewer (128 MiB as float32).
CHANNEL_VALUES_MAX = env_int("CHANNEL_VALUES_MAX", 2**25)

# Jobs. "thread": an in-process worker thread (embedded mode, no other service);
# "celery": a Celery worker fed through CELERY_BROKER_URL; "off": jobs stay queued (tests, or a
# web process whose worker runs elsewhere).
JOB_RUNNER = os.environ.get("JOB_RUNNER", "thread")
if JOB_RUNNER not in {"thread", "celery", "off"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"JOB_RUNNER must be thread, celery or off; got {JOB_RUNNER!r}")
# Cost limits of one segmentation (cellposeweb.limits, inference.engine.limits): the network input is
# the image resized by diam_mean / diameter; a job whose input would exceed these is refused (400).
SEGMENT_MAX_UPSCALE = float(os.environ.get("SEGMENT_MAX_UPSCALE", 8.0))  # largest diam_mean / diameter
SEGMENT_MAX_SIDE = env_int("SEGMENT_MAX_SIDE", 32768)  # pixels along any one axis of the input
SEGMENT_MAX_PIXELS = env_int("SEGMENT_MAX_PIXELS", 2**28)  # Ly x Lx of one plane of the input
SEGMENT_MAX_VOXELS = env_int("SEGMENT_MAX_VOXELS", 2**28)  # planes x Ly x Lx of a stack's input
JOB_MAX_IMAGES = int(os.environ.get("JOB_MAX_IMAGES", 100))
MODEL_CACHE_SIZE = int(os.environ.get("MODEL_CACHE_SIZE", 2))  # loaded models kept per process
# Back-pressure: a user with this many queued or running jobs is answered 429 (0: no limit).
JOB_MAX_ACTIVE_PER_USER = env_int("JOB_MAX_ACTIVE_PER_USER", 20)
JOB_RETRY_AFTER_S = env_int("JOB_RETRY_AFTER_S", 30)
# Fair queueing (inference.selectors.job_queue_fair): users who had jobs started within this many
# seconds wait behind those who had fewer.
JOB_FAIR_WINDOW_S = env_int("JOB_FAIR_WINDOW_S", 3600)
# Reliability (both runners; segmentation jobs and training runs alike, cellposeweb.work): a
# running job or run has its worker stamp heartbeat_at every
# JOB_HEARTBEAT_INTERVAL_S; a job whose stamp is older than JOB_HEARTBEAT_TIMEOUT_S lost its worker
# and is re-queued, up to JOB_MAX_ATTEMPTS starts in all, then failed. The sweep runs every
# JOB_RECOVER_INTERVAL_S (celery beat, or the embedded runner's watchdog thread) and when a worker
# starts.
JOB_HEARTBEAT_INTERVAL_S = float(os.environ.get("JOB_HEARTBEAT_INTERVAL_S", 10))
JOB_HEARTBEAT_TIMEOUT_S = float(os.environ.get("JOB_HEARTBEAT_TIMEOUT_S", 120))
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2)
# A running job whose stage and progress have not moved for this long counts as stuck: its
# heartbeat stops and the sweep takes it over (0 = never). Generous: dynamics of a large 3D stack
# on a CPU report no progress for minutes.
JOB_STALL_TIMEOUT_S = float(os.environ.get("JOB_STALL_TIMEOUT_S", 3600))
JOB_RECOVER_INTERVAL_S = float(os.environ.get("JOB_RECOVER_INTERVAL_S", 30))
# Tiled images (annotations.slides, above TILED_MIN_PIXELS) are segmented block by block
# (inference.tiled_jobs): blocks of this many pixels per axis, grown by the overlap on each side;
# every block is a unit of work of its own (a Celery task on the "gpu" queue). Peak memory of a
# worker follows the block, not the image. Stacks use the _3D sizes per axis (Z, Y, X).
TILED_BLOCK_SIZE = env_int("TILED_BLOCK_SIZE", 2048)
TILED_BLOCK_OVERLAP = env_int("TILED_BLOCK_OVERLAP", 128)
TILED_BLOCK_SIZE_3D = env_int("TILED_BLOCK_SIZE_3D", 256)
TILED_BLOCK_OVERLAP_3D = env_int("TILED_BLOCK_OVERLAP_3D", 32)

# Community training runs replay the base model's data beside the contributions (community.replay):
# synthetic images always, and this labelled folder's training split where it is set (e.g. the
# DSB 2018 folder the default model learnt from; read in place, never downloaded), taking
# COMMUNITY_REPLAY_FOLDER_SHARE of the replayed samples.
COMMUNITY_REPLAY_FOLDER = os.environ.get("COMMUNITY_REPLAY_FOLDER", "")
COMMUNITY_REPLAY_FOLDER_SHARE = float(os.environ.get("COMMUNITY_REPLAY_FOLDER_SHARE", 0.5))

REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_SOCKET_TIMEOUT_S = float(os.environ.get("REDIS_SOCKET_TIMEOUT_S", 5))

# Celery: queues "gpu" (segmentation; one job at a time per worker), "cpu" (maintenance, the
# default) and "training". Workers: see docs/deploy.md (the gpu queue runs with --pool=solo).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {
    "inference.segmentation_job_run": {"queue": "gpu"},
    "inference.segmentation_job_run_next": {"queue": "gpu"},
    "inference.job_block_run": {"queue": "gpu"},
    "community.contribution_score": {"queue": "gpu"},
    "annotations.upload_ingest_run": {"queue": "cpu"},
    "inference.segmentation_jobs_recover": {"queue": "cpu"},
    "work.recover": {"queue": "cpu"},
    "training.*": {"queue": "training"},
}
# A message is acknowledged when its task ends, so a worker that dies mid-task leaves it to be
# delivered again (jobs themselves are recovered from the database; a duplicate message is harmless).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below (JSON in production)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False  # a broker blip must not kill a job
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # workers wait out a broker restart
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT_S
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 6 * 3600),
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
    "socket_timeout": max(REDIS_SOCKET_TIMEOUT_S, 30),
    "socket_keepalive": True,
    "health_check_interval": 25,
}
# A request that queues a job must not hang on a broker that is down: the job is in the
# database and the recovery sweep dispatches it once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BEAT_SCHEDULE = {
    "recover-jobs": {
        "task": "work.recover",
        "schedule": JOB_RECOVER_INTERVAL_S,
        "options": {"queue": "cpu", "expires": JOB_RECOVER_INTERVAL_S},
    },
}

# Accounts and roles (admin = is_staff; curators = members of the "curator" group).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)
# Community contributions: the median mask must have at least this many pixels (community.rules).
CONTRIBUTION_MIN_MASK_PIXELS = env_int("CONTRIBUTION_MIN_MASK_PIXELS", 10)
# Sign-in protection (accounts.signin): failures per account and per client address within
# SIGNIN_LOCKOUT_S seconds before sign-in is locked for the rest of that window (0 = no limit).
SIGNIN_MAX_FAILURES_PER_ACCOUNT = env_int("SIGNIN_MAX_FAILURES_PER_ACCOUNT", 5)
SIGNIN_MAX_FAILURES_PER_CLIENT = env_int("SIGNIN_MAX_FAILURES_PER_CLIENT", 20)
SIGNIN_LOCKOUT_S = env_int("SIGNIN_LOCKOUT_S", 900)
# Proxies in front of this server that append to X-Forwarded-For (docker/nginx.conf: 1). The client
# address used for sign-in limits and throttles is the one the outermost trusted proxy saw; 0 trusts
# no header and uses the connection's address.
NUM_PROXIES = env_int("NUM_PROXIES", 0)
# API tokens (accounts.tokens) expire this many seconds after they are made (0 = never).
TOKEN_TTL_S = env_int("TOKEN_TTL_S", 30 * 24 * 3600)

# HTTPS (on by default in production; the TLS proxy in front sets X-Forwarded-Proto).
SECURE = env_bool("DJANGO_SECURE", PRODUCTION)
if SECURE:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]  # probes from inside the deployment
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every response (cellposeweb.middleware), in every mode (the pages run
# no inline script; tests/web/test_security_settings.py checks); DJANGO_CSP replaces it ("" turns it off). /api/docs/ gets CSP_API_DOCS (Swagger UI's page has an
# inline start-up script; its files are our own static files).
CONTENT_SECURITY_POLICY = os.environ.get(
    "DJANGO_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
CSP_API_DOCS = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# /metrics: administrators (session or token), or "Authorization: Bearer <METRICS_TOKEN>" for a scraper.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "cellposeweb.pagination.Pagination",
    "PAGE_SIZE": int(os.environ.get("API_PAGE_SIZE", 50)),
    "EXCEPTION_HANDLER": "cellposeweb.exceptions.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "cellposeweb.parsers.BoundedJSONParser",  # nesting at most JSON_MAX_DEPTH levels (else 400)
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "URL_FORMAT_OVERRIDE": None,  # ?format= names a file format (masks, flows), not a renderer
    "NUM_PROXIES": NUM_PROXIES,  # the client address of DRF's throttles (accounts.signin)
}

JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32)  # deepest nesting of a JSON request body

# Per-user rate limits ("<n>/<second|minute|hour|day>"; empty disables), read at request time.
THROTTLE_RATES = {
    "uploads": os.environ.get("THROTTLE_UPLOADS", "300/hour"),
    "jobs": os.environ.get("THROTTLE_JOBS", "300/hour"),
    "auth": os.environ.get("THROTTLE_AUTH", "30/minute"),  # token requests per client address
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cellpose Web API",
    "DESCRIPTION": "Upload microscopy images, segment them with Cellpose, download the masks.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's scripts and styles come from drf-spectacular-sidecar's static files, not a CDN:
    # /api/docs/ works offline and its CSP names no other origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

if REDIS_URL:
    _redis_timeouts = {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S, "socket_timeout": REDIS_SOCKET_TIMEOUT_S}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, **_redis_timeouts}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {**_redis_timeouts, "retry_on_timeout": False},
        }
    }
else:
    # expiry: Channels' in-memory layer drops a subscriber from its groups when one of its messages
    # waits longer than this (default 60 s), which a busy 2-core machine can reach mid-training.
    CHANNEL_LAYERS = {"default": {"BACKEND": "cellposeweb.channel_layers.ThreadSafeInMemoryChannelLayer",
                                  "CONFIG": {"expiry": 600}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Logs go to stderr: one JSON object a line in production (LOG_FORMAT=json), text otherwise. Every
# record carries the request id (X-Request-ID) of the request it was logged in; each request is
# logged once by cellposeweb.middleware.RequestLogMiddleware ("cellposeweb.request").
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cellposeweb.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "cellposeweb.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},  # 4xx are logged once, as requests
}
