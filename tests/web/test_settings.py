"""Settings come from the environment: embedded defaults, production services when configured."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "storage": settings.STORAGES["default"]["BACKEND"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "runner": settings.JOB_RUNNER,
    "broker": settings.CELERY_BROKER_URL,
    "max_bytes": settings.UPLOAD_MAX_BYTES,
    "max_pixels": settings.UPLOAD_MAX_PIXELS,
}))
"""


def probe(tmp_path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "S3_", "JOB_RUNNER", "UPLOAD_"))}
    clean.update(DJANGO_SETTINGS_MODULE="cellposeweb.settings", CELLPOSEWEB_VAR_DIR=str(tmp_path), **env)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_embedded_defaults_need_no_other_service(tmp_path):
    config = probe(tmp_path)

    assert config == {
        "db": "django.db.backends.sqlite3",
        "storage": "django.core.files.storage.FileSystemStorage",
        "layer": "cellposeweb.channel_layers.ThreadSafeInMemoryChannelLayer",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "runner": "thread",
        "broker": "redis://localhost:6379/0",
        "max_bytes": 200 * 1024 * 1024,
        "max_pixels": 2**28,
    }


def test_production_services_are_configured_from_the_environment(tmp_path):
    config = probe(
        tmp_path,
        DATABASE_URL="postgres://cp:secret@db:5432/cellposeweb",
        REDIS_URL="redis://cache:6379/1",
        S3_BUCKET="cells",
        JOB_RUNNER="celery",
        UPLOAD_MAX_BYTES="1000",
        UPLOAD_MAX_PIXELS="4096",
    )

    assert config == {
        "db": "django.db.backends.postgresql",
        "storage": "storages.backends.s3.S3Storage",
        "layer": "channels_redis.core.RedisChannelLayer",
        "cache": "django.core.cache.backends.redis.RedisCache",
        "runner": "celery",
        "broker": "redis://cache:6379/1",
        "max_bytes": 1000,
        "max_pixels": 4096,
    }
