"""A tiled image with a segmented version, for the tests of edited tiled masks."""
from pathlib import Path

import numpy as np
import tifffile

from annotations import slides
from annotations.models import Annotation, Image
from annotations.services import annotation_prepared_save
from annotations.sources import open_source
from annotations.tiled_masks import annotation_prepare_tiled
from inference.engine.cell_table import CellTable


def square_cells(height=1300, width=1100, side=24, step=40) -> np.ndarray:
    """uint32 (height, width): squares of ``side`` every ``step`` pixels, labelled 1.. row by row;
    with the defaults, squares straddle the 512-pixel chunk borders (e.g. rows 480..504 no, 520..544
    no; columns 500..524 cross x = 512)."""
    labels = np.zeros((height, width), np.uint32)
    n = 0
    for y in range(0, height - side, step):
        for x in range(20, width - side, step):
            n += 1
            labels[y:y + side, x:x + side] = n
    return labels


def table_of(labels: np.ndarray) -> dict:
    table = CellTable(ndim=labels.ndim)
    table.add(labels)
    return table.result()


def tiled_with_version(owner, tmp_path: Path, labels: np.ndarray, *, key="seg") -> tuple[Image, Annotation]:
    """An image stored tiled (random uint8 pixels of ``labels``' shape) whose version 1 holds
    ``labels`` as a whole labels group with its pyramid and cell table."""
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 255, labels.shape, dtype=np.uint8),
                     photometric="minisblack")
    with open_source(path, max_pixels=2**32) as source:
        image = Image.objects.create(owner=owner, name="slide.tif", file="images/x/slide.tif",
                                     shape=list(source.shape), dtype="uint8", axes=source.axes, size_bytes=1,
                                     sha256="0" * 64, tiled=True)
        image.display = slides.write_pixels(image, source)
    image.save()
    sink = slides.create_labels(image, key=key)
    sink[...] = labels
    slides.build_label_pyramid(image, key=key)
    annotation = annotation_prepare_tiled(image=image, labels_key=key, cells=table_of(labels),
                                          source=Annotation.Source.MODEL)
    return image, annotation_prepared_save(annotation)
