"""Image preparation for the network: channel selection, percentile normalisation, resizing.

Every image the network sees has two channels, channels first: (cytoplasm, nucleus-or-zeros), each
scaled so that its 1st and 99th percentiles map to 0 and 1 (Stringer et al. 2020, "Image
preprocessing").

Axis layouts accepted by `convert_image` (Ly, Lx are the image rows and columns, C the colour
channels, Lz the planes of a stack)::

    2D image       (Ly, Lx)            (Ly, Lx, C)         (C, Ly, Lx)
    3D stack       (Lz, Ly, Lx)        (Lz, Ly, Lx, C)     (Lz, C, Ly, Lx)     (C, Lz, Ly, Lx)

When `channel_axis` / `z_axis` are not given the axes are guessed: a trailing axis of size <= 4 is
the channel axis, otherwise a leading one (axis 1 and then axis 0 for 4D arrays); a 3D array with no
axis of size <= 4 is a stack only when `do_3d=True` (otherwise it is refused as ambiguous); the Z axis
of a 4D array is the first axis that is not the channel axis. Pass the axes explicitly whenever an
image could be read both ways (for example a 3-plane grayscale stack with `do_3d=False`).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["convert_image", "normalize99", "resize_image"]

MAX_CHANNELS_GUESS = 4

_CHANNEL_NAMES = {0: "grayscale", 1: "R (channel 1)", 2: "G (channel 2)", 3: "B (channel 3)"}


def convert_image(
    image,
    channels=(0, 0),
    *,
    channel_axis: int | None = None,
    z_axis: int | None = None,
    do_3d: bool = False,
) -> np.ndarray:
    """Select the network's two input channels from an image of any common layout.

    Parameters
    ----------
    image : ndarray of a real dtype, 2 to 4 dimensions
        One of the layouts in the module docstring.
    channels : pair of int
        Cellpose's convention ``(cyto, nucleus)``. ``cyto``: 0 = grayscale (the mean over all colour
        channels), 1/2/3 = the 1st/2nd/3rd colour channel (R/G/B). ``nucleus``: 0 = none (a channel of
        zeros), 1/2/3 = the 1st/2nd/3rd colour channel.
    channel_axis, z_axis : int, optional
        The colour-channel axis and the Z (plane) axis of `image`, negative values allowed.
        Guessed when not given (see the module docstring).
    do_3d : bool
        Read a 3D array without an explicit channel axis as a (Lz, Ly, Lx) stack.

    Returns
    -------
    ndarray of float32, shape (2, Ly, Lx) or, for stacks, (Lz, 2, Ly, Lx)
        Channel 0 = cytoplasm, channel 1 = nucleus or zeros. Not normalised (see `normalize99`).

    Raises
    ------
    ValueError
        For a layout that cannot be read, an ambiguous one, or a channel the image does not have.
    """
    arr = np.asarray(image)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"image must be a real-valued array (integer or float), got dtype {arr.dtype}")
    if arr.ndim not in (2, 3, 4):
        raise ValueError(
            "image must be (Ly, Lx), (Ly, Lx, C), (C, Ly, Lx), (Lz, Ly, Lx), (Lz, Ly, Lx, C) or "
            f"(Lz, C, Ly, Lx); got shape {arr.shape}"
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values; replace them before segmenting")
    cyto, nucleus = _check_channels(channels)
    c_ax, z_ax = _find_axes(arr.shape, channel_axis, z_axis, do_3d)

    # Reorder to ([Z,] C, Y, X).
    if c_ax is None:
        arr = arr[np.newaxis] if z_ax is None else np.moveaxis(arr, z_ax, 0)[:, np.newaxis]
    elif z_ax is None:
        arr = np.moveaxis(arr, c_ax, 0)
    else:
        arr = np.moveaxis(arr, (z_ax, c_ax), (0, 1))
    if arr.shape[-1] < 1 or arr.shape[-2] < 1:
        raise ValueError(f"image has an empty spatial axis: Y, X sizes are {arr.shape[-2:]}")
    n_colour = arr.shape[-3]
    for which, k in (("channels[0]", cyto), ("channels[1]", nucleus)):
        if k > n_colour:
            raise ValueError(
                f"{which}={k} selects {_CHANNEL_NAMES[k]} but the image has {n_colour} channel(s) "
                f"(channel axis read as {c_ax if c_ax is not None else 'absent'}, shape {np.shape(image)})"
            )

    # One float32 output, channels filled in place (no intermediate copies of the image).
    out = np.empty(arr.shape[:-3] + (2,) + arr.shape[-2:], np.float32)
    if cyto == 0:
        np.mean(arr, axis=-3, dtype=np.float32, out=out[..., 0, :, :])
    else:
        out[..., 0, :, :] = arr[..., cyto - 1, :, :]
    if nucleus == 0:
        out[..., 1, :, :] = 0.0
    else:
        out[..., 1, :, :] = arr[..., nucleus - 1, :, :]
    return out


def _check_channels(channels) -> tuple[int, int]:
    try:
        cyto, nucleus = (int(c) for c in channels)
    except (TypeError, ValueError):
        raise ValueError(f"channels must be a pair of ints (cyto, nucleus), got {channels!r}") from None
    if not (0 <= cyto <= 3 and 0 <= nucleus <= 3):
        raise ValueError(
            "channels must be (cyto, nucleus) with cyto in 0..3 (0 = grayscale, 1/2/3 = R/G/B) and "
            f"nucleus in 0..3 (0 = none, 1/2/3 = R/G/B); got {tuple(channels)}"
        )
    return cyto, nucleus


def _normalise_axis(axis: int | None, ndim: int, name: str) -> int | None:
    if axis is None:
        return None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an image with {ndim} dimensions")
    return axis % ndim


def _find_axes(shape, channel_axis, z_axis, do_3d) -> tuple[int | None, int | None]:
    """The (channel axis, Z axis) of an image of this shape; None where absent."""
    ndim = len(shape)
    c_ax = _normalise_axis(channel_axis, ndim, "channel_axis")
    z_ax = _normalise_axis(z_axis, ndim, "z_axis")
    if c_ax is not None and c_ax == z_ax:
        raise ValueError(f"channel_axis and z_axis are the same axis ({c_ax})")

    if ndim == 2:
        if c_ax is not None or z_ax is not None:
            raise ValueError(f"a 2D image (Ly, Lx) has no channel or Z axis; got shape {shape}")
        return None, None

    if ndim == 3:
        if c_ax is not None and z_ax is not None:
            raise ValueError(
                "a 3D array is either (Lz, Ly, Lx) or a 2D image with channels, not both; "
                f"got shape {shape} with channel_axis and z_axis"
            )
        if c_ax is not None or z_ax is not None:
            return c_ax, z_ax
        if do_3d:
            return None, 0
        if shape[-1] <= MAX_CHANNELS_GUESS:
            return 2, None
        if shape[0] <= MAX_CHANNELS_GUESS:
            return 0, None
        raise ValueError(
            f"cannot tell the layout of an image of shape {shape}: no axis of size <= "
            f"{MAX_CHANNELS_GUESS} to read as channels. For a (Lz, Ly, Lx) stack pass do_3d=True "
            "(or z_axis=0); for a many-channel 2D image pass channel_axis"
        )

    # ndim == 4: a stack with channels.
    if c_ax is None:
        candidates = [a for a in (3, 1, 0) if a != z_ax and shape[a] <= MAX_CHANNELS_GUESS]
        if not candidates:
            raise ValueError(
                f"cannot find the channel axis of a 4D image of shape {shape}: expected "
                f"(Lz, Ly, Lx, C), (Lz, C, Ly, Lx) or (C, Lz, Ly, Lx) with C <= {MAX_CHANNELS_GUESS}; "
                "pass channel_axis"
            )
        c_ax = candidates[0]
    if z_ax is None:
        z_ax = next(a for a in range(4) if a != c_ax)
    return c_ax, z_ax


def normalize99(
    x, lower: float = 1.0, upper: float = 99.0, *, channel_axis: int | None = 0, copy: bool = True
) -> np.ndarray:
    """Scale each channel so that its `lower` and `upper` percentiles map to 0 and 1.

    Parameters
    ----------
    x : ndarray of a real dtype
        For example (C, Ly, Lx) with ``channel_axis=0`` or (Lz, C, Ly, Lx) with ``channel_axis=1``;
        each channel is normalised over all its other axes.
    lower, upper : float
        Percentiles, ``0 <= lower < upper <= 100``.
    channel_axis : int or None
        The channel axis; None normalises the whole array as one channel.
    copy : bool
        False: a float32 `x` is normalised in place and returned (other dtypes are still copied).

    Returns
    -------
    ndarray of float32, the shape of `x`
        Values are not clipped. A channel whose two percentiles are equal (constant, or all zero) is
        returned as ``x - lower percentile``: zeros where it is constant, never NaN.
    """
    arr = np.asarray(x)
    if arr.dtype != np.float32:
        arr, copy = arr.astype(np.float32), False  # already a copy
    if not 0.0 <= lower < upper <= 100.0:
        raise ValueError(f"normalize99 needs 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
    if arr.size == 0:
        raise ValueError(f"normalize99 got an empty array of shape {arr.shape}")
    if channel_axis is None:
        flat = arr.reshape(1, -1)
        view_shape = (1,) * arr.ndim
    else:
        ax = _normalise_axis(channel_axis, arr.ndim, "channel_axis")
        flat = np.moveaxis(arr, ax, 0).reshape(arr.shape[ax], -1)
        view_shape = tuple(arr.shape[ax] if i == ax else 1 for i in range(arr.ndim))
    lo, hi = np.percentile(flat, [lower, upper], axis=1).astype(np.float32)
    scale = hi - lo
    with np.errstate(divide="ignore"):
        inv = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 1.0).astype(np.float32)
    if copy or not arr.flags.writeable:
        out = np.subtract(arr, lo.reshape(view_shape))
    else:
        out = np.subtract(arr, lo.reshape(view_shape), out=arr)
    out *= inv.reshape(view_shape)
    return out


def resize_image(img, Ly: int, Lx: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize the last two axes of an image or a stack of images with OpenCV.

    Parameters
    ----------
    img : ndarray of a real dtype, shape (Ly0, Lx0), (C, Ly0, Lx0) or (N, C, Ly0, Lx0)
        Every leading index is one 2D image.
    Ly, Lx : int
        The new size, >= 1.
    interpolation : int
        An OpenCV interpolation flag; bilinear by default.

    Returns
    -------
    ndarray of float32, shape (..., Ly, Lx)
    """
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim < 2:
        raise ValueError(f"resize_image needs (Ly, Lx), (C, Ly, Lx) or (N, C, Ly, Lx); got shape {arr.shape}")
    Ly, Lx = int(Ly), int(Lx)
    if Ly < 1 or Lx < 1:
        raise ValueError(f"resize_image needs a target size >= 1, got ({Ly}, {Lx})")
    lead = arr.shape[:-2]
    if arr.shape[-2:] == (Ly, Lx):
        return arr.copy()
    planes = arr.reshape(-1, *arr.shape[-2:])
    out = np.empty((planes.shape[0], Ly, Lx), dtype=np.float32)
    for i, plane in enumerate(planes):
        cv2.resize(plane, (Lx, Ly), dst=out[i], interpolation=interpolation)  # written in place
    return out.reshape(*lead, Ly, Lx)
