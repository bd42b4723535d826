"""A tiled image segmented through Celery by one worker, then by two: the wall time of each and
their ratio (issue 18's target: two workers >= 1.8x faster than one).

    .venv/bin/python benchmarks/bench_distributed.py [--size 2048] [--block 512] [--overlap 64]

Needs what the integration tier needs: PostgreSQL (BENCH_POSTGRES_URL, default
``postgres://postgres@127.0.0.1:5432``; the run makes a database of its own there and drops it at
the end) and ``redis-server`` (a private one is started). The image is tests/data/img2d.tif tiled to ``--size`` x ``--size``
and stored tiled (OME-Zarr) in a temporary media folder; the default model segments it at
diameter 24 without flips. Each worker is a production Celery worker (``--pool=solo``, queue
"gpu") limited to one torch thread, so N workers use N cores; the job's own worker runs blocks
too while it waits (inference.tiled_jobs). The report gives each run's time, the blocks each
worker ran and each worker's peak resident memory (Linux's VmHWM of the worker process). On a machine shared with other work the ratio is noisy: run it once, on quiet cores.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.servers import BIN, Process, RedisServer, wait_until  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


def database(server: str, name: str, *, create: bool) -> None:
    """Create (or drop) the benchmark's own database ``name`` on the PostgreSQL server ``server``."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tiled_image(owner, size: int, folder: Path):
    import numpy as np
    import tifffile

    from annotations import slides
    from annotations.models import Image
    from annotations.sources import open_source

    picture = tifffile.imread(ROOT / "tests/data/img2d.tif")
    reps = -(-size // picture.shape[0])
    path = folder / f"slide-{size}.tif"
    tifffile.imwrite(path, np.tile(picture, (reps, reps))[:size, :size], tile=(256, 256))
    with open_source(path, max_pixels=2**34) as source:
        image = Image.objects.create(owner=owner, name=path.name, file=f"images/bench/{path.name}",
                                     shape=list(source.shape), dtype=str(source.dtype), axes=source.axes,
                                     size_bytes=path.stat().st_size, sha256="0" * 64, tiled=True)
        image.display = slides.write_pixels(image, source)
    image.save()
    return image


def peak_rss_mib(pid: int) -> float | None:
    """The peak resident set of a (still running) process, from Linux's /proc (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run(n_workers: int, *, env: dict, log_dir: Path, owner, image) -> dict:
    from inference.models import JobBlock, SegmentationJob
    from inference.jobs import segmentation_job_create

    workers = []
    try:
        for i in range(n_workers):
            argv = [BIN / "celery", "-A", "cellposeweb", "worker", "-Q", "gpu", "--pool=solo", "-n",
                    f"bench{n_workers}-{i}@host", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                    "--without-heartbeat"]
            worker = Process(f"worker-{n_workers}-{i}", argv, env=env, log_dir=log_dir).start()
            workers.append(worker)
        for worker in workers:
            wait_until(lambda w=worker: "ready." in w.log.read_text(errors="replace") or not w.alive, timeout=300,
                       what=f"{worker.name} to be ready")
            assert worker.alive, worker.tail()
        started = time.perf_counter()
        job = segmentation_job_create(owner=owner, images=[image], options={"diameter": 24, "augment": False})
        job = wait_until(lambda: (j := SegmentationJob.objects.get(pk=job.pk)).status in
                         ("succeeded", "failed", "cancelled") and j, timeout=7200, interval=0.5,
                         what=f"the job on {n_workers} worker(s)")
        seconds = time.perf_counter() - started
        peaks = {w.name: peak_rss_mib(w.popen.pid) for w in workers}
    finally:
        for worker in workers:
            worker.stop()
    blocks = list(JobBlock.objects.filter(item__job=job).values_list("worker", flat=True))
    return {"workers": n_workers, "status": job.status, "error": job.error, "seconds": seconds,
            "blocks": {w: blocks.count(w) for w in sorted(set(blocks))}, "peak_rss_mib": peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    redis = RedisServer(folder).start()
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER).rstrip("/")
    name = f"cellposeweb_bench_{os.getpid()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JOB_"))},
        "DJANGO_SETTINGS_MODULE": "cellposeweb.settings", "DATABASE_URL": f"{server}/{name}", "REDIS_URL": redis.url,
        "CELLPOSEWEB_VAR_DIR": str(folder / "var"), "MEDIA_ROOT": str(folder / "media"), "JOB_RUNNER": "celery",
        "TILED_BLOCK_SIZE": str(args.block), "TILED_BLOCK_OVERLAP": str(args.overlap),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
    }
    database(server, name, create=True)
    try:
        subprocess.run([BIN / "python", "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        from inference.engine.model import WEIGHTS_DIR
        from inference.model_versions import model_version_create

        owner, _ = get_user_model().objects.get_or_create(username="bench-distributed")
        model_version_create(name="bench-default", file_path=WEIGHTS_DIR / "default.pt", make_current=True)
        image = tiled_image(owner, args.size, folder)
        results = [run(n, env=env, log_dir=folder, owner=owner, image=image) for n in (1, 2)]
    finally:
        redis.stop()
        from django.db import connections

        connections.close_all()
        database(server, name, create=False)
    print(f"{args.size} x {args.size} image, blocks {args.block} + {args.overlap} overlap, default model, "
          f"diameter 24, no flips, 1 torch thread per worker")
    for r in results:
        print(f"  {r['workers']} worker(s): {r['seconds']:.1f} s ({r['status']}{': ' + r['error'] if r['error'] else ''})"
              f"  blocks per worker: {r['blocks']}  peak RSS per worker (MiB): {r['peak_rss_mib']}")
    print(f"  speed-up of 2 workers over 1: {results[0]['seconds'] / results[1]['seconds']:.2f}x")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
