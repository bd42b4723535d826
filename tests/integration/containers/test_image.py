"""The image as built: Python 3.11 with the CPU build of torch, the default model's weights inside,
an unprivileged user, no compilers, and a HEALTHCHECK."""
import hashlib
import json

from tests.integration.containers.stack import ROOT

WEIGHTS = "inference/engine/weights/default.pt"


def run(engine, image, script: str) -> str:
    return engine("run", "--rm", image, "sh", "-c", script, timeout=300)


def test_the_image_runs_as_an_unprivileged_user_with_no_compilers(engine, built_images):
    app, _ = built_images

    out = run(engine, app, "id -u; for c in gcc cc c++ g++ clang make; do command -v $c || true; done; "
                           "touch /app/manage.py 2>&1 || echo read-only-code")

    lines = out.splitlines()
    assert lines[0] == "10001"
    assert lines[-1] == "read-only-code"  # the code and the virtualenv are root's
    assert lines[1:-1] == [] or all("Permission denied" in line for line in lines[1:-1]), lines


def test_the_image_carries_python_3_11_the_cpu_torch_and_the_default_weights(engine, built_images):
    app, _ = built_images
    expected = hashlib.sha256((ROOT / WEIGHTS).read_bytes()).hexdigest()

    out = run(engine, app, "python -c \"import json, sys, hashlib, torch; print(json.dumps({"
                           "'python': list(sys.version_info[:2]), 'torch': torch.__version__, "
                           "'cuda': torch.version.cuda, "
                           f"'weights': hashlib.sha256(open('/app/{WEIGHTS}', 'rb').read()).hexdigest()}}))\"")

    facts = json.loads(out.splitlines()[-1])
    assert facts == {"python": [3, 11], "torch": "2.13.0+cpu", "cuda": None, "weights": expected}


def test_the_image_declares_a_health_check(engine, built_images):
    app, _ = built_images

    config = json.loads(engine("image", "inspect", "--format", "{{json .Config.Healthcheck}}", app))

    assert config["Test"] == ["CMD", "/app/docker/healthcheck.sh"]
