"""Health checks of the services a web process needs: database, cache (Redis), broker, storage.

Each check is a round trip with a short timeout; a failure is logged with its reason, and the
caller only learns which service failed (health endpoints are public and must not leak details).
"""
import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)

PROBE_NAME = ".healthz-probe"  # asked for, never written: a missing file is a healthy answer


def _database():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache():
    from django.core.cache import cache

    cache.get("healthz-probe")


def _broker():
    from cellposeweb.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.REDIS_SOCKET_TIMEOUT_S)


def _storage():
    from django.core.files.storage import default_storage

    default_storage.exists(PROBE_NAME)


def checks() -> dict:
    """The checks that apply to this configuration, by name."""
    found = {"database": _database, "storage": _storage}
    if settings.REDIS_URL:
        found["cache"] = _cache
    if settings.JOB_RUNNER == "celery":
        found["broker"] = _broker
    return found


def run_checks() -> dict:
    """``{name: {"ok": bool, "ms": float}}`` for every check that applies."""
    results = {}
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            check()
            ok = True
        except Exception as exc:
            ok = False
            logger.warning("health check %s failed: %s", name, exc, extra={"check": name})
            if name == "database":
                from django.db import connection

                connection.close_if_unusable_or_obsolete()
        results[name] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return results
