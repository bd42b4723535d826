"""The trainer (Stringer et al. 2020, Methods, "Training").

``train(images, labels, config=TrainConfig())`` fits a ``CellposeNet`` from scratch, or fine-tunes a
base model (the human-in-the-loop path of Cellpose 2.0), then fits the size model and returns (and
optionally saves) a ``CellposeModel``. Data: ``train_data``; checkpoints and the log:
``checkpoint``; validation AP and the size-model fit: ``train_eval``.

Optimisation follows the paper: SGD with momentum 0.9 and weight decay 1e-5, batches of 8 random
224 x 224 crops, learning rate 0.2 warmed up linearly over the first 10 epochs, constant, then
halved every 10 epochs over the last 20 % of the epochs (``schedule``).

Loss (``training_loss``), per batch::

    loss = 0.5 * MSE(out[:, :2], 5 * flows) + BCEWithLogits(out[:, 2], cellprob_target)

The flows are regressed on the network's scale (5 x unit vectors, as ``dynamics.compute_masks``
expects). The weight 1/2 on the MSE is Cellpose's own, kept so that learning rates and losses
compare with Cellpose's: for a fresh network (outputs ~0) the flow term is 0.5 x 25 x (mean squared
unit flow over both channels) ~ 6 x the fraction of cell pixels (~3 on dense synthetic images)
and the cross-entropy log 2 ~ 0.7; the flow term dominates at first, and falls to the size of
the cross-entropy term as training goes. ``TrainConfig.flow_weight`` changes the weight.

Determinism: the network is initialised after ``torch.manual_seed(seed)``, and every epoch draws
its sample order and augmentations from ``numpy.random.default_rng([seed, epoch])`` (and seeds
torch from it). An epoch's randomness therefore depends only on (seed, epoch), so a run resumed
from a checkpoint gives the same weights as an uninterrupted one (checked on CPU and CUDA).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import augment, checkpoint
from . import train_runtime as runtime
from .checkpoint import CHECKPOINT_FORMAT  # noqa: F401 (re-exported)
from .model import CellposeModel, load_model
from .net import CellposeNet
from .train_data import TrainingSet, load_pairs, prepare_training_set, synthetic_dataset
from .train_eval import VAL_SEED, fit_size_model, validation_ap50

__all__ = [
    "TrainConfig",
    "TrainResult",
    "load_pairs",
    "prepare_training_set",
    "schedule",
    "synthetic_dataset",
    "train",
    "training_loss",
]

DEFAULT_NBASE = (2, 32, 64, 128, 256)


@dataclass
class TrainConfig:
    """Every training setting. Optimisation, loss, crop, scale range, rotation and flips default
    to the paper's values; nucleus dropout and intensity jitter (not in the paper) are on with
    moderate settings.

    ``nbase`` None means ``DEFAULT_NBASE`` for a new network; when fine-tuning, the base model's
    width is always kept (a different explicit ``nbase`` only warns). ``n_samples_per_epoch``
    None means every training image once per epoch. ``checkpoint_path`` None means ``<out>.ckpt``
    (or the ``resume`` path, or no checkpoints when neither is given).
    """

    # optimiser and schedule
    learning_rate: float = 0.2
    n_epochs: int = 500
    batch_size: int = 8
    momentum: float = 0.9
    weight_decay: float = 1e-5
    nesterov: bool = False
    warmup_epochs: int = 10
    anneal_fraction: float = 0.2
    anneal_every: int = 10
    # loss
    flow_weight: float = 0.5
    flow_scale: float = 5.0
    # network
    nbase: tuple[int, ...] | None = None
    diam_mean: float = 30.0
    # augmentation
    bsize: int = 224
    scale_range: tuple[float, float] = (0.75, 1.25)
    rotate: bool = True
    flip: bool = True
    nucleus_dropout: float = 0.25
    jitter_prob: float = 0.5
    jitter_gain: tuple[float, float] = (0.75, 1.33)
    jitter_gamma: tuple[float, float] = (0.75, 1.33)
    jitter_offset: tuple[float, float] = (-0.1, 0.1)
    # data
    n_samples_per_epoch: int | None = None
    normalize: bool = True
    flow_cache_dir: str | None = None
    # validation
    val_every: int = 10
    # size model: styles of each training image at ``size_n_rescales`` random diameters,
    # log-uniform in diam_mean x size_scale_range, on crops of at most size_max_side pixels
    fit_size_model: bool = True
    size_n_rescales: int = 4
    size_scale_range: tuple[float, float] = (1 / 3, 3.0)
    size_max_side: int = 512
    # run
    seed: int = 0
    device: str = "auto"
    # "fp32", "bf16" (autocast: convolutions in bfloat16, weights and loss in float32) or "auto"
    # (bf16 where the hardware does it natively: a CUDA GPU with bfloat16, or a CPU whose oneDNN
    # has bfloat16 instructions such as AVX512-BF16 or AMX; else fp32)
    precision: str = "fp32"
    # NHWC activations (faster convolutions on CPUs and tensor cores); None = exactly when the
    # resolved precision is bf16, where it pays
    channels_last: bool | None = None
    num_threads: int | None = None
    deterministic: bool = True
    checkpoint_every: int = 10
    checkpoint_path: str | None = None
    # epochs whose checkpoint is also kept as <checkpoint>.e<epoch> (a run can later continue
    # from there, e.g. on a slower machine)
    keep_checkpoints: tuple[int, ...] = ()

    def __post_init__(self):
        for name in ("n_epochs", "batch_size", "val_every", "checkpoint_every", "anneal_every",
                     "size_n_rescales"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not (0 <= self.anneal_fraction <= 1 and 0 <= self.nucleus_dropout <= 1):
            raise ValueError("anneal_fraction and nucleus_dropout must lie in [0, 1]")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'auto', got {self.precision!r}")
        if self.bsize < 16 or self.bsize % 16:
            raise ValueError(f"bsize must be a positive multiple of 16, got {self.bsize}")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, "
                             f"got {self.scale_range}")
        self.keep_checkpoints = tuple(int(e) for e in self.keep_checkpoints)
        if self.nbase is not None:
            self.nbase = tuple(int(n) for n in self.nbase)
            if len(self.nbase) < 3 or self.nbase[0] != 2:
                raise ValueError(f"nbase must be 2 input channels then at least two widths, "
                                 f"e.g. {DEFAULT_NBASE}; got {self.nbase}")

    def jitter(self) -> augment.IntensityJitter | None:
        if self.jitter_prob <= 0:
            return None
        return augment.IntensityJitter(self.jitter_prob, tuple(self.jitter_gain),
                                       tuple(self.jitter_gamma), tuple(self.jitter_offset))


@dataclass
class TrainResult:
    """What ``train`` returns.

    ``model`` is the trained ``CellposeModel`` (without a size model when training was stopped);
    ``history`` holds one log record per completed epoch (also those before a resume).
    """

    model: CellposeModel
    history: list[dict]
    out_path: Path | None = None
    checkpoint_path: Path | None = None
    log_path: Path | None = None
    stopped: bool = False
    epochs_completed: int = 0
    train_time: float = 0.0
    meta: dict = field(default_factory=dict)


def schedule(config: TrainConfig) -> np.ndarray:
    """Learning rate of every epoch, float64 shape (n_epochs,).

    Linear warm-up ``lr * (e + 1) / warmup_epochs`` over the first ``warmup_epochs`` epochs, then
    ``lr``; over the last ``round(anneal_fraction * n_epochs)`` epochs it is halved every
    ``anneal_every`` epochs (the first annealed block already runs at lr / 2). Where warm-up and
    annealing overlap (very short runs), the smaller rate wins.
    """
    n, lr = config.n_epochs, config.learning_rate
    e = np.arange(n, dtype=np.float64)
    warm = np.minimum(1.0, (e + 1) / max(config.warmup_epochs, 1))
    start = n - int(round(config.anneal_fraction * n))
    halvings = np.where(e >= start, (e - start) // max(config.anneal_every, 1) + 1, 0)
    return lr * np.minimum(warm, 0.5**halvings)


def training_loss(out: torch.Tensor, targets: torch.Tensor, *, flow_scale: float = 5.0,
                  flow_weight: float = 0.5) -> torch.Tensor:
    """The Cellpose loss (see the module docstring).

    out : float tensor, shape (B, 3, Y, X)
        Network output (flow Y, flow X, cellprob logit).
    targets : float tensor, shape (B, 3, Y, X)
        (cellprob target 0/1, unit flow Y, unit flow X).
    """
    mse = F.mse_loss(out[:, :2], flow_scale * targets[:, 1:])
    bce = F.binary_cross_entropy_with_logits(out[:, 2], (targets[:, 0] > 0.5).to(out.dtype))
    return flow_weight * mse + bce


def train(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    config: TrainConfig | None = None,
    channels: Sequence[int] | None = None,
    base=None,
    val_images: Sequence[np.ndarray] | None = None,
    val_labels: Sequence[np.ndarray] | None = None,
    out: str | os.PathLike | None = None,
    log_path: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data_description: dict | None = None,
) -> TrainResult:
    """Train (or fine-tune) a Cellpose network, fit its size model, save it.

    Parameters
    ----------
    images : sequence of ndarray, or a prepared ``TrainingSet`` (then ``labels`` is None)
        A ``TrainingSet`` (from ``train_sources.DataMix.prepare``) is sampled with its
        ``sample_weights``. Without ``channels``: network inputs, float32 shape (2, Ly, Lx) (cytoplasm,
        nucleus-or-zeros), or (Ly, Lx) single-channel images. With ``channels`` ([cyto, nucleus],
        Cellpose's convention): raw images (Ly, Lx) or (Ly, Lx, C), converted by
        ``transforms.convert_image``. Each channel is normalised (``transforms.normalize99``)
        unless ``config.normalize`` is False.
    labels : sequence of ndarray of int, shape (Ly, Lx)
        0 = background, 1..N = cells; every image needs at least one cell.
    base : CellposeModel, path or model name, optional
        Fine-tune its first network (its width and diam_mean are kept).
    val_images, val_labels : optional, as images and labels
        Every ``config.val_every`` epochs (and at the last): the loss on fixed random crops and the
        AP at IoU 0.5 of a full segmentation at the known diameter (also per image kind when the
        validation set has kinds: the log's ``val_ap50_by_kind``).
    out : path, optional
        Where the final model is saved (``CellposeModel.save``); checkpoints go to ``<out>.ckpt``.
    log_path : path, optional
        One JSON line per epoch: epoch (1-based), lr, train_loss, val_loss, val_ap50 (null when not
        computed), time (seconds of training so far, validation included), samples_per_s (training
        samples per second this epoch, validation excluded).
    resume : path, optional
        A checkpoint written by an earlier call with the same data and config.
    progress : callable(epoch, n_epochs, record), optional
        Called after every epoch.
    should_stop : callable() -> bool, optional
        Polled before every batch. When it returns True training ends: no size model is fitted and
        nothing is saved to ``out``; if it happens at an epoch boundary a checkpoint is written, so
        ``resume`` continues exactly. ``TrainResult.stopped`` is then True.
    data_description : dict, optional
        Stored in the saved model's meta (where the data came from).
    """
    config = config or TrainConfig()
    train_set = _training_set(images, labels, channels, config, "images")
    val_set = None
    if val_images is not None or val_labels is not None:
        val_set = _training_set(val_images, val_labels, channels, config, "val_images")
    device = runtime.resolve_device(config.device)
    saved = runtime.set_torch_globals(config, device)
    try:
        torch.manual_seed(config.seed)
        net, diam_mean, base_name = _make_net(config, base, device)
        amp = runtime.amp_dtype(config.precision, device)
        channels_last = amp is not None if config.channels_last is None else config.channels_last
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(net.parameters(), lr=config.learning_rate,
                                    momentum=config.momentum, weight_decay=config.weight_decay,
                                    nesterov=config.nesterov)
        run = _Run(net, optimizer, config, diam_mean, device,
                   checkpoint.default_path(config, out, resume))
        run.amp_dtype, run.channels_last = amp, channels_last
        if resume is not None:
            checkpoint.load(resume, run)
        with checkpoint.open_log(log_path, run.history) as log:
            stopped = _run_epochs(run, train_set, val_set, log, progress, should_stop)
        return _finish(run, train_set, val_set, stopped, out, log_path, base_name,
                       data_description)
    finally:
        runtime.restore_torch_globals(saved)


@dataclass
class _Run:
    """The mutable state of one training run (what a checkpoint holds, plus the set-up)."""

    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    diam_mean: float
    device: torch.device
    checkpoint_path: Path | None
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    elapsed: float = 0.0  # seconds spent training, over all resumed parts
    amp_dtype: torch.dtype | None = None  # autocast dtype (config.precision resolved)
    channels_last: bool = False  # config.channels_last resolved


def _run_epochs(run: _Run, train_set, val_set, log, progress, should_stop) -> bool:
    """Train from ``run.epoch`` to the end; returns True when ``should_stop`` ended it early."""
    config, lrs = run.config, schedule(run.config)
    first = run.epoch
    while run.epoch < config.n_epochs:
        epoch = run.epoch
        t0 = time.perf_counter()
        train_loss, n_seen, stopped = _run_epoch(run, train_set, lrs[epoch], should_stop)
        if stopped:
            if n_seen == 0 and epoch > first:  # at an epoch boundary: resumable exactly
                checkpoint.save(run)
            return True
        t_train = time.perf_counter() - t0
        val_loss = val_ap50 = by_kind = None
        if val_set is not None and ((epoch + 1) % config.val_every == 0
                                    or epoch + 1 == config.n_epochs):
            val_loss, val_ap50, by_kind = _validate(run, val_set)
        run.elapsed += time.perf_counter() - t0
        run.epoch = epoch + 1
        record = {"epoch": epoch + 1, "lr": float(lrs[epoch]), "train_loss": train_loss,
                  "val_loss": val_loss, "val_ap50": val_ap50, "time": round(run.elapsed, 3),
                  "samples_per_s": round(n_seen / t_train, 3)}
        if by_kind is not None:
            record["val_ap50_by_kind"] = by_kind
        run.history.append(record)
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()
        if progress is not None:
            progress(epoch + 1, config.n_epochs, record)
        if (run.epoch % config.checkpoint_every == 0 or run.epoch == config.n_epochs
                or run.epoch in config.keep_checkpoints):
            checkpoint.save(run, keep=run.epoch in config.keep_checkpoints)
    return False


def _finish(run: _Run, train_set, val_set, stopped, out, log_path, base_name, description):
    """Fit the size model, build the CellposeModel, save it unless training was stopped."""
    net = run.net.eval().to(memory_format=torch.contiguous_format)
    if hasattr(net, "diam_labels"):  # Cellpose keeps the training labels' mean diameter
        net.diam_labels.fill_(float(np.mean(train_set.diameters)))
    size_model = None
    if not stopped and run.config.fit_size_model:
        t0 = time.perf_counter()
        size_model = fit_size_model(net, train_set, run.config, run.diam_mean)
        run.elapsed += time.perf_counter() - t0
    meta = _meta(run, train_set, val_set, base_name, description, stopped)
    cp_model = CellposeModel([net], size_model=size_model, diam_mean=run.diam_mean, meta=meta)
    out_path = None
    if out is not None and not stopped:
        out_path = Path(out)
        cp_model.save(out_path)
    return TrainResult(model=cp_model, history=run.history, out_path=out_path,
                       checkpoint_path=run.checkpoint_path,
                       log_path=Path(log_path) if log_path is not None else None,
                       stopped=stopped, epochs_completed=run.epoch, train_time=run.elapsed,
                       meta=meta)


# ------------------------------------------------------------------------------------------------
# training loop pieces


def _run_epoch(run: _Run, data: TrainingSet, lr: float, should_stop):
    """One epoch of SGD; returns (mean loss, samples seen, stopped)."""
    config = run.config
    rng = np.random.default_rng([config.seed, run.epoch])  # all of this epoch's randomness
    torch.manual_seed(int(rng.integers(2**62)))
    n = len(data)
    n_samples = config.n_samples_per_epoch or n
    if data.sample_weights is not None:  # a mixture: sources drawn by weight
        order = rng.choice(n, size=n_samples, p=data.sample_weights)
    else:
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(n_samples / n))])
        order = order[:n_samples]
    for group in run.optimizer.param_groups:
        group["lr"] = float(lr)
    run.net.train()
    total, seen = 0.0, 0
    jitter = config.jitter()
    for b in range(0, n_samples, config.batch_size):
        if should_stop is not None and should_stop():
            return (total / seen if seen else None), seen, True
        idx = order[b:b + config.batch_size]
        x, y = _batch(data, idx, rng, config, run.diam_mean, jitter)
        x = x.to(run.device)
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with runtime.autocast(run.device, run.amp_dtype):
            out = run.net(x)[0]
        loss = training_loss(out.float(), y.to(run.device), flow_scale=config.flow_scale,
                             flow_weight=config.flow_weight)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return total / seen, seen, False


def _batch(data, idx, rng, config, diam_mean, jitter):
    """Augmented crops of ``data`` items ``idx``: tensors (B, 2, bsize, bsize), (B, 3, ...)."""
    xs, ys = [], []
    for i in idx:
        x, y = augment.augment_sample(
            data.images[i], data.targets[i], rng, diameter=data.diameters[i], diam_mean=diam_mean,
            bsize=config.bsize, scale_range=tuple(config.scale_range), rotate=config.rotate,
            flip=config.flip, nucleus_dropout=config.nucleus_dropout, jitter=jitter)
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


@torch.inference_mode()
def _validate(run: _Run, data: TrainingSet) -> tuple[float, float, dict | None]:
    """Loss on fixed random crops (no jitter or dropout), ``train_eval.validation_ap50`` (mean
    over images) and its mean per kind (None when the set has no kinds)."""
    net, config, diam_mean, device = run.net, run.config, run.diam_mean, run.device
    net.eval()
    rng = np.random.default_rng([config.seed, VAL_SEED])
    total, n = 0.0, len(data.images)
    for b in range(0, n, config.batch_size):
        idx = np.arange(b, min(n, b + config.batch_size))
        x, y = _batch(data, idx, rng, dataclasses.replace(config, nucleus_dropout=0.0),
                      diam_mean, None)
        out = net(x.to(device))[0]
        total += float(training_loss(out, y.to(device), flow_scale=config.flow_scale,
                                     flow_weight=config.flow_weight)) * len(idx)
    aps = validation_ap50(net, data, diam_mean=diam_mean, batch_size=config.batch_size,
                          bsize=config.bsize, per_image=True)
    net.train()
    by_kind = None
    if data.kinds is not None:
        by_kind = {k: round(float(np.mean([a for a, c in zip(aps, data.kinds) if c == k])), 4)
                   for k in sorted(set(data.kinds))}
    return total / n, float(np.mean(aps)), by_kind


def _training_set(images, labels, channels, config, name) -> TrainingSet:
    if isinstance(images, TrainingSet):
        if labels is not None:
            raise ValueError(f"{name} is a prepared TrainingSet: its labels come with it "
                             f"(pass None for the labels)")
        return images
    if images is None or labels is None:
        raise ValueError(f"give both {name} and their labels, or neither")
    return prepare_training_set(images, labels, channels=channels, normalize=config.normalize,
                                flow_cache_dir=config.flow_cache_dir, name=name)


# ------------------------------------------------------------------------------------------------
# set-up and meta


def _make_net(config, base, device):
    """A fresh CellposeNet, or a copy of the base model's first network (its width kept)."""
    if base is None:
        net = CellposeNet(nbase=config.nbase or DEFAULT_NBASE, nout=3, sz=3,
                                  diam_mean=config.diam_mean)
        return net.to(device), float(config.diam_mean), None
    base_name = str(base) if isinstance(base, (str, os.PathLike)) else _model_name(base)
    if isinstance(base, (str, os.PathLike)):
        base = load_model(base)
    net = copy.deepcopy(base.nets[0]).float()
    if config.nbase is not None and tuple(net.nbase) != config.nbase:
        warnings.warn(f"fine-tuning keeps the base model's width nbase={list(net.nbase)}; "
                      f"config.nbase={list(config.nbase)} is ignored", stacklevel=3)
    for p in net.parameters():
        p.requires_grad_(True)
    return net.to(device), float(base.diam_mean), base_name


def _model_name(model) -> str:
    meta = getattr(model, "meta", None) or {}
    return str(meta.get("name") or meta.get("path") or "<CellposeModel>")


def _meta(run: _Run, train_set, val_set, base_name, description, stopped) -> dict:
    history, config = run.history, run.config
    last = history[-1] if history else {}
    val_aps = [r["val_ap50"] for r in history if r["val_ap50"] is not None]
    return {
        "trainer": "cellposeweb.train", "config": checkpoint.config_dict(config),
        "seed": config.seed, "nbase": [int(n) for n in run.net.nbase],
        "base": base_name, "device": str(run.device),
        "precision": "bf16" if run.amp_dtype is torch.bfloat16 else "fp32", "torch_version": str(torch.__version__),
        "data": {"n_train": len(train_set.images),
                 "n_val": len(val_set.images) if val_set is not None else 0,
                 "median_diameter": float(np.median(train_set.diameters)),
                 "n_cells": int(sum(len(np.unique(lab)) - 1 for lab in train_set.labels)),
                 **(description or {})},
        "training_time_s": round(run.elapsed, 1), "epochs_completed": run.epoch,
        "stopped": stopped,
        "final": {"train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
                  "val_ap50": val_aps[-1] if val_aps else None},
    }
