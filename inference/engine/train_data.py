"""Training data: reading image / label pairs, synthetic data sets, and the in-memory training set.

``prepare_training_set`` turns user images and labels into what the trainer samples from:
network inputs (float32 (2, Ly, Lx), normalised), the training targets of
``flows.labels_to_training_targets`` computed once per label image (optionally cached on disk,
keyed by a hash of the labels), and each image's median cell diameter.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import augment

__all__ = ["TrainingSet", "load_pairs", "prepare_training_set", "synthetic_dataset"]

_FLOW_CACHE_TAG = b"cellposeweb-flows-v1"  # bump when flows.py changes what it computes
_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
_LABEL_TAGS = ("_masks", "_labels", "_seg")
_SEG_SUFFIX = "_seg.npy"


@dataclass
class TrainingSet:
    """Images and targets ready for sampling.

    images : list of ndarray of float32, shape (2, Ly, Lx)
        Network inputs (cytoplasm, nucleus-or-zeros), normalised by ``transforms.normalize99``.
    labels : list of ndarray of int32, shape (Ly, Lx)
    targets : list of ndarray of float32, shape (3, Ly, Lx)
        (cellprob target 0/1, flow Y, flow X).
    diameters : ndarray of float64, shape (n,)
        Median cell diameter of every label image, pixels.
    sample_weights : ndarray of float64, shape (n,), or None
        Probability of drawing each image for a training sample (sums to 1; set by
        ``train_sources.DataMix``); None draws every image equally often.
    kinds, names : list of str, or None
        What each image is (``train_sources.image_kind``) and its name, for reports.
    sources : ndarray of int32, shape (n,), or None
        Index of each image's source in its ``DataMix``.
    """

    images: list[np.ndarray]
    labels: list[np.ndarray]
    targets: list[np.ndarray]
    diameters: np.ndarray
    sample_weights: np.ndarray | None = None
    kinds: list[str] | None = None
    names: list[str] | None = None
    sources: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def concat(cls, parts: Sequence[TrainingSet]) -> TrainingSet:
        """The images of ``parts`` in order (kinds / names / sources kept where every part has
        them; sample weights are not merged: set them for the whole)."""
        def joined(attr):
            values = [getattr(p, attr) for p in parts]
            return None if any(v is None for v in values) else [x for v in values for x in v]

        sources = joined("sources")
        return cls([x for p in parts for x in p.images], [x for p in parts for x in p.labels],
                   [x for p in parts for x in p.targets],
                   np.concatenate([p.diameters for p in parts]), None, joined("kinds"),
                   joined("names"), None if sources is None else np.asarray(sources, np.int32))


def prepare_training_set(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    channels: Sequence[int] | None = None,
    normalize: bool = True,
    flow_cache_dir: str | os.PathLike | None = None,
    name: str = "images",
) -> TrainingSet:
    """Check and convert images and labels (see ``train.train`` for the accepted layouts).

    Raises ValueError naming the offending item (``images[3]``) for a wrong layout, labels whose
    shape is not the image's (Ly, Lx), and labels without any cell.
    """
    if len(images) == 0:
        raise ValueError(f"{name} is empty: give at least one image")
    if len(images) != len(labels):
        raise ValueError(f"{name} has {len(images)} images but there are {len(labels)} labels")
    imgs, labs, tgts, diams = [], [], [], []
    for i, (image, lab) in enumerate(zip(images, labels)):
        img = _network_input(np.asarray(image), channels, normalize, f"{name}[{i}]")
        lab = np.asarray(lab)
        if lab.ndim != 2 or not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == bool):
            raise ValueError(f"labels for {name}[{i}] must be integer (Ly, Lx), "
                             f"got {lab.dtype} {lab.shape}")
        if lab.shape != img.shape[1:]:
            raise ValueError(f"labels for {name}[{i}] have shape {lab.shape} but the image is "
                             f"{img.shape[1:]} (Ly, Lx)")
        lab = lab.astype(np.int32)
        d = augment.median_diameter(lab)
        if d <= 0:
            raise ValueError(f"labels for {name}[{i}] are empty (no cell)")
        imgs.append(img)
        labs.append(lab)
        tgts.append(training_targets(lab, flow_cache_dir))
        diams.append(d)
    return TrainingSet(imgs, labs, tgts, np.asarray(diams, dtype=np.float64))


def _network_input(image, channels, normalize, name) -> np.ndarray:
    from . import transforms

    if channels is not None:
        img = transforms.convert_image(image, channels)
    elif image.ndim == 2:
        img = np.stack([image, np.zeros_like(image)])
    elif image.ndim == 3 and image.shape[0] == 2:
        img = image
    else:
        raise ValueError(f"{name} must be (2, Ly, Lx) or (Ly, Lx) when no channels are given, "
                         f"got shape {image.shape}; pass channels=[cyto, nucleus] for raw images")
    if img.ndim != 3:
        raise ValueError(f"{name} must be a 2D image, got a stack of shape {image.shape}")
    img = np.asarray(img, dtype=np.float32)
    if normalize:
        img = transforms.normalize99(img, channel_axis=0)
    return np.ascontiguousarray(img, dtype=np.float32)


def training_targets(labels: np.ndarray, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """``flows.labels_to_training_targets(labels)``, read from / written to ``cache_dir`` if given.

    labels : ndarray of int, shape (Ly, Lx)
    Returns float32 (3, Ly, Lx). The cache file is ``<sha256 of the labels>.npy``.
    """
    from . import flows

    if cache_dir is None:
        return flows.labels_to_training_targets(labels)
    h = hashlib.sha256(_FLOW_CACHE_TAG)
    h.update(repr(labels.shape).encode())
    h.update(np.ascontiguousarray(labels, dtype=np.int32).tobytes())
    path = Path(cache_dir) / f"{h.hexdigest()}.npy"
    if path.exists():
        return np.load(path)
    targets = flows.labels_to_training_targets(labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, targets)
    os.replace(tmp, path)
    return targets


def load_pairs(images_dir, labels_dir) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Read matching image / label files from two folders (they may be the same folder).

    An image ``NAME.ext`` pairs with one label file ``NAME.ext2``, ``NAME_masks.ext2``,
    ``NAME_labels.ext2`` (ext in .tif .tiff .png .jpg .jpeg) or ``NAME_seg.npy`` (the Cellpose
    GUI's file, read safely by ``seg_file.read_seg_npy``) in ``labels_dir``. In a shared folder,
    files whose name ends in ``_masks`` / ``_labels`` / ``_seg`` are the labels.

    Returns (images, labels, names) sorted by name: raw images as ``io.imread`` gives them, labels
    int32 (Ly, Lx) from ``io.read_labels``, names the image stems.

    Raises ValueError naming the file for: an image without labels, labels without an image,
    labels whose shape is not the image's (Ly, Lx), labels with no cell, or an unreadable file
    (``io.ImageReadError``, itself a ValueError).
    """
    from . import io

    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise ValueError(f"{d} is not a folder")
    same = images_dir.resolve() == labels_dir.resolve()
    label_files: dict[str, list[Path]] = {}
    for p in _listed(labels_dir, labels=True):
        stem = _strip_tag(p.stem)
        if stem is None and same:
            continue  # an image in a shared folder
        label_files.setdefault(stem or p.stem, []).append(p)
    image_files = [p for p in _listed(images_dir) if not (same and _strip_tag(p.stem))]
    if not image_files:
        raise ValueError(f"no images ({' '.join(_IMAGE_SUFFIXES)}) in {images_dir}")
    images, labels, names = [], [], []
    for p in image_files:
        matches = label_files.pop(p.stem, [])
        if not matches:
            raise ValueError(f"no labels for image {p} (looked for {p.stem}.*, {p.stem}_masks.*, "
                             f"{p.stem}_labels.*, {p.stem}_seg.npy in {labels_dir})")
        if len(matches) > 1:
            raise ValueError(f"several label files for image {p}: "
                             f"{', '.join(str(m) for m in matches)}")
        image, lab = io.imread(p), _read_label_file(matches[0])
        if lab.ndim != 2:
            raise ValueError(f"labels {matches[0]} must be 2D (Ly, Lx), got shape {lab.shape}")
        if lab.shape not in (image.shape[:2], image.shape[-2:]):
            raise ValueError(f"labels {matches[0]} have shape {lab.shape} but image {p} has "
                             f"shape {image.shape}")
        if not np.any(lab):
            raise ValueError(f"labels {matches[0]} are empty (no cell)")
        images.append(image)
        labels.append(lab)
        names.append(p.stem)
    if label_files:
        orphans = sorted(str(q) for qs in label_files.values() for q in qs)
        raise ValueError(f"labels without an image in {images_dir}: {', '.join(orphans)}")
    return images, labels, names


def _listed(folder: Path, labels: bool = False) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and (p.suffix.lower() in _IMAGE_SUFFIXES
                                      or (labels and p.name.lower().endswith(_SEG_SUFFIX))))


def _read_label_file(path: Path) -> np.ndarray:
    from . import io, seg_file

    if path.name.lower().endswith(_SEG_SUFFIX):
        return seg_file.read_seg_npy(path).masks
    return io.read_labels(path)


def _strip_tag(stem: str) -> str | None:
    for tag in _LABEL_TAGS:
        if stem.endswith(tag) and len(stem) > len(tag):
            return stem[: -len(tag)]
    return None


def synthetic_dataset(n: int, seed: int = 0, shape: tuple[int, int] = (256, 256),
                      styles: Sequence[str] | None = None, sister_nuclei: bool = False):
    """``n`` synthetic samples from ``synth.make_dataset``: (images, labels).

    images : list of float32 (2, Ly, Lx), arbitrary intensity scale (``train`` normalises them)
    labels : list of int32 (Ly, Lx)
    """
    from . import synth

    pairs = synth.make_dataset(n, seed, shape=tuple(shape), styles=styles,
                               sister_nuclei=sister_nuclei)
    return [p[0] for p in pairs], [p[1] for p in pairs]
