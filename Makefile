# Cellpose Web. `make run` and `make test` each set up .venv from nothing.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ISTAMP := $(VENV)/.integration-stamp
NSTAMP := frontend/node_modules/.package-lock.json
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-integration test-engine model bench clean images base-image container-engine stack-up stack-down

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
	@# Browser tests drive Debian's Chromium; install it when we can (root with apt), never a downloaded one.
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: browser tests will be skipped"; }
	touch $(STAMP)

# The frontend's lint and type-check tools, exactly as frontend/package-lock.json pins them (the
# site itself needs no Node: its ES modules are served as they are). Without npm the frontend checks
# of `make test` skip, saying so, and fail on CI.
$(NSTAMP): frontend/package.json frontend/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd frontend && npm ci; \
	else echo "npm not found: the frontend checks of make test will be skipped (and fail on CI)"; fi

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py bootstrap
	$(BIN)/daphne -b $(HOST) -p $(PORT) cellposeweb.asgi:application

# The import contracts first (pyproject.toml, [tool.importlinter]): an import against the layering
# fails the build before any test runs.
test: $(STAMP) $(NSTAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q --ignore=tests/integration

# The integration tier: the web and job tests again on PostgreSQL (127.0.0.1:5432), Redis
# (127.0.0.1:6379) and S3 (a moto server the tests start), then the production stack (uvicorn, a
# Celery worker and beat) under faults, load, attack and fuzzing. Skipped, saying why, when
# PostgreSQL or Redis is not reachable. See docs/deploy.md.
$(ISTAMP): $(STAMP)
	$(BIN)/pip install -q "torch==2.13.0" -e ".[test,integration]"
	touch $(ISTAMP)

test-integration: $(ISTAMP)
	$(BIN)/python -m pytest -q -p tests.integration.plugin tests/web tests/integration

test-engine: $(STAMP)
	$(BIN)/python -m pytest -q tests/engine

# -- containers (docs/deploy.md, "Containers") ------------------------------------------------------
# `make images` builds the CPU image (web, workers and beat share it) with docker when its daemon
# answers, else podman (docker/engine.sh). BASE_IMAGE=auto: the official python:3.11-slim-bookworm
# when it is present or can be pulled, else a local Debian base made with debootstrap
# (`make base-image`). The Python packages come from a wheelhouse filled on this host (docker/wheels/).
IMAGE       ?= cellposeweb:cpu
BASE_IMAGE  ?= auto
COMPOSE_ENV ?= docker/.env
COMPOSE      = $(shell if [ "$$(docker/engine.sh 2>/dev/null)" = docker ]; then echo docker compose; \
                 elif command -v podman-compose >/dev/null 2>&1; then echo podman-compose; fi)

images:
	IMAGE="$(IMAGE)" BASE_IMAGE="$(BASE_IMAGE)" PY="$(PY)" docker/build.sh

base-image:
	ENGINE="$$(docker/engine.sh)" docker/base-image.sh

# Root on Debian: podman, runc and debootstrap, and a containers.conf drop-in for hosts that refuse
# to raise a container's open-file limit (docker/podman/50-cellposeweb-rlimits.conf).
container-engine:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap
	install -D -m 644 docker/podman/50-cellposeweb-rlimits.conf \
	  /etc/containers/containers.conf.d/50-cellposeweb-rlimits.conf

# The compose stack (docker/compose.yml) with `docker compose`, or podman-compose (pip install
# podman-compose) beside podman; the settings and secrets come from $(COMPOSE_ENV).
stack-up: images
	@test -f "$(COMPOSE_ENV)" || { echo "copy docker/env.example to $(COMPOSE_ENV) and fill it in (docs/deploy.md)"; exit 2; }
	@test -n "$(COMPOSE)" || { echo "no compose tool: install the docker compose plugin, or podman-compose (pip install podman-compose)"; exit 2; }
	$(COMPOSE) -f docker/compose.yml --env-file "$(COMPOSE_ENV)" up -d

stack-down:
	@test -n "$(COMPOSE)" || { echo "no compose tool: install the docker compose plugin, or podman-compose (pip install podman-compose)"; exit 2; }
	$(COMPOSE) -f docker/compose.yml --env-file "$(COMPOSE_ENV)" down

# Train the embedded default model from synthetic data (see docs/models.md).
model: $(STAMP)
	$(BIN)/python -m inference.engine train-default --out inference/engine/weights/default.pt

bench: $(STAMP)
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache frontend/node_modules
