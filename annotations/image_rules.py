"""What an uploaded image must be to be read without guessing: its axes known, its values usable.

Axes. The engine guesses axes from the shape (`io.image_info`): an axis of at most 4 is channels.
A 3D array with no such axis is read as a stack (Z, Y, X) only when its first axis is the smallest
of the three and has more than `MIN_GUESSED_PLANES` planes; anything else ((5, 64, 64): 5 planes or
5 channels? (64, 64, 5), (64, 64, 100)) is refused with a message asking for the axes, which the
uploader then names (API field ``axes``: one of `display.SUPPORTED_AXES`).

Values. Float images with NaN or infinite pixels, or values beyond the float32 range that the
network computes in, are refused at upload, naming how many pixels are affected.
"""
import numpy as np

from annotations import display
from cellposeweb.exceptions import ApplicationError

MIN_GUESSED_PLANES = 8
FLOAT32_MAX = float(np.finfo(np.float32).max)


def resolve_axes(array: np.ndarray, guessed: str | None, given: str | None, *, name: str) -> str:
    """The axes of ``array``: ``given`` if the uploader named them, else the unambiguous guess.

    Raises ApplicationError saying what to do when the axes cannot be told.
    """
    shape = tuple(array.shape)
    if given:
        if given not in display.SUPPORTED_AXES or len(given) != array.ndim:
            fitting = [a for a in display.SUPPORTED_AXES if len(a) == array.ndim]
            raise ApplicationError(f"axes: {given!r} does not fit an image of shape {shape}; "
                                   f"choose one of {', '.join(fitting)}.")
        return given
    if guessed not in display.SUPPORTED_AXES:
        raise ApplicationError(
            f"{name}: cannot tell the axes of an image of shape {shape}; expected a 2D image (Y, X), with up "
            "to 4 channels (Y, X, C) or (C, Y, X), or a stack (Z, Y, X) or (Z, C, Y, X)."
        )
    if guessed == "ZYX" and not (shape[0] < min(shape[1:]) and shape[0] > MIN_GUESSED_PLANES):
        raise ApplicationError(
            f"{name}: an image of shape {shape} could be a stack of {shape[0]} planes or an image with "
            f"{shape[0]} or {shape[-1]} channels; upload it again naming its axes (axes = ZYX, CYX or YXC)."
        )
    return guessed


def check_values(array: np.ndarray, *, name: str) -> None:
    """Refuse float images with NaN/inf pixels or values the network's float32 cannot hold."""
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    n_bad = int(finite.size - np.count_nonzero(finite))
    largest = float(np.abs(array[finite]).max()) if n_bad < array.size else 0.0
    check_value_summary(n_bad=n_bad, largest=largest, name=name)


def check_value_summary(*, n_bad: int, largest: float, name: str) -> None:
    """`check_values` from counts gathered elsewhere (a large image, checked band by band):
    ``n_bad`` NaN or infinite values, ``largest`` the largest absolute finite value."""
    if n_bad:
        raise ApplicationError(
            f"{name}: {n_bad} pixel value(s) are NaN or infinite; replace them (for example with 0 or the "
            "image's minimum) and upload it again."
        )
    if largest > FLOAT32_MAX:
        raise ApplicationError(f"{name}: pixel values reach {largest:.3g}, beyond the float32 "
                               f"range ({FLOAT32_MAX:.3g}) used for segmentation; rescale the image.")
