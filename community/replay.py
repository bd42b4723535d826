"""What a community training run learns from: the approved contributions, mixed with a replay
sample of the data the base model learnt from, so that a run on ten H&E images does not make the
model forget fluorescent nuclei.

The mix is the engine's dataset layer (``inference.engine.train_sources.DataMix``):

* the run's contributions (``ArraySource``), weight ``1 - replay_fraction``;
* ``replay_synthetic_images`` images of the synthetic generator (all styles, with sister nuclei:
  the cell types no real folder covers), and, where ``COMMUNITY_REPLAY_FOLDER`` names a labelled
  folder on the server (e.g. the DSB 2018 training split the default model learnt from), its
  training split, sharing the weight ``replay_fraction`` (the folder's share is
  ``COMMUNITY_REPLAY_FOLDER_SHARE`` of it).

Nothing is downloaded: the synthetic images are generated, the folder is read in place.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings

from inference.engine import ArraySource, DataMix, FolderSource, SyntheticSource, image_kind

__all__ = ["REPLAY_SEED", "contribution_kind", "replay_mix"]

REPLAY_SEED = 20240601  # the seed of the default model's synthetic training images


def contribution_kind(image: np.ndarray, axes: str, masks: np.ndarray) -> str:
    """``fluorescent``, ``brightfield`` or ``stained`` (``train_sources.image_kind``) of a stored
    image (layout ``axes``, e.g. "YX" or "YXC") and its masks; "other" where it cannot tell
    (no cell, or a layout it does not know)."""
    if "C" in axes:
        image = np.moveaxis(image, axes.index("C"), -1)
    try:
        return image_kind(np.asarray(image), masks)
    except ValueError:
        return "other"


def replay_mix(*, images, masks, kinds, params: dict) -> DataMix:
    """The ``DataMix`` of a training run.

    images : list of ndarray of float32, shape (2, Ly, Lx)
        The contributions as network inputs (``snapshots.contribution_arrays``).
    masks : list of ndarray of int32, shape (Ly, Lx)
    kinds : list of str
        Each contribution's image kind (``contribution_kind``).
    params : dict
        The run's parameters; ``replay_fraction`` (0 = contributions only) and
        ``replay_synthetic_images`` are used.
    """
    fraction = float(params.get("replay_fraction", 0.0))
    sources: list = [ArraySource(images, masks, weight=1.0 - fraction if fraction else 1.0, channels=None,
                                 kinds=list(kinds), name="contributions")]
    if fraction <= 0:
        return DataMix(sources)
    folder = _replay_folder()
    folder_share = float(getattr(settings, "COMMUNITY_REPLAY_FOLDER_SHARE", 0.5)) if folder else 0.0
    n_synthetic = int(params.get("replay_synthetic_images", 0))
    if n_synthetic <= 0 and folder is None:
        return DataMix(sources)
    if n_synthetic > 0:
        weight = fraction * (1.0 - folder_share) if folder else fraction
        sources.append(SyntheticSource(n_images=n_synthetic, seed=REPLAY_SEED, weight=weight,
                                       sister_nuclei=True, name="replay-synthetic"))
    if folder is not None:
        weight = fraction * folder_share if n_synthetic > 0 else fraction
        sources.append(FolderSource(images=str(folder), weight=weight, split="train",
                                    balance="sqrt_kinds", name=f"replay-{folder.name}"))
    return DataMix(sources)


def _replay_folder() -> Path | None:
    value = getattr(settings, "COMMUNITY_REPLAY_FOLDER", "")
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ValueError(f"COMMUNITY_REPLAY_FOLDER {folder} is not a folder")
    return folder
