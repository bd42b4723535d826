#!/bin/sh
# The role of this container: web | worker-gpu | worker-cpu | worker-training | beat | migrate,
# or any other command. Settings come from the environment (docker/env.example, docs/deploy.md).
set -eu

# The role, for docker/healthcheck.sh (the image's HEALTHCHECK).
echo "${1:-web}" >/tmp/cellposeweb-role

# Waits up to DB_WAIT_S seconds (default 60) for the database to accept connections: a database
# container may still be starting (not every orchestrator waits for its health check).
wait_for_database() {
    python - <<'PY'
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")
django.setup()
from django.db import connection
from django.db.utils import OperationalError

deadline = time.monotonic() + float(os.environ.get("DB_WAIT_S", "60"))
while True:
    try:
        connection.ensure_connection()
        break
    except OperationalError as exc:
        if time.monotonic() > deadline:
            raise SystemExit(f"entrypoint: the database did not answer within DB_WAIT_S: {exc}")
        time.sleep(1)
PY
}

case "${1:-web}" in
  migrate)
    # One-shot before the others start: schema, static files for the proxy, default model + admin.
    wait_for_database
    python manage.py migrate --noinput
    python manage.py collectstatic --noinput
    # Readable by the proxy's user: Django writes files with FILE_UPLOAD_PERMISSIONS (0640), meant
    # for uploads, and static files are public anyway.
    chmod -R a+rX "${CELLPOSEWEB_VAR_DIR:-/app/var}/staticfiles"
    exec python manage.py bootstrap
    ;;
  web)
    # Several processes (WEB_CONCURRENCY) behind the proxy, which serves /static/ itself. Idle
    # keep-alive connections stay open longer (75 s) than the proxy keeps them (60 s, nginx.conf):
    # with uvicorn's default 5 s the proxy would now and then reuse a connection uvicorn is just
    # closing, and answer that request 502. A web process gets WEB_WORKER_HEALTHCHECK_S (60 s) to
    # answer its parent's ping: importing the app on a busy host takes longer than uvicorn's 5 s,
    # and a parent that gives up kills and restarts its processes over and over.
    exec uvicorn cellposeweb.asgi:application --host 0.0.0.0 --port 8000 \
      --workers "${WEB_CONCURRENCY:-2}" --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
      --lifespan off --no-access-log --timeout-graceful-shutdown 30 --timeout-keep-alive 75 \
      --timeout-worker-healthcheck "${WEB_WORKER_HEALTHCHECK_S:-60}"
    ;;
  worker-gpu)
    # Segmentation, one job at a time in the worker's own process (--pool=solo: the engine's numba
    # kernels use OpenMP, which is not safe across fork). A stable name (-n) lets a restarted
    # worker recover the job it was killed in at once.
    exec celery -A cellposeweb worker -Q gpu --pool=solo -n "${WORKER_NAME:-gpu}@%h" \
      --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle
    ;;
  worker-cpu)
    # Maintenance (the recovery sweep) and the ingest of tiled images; forks children, which never run
    # the engine's numba kernels.
    exec celery -A cellposeweb worker -Q cpu --concurrency "${CPU_CONCURRENCY:-2}" --max-tasks-per-child 200 \
      -n "${WORKER_NAME:-cpu}@%h" --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle
    ;;
  worker-training)
    exec celery -A cellposeweb worker -Q training --pool=solo -n "${WORKER_NAME:-training}@%h" \
      --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle
    ;;
  beat)
    # Exactly one per deployment: sends the recovery sweep every JOB_RECOVER_INTERVAL_S.
    exec celery -A cellposeweb beat --loglevel "${LOG_LEVEL:-INFO}" -s /tmp/celerybeat-schedule
    ;;
  *)
    exec "$@"
    ;;
esac
