"""How good a model is, per image kind: the table of ``benchmarks/bench_accuracy.py``, of the
training report and of the model card.

``evaluate(model, items)`` segments every ``EvalItem`` (automatic diameter by default, the way a
user runs the model) and gives, per group, the mean over images of AP at IoU 0.5 / 0.75 / 0.9
(``metrics.average_precision``), the median relative error of the diameter against the median
diameter of the true labels, the objects found against the true count, and the seconds per
image. ``standard_items`` builds the groups the project reports: the validation split of a
labelled folder per kind (DSB 2018), ``img2d.tif``, the synthetic styles, ``mask3d.tif`` in 3D.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .metrics import average_precision
from .size import diameter_of_masks

__all__ = ["EvalItem", "evaluate", "format_table", "standard_items", "true_diameter"]

# The synthetic rows of the model card: each style at these seeds, with the channels a user
# would pick for it (channel 0 of a synthetic image is the cytoplasm or only stain, channel 1
# the nuclear stain or zeros).
SYNTH_SEEDS = (9000, 9001, 9002)
# tests/data/img3d.tif: its Z step is about twice its pixel size (the nuclei of mask3d.tif are a
# median 7 planes deep and 15 px across; StarDist derives its anisotropy from such extents).
IMG3D_ANISOTROPY = 2.0
SYNTH_ROWS = {"cyto": (1, 2), "epithelium": (1, 2), "he": (1, 0), "nuclei": (1, 0)}


@dataclass
class EvalItem:
    """One labelled image to segment.

    image : ndarray, as ``CellposeModel.segment`` takes it
    labels : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    group : str
        The table row it counts in (e.g. ``dsb2018-val/stained``).
    options : dict
        Extra arguments of ``segment`` (``channels``, ``do_3d``, ``z_axis`` ...).
    """

    image: np.ndarray
    labels: np.ndarray
    group: str
    name: str = ""
    options: dict = field(default_factory=dict)


def evaluate(model, items: Sequence[EvalItem], *, diameter: str = "auto", augment: bool = True,
             progress: Callable[[int, int], None] | None = None,
             segment_options: dict | None = None) -> dict[str, dict]:
    """Segment every item and summarise per group (and ``all`` for groups sharing a prefix).

    diameter : "auto" (the model's size estimate) or "true" (the labels' median diameter)
    segment_options : more arguments of ``segment`` for every item (e.g. ``cellprob_threshold``,
        ``flow_threshold``); an item's own options win.

    Returns ``{group: {"n_images", "ap50", "ap75", "ap90", "diameter_error", "n_true",
    "n_pred", "s_per_image"}}``; APs are means over the group's images, ``diameter_error`` the
    median of |estimated / true - 1| (0 with ``diameter="true"``; true diameters by
    ``true_diameter``).
    """
    if diameter not in ("auto", "true"):
        raise ValueError(f"diameter must be 'auto' or 'true', got {diameter!r}")
    rows: dict[str, list] = {}
    for i, item in enumerate(items):
        true_d = true_diameter(item.labels, anisotropy=item.options.get("anisotropy") or 1.0)
        given = true_d if diameter == "true" else None
        t0 = time.perf_counter()
        result = model.segment(item.image, diameter=given, augment=augment,
                               **{"channels": (0, 0), **(segment_options or {}), **item.options})
        seconds = time.perf_counter() - t0
        ap = average_precision(item.labels, result.masks)[0][0]
        rows.setdefault(item.group, []).append(
            (ap, abs(result.diameter / true_d - 1) if true_d > 0 else np.nan,
             len(np.unique(item.labels[item.labels > 0])), int(result.masks.max()), seconds))
        if progress is not None:
            progress(i + 1, len(items))
    table = {group: _summary(r) for group, r in rows.items()}
    prefixes: dict[str, list] = {}
    for group, r in rows.items():
        if "/" in group:
            prefixes.setdefault(group.split("/")[0], []).extend(r)
    for prefix, r in prefixes.items():
        if sum(g.startswith(prefix + "/") for g in rows) > 1:
            table[f"{prefix}/all"] = _summary(r)
    return dict(sorted(table.items()))


def true_diameter(labels: np.ndarray, anisotropy: float = 1.0) -> float:
    """The median diameter of true labels in pixels: ``size.diameter_of_masks`` in 2D; in 3D the
    median diameter of the sphere of each cell's volume, a voxel being ``anisotropy`` pixels deep
    (Z step / pixel size). 0.0 without cells."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return diameter_of_masks(labels)
    _, volumes = np.unique(labels[labels > 0], return_counts=True)
    if not volumes.size:
        return 0.0
    return float(np.median((6 * volumes * anisotropy / np.pi) ** (1 / 3)))


def _summary(rows) -> dict:
    aps = np.array([r[0] for r in rows], dtype=np.float64)
    return {"n_images": len(rows),
            "ap50": round(float(aps[:, 0].mean()), 4), "ap75": round(float(aps[:, 1].mean()), 4),
            "ap90": round(float(aps[:, 2].mean()), 4),
            "diameter_error": round(float(np.nanmedian([r[1] for r in rows])), 4),
            "n_true": int(sum(r[2] for r in rows)), "n_pred": int(sum(r[3] for r in rows)),
            "s_per_image": round(float(np.mean([r[4] for r in rows])), 3)}


def standard_items(*, folder: str | Path | None = None, test_data: str | Path | None = None,
                   synthetic: bool = True, volume: bool = True, split: str = "val",
                   split_seed: int = 0, val_fraction: float = 0.1) -> list[EvalItem]:
    """The items of the project's accuracy table.

    folder : a labelled folder (``train_sources.FolderSource``), e.g. DSB 2018: its ``split``
        part, one group per kind (``<folder name>-<split>/<kind>``). None leaves it out.
    test_data : a folder holding ``img2d.tif`` / ``mask2d.tif`` and ``img3d.tif`` /
        ``mask3d.tif`` (``tests/data``). None leaves them out.
    synthetic : the styles of ``SYNTH_ROWS`` at ``SYNTH_SEEDS`` (``synthetic/<style>``).
    volume : ``mask3d.tif`` segmented in 3D (``do_3d=True``), when ``test_data`` is given.
    """
    from . import synth
    from .io import imread, read_labels
    from .train_sources import FolderSource

    items: list[EvalItem] = []
    if folder is not None:
        source = FolderSource(str(folder), split=split, split_seed=split_seed,
                              val_fraction=val_fraction)
        data = source.load()
        prefix = f"{Path(folder).name}-{split}"
        for img, lab, name, kind in zip(data.images, data.labels, data.names, data.kinds):
            items.append(EvalItem(img, lab, f"{prefix}/{kind}", name,
                                  {"channels": data.channels}))
    if test_data is not None:
        d = Path(test_data)
        items.append(EvalItem(imread(d / "img2d.tif"), read_labels(d / "mask2d.tif"),
                              "img2d.tif", "img2d.tif"))
        if volume:  # Z step twice the pixel size: nuclei 7 planes deep, 15 px across
            items.append(EvalItem(imread(d / "img3d.tif"), read_labels(d / "mask3d.tif"),
                                  "mask3d.tif (3D)", "img3d.tif",
                                  {"do_3d": True, "z_axis": 0, "anisotropy": IMG3D_ANISOTROPY}))
    if synthetic:
        for style, channels in SYNTH_ROWS.items():
            for seed in SYNTH_SEEDS:
                image, labels = synth.synthesize(seed, shape=(256, 256), style=style)
                items.append(EvalItem(image, labels, f"synthetic/{style}", f"{style}-{seed}",
                                      {"channels": channels, "channel_axis": 0}))
    return items


def format_table(table: dict[str, dict], *, title: str | None = None) -> str:
    """A Markdown table of ``evaluate``'s result."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| images | n | AP@0.5 | AP@0.75 | AP@0.9 | diameter error | cells found / true "
              "| s / image |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for group, r in table.items():
        lines.append(f"| {group} | {r['n_images']} | {r['ap50']:.3f} | {r['ap75']:.3f} | "
                     f"{r['ap90']:.3f} | {100 * r['diameter_error']:.1f} % | "
                     f"{r['n_pred']} / {r['n_true']} | {r['s_per_image']:.2f} |")
    return "\n".join(lines)
