"""Render the pictures of docs/synth.md from the current generator.

    .venv/bin/python docs/img/render_synth.py      # writes docs/img/synth_*.png

Each channel is scaled between its 1st and 99.5th percentiles; label edges are drawn in yellow.
"""
from pathlib import Path

import cv2
import numpy as np

from inference.engine import synth
from inference.engine.export import masks_to_outlines
from inference.engine.transforms import normalize99

OUT = Path(__file__).resolve().parent
STYLE_SEEDS = [("nuclei", 1), ("cyto", 4), ("cyto_only", 5), ("epithelium", 0),
               ("inverted", 2), ("brightfield", 5), ("phase", 4), ("he", 1)]
GAP = 6


def _gray(channel):
    scaled = np.clip(normalize99(channel, 1.0, 99.5, channel_axis=None), 0, 1)
    return cv2.cvtColor((scaled * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _outlined(tile, masks):
    out = tile.copy()
    out[masks_to_outlines(masks)] = (0, 215, 255)  # yellow in BGR
    return out


def _row(tiles, width):
    row = np.full((tiles[0].shape[0], width, 3), 255, np.uint8)
    x = 0
    for tile in tiles:
        row[:, x:x + tile.shape[1]] = tile
        x += tile.shape[1] + GAP
    return row


def _stack(rows):
    gap = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    return np.vstack([part for row in rows for part in (row, gap)][:-1])


def _style_row(style, seed, size=160):
    s = synth.synthesize_sample(seed, shape=(size, size), style=style)
    ch0 = _gray(s.image[0])
    tiles = [ch0, _outlined(ch0, s.masks)]
    if s.rgb is not None:
        tiles.append((np.clip(s.rgb[..., ::-1], 0, 1) * 255).astype(np.uint8))
    elif s.image[1].any():
        tiles.append(_gray(s.image[1]))
    cv2.putText(tiles[0], style, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return _row(tiles, 3 * size + 2 * GAP)


def main():
    rows = [_style_row(style, seed) for style, seed in STYLE_SEEDS]
    cv2.imwrite(str(OUT / "synth_styles_1.png"), _stack(rows[:4]))
    cv2.imwrite(str(OUT / "synth_styles_2.png"), _stack(rows[4:]))
    nuclei = [synth.synthesize_sample(seed, shape=(256, 256), style="nuclei", diameter=24.0) for seed in (20, 21, 22)]
    tiles = [_outlined(_gray(s.image[0]), s.masks) for s in nuclei]
    cv2.imwrite(str(OUT / "synth_nuclei_d24.png"), _row(tiles, 3 * 256 + 2 * GAP))


if __name__ == "__main__":
    main()
