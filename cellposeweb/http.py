"""What the API views of every app share: query parsing, PNG and file responses, and the
rendering of an annotation (its JSON, its masks written in an export format).

Views import these from here, never from another app's view module. This module sits with the
views (it reads annotations and job results); domain code does not import it.
"""
from pathlib import Path

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from rest_framework import serializers

from annotations import display
from annotations.files import stored_image_read
from annotations.models import Annotation, Image
from annotations.selectors import annotation_arrays
from annotations.tiled_exports import TILED_FORMATS, tiled_export_chunks
from cellposeweb.exceptions import ApplicationError
from cellposeweb.downloads import file_download  # noqa: F401  (the one download helper; re-exported for views)
from inference.engine import FORMATS, SUFFIXES, safe_stem, save_masks, save_seg_npy
from inference.seg_file import seg_npy_extras

MASK_FORMATS = tuple(f for f in FORMATS if f != "flows")
DOWNLOAD_FORMATS = MASK_FORMATS + ("zarr",)  # zarr: OME-Zarr labels, for tiled images only
CONTENT_TYPES = {
    "png": "image/png",
    "tif": "image/tiff",
    "npy": "application/octet-stream",
    "roi": "application/zip",
    "txt": "text/plain",
    "geojson": "application/geo+json",
    "coco": "application/json",
    "csv": "text/csv",
    "flows": "image/tiff",
    "zarr": "application/zip",
}
TILED_SUFFIXES = {"geojson": "_masks.geojson", "csv": "_cells.csv", "zarr": "_labels.zarr.zip"}
PRIVATE_CACHE = "private, max-age=3600"


def read_image_array(image: Image):
    """The image's pixels as the engine reads them (annotations.files.stored_image_read)."""
    return stored_image_read(image.file, shape=image.shape)


def png_response(picture) -> HttpResponse:
    response = HttpResponse(display.png_bytes(picture), content_type="image/png")
    response["Cache-Control"] = PRIVATE_CACHE
    return response


class PlaneSerializer(serializers.Serializer):
    plane = serializers.IntegerField(min_value=0, required=False, help_text="Z index (default: middle).")


def parse_query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def write_masks(annotation: Annotation, fmt: str, directory: Path) -> Path:
    """Write an annotation's masks with the engine's exporter as ``<image stem>_v<version><suffix>``:
    the name says which saved version the file holds, and two versions never share a name."""
    image = annotation.image
    masks, ismanual = annotation_arrays(annotation)
    base = directory / f"{safe_stem(image.name)}_v{annotation.version}"
    if fmt == "csv":
        return save_masks(base, masks, formats=["csv"], image=read_image_array(image))[0]
    if fmt != "npy":
        return save_masks(base, masks, formats=[fmt], filename=image.name)[0]
    # The Cellpose GUI file, with the flows, diameter and channels (also after edits) and which
    # cells were drawn by hand.
    path = base.with_name(base.name + SUFFIXES["npy"])
    save_seg_npy(
        path, image=read_image_array(image), masks=masks, filename=image.name, ismanual=ismanual,
        **seg_npy_extras(annotation, masks),
    )
    return path


class AnnotationOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Annotation
        fields = [
            "version", "n_masks", "source", "created_by", "created_at", "job", "summary", "base_version",
            "restored_from", "changes", "labels_key",
        ]


def tiled_masks_response(annotation: Annotation, fmt: str) -> StreamingHttpResponse:
    """A tiled version's masks streamed as GeoJSON, the cell table as CSV, or the OME-Zarr labels
    as a zip (annotations.tiled_exports); a format that needs the whole masks array is refused
    with the formats that work."""
    image = annotation.image
    if fmt not in TILED_FORMATS:
        size = " x ".join(str(n) for n in display.spatial_shape(image.shape, image.axes))
        raise ApplicationError(
            f"format: {image.name} is a large tiled image ({size} pixels); {fmt} needs its whole masks array "
            f"in one piece. Download its masks as {', '.join(TILED_FORMATS)} instead."
        )
    stem = f"{safe_stem(image.name)}_v{annotation.version}"
    chunks = tiled_export_chunks(annotation, fmt, folder=f"{stem}_labels.zarr")
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, stem + TILED_SUFFIXES[fmt])
    response["Cache-Control"] = "private, no-store"
    return response


def tiled_labels_links(annotation: Annotation) -> dict:
    """Where a tiled version's masks are read: its label tiles (a URL template) and its downloads."""
    base = f"/api/images/{annotation.image_id}"
    return {
        "key": annotation.labels_key,
        "tiles": f"{base}/labels/{annotation.labels_key}/tiles/{{level}}/{{z}}/{{col}}/{{row}}.bin",
        "downloads": {fmt: f"{base}/masks/?format={fmt}&version={annotation.version}" for fmt in TILED_FORMATS},
    }
