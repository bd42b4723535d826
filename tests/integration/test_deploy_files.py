"""The deployment files: docker/compose.yml validates against the Compose specification's JSON
schema (data/compose_spec.json, from the compose-spec project, Apache-2.0, as shipped in
docker-compose 1.29.2) and hangs together; every environment variable the settings read is
documented. ``docker compose config`` runs too where the Compose plugin is installed."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.integration.compose import COMPOSE, ROOT, VARIABLE, example_env, interpolate

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
ONE_SHOT = {"s3-init", "migrate"}
NO_PROBE = {"beat"}  # sends messages only; a dead beat shows in cellposeweb_jobs_stale and queue lengths


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_validates_against_the_compose_specification():
    schema = json.loads((Path(__file__).parent / "data" / "compose_spec.json").read_text())
    document = yaml.safe_load(interpolate(COMPOSE.read_text(), example_env()))

    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(document), key=str)

    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_every_required_variable_is_in_the_example_env_file():
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text()) if m.group(2) == "?"}

    assert required <= set(example_env())
    with pytest.raises(KeyError, match="DJANGO_SECRET_KEY"):
        interpolate(COMPOSE.read_text(), {})  # no default secret: compose refuses to start


def test_the_services_hang_together():
    doc = compose()
    services = doc["services"]
    assert {"db", "redis", "s3", "web", "proxy", "worker-segment", "worker-gpu", "worker-cpu", "beat", "migrate"} <= set(services)
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(".") or source in doc["volumes"], (name, volume)
        if name not in ONE_SHOT | NO_PROBE:
            assert "healthcheck" in service, f"{name} has no health check"
        if service.get("image", "").startswith("cellposeweb:"):
            assert (ROOT / service["build"]["dockerfile"]).is_file()
            assert f"  {service['command'][0]})" in entrypoint, (name, service["command"])
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "--pool=solo" in entrypoint  # segmentation never forks after numba ran (docs/deploy.md)


def test_the_web_server_keeps_idle_connections_longer_than_the_proxy_reuses_them():
    # Otherwise the proxy now and then sends a request down a connection the server is closing: 502.
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    server_s = int(re.search(r"--timeout-keep-alive (\d+)", entrypoint).group(1))
    upstream = re.search(r"upstream cellposeweb \{(.*?)\}", nginx, re.S).group(1)
    proxy_s = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    assert "keepalive " in upstream and server_s > proxy_s


def test_every_setting_read_from_the_environment_is_documented():
    settings_source = (ROOT / "cellposeweb" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:_bool|_int|_list)?\(\s*["']([A-Z0-9_]+)["']""", settings_source))
    read |= set(re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z0-9_]+)["']""", settings_source))
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DEPLOY_DOC.read_text()))

    missing = sorted(read - documented - {"DJANGO_SETTINGS_MODULE"})
    assert missing == [], f"document these in docs/deploy.md: {missing}"


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed (the schema test above still validates the file)",
)
def test_docker_compose_config_accepts_the_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in example_env().items()))

    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env_file), "config", "-q"],
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
