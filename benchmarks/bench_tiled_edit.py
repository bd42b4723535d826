"""Edit a region of a 20,000 x 20,000 tiled labels image and save it: bytes written and time.

    .venv/bin/python benchmarks/bench_tiled_edit.py [--size 20000] [--region 1024]

Builds, in a temporary database and media folder (nothing of yours is touched), a tiled image of
``size``² whose version 1 is a synthetic labels image (squares of 24 px every 40 px, ~250,000
cells at 20k², written band by band with its pyramid and cell table, as a segmentation would),
then edits a ``region``² rectangle in the middle (erases every other cell there, draws one new
cell across the region's border) through annotations.tiled_edits.tiled_region_save, the service
the region API calls. Prints the bytes the new version stored (chunks and metadata, through the
storage API), the chunks it wrote, the size of its cell table, the whole group's size for comparison, and the seconds the
save took. The image's pixels are not written: the edit never reads them.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_band(y0: int, y1: int, width: int, side=24, step=40):
    import numpy as np

    per_row = (width - side) // step + 1
    rows = np.arange(y0, y1)[:, None]
    cols = np.arange(width)[None, :]
    inside = ((rows % step) < side) & ((cols % step) < side) & (cols // step < per_row)
    ids = (rows // step) * per_row + cols // step + 1
    return np.where(inside, ids, 0).astype(np.uint32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--region", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tiled-edit-") as tmp:
        os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")
        import django
        from django.conf import settings

        django.setup()
        settings.DATABASES["default"]["NAME"] = str(Path(tmp) / "bench.sqlite3")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args.size, args.region)


def run(size: int, side: int):
    import numpy as np
    from django.contrib.auth import get_user_model

    from annotations import label_chain, pyramid, slides
    from annotations.models import Annotation, Image
    from annotations.services import annotation_prepared_save
    from annotations.tiled_edits import Region, region_labels, tiled_region_save
    from annotations.tiled_masks import annotation_prepare_tiled
    from inference.engine.cell_table import CellTable

    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    shapes, shape = [], (size, size)
    for _ in range(pyramid.level_count(size, size)):
        shapes.append(list(shape))
        shape = pyramid.halved(shape, "YX")
    image = Image.objects.create(owner=user, name="bench.tif", file="images/x/bench.tif", shape=[size, size],
                                 dtype="uint8", axes="YX", size_bytes=1, sha256="0" * 64, tiled=True,
                                 display={"channels": [[0, 255]], "level_shapes": shapes})
    started = time.perf_counter()
    sink, table = slides.create_labels(image, key="seg"), CellTable(ndim=2)
    for y0 in range(0, size, slides.TILE):
        band = synthetic_band(y0, min(y0 + slides.TILE, size), size)
        sink[y0:y0 + band.shape[0]] = band
        table.add(band, offset=(y0, 0))
    slides.build_label_pyramid(image, key="seg")
    v1 = annotation_prepared_save(annotation_prepare_tiled(image=image, labels_key="seg", cells=table.result(),
                                                           source=Annotation.Source.MODEL))
    whole = label_chain.stored_bytes(image, key="seg")
    print(f"version 1: {size} x {size} labels, {v1.n_masks} cells, whole group {whole / 1e6:.1f} MB, "
          f"built in {time.perf_counter() - started:.1f} s")

    region = Region(z=0, y=size // 2 - side // 2 + 7, x=size // 2 - side // 2 + 7, height=side, width=side)
    started = time.perf_counter()
    _, labels = region_labels(image, region)
    read_s = time.perf_counter() - started
    ids = np.unique(labels[labels > 0])
    edited = np.where(np.isin(labels, ids[::2]), 0, labels)  # erase every other cell
    edited[side // 2: side // 2 + 30, -15:] = labels.max() + 12345  # a new cell at the region's border
    started = time.perf_counter()
    v2 = tiled_region_save(image=image, region=region, labels=edited, base_version=v1.version, created_by=user)
    save_s = time.perf_counter() - started
    written = label_chain.stored_bytes(image, key=v2.labels_key)
    print(f"region {side} x {side}: read in {read_s:.2f} s; save wrote {v2.summary['chunks_written']} chunks, "
          f"{written / 1e6:.2f} MB ({100 * written / whole:.2f} % of the whole group) in {save_s:.2f} s; "
          f"changes {v2.changes['added']} added, {v2.changes['removed']} removed, {v2.changes['edited']} edited; "
          f"its cell table (written whole) {v2.cells.size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
