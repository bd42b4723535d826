"""Reading a large image file a band of rows at a time, never the whole image at once.

A `BandSource` presents the file as an array of shape (Lz, Ly, Lx, C) (C = 1 for grey images)
and hands out bands ``[z, y0:y1, :, :]``. TIFF files (plain, BigTIFF, OME-TIFF, pyramidal TIFF,
SVS) are decoded strip by strip or tile by tile with tifffile, so memory holds one band and the
strips or tiles it overlaps; of a pyramidal file only the full-resolution level is read. PNG and
JPEG are decoded whole by the engine's reader (their size is limited anyway).

How a TIFF's pages map to (Lz, C): a page holds one plane (Ly, Lx) with its samples (RGB or
several contiguous or separate samples) as channels. Pages beyond the first are planes of a stack
(tifffile axes Z, I, Q or T) or, for an axis named C, channels; at most one of each.
"""
import math
from pathlib import Path

import numpy as np
import tifffile

from inference.engine import ImageReadError, imread

__all__ = ["BandSource", "open_source"]

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
PLANE_AXES = set("ZIQT")


class BandSource:
    """An image file read in bands of rows.

    shape : (Lz, Ly, Lx, C) of the full-resolution image. dtype : its numpy dtype.
    axes : "YX", "YXC", "ZYX" or "ZYXC", the layout the stored pyramid gets (channels last).
    """

    shape: tuple
    dtype: np.dtype
    axes: str

    def band(self, z: int, y0: int, y1: int) -> np.ndarray:
        """ndarray of ``dtype``, shape (y1 - y0, Lx, C): rows y0..y1-1 of plane z."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _axes(n_planes: int, n_channels: int) -> str:
    return ("ZYX" if n_planes > 1 else "YX") + ("C" if n_channels > 1 else "")


class ArraySource(BandSource):
    """A decoded array (PNG, JPEG) of shape (Ly, Lx) or (Ly, Lx, C)."""

    def __init__(self, array: np.ndarray):
        if array.ndim == 2:
            array = array[..., np.newaxis]
        if array.ndim != 3:
            raise ImageReadError(f"expected a 2D image, got an array of shape {array.shape}")
        self._array = array[np.newaxis]
        self.shape = tuple(int(n) for n in self._array.shape)
        self.dtype = array.dtype
        self.axes = _axes(1, self.shape[-1])

    def band(self, z, y0, y1):
        return self._array[z, y0:y1]


class TiffSource(BandSource):
    """The first series of a TIFF file, decoded one strip or tile at a time."""

    def __init__(self, path: Path):
        self._tif = tifffile.TiffFile(path)
        try:
            self._open()
        except Exception:
            self._tif.close()
            raise

    def _open(self):
        if not self._tif.series:
            raise ImageReadError("the TIFF file holds no image")
        series = self._tif.series[0]
        self._pages = series.pages
        key = series.keyframe
        self._key = key
        s_sep, depth, height, width, s_contig = key.shaped
        if depth != 1:
            raise ImageReadError("volumetric TIFF tiles (ImageDepth > 1) are not supported")
        if key.dtype is None:
            raise ImageReadError("the TIFF's sample format is not supported")
        self._samples = int(s_sep * s_contig)
        self._separate = s_sep > 1
        axes = series.get_axes(False)
        sizes = series.get_shape(False)
        leading = [(a, int(n)) for a, n in zip(axes, sizes) if a not in "YXS" and int(n) > 1]
        n_pages = math.prod(n for _, n in leading)
        if n_pages != len(self._pages):
            raise ImageReadError(f"the TIFF's {len(self._pages)} pages do not fit its axes {axes} {tuple(sizes)}")
        planes = [n for a, n in leading if a in PLANE_AXES]
        channels = [n for a, n in leading if a == "C"]
        if len(leading) != len(planes) + len(channels) or len(planes) > 1 or len(channels) > 1:
            raise ImageReadError(f"cannot read a TIFF with axes {series.axes}; expected planes (Z) and "
                                 "channels (C or samples) at most")
        if channels and self._samples > 1:
            raise ImageReadError(f"cannot read a TIFF with both channel pages and samples ({series.axes})")
        self._leading = [n for _, n in leading]
        self._channel_pages = bool(channels)
        self._c_index = next((i for i, (a, _) in enumerate(leading) if a == "C"), None)
        n_z = planes[0] if planes else 1
        n_c = channels[0] if channels else self._samples
        self.shape = (n_z, int(height), int(width), n_c)
        self.dtype = np.dtype(key.dtype)
        self.axes = _axes(n_z, n_c)
        self._decode = key.decode
        self._decodeargs = {}
        if key.compression in {6, 7, 34892, 33007}:  # JPEG: tables shared by the page's tiles
            self._decodeargs = {"jpegtables": key.jpegtables, "jpegheader": key.jpegheader}

    def close(self):
        self._tif.close()

    def _page_index(self, z: int, c: int) -> int:
        index = [0] * len(self._leading)
        for i in range(len(self._leading)):
            index[i] = c if i == self._c_index else z
        return int(np.ravel_multi_index(index, self._leading)) if index else 0

    def _segments(self, y0: int, y1: int):
        """Indices of the strips or tiles of one sample plane that overlap rows y0..y1-1."""
        key = self._key
        height, width = self.shape[1:3]
        if key.is_tiled:
            n_y, n_x = math.ceil(height / key.tilelength), math.ceil(width / key.tilewidth)
            rows = range(y0 // key.tilelength, (y1 - 1) // key.tilelength + 1)
            return [r * n_x + col for r in rows for col in range(n_x)], n_y * n_x
        per_strip = min(int(key.rowsperstrip) or height, height)
        n_strips = math.ceil(height / per_strip)
        return list(range(y0 // per_strip, (y1 - 1) // per_strip + 1)), n_strips

    def band(self, z, y0, y1):
        _, height, width, n_c = self.shape
        out = np.zeros((y1 - y0, width, n_c), self.dtype)
        indices, per_sample = self._segments(y0, y1)
        pages = [(c, self._page_index(z, c)) for c in range(n_c)] if self._channel_pages else [
            (0, self._page_index(z, 0))]
        samples = range(self._samples) if self._separate else [0]
        fh = self._tif.filehandle
        for c_page, p in pages:
            page = self._pages[p]
            if page is None:
                raise ImageReadError(f"page {p} of the TIFF is missing")
            for s in samples:
                for i in indices:
                    index = s * per_sample + i
                    offset, count = page.dataoffsets[index], page.databytecounts[index]
                    if not count:
                        continue  # an empty segment: zeros
                    with fh.lock:
                        fh.seek(offset)
                        data = fh.read(count)
                    segment, (s_pos, _, y, x, _), _ = self._decode(data, index, **self._decodeargs)
                    if segment is None:
                        continue
                    segment = segment[0]  # (rows, cols, contiguous samples)
                    top, bottom = max(y, y0), min(y + segment.shape[0], y1, height)
                    right = min(x + segment.shape[1], width)
                    if top >= bottom or x >= right:
                        continue
                    part = segment[top - y : bottom - y, : right - x]
                    if self._channel_pages:
                        out[top - y0 : bottom - y0, x:right, c_page] = part[..., 0]
                    elif self._separate:
                        out[top - y0 : bottom - y0, x:right, s_pos] = part[..., 0]
                    else:
                        out[top - y0 : bottom - y0, x:right, :] = part
        return out


def open_source(path: Path, *, max_pixels: int) -> BandSource:
    """A `BandSource` over the file at ``path`` (TIFF read in bands; PNG/JPEG decoded whole).

    Raises ImageReadError saying what is wrong (unknown format, unsupported layout, more than
    ``max_pixels`` values).
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic in TIFF_MAGIC:
        try:
            source = TiffSource(Path(path))
        except (tifffile.TiffFileError, ValueError, NotImplementedError) as exc:
            raise ImageReadError(f"cannot read the TIFF file: {exc}") from None
    else:
        source = ArraySource(imread(path, max_pixels=max_pixels))
    n_values = math.prod(source.shape)
    if n_values > max_pixels:
        source.close()
        raise ImageReadError(f"the image has {n_values} values, more than the limit of {max_pixels}")
    return source
