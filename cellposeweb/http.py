"""What the API views of every app share: query parsing, PNG and file responses, and the
rendering of an annotation (its JSON, its masks written in an export format).

Views import these from here, never from another app's view module. This module sits with the
views (it reads annotations and job results); domain code does not import it.
"""
from pathlib import Path

from django.http import HttpResponse
from rest_framework import serializers

from annotations import display
from annotations.files import stored_image_read
from annotations.models import Annotation, Image
from annotations.selectors import annotation_arrays
from cellposeweb.downloads import file_download  # noqa: F401  (the one download helper; re-exported for views)
from inference.engine import FORMATS, SUFFIXES, safe_stem, save_masks, save_seg_npy
from inference.seg_file import seg_npy_extras

MASK_FORMATS = tuple(f for f in FORMATS if f != "flows")
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
}
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
            "restored_from", "changes",
        ]
