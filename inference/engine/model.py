"""The user-facing model: an ensemble of networks with a size model, and `load_model`.

`CellposeModel.segment` is the whole pipeline of Stringer et al. 2020: channel selection and
normalisation, the object diameter (given, or estimated from the style vector and refined by a
segmentation: `size.estimate_diameter`), resizing so that cells are `diam_mean` pixels across, the
tiled network (with flip augmentation), resizing the flows back, and the flow dynamics at the
original size. The nets run their fast inference path (`CellposeNet.prepare_for_inference`, in
the model's `precision`) in every call that runs them: segment, estimate_diameter, 3D and
plane by plane.

The model file format (our ``cellposeweb-model`` dict, or a Cellpose 3 CPnet ``.pth``) is read and
written by `model_file`; `CellposeModel.from_file` / ``save`` call it. Re-thresholding stored outputs is
`recompute.recompute_masks`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import model_file, size
from .limits import DEFAULT_LIMITS, CostLimits, check_cost
from .dynamics import BASE_NITER, default_niter
from .model_file import FORMAT, FORMAT_VERSION, PRECISIONS, default_device  # noqa: F401 (re-exported)
from .recompute import recompute_masks
from .size import SizeModel
from .stitch import check_threshold as _check_stitch_threshold
from .lattice import NetLattice, Region
from .tiling import _check_nets, run_net, run_tiled
from .transforms import convert_image, normalize99
from .volume import run_3d

__all__ = [
    "CellposeModel",
    "SegmentationResult",
    "available_models",
    "default_device",
    "load_model",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "default"
#: Tiles per network pass when `segment` is not given a batch size.
BATCH_SIZE = {"cpu": 8, "cuda": 32}

Progress = Callable[[str, float], None]


@dataclass
class SegmentationResult:
    """What `CellposeModel.segment` returns.

    masks : ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, 1..N = cells.
    dP : ndarray of float32, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Flows (dY, dX) or (dZ, dY, dX) on the network's scale (5 x unit vectors), at the image's size
        (dZ = 0 for a stack segmented plane by plane).
    cellprob : ndarray of float32, shape (Ly, Lx) or (Lz, Ly, Lx)
        Cell probability logit (> 0 = inside).
    styles : ndarray of float32, shape (D,)
        The image's style vector (L2-normalised).
    diameter : float
        The cell diameter in pixels the image was segmented at.
    diameter_source : str
        "given", "size model", "size model (style only: no cells at the predicted size)", or
        "diam_mean (the model has no size model)".
    niter : int
        Flow-following iterations used (pass it to `recompute_masks`).
    timings : dict of str -> float
        Seconds per stage ("normalize", "size", "network", "dynamics", "total").
    """

    masks: np.ndarray
    dP: np.ndarray
    cellprob: np.ndarray
    styles: np.ndarray
    diameter: float
    diameter_source: str = "given"
    niter: int = BASE_NITER
    timings: dict[str, float] = field(default_factory=dict)


class CellposeModel:
    """An ensemble of `CellposeNet`s (outputs averaged), with an optional `SizeModel`.

    Parameters
    ----------
    nets : CellposeNet or list of CellposeNet
        On one device; put in eval mode.
    diam_mean : float
        The cell diameter (px) the nets were trained at; images are resized to it.
    size_model : SizeModel, optional
        Style -> diameter regression; without one, ``diameter=None`` means `diam_mean`.
    name : str, optional
    meta : dict, optional
        Plain data (str, numbers, bools, None, lists, dicts) saved with the model.
    precision : {"auto", "float32", "bfloat16", "float16"}
        The compute dtype of the nets' fast inference path (`CellposeNet.prepare_for_inference`;
        flows, probabilities and styles always come back as float32). "auto": bfloat16 where the
        device computes it natively (a CUDA GPU that supports it; a CPU with AVX512-BF16 or AMX
        through oneDNN), else float32. An attribute; set it to change precision.
    """

    def __init__(
        self,
        nets,
        *,
        diam_mean: float = 30.0,
        size_model: SizeModel | None = None,
        name: str | None = None,
        meta: dict | None = None,
        precision: str = "float32",
    ):
        self.nets = _as_eval_nets(nets)
        self.precision = precision
        if not (diam_mean > 0 and math.isfinite(diam_mean)):
            raise ValueError(f"diam_mean must be a positive number, got {diam_mean}")
        if size_model is not None and not isinstance(size_model, SizeModel):
            raise ValueError(f"size_model must be a SizeModel or None, got {type(size_model).__name__}")
        self.diam_mean = float(diam_mean)
        self.size_model = size_model
        self.meta = dict(meta or {})
        self.name = name if name is not None else self.meta.get("name")

    def __repr__(self) -> str:
        return (
            f"CellposeModel(name={self.name!r}, nets={len(self.nets)}, diam_mean={self.diam_mean}, "
            f"size_model={'yes' if self.size_model else 'no'}, device={self.device})"
        )

    @property
    def device(self) -> torch.device:
        return next(self.nets[0].parameters()).device

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {value!r}")
        self._precision = value

    def compute_dtype(self) -> torch.dtype:
        """The dtype the nets compute in on their device (`precision` resolved)."""
        return model_file.compute_dtype(self.precision, self.device)

    def _prepare_nets(self) -> None:
        """Put every CellposeNet on its fast inference path in the model's compute dtype (cheap when
        nothing changed: the folded weights are rebuilt only when the weights or the dtype do)."""
        dtype = self.compute_dtype()
        for net in self.nets:
            if hasattr(net, "prepare_for_inference"):
                net.prepare_for_inference(dtype)

    def to(self, device) -> "CellposeModel":
        for net in self.nets:
            net.to(device)
        return self

    # -- segmentation ------------------------------------------------------------------------------

    def segment(
        self,
        image,
        channels=(0, 0),
        diameter: float | None = None,
        augment: bool = True,
        tile_overlap: float = 0.5,
        do_3d: bool = False,
        anisotropy: float | None = None,
        cellprob_threshold: float = 0.0,
        flow_threshold: float = 0.4,
        min_size: int = 15,
        niter: int | None = None,
        batch_size: int | None = None,
        progress: Progress | None = None,
        *,
        stitch_threshold: float | None = None,
        channel_axis: int | None = None,
        z_axis: int | None = None,
        limits: CostLimits = DEFAULT_LIMITS,
        normalize: bool = True,
        region: Region | None = None,
    ) -> SegmentationResult:
        """Segment one 2D image, or a stack: in 3D with ``do_3d=True``, or plane by plane in 2D
        with ``stitch_threshold``.

        Parameters
        ----------
        image : ndarray of a real dtype
            (Ly, Lx), (Ly, Lx, C), (C, Ly, Lx); stacks (``do_3d`` or ``stitch_threshold``):
            (Lz, Ly, Lx), (Lz, Ly, Lx, C), (Lz, C, Ly, Lx) (see `transforms.convert_image` for how
            axes are read).
        channels : (cyto, nucleus)
            0 = grayscale / none, 1/2/3 = R/G/B (Cellpose's convention).
        diameter : float, optional
            Cell diameter in pixels (in XY for stacks). None or 0: estimated by the size model (for
            stacks from the upper quartile of the cell sections in the central plane;
            `size.estimate_diameter`), or `diam_mean` when the model has none.
        augment : bool
            Flip-augmented tiles (`tiling.run_net`).
        tile_overlap : float in [0, 1)
        do_3d : bool
            Segment a stack in 3D (`volume.run_3d`). A stack with neither ``do_3d`` nor
            ``stitch_threshold`` is refused.
        anisotropy : float, optional
            Z step / XY pixel size of a stack (None = 1).
        cellprob_threshold, flow_threshold, min_size, niter
            Passed to `dynamics.compute_masks`; niter None = 200 x diameter / diam_mean.
        batch_size : int, optional
            Tiles per network pass; None = `BATCH_SIZE` for the device (8 on the CPU, 32 on CUDA).
        progress : callable(stage: str, fraction: float), optional
            Called at "normalize", "size" (when estimating), "network" (per batch), "dynamics" and
            "done". An exception it raises stops segmentation and propagates (use it to cancel).
        stitch_threshold : float in (0, 1], optional
            Segment a stack plane by plane in 2D and link masks of successive planes whose IoU
            reaches it into one object (`stitch.stitch_planes`; Cellpose's option of that name, for
            stacks whose planes are far apart). The result's dP is then (3, Lz, Ly, Lx) with dZ = 0.
        channel_axis, z_axis : int, optional
            The image's channel and Z axes, when they should not be guessed.
        limits : CostLimits
            The largest network input allowed (`limits.check_cost`): a diameter that would build a
            larger one raises ValueError before the input is resized.
        normalize : bool
            False: the image is already scaled (each channel by one pair of percentiles for a whole
            slide, `blocks.global_normalisation`) and is used as it is instead of `normalize99`.
        region : lattice.Region, optional
            The image is this (Y, X) region of a larger image (a block: `blocks.segment_block`),
            whose network lattice it is run on (`tiling.run_net`), plane by plane for a stack with
            ``stitch_threshold``. Not with ``do_3d``.
        """
        t_start = time.perf_counter()
        report = progress if progress is not None else _no_progress
        timings: dict[str, float] = {}
        if do_3d and anisotropy is not None and not (anisotropy > 0 and math.isfinite(anisotropy)):
            raise ValueError(f"anisotropy must be a positive number, got {anisotropy}")
        _check_dynamics_args(niter, min_size, batch_size)
        if region is not None and do_3d:
            raise ValueError("region places a 2D image (or a stack's planes) in a larger image; not with do_3d=True")
        planes = stitch_threshold is not None
        if planes:
            _check_stitch_threshold(stitch_threshold)
            if do_3d:
                raise ValueError("stitch_threshold is for segmenting a stack plane by plane; not with do_3d=True")

        report("normalize", 0.0)
        t = time.perf_counter()
        x = convert_image(image, channels, channel_axis=channel_axis, z_axis=z_axis, do_3d=do_3d or planes)
        if x.ndim == 4 and not (do_3d or planes):
            raise ValueError(
                f"got a stack of {x.shape[0]} planes (image shape {np.shape(image)}) with do_3d=False: pass "
                "do_3d=True to segment it in 3D, or stitch_threshold (e.g. 0.25) to segment it plane by plane"
            )
        if (do_3d or planes) and x.ndim != 4:
            option = "do_3d=True" if do_3d else "stitch_threshold"
            raise ValueError(
                f"{option} needs a stack (Lz, Ly, Lx) or (Lz, C, Ly, Lx), got image shape {np.shape(image)}"
            )
        spatial = (x.shape[0], *x.shape[2:]) if x.ndim == 4 else x.shape[1:]
        if diameter and diameter > 0 and math.isfinite(diameter):  # a given diameter is checked before any work; an estimated one once known
            check_cost(spatial, diameter=diameter, diam_mean=self.diam_mean, anisotropy=anisotropy,
                       do_3d=do_3d, limits=limits)
        if normalize:
            x = normalize99(x, channel_axis=x.ndim - 3, copy=False)  # x is convert_image's own array
        timings["normalize"] = time.perf_counter() - t
        report("normalize", 1.0)

        self._prepare_nets()
        batch_size = self._batch_size(batch_size)
        t = time.perf_counter()
        diameter, source = self._resolve_diameter(x[x.shape[0] // 2] if x.ndim == 4 else x, diameter,
                                                  batch_size, report, stack=x.ndim == 4)
        timings["size"] = time.perf_counter() - t
        check_cost(spatial, diameter=diameter, diam_mean=self.diam_mean, anisotropy=anisotropy, do_3d=do_3d,
                   limits=limits)
        niter = default_niter(diameter, self.diam_mean) if niter is None else int(niter)
        net_args = dict(rescale=self.diam_mean / diameter, augment=augment, tile_overlap=tile_overlap,
                        batch_size=batch_size, progress=report)

        t = time.perf_counter()
        if do_3d:
            y, style = run_3d(self.nets, x, anisotropy=anisotropy, **net_args)
            dP, cellprob = y[:3], y[3]
        elif planes:
            y, styles = run_tiled(self.nets, x, region=region, **net_args)  # the planes' tiles share batches
            dP = np.zeros((3, *x.shape[:1], *x.shape[2:]), np.float32)
            dP[1:] = y[:, :2].transpose(1, 0, 2, 3)
            cellprob, style = y[:, 2], _unit(styles.mean(axis=0))
        else:
            y, style = run_net(self.nets, x, region=region, **net_args)
            dP, cellprob = y[:2], y[2]
        timings["network"] = time.perf_counter() - t

        report("dynamics", 0.0)
        t = time.perf_counter()
        masks = recompute_masks(
            dP, cellprob, cellprob_threshold=cellprob_threshold, flow_threshold=flow_threshold,
            min_size=min_size, niter=niter, device=self._dynamics_device(), stitch_threshold=stitch_threshold,
        )
        timings["dynamics"] = time.perf_counter() - t
        report("dynamics", 1.0)
        timings["total"] = time.perf_counter() - t_start
        report("done", 1.0)
        return SegmentationResult(
            masks=masks, dP=np.ascontiguousarray(dP, dtype=np.float32),
            cellprob=np.ascontiguousarray(cellprob, dtype=np.float32), styles=style,
            diameter=float(diameter), diameter_source=source, niter=niter, timings=timings,
        )

    def net_lattice(self, shape, diameter: float, *, augment: bool = True, tile_overlap: float = 0.5) -> NetLattice:
        """The network lattice `segment` puts a 2D image of `shape` (Ly, Lx) on at `diameter`, with
        `segment`'s defaults (for `blocks.plan_blocks` to give blocks whole tiles)."""
        return NetLattice.for_diameter(shape, diameter, diam_mean=self.diam_mean, augment=augment,
                                       tile_overlap=tile_overlap)

    def estimate_diameter(
        self,
        image,
        channels=(0, 0),
        *,
        batch_size: int | None = None,
        channel_axis: int | None = None,
        z_axis: int | None = None,
        do_3d: bool = False,
        progress: Progress | None = None,
    ) -> float:
        """The cell diameter in pixels of a 2D image (the central plane of a stack) from the size model.

        The style vector gives a first estimate; the image is segmented at that size and the median
        equivalent-circle diameter of the masks is returned (the style estimate when none are
        found). Both steps read a bounded central crop without flips (`size.estimate_diameter`),
        as `segment` does with ``diameter=None``.
        """
        if self.size_model is None:
            raise ValueError(f"model {self.name!r} has no size model: pass the diameter explicitly")
        x = convert_image(image, channels, channel_axis=channel_axis, z_axis=z_axis, do_3d=do_3d)
        x = normalize99(x, channel_axis=x.ndim - 3, copy=False)
        if x.ndim == 4:
            x = x[x.shape[0] // 2]
        self._prepare_nets()
        report = progress if progress is not None else _no_progress
        return self._estimate_diameter(x, self._batch_size(batch_size), report)[0]

    def recompute_masks(self, dP, cellprob, **kwargs) -> np.ndarray:
        """`recompute_masks` (module function) for this model's outputs."""
        return recompute_masks(dP, cellprob, **kwargs)

    def _resolve_diameter(self, x2d, diameter, batch_size, report, stack=False):
        if diameter is not None and diameter != 0:
            if not (diameter > 0 and math.isfinite(diameter)):
                raise ValueError(f"diameter must be a positive number of pixels, or None/0 to estimate it; got {diameter}")
            return float(diameter), "given"
        if self.size_model is None:
            return self.diam_mean, "diam_mean (the model has no size model)"
        return self._estimate_diameter(x2d, batch_size, report, stack)

    def _estimate_diameter(self, x, batch_size, report, stack=False) -> tuple[float, str]:
        """(diameter, source) for a normalised (2, Ly, Lx) image, or the central plane of a stack
        (``stack``: sections' upper quartile, `size.STACK_SECTION_QUANTILE`); progress is
        reported as "size"."""
        quantile = size.STACK_SECTION_QUANTILE if stack else 0.5
        return size.estimate_diameter(self.nets, self.size_model, x, diam_mean=self.diam_mean,
                                      batch_size=batch_size, dynamics_device=self._dynamics_device(),
                                      progress=report, section_quantile=quantile)

    def _batch_size(self, batch_size: int | None) -> int:
        return BATCH_SIZE.get(self.device.type, 8) if batch_size is None else int(batch_size)

    def _dynamics_device(self):
        """Follow flows with torch on the GPU when the nets are there, else with numba."""
        return self.device if self.device.type == "cuda" else None

    # -- files -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The model file's dict (tensors on the CPU; see `model_file`)."""
        return model_file.model_to_dict(self)

    def save(self, path) -> None:
        """Write the model file atomically (see `model_file`); meta must be plain data."""
        model_file.write_model_file(self.to_dict(), path)

    @classmethod
    def from_dict(cls, d: dict, device=None) -> "CellposeModel":
        """A model from the dict of `to_dict` (as read from a file)."""
        return cls._from_parts(model_file.parts_from_dict(d, device=device))

    @classmethod
    def from_file(cls, path, device=None) -> "CellposeModel":
        """Load our model file, or a Cellpose 3 CPnet ``.pth`` state dict.

        Raises FileNotFoundError when `path` does not exist and ValueError when it is neither format.
        """
        return cls._from_parts(model_file.read_model_file(path, device=device))

    @classmethod
    def _from_parts(cls, parts: model_file.ModelParts) -> "CellposeModel":
        return cls(parts.nets, diam_mean=parts.diam_mean, size_model=parts.size_model,
                   name=parts.name, meta=parts.meta)


def available_models() -> list[str]:
    """Names of the models packaged in ``inference/engine/weights/``."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))


def load_model(name_or_path=None, device=None) -> CellposeModel:
    """Load a packaged model by name (None or "default" = the embedded default) or a model file by path.

    Never touches the network. `device` defaults to `default_device()`.
    """
    if name_or_path is None or name_or_path == DEFAULT_MODEL:
        path = WEIGHTS_DIR / f"{DEFAULT_MODEL}.pt"
        if not path.is_file():
            raise FileNotFoundError(
                f"the default model {path} has not been built yet: build it with `make model` "
                "(trains it from synthetic data)"
            )
        return CellposeModel.from_file(path, device=device)
    path = Path(name_or_path)
    if path.is_file():
        return CellposeModel.from_file(path, device=device)
    if isinstance(name_or_path, str) and path.name == name_or_path and (WEIGHTS_DIR / f"{name_or_path}.pt").is_file():
        return CellposeModel.from_file(WEIGHTS_DIR / f"{name_or_path}.pt", device=device)
    raise FileNotFoundError(
        f"no model file {str(name_or_path)!r} and no packaged model of that name "
        f"(packaged: {', '.join(available_models()) or 'none'})"
    )


def _no_progress(stage: str, fraction: float) -> None:
    pass


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _as_eval_nets(nets) -> list[torch.nn.Module]:
    nets = [nets] if isinstance(nets, torch.nn.Module) else list(nets)
    for net in nets:
        if isinstance(net, torch.nn.Module):
            net.eval()
    return _check_nets(nets)


def _check_dynamics_args(niter, min_size, batch_size) -> None:
    if niter is not None and int(niter) < 1:
        raise ValueError(f"niter must be >= 1 or None, got {niter}")
    if int(min_size) < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}")
