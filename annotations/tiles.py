"""The tile grid of an image and 8-bit pictures of its tiles, levelled with the image's display
levels (the same for every tile, so tiles join without seams).

Tile (level, z, col, row) covers rows ``row * 512 ..`` and columns ``col * 512 ..`` of plane ``z``
at ``level`` (edge tiles are smaller). A small (not tiled) image has one level, read from its file.
"""
import math

import numpy as np

from annotations import display, slides
from annotations.files import stored_image_read

__all__ = ["TILE", "TileOutside", "grid", "pyramid_info", "render_region", "render_tile"]

TILE = slides.TILE


class TileOutside(LookupError):
    """The requested tile is not in the image's grid."""


def _level_sizes(image) -> list[tuple[int, int, int]]:
    """(depth, height, width) of every level."""
    if slides.is_tiled(image):
        shapes = slides.level_shapes(image)
    else:
        shapes = [tuple(image.shape)]
    sizes = []
    for shape in shapes:
        named = dict(zip(image.axes, shape))
        sizes.append((int(named.get("Z", 1)), int(named["Y"]), int(named["X"])))
    return sizes


def grid(image, level: int) -> tuple[int, int, int]:
    """(planes, columns, rows) of tiles at ``level``; TileOutside for a level the image lacks."""
    sizes = _level_sizes(image)
    if not 0 <= level < len(sizes):
        raise TileOutside(f"level {level} is outside 0..{len(sizes) - 1}")
    depth, height, width = sizes[level]
    return depth, math.ceil(width / TILE), math.ceil(height / TILE)


def pyramid_info(image) -> dict:
    """What a tile viewer needs to know (``GET /api/images/<id>/pyramid/``)."""
    sizes = _level_sizes(image)
    depth, height, width = sizes[0]
    tiled = slides.is_tiled(image)
    return {
        "tiled": tiled, "width": width, "height": height, "depth": depth, "channels": int(image.n_channels),
        "dtype": image.dtype, "tile_size": TILE,
        "levels": [{"level": n, "width": w, "height": h, "scale": 2**n} for n, (_, h, w) in enumerate(sizes)],
        **_label_keys(image, tiled),
    }


def _label_keys(image, tiled: bool) -> dict:
    """The label images a viewer may show: the stored whole groups, then the versions edited
    from them (annotations.label_chain), oldest first; and the latest version's."""
    if not tiled:
        return {"labels": [], "latest_labels": None}
    keys = slides.label_keys(image)
    versions = list(image.annotations.exclude(labels_key="").order_by("version").values_list("labels_key", flat=True))
    keys += [key for key in versions if key not in keys]
    latest = image.annotations.order_by("-version").values_list("labels_key", flat=True).first()
    return {"labels": keys, "latest_labels": latest or None}


def _levels(image, channels: int) -> list:
    levels = slides.display_levels(image)
    if len(levels) != channels:
        raise ValueError(f"image {image.pk} has no display levels for its {channels} channel(s)")
    return levels


def render_tile(image, *, level: int, z: int, col: int, row: int) -> np.ndarray:
    """The 8-bit picture of one tile: uint8 (h, w) grey or (h, w, 3) RGB (two channels red/green,
    more than three: the first three), at most 512 x 512. TileOutside when it is not in the grid."""
    depth, n_cols, n_rows = grid(image, level)
    if not (0 <= z < depth and 0 <= col < n_cols and 0 <= row < n_rows):
        raise TileOutside(f"tile {col}/{row} of plane {z} is outside the {n_cols} x {n_rows} x {depth} grid")
    ys, xs = slice(row * TILE, (row + 1) * TILE), slice(col * TILE, (col + 1) * TILE)
    return render_region(image, level=level, z=z, rows=ys, cols=xs)


def render_region(image, *, level: int, z: int, rows: slice, cols: slice) -> np.ndarray:
    """The 8-bit picture of rows x cols of plane ``z`` at ``level`` (inside the image), as
    `render_tile` draws it: the same display levels, so a region matches the tiles around it."""
    if slides.is_tiled(image):
        array = slides.open_level(image, level)
        region = array[((z,) if "Z" in image.axes else ()) + (rows, cols)]
        cyx = np.moveaxis(region, -1, 0) if "C" in image.axes else region[np.newaxis]
    else:
        zcyx = display.to_zcyx(stored_image_read(image.file, shape=image.shape), image.axes)
        cyx = zcyx[z, :, rows, cols]
    levels = _levels(image, cyx.shape[0])
    shown = list(range(min(3, cyx.shape[0])))
    return display.compose(display.scale_to_levels(cyx[shown], [levels[c] for c in shown]))
