"""Training data sources and their weighted mixture: the dataset layer of training.

A training run samples from a mixture of sources, each with a weight (its share of the training
samples):

- ``FolderSource``: a folder of real images with instance labels (see ``train_data.load_pairs``:
  ``NAME.ext`` with ``NAME[_masks|_labels].tif/png`` or ``NAME_seg.npy``), read with one channel
  convention (``channels``, as ``segment`` reads them: (0, 0) is grey, an RGB image becoming the
  mean of its colours), optionally one part of a fixed split;
- ``SyntheticSource``: images of ``synth`` (count, seed, styles);
- ``ArraySource``: images and labels in memory, such as the community's approved contributions.

``DataMix`` is the whole configuration as plain data (``DataMix.from_config`` /
``DataMix.to_config``), so one JSON file describes a run's data. ``DataMix.prepare()`` returns one
``train_data.TrainingSet`` whose ``sample_weights`` give each image its probability of being drawn
(its source's weight shared among the source's images, equally or balanced by kind) and whose ``kinds`` say what each
image is. Every real image keeps its own scale: the trainer rescales each one so that the median
diameter of its own labels becomes the model's ``diam_mean`` (``augment.augment_sample``).

Image kinds (``image_kind``): real images are ``fluorescent`` (cells brighter than the
background), ``brightfield`` (grey, cells darker than the background) or ``stained`` (colour: H&E
and similar stains); synthetic ones are ``synthetic/<style>``. Reports give AP per kind.

Splits (``split_by_kind``): a validation split by image, stratified by kind, drawn from a fixed
seed; ``FolderSource(split="train" | "val")`` keeps one part of a folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .train_data import TrainingSet, load_pairs, prepare_training_set

__all__ = [
    "BALANCES",
    "ArraySource",
    "DataMix",
    "FolderSource",
    "LabelledImages",
    "REAL_KINDS",
    "SyntheticSource",
    "image_kind",
    "split_by_kind",
]

REAL_KINDS = ("fluorescent", "brightfield", "stained")
BALANCES = ("images", "sqrt_kinds")
SYNTHETIC_PREFIX = "synthetic/"

# A colour image is "stained" when its colour channels differ by more than this fraction of its
# intensity range on average (grey images stored as RGB have identical channels).
_COLOUR_SPREAD = 0.02


@dataclass
class LabelledImages:
    """Raw labelled images of one source, before conversion to network inputs.

    images : list of ndarray
        As read (``io.imread``) or generated: (Ly, Lx), (Ly, Lx, C) or, with ``channels`` None,
        network inputs float32 (2, Ly, Lx).
    labels : list of ndarray of int32, shape (Ly, Lx)
    names : list of str
    kinds : list of str
    channels : (int, int) or None
        How ``images`` become the network's two channels (``transforms.convert_image``); None
        when they already are network inputs.
    """

    images: list
    labels: list
    names: list[str]
    kinds: list[str]
    channels: tuple[int, int] | None = (0, 0)

    def subset(self, keep: Sequence[int]) -> LabelledImages:
        return LabelledImages([self.images[i] for i in keep], [self.labels[i] for i in keep],
                              [self.names[i] for i in keep], [self.kinds[i] for i in keep],
                              self.channels)


def image_kind(image: np.ndarray, labels: np.ndarray) -> str:
    """``fluorescent``, ``brightfield`` or ``stained``: what a real labelled image is.

    image : ndarray, shape (Ly, Lx) or (Ly, Lx, C)
        As read from its file.
    labels : ndarray of int, shape (Ly, Lx)
        At least one cell.

    Rule: an image whose colour channels differ (mean spread across channels above 2 % of its
    range) is ``stained``; otherwise its grey level decides: cells brighter on average than the
    background are ``fluorescent``, darker ones ``brightfield``.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[-1] > 1:
        span = float(img.max() - img.min()) or 1.0
        spread = float(np.mean(img.max(axis=-1) - img.min(axis=-1)))
        if spread > _COLOUR_SPREAD * span:
            return "stained"
        img = img.mean(axis=-1)
    if img.ndim != 2 or img.shape != np.shape(labels):
        raise ValueError(f"image_kind needs an image (Ly, Lx[, C]) and labels (Ly, Lx), got "
                         f"{np.shape(image)} and {np.shape(labels)}")
    inside = np.asarray(labels) > 0
    if not inside.any() or inside.all():
        raise ValueError("image_kind needs labels with both cells and background")
    return "fluorescent" if img[inside].mean() > img[~inside].mean() else "brightfield"


def split_by_kind(names: Sequence[str], kinds: Sequence[str], *, fraction: float = 0.1,
                  seed: int = 0, min_per_kind: int = 3) -> tuple[list[str], list[str]]:
    """A validation split by image, stratified by kind: (train names, validation names).

    From every kind, ``max(ceil(fraction * n), min_per_kind)`` images go to validation (but
    never all of a kind), drawn by ``default_rng([seed, k])`` over the kind's names in sorted
    order, so the split depends only on the names, their kinds and the seed.
    """
    if len(names) != len(kinds):
        raise ValueError(f"{len(names)} names but {len(kinds)} kinds")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    val: set[str] = set()
    for k, kind in enumerate(sorted(set(kinds))):
        members = sorted(n for n, c in zip(names, kinds) if c == kind)
        n_val = min(len(members) - 1, max(math.ceil(fraction * len(members)), min_per_kind))
        order = np.random.default_rng([seed, k]).permutation(len(members))
        val.update(members[i] for i in order[:max(n_val, 0)])
    return sorted(n for n in names if n not in val), sorted(val)


@dataclass(frozen=True)
class FolderSource:
    """Real labelled images from a folder.

    ``images`` is the images folder; ``labels`` the labels folder (default: ``<images>/../masks``
    when ``images`` ends in ``images`` and that folder exists, else ``images`` itself). A folder
    holding ``images/`` and ``masks/`` may be given as ``images`` directly. ``split`` "train" or
    "val" keeps that part of ``split_by_kind(fraction=val_fraction, seed=split_seed)``; None keeps
    every image. ``balance`` shares the source's weight among its images: "images" equally,
    "sqrt_kinds" so that each kind's share is proportional to the square root of its number of
    images (rare kinds drawn more often than their count alone would give, equally within a kind).
    """

    images: str
    labels: str | None = None
    weight: float = 1.0
    channels: tuple[int, int] = (0, 0)
    split: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    balance: str = "images"
    name: str | None = None

    def __post_init__(self):
        _check_weight(self.weight)
        if self.split not in (None, "train", "val"):
            raise ValueError(f"split must be 'train', 'val' or None, got {self.split!r}")
        if self.balance not in BALANCES:
            raise ValueError(f"balance must be one of {BALANCES}, got {self.balance!r}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def folders(self) -> tuple[Path, Path]:
        images = Path(self.images).expanduser()
        if self.labels is not None:
            return images, Path(self.labels).expanduser()
        if (images / "images").is_dir() and (images / "masks").is_dir():
            return images / "images", images / "masks"
        if images.name == "images" and (images.parent / "masks").is_dir():
            return images, images.parent / "masks"
        return images, images

    def load(self) -> LabelledImages:
        """Read the folder (``train_data.load_pairs``), classify every image, keep the split."""
        images_dir, labels_dir = self.folders()
        images, labels, names = load_pairs(images_dir, labels_dir)
        kinds = [image_kind(_yx_last(img, lab), lab) for img, lab in zip(images, labels)]
        items = LabelledImages(images, labels, names, kinds, self.channels)
        if self.split is None:
            return items
        train, val = split_by_kind(names, kinds, fraction=self.val_fraction, seed=self.split_seed)
        keep = set(train if self.split == "train" else val)
        return items.subset([i for i, n in enumerate(names) if n in keep])

    def describe(self) -> str:
        return self.name or Path(self.images).name


@dataclass(frozen=True)
class SyntheticSource:
    """``n_images`` images of ``synth`` from ``seed`` (styles drawn with ``synth.STYLE_WEIGHTS``
    among ``styles``, None = all; ``sister_nuclei`` as ``synth.synthesize``)."""

    n_images: int
    seed: int
    weight: float = 1.0
    shape: tuple[int, int] = (256, 256)
    styles: tuple[str, ...] | None = None
    sister_nuclei: bool = False
    name: str | None = None

    def __post_init__(self):
        _check_weight(self.weight)
        if int(self.n_images) < 1:
            raise ValueError(f"n_images must be >= 1, got {self.n_images}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.styles is not None:
            object.__setattr__(self, "styles", tuple(self.styles))

    def load(self, cache_dir: str | os.PathLike | None = None) -> LabelledImages:
        """The images, generated; with ``cache_dir``, generated once and read back from
        ``<cache_dir>/synthetic-<hash of this source's fields>.npz`` on later calls (a resumed
        training run would otherwise spend minutes making the same volumes again)."""
        cached = None
        if cache_dir is not None:
            key = json.dumps({k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in asdict(self).items() if k not in ("weight", "name")},
                             sort_keys=True)
            cached = Path(cache_dir) / f"synthetic-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
            if cached.is_file():
                with np.load(cached, allow_pickle=False) as data:
                    n = int(data["n"])
                    images = [data[f"image_{i}"] for i in range(n)]
                    labels = [data[f"labels_{i}"] for i in range(n)]
                    styles = [str(k) for k in data["styles"]]
                return self._labelled(images, labels, styles)
        from . import synth

        samples = synth.make_samples(self.n_images, self.seed, shape=self.shape,
                                     styles=self.styles, sister_nuclei=self.sister_nuclei)
        images, labels = [s.image for s in samples], [s.masks for s in samples]
        styles = [s.style for s in samples]
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(cached.name + ".partial")
            with open(partial, "wb") as fh:
                np.savez(fh, n=np.int64(len(images)), styles=np.array(styles),
                         **{f"image_{i}": a for i, a in enumerate(images)},
                         **{f"labels_{i}": a for i, a in enumerate(labels)})
            os.replace(partial, cached)
        return self._labelled(images, labels, styles)

    def _labelled(self, images, labels, styles) -> LabelledImages:
        return LabelledImages(images, labels, [f"{self.describe()}-{i}" for i in range(len(images))],
                              [SYNTHETIC_PREFIX + style for style in styles], None)

    def describe(self) -> str:
        return self.name or f"synthetic-{self.seed}"


@dataclass(frozen=True, eq=False)
class ArraySource:
    """Labelled images given in memory (not part of a JSON configuration).

    images : sequence of ndarray, raw images read with ``channels`` (or network inputs
        float32 (2, Ly, Lx) when ``channels`` is None)
    labels : sequence of ndarray of int, shape (Ly, Lx)
    kinds : sequence of str, optional (default ``image_kind`` of each raw image, or "other")
    """

    images: Sequence[np.ndarray]
    labels: Sequence[np.ndarray]
    weight: float = 1.0
    channels: tuple[int, int] | None = (0, 0)
    names: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    name: str = "arrays"

    def __post_init__(self):
        _check_weight(self.weight)
        if len(self.images) != len(self.labels) or not len(self.images):
            raise ValueError(f"{self.name}: give one label image per image (got "
                             f"{len(self.images)} images, {len(self.labels)} labels)")

    def load(self) -> LabelledImages:
        names = list(self.names) if self.names is not None else [
            f"{self.name}-{i}" for i in range(len(self.images))]
        if self.kinds is not None:
            kinds = list(self.kinds)
        elif self.channels is None:
            kinds = ["other"] * len(self.images)
        else:
            kinds = [image_kind(_yx_last(np.asarray(i), np.asarray(l)), l)
                     for i, l in zip(self.images, self.labels)]
        return LabelledImages(list(self.images), [np.asarray(l) for l in self.labels], names,
                              kinds, self.channels)

    def describe(self) -> str:
        return self.name


Source = FolderSource | SyntheticSource | ArraySource
_TYPES = {"folder": FolderSource, "synthetic": SyntheticSource}


@dataclass
class DataMix:
    """Sources with weights; ``prepare`` gives the ``TrainingSet`` the trainer samples from."""

    sources: list = field(default_factory=list)

    def __post_init__(self):
        if not self.sources:
            raise ValueError("a DataMix needs at least one source")

    @classmethod
    def from_config(cls, config: dict | list, *, base_dir: str | os.PathLike | None = None,
                    key: str = "sources") -> DataMix:
        """Read ``{"sources": [{"type": "folder" | "synthetic", ...fields}, ...]}`` (or the
        list alone); ``key`` names another list of the same dict (``"validation"``). Relative
        folder paths are taken from ``base_dir`` (default: the current directory). Raises
        ValueError naming the source and the problem."""
        items = config.get(key) if isinstance(config, dict) else config
        if not isinstance(items, list) or not items:
            raise ValueError(f"data config needs a non-empty list {key!r}")
        sources = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") not in _TYPES:
                raise ValueError(f"{key}[{i}] needs 'type': one of {sorted(_TYPES)}")
            kind = _TYPES[item["type"]]
            fields = {k: v for k, v in item.items() if k != "type"}
            if kind is FolderSource and base_dir is not None:
                for key in ("images", "labels"):
                    if fields.get(key) is not None:
                        fields[key] = str(Path(base_dir) / Path(fields[key]).expanduser())
            try:
                sources.append(kind(**fields))
            except TypeError as exc:
                raise ValueError(f"{key}[{i}] ({item['type']}): {exc}") from None
        return cls(sources)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> tuple[DataMix, DataMix | None]:
        """The training mix (``"sources"``) and the validation sources (``"validation"``, or
        None) of a JSON file; relative paths are relative to the file."""
        path = Path(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read data config {path}: {exc}") from None
        validation = None
        if isinstance(config, dict) and config.get("validation") is not None:
            validation = cls.from_config(config, base_dir=path.parent, key="validation")
        return cls.from_config(config, base_dir=path.parent), validation

    def to_config(self) -> dict:
        """Plain data describing the mix (``ArraySource`` as its name, weight and size)."""
        out = []
        for s in self.sources:
            if isinstance(s, ArraySource):
                out.append({"type": "arrays", "name": s.name, "weight": s.weight,
                            "n_images": len(s.images)})
            else:
                d = asdict(s)
                d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
                out.append({"type": "folder" if isinstance(s, FolderSource) else "synthetic", **d})
        return {"sources": out}

    def load(self, *, cache_dir: str | os.PathLike | None = None) -> list[LabelledImages]:
        """Every source's images; synthetic ones cached under ``cache_dir`` when given
        (``SyntheticSource.load``)."""
        return [s.load(cache_dir) if isinstance(s, SyntheticSource) else s.load() for s in self.sources]

    def prepare(self, *, normalize: bool = True, flow_cache_dir=None,
                loaded: list[LabelledImages] | None = None) -> TrainingSet:
        """One ``TrainingSet`` of every source's images, with ``sample_weights`` (summing to 1:
        ``weight / sum(weights)`` of each source, shared among its images by its ``balance``),
        ``kinds``,
        ``names`` and ``sources`` (the index of each image's source)."""
        loaded = self.load() if loaded is None else loaded
        total = float(sum(s.weight for s in self.sources))
        parts, weights = [], []
        for k, (source, items) in enumerate(zip(self.sources, loaded)):
            if not items.images:
                raise ValueError(f"source {source.describe()} has no images")
            part = prepare_training_set(items.images, items.labels, channels=items.channels,
                                        normalize=normalize, flow_cache_dir=flow_cache_dir,
                                        name=source.describe())
            part.kinds, part.names = list(items.kinds), list(items.names)
            part.sources = np.full(len(part), k, dtype=np.int32)
            parts.append(part)
            weights.append(source.weight / total * _within(items.kinds,
                                                           getattr(source, "balance", "images")))
        merged = TrainingSet.concat(parts)
        merged.sample_weights = np.concatenate(weights)
        return merged

    def counts(self, loaded: list[LabelledImages]) -> list[dict]:
        """Per source: name, weight, images, cells, images per kind (for logs and cards)."""
        rows = []
        for s, items in zip(self.sources, loaded):
            per_kind: dict[str, int] = {}
            for kind in items.kinds:
                per_kind[kind] = per_kind.get(kind, 0) + 1
            rows.append({"source": s.describe(), "weight": s.weight, "n_images": len(items.images),
                         "n_cells": int(sum(len(np.unique(l[l > 0])) for l in items.labels)),
                         "kinds": dict(sorted(per_kind.items()))})
        return rows


def _within(kinds: list[str], balance: str) -> np.ndarray:
    """Each image's share of its source (sums to 1), by ``FolderSource.balance``."""
    n = len(kinds)
    if balance == "images":
        return np.full(n, 1.0 / n)
    counts = {k: kinds.count(k) for k in set(kinds)}
    total = sum(np.sqrt(c) for c in counts.values())
    return np.array([np.sqrt(counts[k]) / total / counts[k] for k in kinds])


def _yx_last(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A raw image as (Ly, Lx) or (Ly, Lx, C), whichever way its channels are stored."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[1:] == np.shape(labels) and image.shape[0] <= 4:
        return np.moveaxis(image, 0, -1)
    return image


def _check_weight(weight) -> None:
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
        raise ValueError(f"a source's weight must be a positive number, got {weight!r}")
