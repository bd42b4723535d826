"""Editing a rectangle of a tiled image's masks (annotations.tiled_edits): read the region's
labels and picture, save its edited labels as the next version. Same access rules as the rest of
the image's API (annotations.selectors.image_get): another user's image is a 404.

    GET  /api/images/<id>/annotation/region/?x=&y=&width=&height=[&z=][&version=]
         -> {"version", "region", "masks" (annotations.encoding), "max_label"}
    GET  /api/images/<id>/region.png?x=&y=&width=&height=[&z=]   the region's 8-bit picture
    PUT  /api/images/<id>/annotation/region/  {"version", "x", "y", "width", "height", "z", "masks"}
         -> the new version (201); 409 when ``version`` is not the latest; 400 for a region
         outside the image or larger than TILED_EDIT_MAX_SIDE on a side.
"""
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import display, tiles
from annotations.apis import AnnotationJSONParser, stale_response
from annotations.encoding import decode_labels, encode_labels
from annotations.ingest import image_display_levels
from annotations.selectors import image_get
from annotations.services import StaleVersionError
from annotations.tiled_edits import Region, region_check, region_labels, tiled_region_save
from cellposeweb.exceptions import ApplicationError, PayloadTooLargeError
from cellposeweb.http import AnnotationOutputSerializer, tiled_labels_links


class RegionSerializer(serializers.Serializer):
    x = serializers.IntegerField(min_value=0, help_text="First column (full resolution).")
    y = serializers.IntegerField(min_value=0, help_text="First row (full resolution).")
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    z = serializers.IntegerField(min_value=0, default=0, help_text="Plane (0 for a 2D image).")

    def region(self) -> Region:
        data = self.validated_data
        return Region(z=data["z"], y=data["y"], x=data["x"], height=data["height"], width=data["width"])


def parse_region(request, serializer_class=RegionSerializer, data=None):
    serializer = serializer_class(data=request.query_params if data is None else data)
    serializer.is_valid(raise_exception=True)
    return serializer


def refuse_oversized_region_body(request) -> None:
    """413 for a body larger than the labels of the largest region could need even uncompressed
    (base64 of int32 per pixel) plus room: JSON bodies are read from the stream, past Django's cap."""
    side = int(settings.TILED_EDIT_MAX_SIDE)
    if int(request.META.get("CONTENT_LENGTH") or 0) > 6 * side * side + 8 * 1024 * 1024:
        raise PayloadTooLargeError(f"The body is larger than the labels of a {side} x {side} region can be.")


class ImageRegionLabelsApi(APIView):
    """The labels of a rectangle of a tiled image's masks, and saving them edited."""

    parser_classes = [AnnotationJSONParser]

    class QuerySerializer(RegionSerializer):
        version = serializers.IntegerField(min_value=1, required=False, help_text="Default: the latest.")

    class InputSerializer(RegionSerializer):
        version = serializers.IntegerField(min_value=1, allow_null=True,
                                           help_text="The version the edits started from (409 if not the latest).")
        masks = serializers.JSONField(help_text="The region's labels (annotations.encoding).")

    @extend_schema(parameters=[QuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        query = parse_region(request, self.QuerySerializer)
        region = query.region()
        annotation, labels = region_labels(image, region, version=query.validated_data.get("version"))
        return Response({
            "version": annotation.version, "labels_key": annotation.labels_key,
            "region": {"x": region.x, "y": region.y, "width": region.width, "height": region.height, "z": region.z},
            "masks": encode_labels(labels),
        })

    @extend_schema(request=InputSerializer, responses={201: AnnotationOutputSerializer, 409: OpenApiTypes.OBJECT})
    def put(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        refuse_oversized_region_body(request)
        body = parse_region(request, self.InputSerializer, data=request.data)
        region = region_check(image, body.region())
        try:
            labels = decode_labels(body.validated_data["masks"], expected_shape=(region.height, region.width))
        except ValueError as exc:
            raise ApplicationError(str(exc)) from None
        try:
            annotation = tiled_region_save(image=image, region=region, labels=labels,
                                           base_version=body.validated_data["version"], created_by=request.user)
        except StaleVersionError as exc:
            return stale_response(exc)
        return Response({**AnnotationOutputSerializer(annotation).data, "labels": tiled_labels_links(annotation)},
                        status=status.HTTP_201_CREATED)


class ImageRegionPictureApi(APIView):
    """The 8-bit picture (PNG) of a rectangle of an image at full resolution, levelled as its
    tiles are: what the region editor draws under the labels."""

    @extend_schema(parameters=[RegionSerializer], responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        region = region_check(image, parse_region(request).region())
        image_display_levels(image=image)
        picture = tiles.render_region(image, level=0, z=region.z, rows=slice(region.y, region.y + region.height),
                                      cols=slice(region.x, region.x + region.width))
        response = HttpResponse(display.png_bytes(picture), content_type="image/png")
        response["Cache-Control"] = "private, max-age=86400"
        return response
