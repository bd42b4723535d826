"""Running the network on images of any size: overlapping tiles, flip augmentation, tapered stitching.

Design (Stringer et al. 2020, "Test time enhancements"):

* **Padding.** Every axis is padded with zeros, centred, by at least 8 px a side up to a multiple
  of 16 (as Cellpose's ``pad_image_ND`` does), and an axis shorter than a tile gets a tile of that
  length: the network is fully convolutional, and a 40-px 3D slice need not pay for a 224-px tile.
  The margin matters at the image's own border: in training the image's border sits next to the
  zero fill of crops and rotations, and the cells it cuts have flows pointing into their visible
  part, while at a crop's edge (no zeros) flows may point out of the crop. Without the margin the
  network reads the image border as a crop edge, cut cells get outward flows and fail the flow
  check (with the default model at the true diameter, AP@0.5 without -> with the margin: img2d.tif
  0.81 -> 0.84; synthetic cyto 0.70 -> 0.81, H&E 0.81 -> 0.92 on an intermediate checkpoint).
  Zeros, not reflection: a mirrored half-cell at a border would read as a whole cell. Every network
  input is a multiple of 16 (`bsize` must be one), enough for the U-net's four 2x downsamplings.
* **Tiles.** Along each axis, ``n = ceil((L - bsize) / (bsize * (1 - tile_overlap))) + 1`` tiles are
  spread evenly from the first to the last pixel, so neighbours overlap by at least `tile_overlap`
  of a tile (the default 0.5 puts every interior pixel under 2 x 2 tiles).
* **Augmentation** (``augment=True``) flips tile (iy, ix) of the grid vertically when iy is odd and
  horizontally when ix is odd, as Cellpose does, and always uses at least two tiles per axis. With
  50 % overlap the 2 x 2 tiles over an interior pixel then carry all four flips, so the average over
  flips costs no extra network passes (the same number of tiles as without augmentation for images
  of 2 tiles or more). Un-flipping a flipped output flips it back and negates the flow component
  along each flipped axis (a flow pointing right in the flipped tile points left in the image).
* **Stitching.** Each tile's output is weighted by a separable sigmoid taper (``1 / (1 + exp((d -
  (bsize / 2 - 20)) / 7.5))``, d = distance from the tile centre, so the weight is ~1 in the middle and
  falls to ~0.07 at the tile border, where the network lacks context) and the weighted sum is divided
  by the summed weights, so the weights at each pixel sum to 1 and seams vanish.
* **Ensemble.** Every tile goes through every net; outputs and styles are averaged over nets.
* **Style.** The mean over tiles (and nets) of the per-tile style vectors, L2-normalised.

* **Lattice.** The resize to the nets' scale, the padding, the tile grid and the flip pattern are
  those of the whole image (`lattice.NetLattice`). A block of a larger image passed with its
  `lattice.Region` is resampled onto the whole image's network pixels and run through the whole
  image's tiles that meet it (with their global flips), so that it meets the network as the whole
  image does; an image on its own is the window over all of itself.

Tiles are batched across images (so 3D slices share batches) and run under `torch.inference_mode()`
on the device of the nets' parameters; stitching happens on that device.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .lattice import BSIZE, NetLattice, NetWindow, Region, tile_starts

__all__ = ["run_net", "run_tiled", "taper_mask", "tile_starts"]

TAPER_MARGIN = 20.0
TAPER_BANDWIDTH = 7.5

Progress = Callable[[str, float], None]


def taper_mask(
    ly: int, lx: int | None = None, *, margin: float = TAPER_MARGIN, bandwidth: float = TAPER_BANDWIDTH
) -> np.ndarray:
    """float32 (ly, lx) stitching weights: ~1 in the middle, a sigmoid fall-off `margin` px from each edge."""

    def taper_1d(n: int) -> np.ndarray:
        d = np.abs(np.arange(n, dtype=np.float64) - (n - 1) / 2.0)
        return 1.0 / (1.0 + np.exp((d - (n / 2.0 - margin)) / bandwidth))

    return np.outer(taper_1d(ly), taper_1d(ly if lx is None else lx)).astype(np.float32)


def _check_nets(nets) -> list[torch.nn.Module]:
    if isinstance(nets, torch.nn.Module):
        nets = [nets]
    nets = list(nets)
    if not nets or not all(isinstance(n, torch.nn.Module) for n in nets):
        raise ValueError("nets must be a non-empty list of torch modules (CellposeNet)")
    devices = {p.device for n in nets for p in n.parameters()}
    if len(devices) != 1:
        raise ValueError(f"all nets must have parameters on one device, found {sorted(map(str, devices))}")
    if any(n.training for n in nets):
        raise ValueError("nets must be in eval mode for inference (call net.eval()); batch norm would use batch statistics")
    return nets


def _net_device(nets: Sequence[torch.nn.Module]) -> torch.device:
    return next(nets[0].parameters()).device


def run_net(
    nets,
    x,
    *,
    rescale: float = 1.0,
    augment: bool = True,
    tile_overlap: float = 0.5,
    bsize: int = BSIZE,
    batch_size: int = 8,
    progress: Progress | None = None,
    region: Region | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's output on one normalised two-channel image, computed tile by tile.

    Parameters
    ----------
    nets : list of CellposeNet (or one)
        All on one device and in eval mode; ``net(x) -> (out (B, 3, H, W), style (B, D))``.
    x : ndarray of float32, shape (2, Ly, Lx)
        (cytoplasm, nucleus-or-zeros), each normalised by `transforms.normalize99`. Any Ly, Lx >= 1.
    rescale : float
        The image is resized (bilinear) by this factor before the network, and the output resized
        back to (Ly, Lx): ``diam_mean / diameter`` brings cells to the nets' scale.
    augment : bool
        Flip tiles by the parity of their grid position and undo the flips (module docstring).
    tile_overlap : float in [0, 1)
        Minimum overlap of neighbouring tiles as a fraction of the tile size.
    bsize : int
        Tile size, a multiple of 16 (smaller tiles for images smaller than it).
    batch_size : int
        Tiles per network pass.
    progress : callable(stage, fraction), optional
        Called as ``progress("network", done / total)`` before the first and after every batch.
        An exception raised by it stops the run and propagates.
    region : lattice.Region, optional
        Where `x` lies in a larger image (a block of it): the network then runs on the larger
        image's lattice (its resize, tiles and flips; `lattice` module), so that its output inside
        the block, away from the block's edges, is the larger image's. None: `x` is the whole image.

    Returns
    -------
    y : ndarray of float32, shape (3, Ly, Lx)
        (flow Y, flow X, cellprob logit) on the network's scale, averaged over nets, at the size of
        `x`.
    style : ndarray of float32, shape (D,)
        The mean style vector over tiles and nets, L2-normalised (D = nbase[-1]).
    """
    arr = np.asarray(x)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise ValueError(f"run_net needs x of shape (2, Ly, Lx) (channels first), got shape {arr.shape}")
    y, style = run_tiled(
        nets, arr[np.newaxis], rescale=rescale, augment=augment, tile_overlap=tile_overlap, bsize=bsize,
        batch_size=batch_size, progress=progress, region=region,
    )
    return y[0], style[0]


def run_tiled(
    nets,
    imgs,
    *,
    rescale: float = 1.0,
    augment: bool = True,
    tile_overlap: float = 0.5,
    bsize: int = BSIZE,
    batch_size: int = 8,
    progress: Progress | None = None,
    region: Region | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`run_net` over a stack of same-sized images, with tiles of all images sharing batches.

    Parameters
    ----------
    imgs : ndarray of float32, shape (N, 2, Ly, Lx)
    rescale, region
        As in `run_net`, for every image.

    Returns
    -------
    y : ndarray of float32, shape (N, 3, Ly, Lx)
    styles : ndarray of float32, shape (N, D)
    """
    nets = _check_nets(nets)
    imgs = np.asarray(imgs)
    if imgs.ndim != 4 or imgs.shape[1] != 2 or 0 in imgs.shape:
        raise ValueError(f"run_tiled needs imgs of shape (N, 2, Ly, Lx) with N, Ly, Lx >= 1, got {imgs.shape}")
    if not (isinstance(bsize, int | np.integer) and bsize >= 16 and bsize % 16 == 0):
        raise ValueError(f"bsize must be a positive multiple of 16, got {bsize}")
    if not 0.0 <= tile_overlap < 1.0:
        raise ValueError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (rescale > 0 and math.isfinite(rescale)):
        raise ValueError(f"rescale must be a positive number, got {rescale}")
    Ly, Lx = imgs.shape[-2:]
    if region is None:
        region = Region((Ly, Lx), (slice(0, Ly), slice(0, Lx)))
    elif region.shape != (Ly, Lx):
        raise ValueError(f"region {region.slices} of an image of {region.image_shape} has shape {region.shape}, "
                         f"but the images are {(Ly, Lx)}")
    lattice = NetLattice(tuple(region.image_shape), float(rescale), int(bsize), float(tile_overlap), bool(augment))
    window = lattice.window(region.slices)
    net_imgs = window.to_net(imgs)
    with torch.inference_mode():
        y, styles = _run_tiled(nets, net_imgs, window, bool(augment), int(batch_size), progress)
    return window.from_net(y), styles


def _run_tiled(nets, imgs, window: NetWindow, augment, batch_size, progress):
    device = _net_device(nets)
    n_img, _, Ly, Lx = imgs.shape
    (Lyp, Lxp), (y0, x0), (by, bx) = window.canvas, window.offset, window.tile_size
    # The canvas: one float32 copy, made in pinned memory when it goes to a GPU.
    padded = torch.zeros((n_img, 2, Lyp, Lxp), dtype=torch.float32, pin_memory=device.type == "cuda")
    if any(stride < 0 for stride in imgs.strides):  # torch cannot view reversed numpy axes
        imgs = imgs.copy()
    padded[:, :, y0:y0 + Ly, x0:x0 + Lx] = torch.as_tensor(imgs, dtype=torch.float32)
    padded = padded.to(device, non_blocking=True)

    (ys, xs), (iys, ixs) = window.tiles, window.tile_index
    # One stream of tiles for all images and all four flips; batches are filled across both. The
    # flips follow each tile's index in the whole image's grid.
    tiles = [(n, int(ys[a]), int(xs[c]), _tile_flips(int(iys[a]), int(ixs[c]), augment))
             for n in range(n_img) for a in range(len(ys)) for c in range(len(xs))]

    taper = torch.as_tensor(taper_mask(by, bx), device=device)
    weight = torch.zeros((Lyp, Lxp), dtype=torch.float32, device=device)
    for sy in ys:
        for sx in xs:
            weight[sy:sy + by, sx:sx + bx] += taper
    # The taper is symmetric, so it commutes with the flips; a flipped tile's flow along each
    # flipped axis changes sign: one signed taper per flip, applied in place to the output.
    signed_tapers = {dims: _signed_taper(taper, dims) for dims in {t[3] for t in tiles}}

    acc = style_sum = None
    n_batches = math.ceil(len(tiles) / batch_size)
    if progress is not None:
        progress("network", 0.0)
    for b in range(n_batches):
        batch = tiles[b * batch_size:(b + 1) * batch_size]
        inp = torch.empty((len(batch), 2, by, bx), dtype=torch.float32, device=device)
        for k, (n, sy, sx, dims) in enumerate(batch):
            tile = padded[n, :, sy:sy + by, sx:sx + bx]
            inp[k] = torch.flip(tile, dims) if dims else tile
        out, style = _ensemble_forward(nets, inp)
        if acc is None:
            acc = torch.zeros((n_img, out.shape[1], Lyp, Lxp), dtype=torch.float32, device=device)
            style_sum = torch.zeros((n_img, style.shape[1]), dtype=torch.float32, device=device)
        for k, (n, sy, sx, dims) in enumerate(batch):
            o = out[k].mul_(signed_tapers[dims])
            acc[n, :, sy:sy + by, sx:sx + bx] += torch.flip(o, dims) if dims else o
        style_sum.index_add_(0, torch.tensor([t[0] for t in batch], device=device), style)
        if progress is not None:
            progress("network", (b + 1) / n_batches)

    y = acc[:, :, y0:y0 + Ly, x0:x0 + Lx].div_(weight[y0:y0 + Ly, x0:x0 + Lx])
    styles = style_sum / (len(ys) * len(xs))
    styles = styles / styles.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return _to_numpy(y), _to_numpy(styles)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    """A C-contiguous float32 numpy array (no copy for a contiguous CPU float32 tensor)."""
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


def _signed_taper(taper: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """(3, by, bx): the taper for every output channel, negated on the flow along each flipped
    axis (channel 0 = Y flow for dim 1, channel 1 = X flow for dim 2)."""
    signed = taper.expand(3, *taper.shape).clone()
    for d in dims:
        signed[d - 1].neg_()
    return signed


def _tile_flips(iy: int, ix: int, augment: bool) -> tuple[int, ...]:
    """The spatial dims (1 = Y, 2 = X of a (C, Y, X) tile) flipped for tile (iy, ix) of the grid."""
    if not augment:
        return ()
    return tuple(d for d, odd in ((1, iy % 2), (2, ix % 2)) if odd)


def _ensemble_forward(nets, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nets' mean output (B, C, by, bx) and style (B, D), float32; the caller may change the
    output in place (a net's own output tensor when there is one net)."""
    out_sum, style_sum = None, None
    for net in nets:
        out, style = net(inp)
        out, style = out.float(), style.float()
        out_sum = out if out_sum is None else out_sum.add_(out)
        style_sum = style if style_sum is None else style_sum.add_(style)
    if len(nets) > 1:
        out_sum.div_(len(nets))
        style_sum.div_(len(nets))
    return out_sum, style_sum
