"""The stack from the images, through nginx, as a user and an operator see it: health, static files
from the proxy, each container's own health check, and a user's upload, segmentation with the
baked-in default model, and download."""
import io
import zipfile

import httpx
import numpy as np
import tifffile

from tests.integration.containers.stack import ROOT


def tiff(size=256, y=0) -> bytes:
    picture = tifffile.imread(ROOT / "tests" / "data" / "img2d.tif")
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(picture[y : y + size, :size]))
    return buf.getvalue()


def test_healthz_through_nginx_checks_every_service(container_stack):
    response = httpx.get(f"{container_stack.url}/healthz", timeout=30)

    assert response.status_code == 200, response.text
    assert {name for name, check in response.json()["checks"].items() if check["ok"]} == {
        "database", "storage", "cache", "broker"}


def test_nginx_serves_the_static_files_that_migrate_collected(container_stack):
    response = httpx.get(f"{container_stack.url}/static/css/app.css", timeout=30)

    assert response.status_code == 200
    assert response.content == (ROOT / "static" / "css" / "app.css").read_bytes()
    assert response.headers["Cache-Control"] == "no-cache"
    manifest = httpx.get(f"{container_stack.url}/static/staticfiles.json", timeout=30).json()
    hashed = httpx.get(f"{container_stack.url}/static/{manifest['paths']['css/app.css']}", timeout=30)
    assert hashed.status_code == 200 and hashed.content == response.content
    assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_every_long_running_container_passes_the_images_health_check(container_stack):
    for name in ("web-1", "web-2", "worker-segment", "worker-cpu", "beat"):
        container_stack.engine("exec", container_stack.container(name), "/app/docker/healthcheck.sh", timeout=120)


def test_a_user_uploads_segments_with_the_default_model_and_downloads_the_masks(container_stack):
    (token,) = container_stack.tokens(1, "e2e")
    client = container_stack.http(token)

    image = client.post("/api/images/", files={"file": ("cells.tif", tiff(), "image/tiff")})
    assert image.status_code == 201, image.text
    job = client.post(f"/api/images/{image.json()['id']}/segment/", json={"diameter": 30})
    assert job.status_code == 202, job.text
    done = container_stack.wait_job(client, job.json()["id"], timeout=600)

    assert done["status"] == "succeeded", done["error"]
    assert done["model_version"]["name"] == "default"  # the weights baked into the image
    assert done["images"][0]["n_masks"] > 5
    download = client.get(f"/api/jobs/{done['id']}/download.zip")
    assert download.status_code == 302  # a presigned link to the store
    fetched = httpx.get(download.headers["Location"], timeout=60)
    assert fetched.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(fetched.content)).namelist()
    assert len(names) == 1 and names[0].endswith(".png")
