"""Memory and time of building a large image's tiled pyramid (annotations.slides.build_pixels),
the work behind ingesting an image over TILED_MIN_PIXELS.

    python benchmarks/bench_ingest.py                    # 8000 x 8000 uint16 BigTIFF in strips
    python benchmarks/bench_ingest.py --size 16384 --json out.json

Writes a BigTIFF of ``--size``² uint16 pixels strip by strip (never whole in memory), then, in a
fresh child process, records the peak resident memory after the imports and again after the
pyramid is built. The growth is what the ingest costs: it must stay far below the image's own
size (one band of 512 rows and a few chunks), which tests/web/test_slides_memory.py checks.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")
import django
django.setup()
import numpy as np, zarr
from annotations import slides
from annotations.sources import open_source
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak_mb()
start = time.perf_counter()
with open_source(Path(sys.argv[1]), max_pixels=2**40) as source, tempfile.TemporaryDirectory() as tmp:
    shown = slides.build_pixels(source, Path(tmp) / "pixels.zarr", name="bench")
    level0 = zarr.open_array(zarr.DirectoryStore(str(Path(tmp) / "pixels.zarr")), path="0", mode="r")
    ok = bool((level0[4000:4010, ::997] == np.asarray(source.band(0, 4000, 4010))[:, ::997, 0]).all())
seconds = time.perf_counter() - start
print(json.dumps({"peak_before_mb": before, "peak_after_mb": peak_mb(), "seconds": seconds,
                  "levels": shown["level_shapes"], "spot_check": ok}))
"""


def write_bigtiff(path: Path, size: int, rows_per_strip: int = 64) -> None:
    """A size x size uint16 BigTIFF written strip by strip (a gradient with noise)."""
    import numpy as np
    import tifffile

    def strips():
        rng = np.random.default_rng(0)
        x = np.arange(size, dtype=np.uint32)
        for y0 in range(0, size, rows_per_strip):
            y = np.arange(y0, min(y0 + rows_per_strip, size), dtype=np.uint32)[:, None]
            noise = rng.integers(0, 64, (y.shape[0], size), dtype=np.uint32)
            yield ((x[None, :] + y) % 4000 + noise).astype(np.uint16)

    tifffile.imwrite(path, strips(), shape=(size, size), dtype=np.uint16, bigtiff=True,
                     rowsperstrip=rows_per_strip, photometric="minisblack")


def measure(size: int) -> dict:
    """Write the test file and build its pyramid in a child process; returns the child's report
    plus ``image_mb`` (the size of the pixels) and ``growth_mb`` (peak memory added by the build)."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        path = Path(tmp) / "big.tif"
        start = time.perf_counter()
        write_bigtiff(path, size)
        written = time.perf_counter() - start
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(size), str(ROOT)], check=True,
                             capture_output=True, text=True, cwd=ROOT)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report.update(size=size, image_mb=size * size * 2 / 2**20, write_seconds=written,
                  growth_mb=report["peak_after_mb"] - report["peak_before_mb"])
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=8000)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    report = measure(args.size)
    print(f"{args.size}² uint16 ({report['image_mb']:.0f} MB of pixels): pyramid {report['levels']} built in "
          f"{report['seconds']:.1f} s; peak memory grew by {report['growth_mb']:.0f} MB "
          f"(from {report['peak_before_mb']:.0f} MB after imports)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
