# Cellpose Web. `make run` and `make test` each set up .venv from nothing.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ISTAMP := $(VENV)/.integration-stamp
NSTAMP := frontend/node_modules/.package-lock.json
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-integration test-engine model bench clean

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

test: $(STAMP) $(NSTAMP)
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

# Train the embedded default model from synthetic data (see docs/models.md).
model: $(STAMP)
	$(BIN)/python -m inference.engine train-default --out inference/engine/weights/default.pt

bench: $(STAMP)
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache frontend/node_modules
