"""Reading the frozen files of a contribution into arrays for the engine (and back)."""
import numpy as np

from annotations.files import load_npz, stored_image_read
from inference.engine import convert_image

CHANNELS = (0, 0)  # grayscale: the mean over colour channels (Cellpose's convention)


def channel_axis(axes: str) -> int | None:
    return axes.index("C") if "C" in axes else None


def read_image(field_file, shape) -> np.ndarray:
    """The stored image as the engine reads it (any dtype; its recorded ``shape``), through the
    one reader of stored images (annotations.files.stored_image_read)."""
    return stored_image_read(field_file, shape=shape)


def network_input(array: np.ndarray, axes: str) -> np.ndarray:
    """float32 (2, Ly, Lx): grayscale, nucleus channel zeros (not normalised)."""
    return convert_image(array, CHANNELS, channel_axis=channel_axis(axes))


def contribution_arrays(contribution) -> tuple[np.ndarray, np.ndarray]:
    """(network input float32 (2, Ly, Lx), masks int32 (Ly, Lx)) of a contribution."""
    image = network_input(read_image(contribution.image_file, contribution.image_shape), contribution.image_axes)
    masks = load_npz(contribution.masks_file)["masks"].astype(np.int32)
    return image, masks


def contribution_prediction(contribution) -> np.ndarray | None:
    if not contribution.prediction_file:
        return None
    return load_npz(contribution.prediction_file)["masks"].astype(np.int32)
