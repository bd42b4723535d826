#!/bin/sh
# The image's HEALTHCHECK, by the role docker/entrypoint.sh started: a web container answers
# /livez (its process serves; whether the database answers is /healthz's business, which a load
# balancer asks); a worker answers Celery's ping through the broker; beat and one-shot roles are
# healthy while their process runs.
set -eu

role=$(cat /tmp/cellposeweb-role 2>/dev/null || echo other)
case "$role" in
  web)
    # As a request for the first allowed host name (Django refuses other Host headers).
    exec python - <<'PY'
import os
import urllib.request

host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".") or "localhost"
request = urllib.request.Request("http://127.0.0.1:8000/livez", headers={"Host": host})
urllib.request.urlopen(request, timeout=10).read()
PY
    ;;
  worker-*)
    node="${WORKER_NAME:-${role#worker-}}@$(cat /proc/sys/kernel/hostname)"
    celery -A cellposeweb inspect ping -d "$node" --timeout 10 | grep -q pong
    ;;
  *)
    exit 0
    ;;
esac
