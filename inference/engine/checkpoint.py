"""What a training run writes to resume from: checkpoints (where they go, atomic writes, resuming)
and the JSON-lines epoch log.

A checkpoint is ``torch.save`` of a plain dict (read back with ``weights_only=True``)::

    {"format": "cellposeweb-checkpoint", "format_version": 1, "epoch": int, "nbase": [...],
     "diam_mean": float, "state_dict": {...}, "optimizer": {...}, "history": [record, ...],
     "elapsed": float, "config": {...}, "rng": {"torch": tensor, "cuda": [tensor, ...]}}

The numpy generator needs no state: every epoch of ``train.train`` draws from
``default_rng([seed, epoch])``, so restoring the torch RNG, the weights and the optimiser is enough
for a resumed run to give the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .train import TrainConfig, _Run

__all__ = ["CHECKPOINT_FORMAT", "config_dict", "default_path", "kept_path", "load", "open_log", "save"]

CHECKPOINT_FORMAT = "cellposeweb-checkpoint"


def default_path(config: TrainConfig, out, resume) -> Path | None:
    """``config.checkpoint_path``, else ``<out>.ckpt``, else the ``resume`` path, else None."""
    if config.checkpoint_path:
        return Path(config.checkpoint_path)
    if out is not None:
        return Path(f"{out}.ckpt")
    return Path(resume) if resume is not None else None


def save(run: _Run, keep: bool = False) -> None:
    """Model, optimiser, epoch, history and RNG state, written atomically (no-op without a path);
    with ``keep`` also copied to ``<path>.e<epoch>``, which later checkpoints do not replace."""
    if run.checkpoint_path is None:
        return
    state = {
        "format": CHECKPOINT_FORMAT, "format_version": 1, "epoch": run.epoch,
        "nbase": [int(n) for n in run.net.nbase], "diam_mean": run.diam_mean,
        "state_dict": run.net.state_dict(), "optimizer": run.optimizer.state_dict(),
        "history": run.history, "elapsed": run.elapsed, "config": config_dict(run.config),
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    path = run.checkpoint_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    if keep:
        shutil.copyfile(path, kept_path(path, run.epoch))


def kept_path(path, epoch: int) -> Path:
    """Where ``save(..., keep=True)`` keeps the checkpoint of ``epoch``."""
    return Path(f"{path}.e{epoch}")


def load(path, run: _Run) -> None:
    """Restore ``run`` (weights, optimiser, RNG, epoch, history) from a file written by ``save``.

    Raises ValueError for a file that is not a checkpoint or has another network width; warns
    (for the caller of ``train``) when the settings differ from the checkpoint's.
    """
    net, config = run.net, run.config
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint (format {CHECKPOINT_FORMAT!r})")
    if list(state["nbase"]) != [int(n) for n in net.nbase]:
        raise ValueError(f"checkpoint {path} has nbase={state['nbase']}, the network to train "
                         f"has {list(net.nbase)}")
    changed = {k: (v, state["config"].get(k)) for k, v in config_dict(config).items()
               if k not in ("device", "num_threads", "checkpoint_path", "checkpoint_every",
                            "keep_checkpoints")
               and state["config"].get(k) != v}
    if changed:
        warnings.warn(f"resuming with settings that differ from the checkpoint's "
                      f"(now, then): {changed}; the result will differ from an uninterrupted run",
                      stacklevel=3)
    net.load_state_dict(state["state_dict"])
    run.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    run.epoch, run.elapsed = int(state["epoch"]), float(state["elapsed"])
    run.history = [dict(r) for r in state["history"]]


def config_dict(config: TrainConfig) -> dict:
    """The config as plain JSON data (tuples become lists), as stored in checkpoints and meta."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def open_log(log_path, history: list[dict]):
    """The JSON-lines log, rewritten from ``history`` (the records a resumed run already has).

    Returns the open file (a context manager), or a null context when ``log_path`` is None.
    """
    if log_path is None:
        return contextlib.nullcontext()
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "w", encoding="utf-8")
    log.writelines(json.dumps(r) + "\n" for r in history)
    log.flush()
    return log
