"""REST API for images and their annotations. Views are thin: validate, call a service or a
selector, render. Which images a user may touch is decided by the selectors (cellposeweb.access)."""
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, HttpResponse
from django.template.defaultfilters import filesizeformat
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import display, slides, tiles
from annotations.encoding import decode_labels, encode_labels
from annotations.ingest import image_display_levels
from annotations.models import Annotation, Image, MaskOrigin
from annotations.tiled_masks import refuse_tiled_image
from annotations.upload_ingest import image_upload, upload_data
from annotations.selectors import (
    annotation_get,
    annotation_load,
    annotation_versions,
    image_get,
    image_list,
)
from annotations.services import (
    StaleVersionError,
    annotation_restore,
    annotation_save,
    image_delete,
)
from cellposeweb.exceptions import ApplicationError, NotFoundError, PayloadTooLargeError
from cellposeweb.http import (
    CONTENT_TYPES,
    DOWNLOAD_FORMATS,
    MASK_FORMATS,
    PRIVATE_CACHE,
    AnnotationOutputSerializer,
    PlaneSerializer,
    file_download,
    parse_query,
    png_response,
    read_image_array,
    tiled_labels_links,
    tiled_masks_response,
    write_masks,
)
from cellposeweb.pagination import Pagination
from cellposeweb.parsers import parse_json
from cellposeweb.throttles import UploadRateThrottle
from inference.recipe import annotation_recipe

class ImageOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    n_masks = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id", "name", "owner", "shape", "dtype", "axes", "is_3d", "n_channels", "size_bytes", "sha256",
            "created_at", "latest_version", "n_masks", "thumbnail_url", "tiled",
        ]

    def get_thumbnail_url(self, image) -> str:
        return f"/api/images/{image.pk}/thumbnail/"


def with_latest_annotation(images):
    latest = Annotation.objects.filter(image=OuterRef("pk")).order_by("-version")
    return images.select_related("owner").annotate(
        latest_version=Subquery(latest.values("version")[:1]), n_masks=Subquery(latest.values("n_masks")[:1])
    )


def image_data(image: Image) -> dict:
    return ImageOutputSerializer(with_latest_annotation(Image.objects.filter(pk=image.pk)).get()).data


class ImageListUploadApi(APIView):
    """``GET``: your images (an administrator's: everyone's), newest first (``?search=`` on the name,
    ``?owner=`` a username, paginated).
    ``POST``: upload an image (multipart field ``file``; TIFF, PNG or JPEG): 201 with the image, or
    for a tiled-size image 202 with the upload whose ingest runs in the background (poll its
    ``url`` until ``status`` is done; annotations.upload_ingest)."""

    parser_classes = [MultiPartParser, FormParser]

    class ImageUploadInputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True, use_url=False)
        axes = serializers.ChoiceField(
            choices=display.SUPPORTED_AXES, required=False,
            help_text="The image's axes, needed when its shape is ambiguous (e.g. (5, 64, 64): ZYX or CYX).")

    def get_throttles(self):
        if self.request.method == "POST":
            return [UploadRateThrottle()]
        return super().get_throttles()

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Part of the image name."),
                    OpenApiParameter("owner", str, description="The owner's username (administrators)."),
                    OpenApiParameter("page", int)],
        responses=ImageOutputSerializer(many=True),
    )
    def get(self, request):
        search = request.query_params.get("search", "").strip()
        owner = request.query_params.get("owner", "").strip()
        images = with_latest_annotation(image_list(user=request.user, search=search, owner=owner))
        paginator = Pagination()
        page = paginator.paginate_queryset(images, request, view=self)
        return paginator.get_paginated_response(ImageOutputSerializer(page, many=True).data)

    @extend_schema(request=ImageUploadInputSerializer, responses={201: ImageOutputSerializer, 202: OpenApiTypes.OBJECT})
    def post(self, request):
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.UPLOAD_MAX_BYTES + 1024 * 1024:  # multipart framing allowance
            limit = filesizeformat(settings.UPLOAD_MAX_BYTES).replace("\xa0", " ")
            raise PayloadTooLargeError(f"The upload is larger than the upload limit of {limit}.")
        serializer = self.ImageUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = image_upload(owner=request.user, uploaded_file=serializer.validated_data["file"],
                              axes=serializer.validated_data.get("axes"))
        if isinstance(result, Image):
            return Response(image_data(result), status=status.HTTP_201_CREATED)
        body = upload_data(result)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageOutputSerializer)
    def get(self, request, image_id):
        return Response(image_data(image_get(user=request.user, image_id=image_id)))

    @extend_schema(responses={204: None})
    def delete(self, request, image_id):
        image_delete(image=image_get(user=request.user, image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageThumbnailApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        response = FileResponse(image.thumbnail.open("rb"), content_type="image/png")
        response["Cache-Control"] = PRIVATE_CACHE
        return response


class ImageDataApi(APIView):
    """One plane of the image as an 8-bit PNG for display: each channel scaled by the image's
    display levels (its 1st to 99th percentile, recorded at ingest); ``channel`` shows one channel
    in grey, otherwise channels are composed as RGB. A tiled image is refused (400): read it tile
    by tile (``pyramid/``, ``tiles/``)."""

    class QuerySerializer(PlaneSerializer):
        channel = serializers.IntegerField(min_value=0, required=False, help_text="0-based channel (default: all).")

    @extend_schema(parameters=[QuerySerializer], responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        query = parse_query(self.QuerySerializer, request)
        refuse_tiled(image)
        levels = image_display_levels(image=image)
        try:
            picture = display.render_plane(
                read_image_array(image), image.axes, plane=query.get("plane"), channel=query.get("channel"),
                levels=levels,
            )
        except ValueError as exc:
            raise ApplicationError(str(exc)) from None
        return png_response(picture)


def refuse_tiled(image: Image) -> None:
    """A 400 for a view that reads the whole image, when the image is tiled (read its tiles)."""
    if not slides.is_tiled(image):
        return
    info = tiles.pyramid_info(image)
    last = info["levels"][-1]
    raise ApplicationError(
        f"{image.name} is a large image ({info['width']} x {info['height']} pixels) stored as tiles; read it "
        f"tile by tile: GET /api/images/{image.pk}/pyramid/ lists its levels and "
        f"/api/images/{image.pk}/tiles/<level>/<z>/<col>/<row>.png returns 512 x 512 tiles (level "
        f"{last['level']} is a {last['width']} x {last['height']} overview)."
    )


class ImageChannelsApi(APIView):
    """One plane's stored values, every channel, little-endian in C order, shape (C, Ly, Lx) (the
    ``X-Array-Shape`` header, e.g. ``3,512,512``) and type uint8, uint16, int16 as stored, else float32
    (``X-Array-Dtype``): what the viewer measures cells and sets display levels from. Non-finite values
    are sent as 0. A plane of more than ``CHANNEL_VALUES_MAX`` values is refused (400), and so is a tiled
    image (its tiles are levelled on the server)."""

    @extend_schema(parameters=[PlaneSerializer], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        query = parse_query(PlaneSerializer, request)
        refuse_tiled(image)
        sizes = dict(zip(image.axes, image.shape))
        n_values = sizes.get("C", 1) * sizes.get("Y", 1) * sizes.get("X", 1)
        if n_values > settings.CHANNEL_VALUES_MAX:
            raise ApplicationError(
                f"One plane of {image.name} holds {n_values:,} channel values, more than the viewer may load "
                f"({settings.CHANNEL_VALUES_MAX:,}, CHANNEL_VALUES_MAX); its picture still shows."
            )
        try:
            values = display.channel_values(read_image_array(image), image.axes, plane=query.get("plane"))
        except ValueError as exc:
            raise ApplicationError(str(exc)) from None
        response = HttpResponse(values.tobytes(), content_type="application/octet-stream")
        response["X-Array-Shape"] = ",".join(str(n) for n in values.shape)
        response["X-Array-Dtype"] = values.dtype.name
        response["Cache-Control"] = PRIVATE_CACHE
        return response


def annotation_or_404(image: Image, version=None) -> Annotation:
    annotation = annotation_get(image=image, version=version)
    if annotation is None:
        if version is None:
            raise NotFoundError(f"{image.name} has no masks yet; segment it or save an annotation first.")
        raise NotFoundError(f"{image.name} has no annotation version {version}.")
    return annotation


class ImageMasksApi(APIView):
    """Download the current masks (or ``version``) in one format, named after the image and the
    version (``<image>_v<version>_masks.png``). A large tiled image's masks stream as geojson
    (the default), csv (the per-cell table) or zarr (the OME-Zarr labels, zipped)."""

    class QuerySerializer(serializers.Serializer):
        format = serializers.ChoiceField(
            choices=DOWNLOAD_FORMATS, required=False,
            help_text="Default: png (tif for stacks; geojson for tiled images). zarr: tiled images only."
        )
        version = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(parameters=[QuerySerializer], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        query = parse_query(self.QuerySerializer, request)
        annotation = annotation_or_404(image, query.get("version"))
        if annotation.labels_key:
            return tiled_masks_response(annotation, query.get("format") or "geojson")
        fmt = query.get("format") or ("tif" if image.is_3d else "png")
        if fmt == "zarr":
            raise ApplicationError(f"format: zarr (OME-Zarr labels) is for large tiled images; {image.name} is "
                                   f"small enough for {', '.join(MASK_FORMATS)}.")
        tmpdir = Path(tempfile.mkdtemp(prefix="cellposeweb-masks-"))
        try:
            try:
                path = write_masks(annotation, fmt, tmpdir)
            except ValueError as exc:
                raise ApplicationError(str(exc)) from None
            return file_download(path, filename=path.name, content_type=CONTENT_TYPES[fmt])
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


ORIGIN_LABELS = {origin.value: origin.label for origin in MaskOrigin}


class AnnotationJSONParser(BaseParser):
    """JSON read from the request stream. DRF's JSONParser goes through ``request.body``, which
    Django caps at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), less than the masks of a large image or
    stack; the annotation view bounds the body by the image's size instead (413)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read())


class ImageAnnotationApi(APIView):
    """``GET``: the current annotation (or ``?version=``) with its masks in the compact encoding
    (annotations.encoding) and each mask's origin (``origins[k - 1]`` for label k).
    ``PUT``: save edited masks as the next version, if ``version`` is still the latest (else 409
    with ``current_version``); returns the new version."""

    parser_classes = [AnnotationJSONParser]

    class QuerySerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1, required=False)

    class AnnotationInputSerializer(serializers.Serializer):
        version = serializers.IntegerField(
            min_value=0, allow_null=True, help_text="The version the edit started from (null or 0: none)."
        )
        masks = serializers.JSONField(help_text="The compact encoding (see annotations.encoding).")
        origins = serializers.JSONField(
            required=False,
            help_text='Optional: "model", "manual", "edited" or null for label k at index k - 1; '
            "missing ones are worked out by comparing with the base version.",
        )
        ismanual = serializers.ListField(
            child=serializers.BooleanField(), required=False, allow_empty=True,
            help_text="The Cellpose GUI's flags, instead of origins (true = manual, false = model).",
        )

        def validate_origins(self, value):
            if not isinstance(value, list) or not all(o is None or isinstance(o, str) for o in value):
                raise serializers.ValidationError("Expected a list of origins (strings or null), one per label.")
            return value

    @extend_schema(
        parameters=[QuerySerializer],
        responses=inline_serializer(
            "AnnotationWithMasks",
            {
                "version": serializers.IntegerField(),
                "n_masks": serializers.IntegerField(),
                "masks": serializers.JSONField(),
                "origins": serializers.ListField(child=serializers.CharField()),
                "ismanual": serializers.ListField(child=serializers.BooleanField()),
                "recipe": serializers.JSONField(
                    allow_null=True, help_text="How the masks were made (inference.recipe); null: by hand."
                ),
                "labels": serializers.JSONField(
                    required=False, help_text="A tiled version (masks null): its label tile URL template and downloads."
                ),
            },
        ),
    )
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        annotation = annotation_or_404(image, parse_query(self.QuerySerializer, request).get("version"))
        data = AnnotationOutputSerializer(annotation).data
        if annotation.labels_key:  # a tiled version: its masks are read as label tiles
            return Response({**data, "masks": None, "origins": None, "ismanual": None,
                             "labels": tiled_labels_links(annotation), "recipe": annotation_recipe(annotation)})
        masks, origins = annotation_load(annotation)
        names = [ORIGIN_LABELS[int(o)] for o in origins.tolist()]
        return Response(
            {
                **data, "masks": encode_labels(masks), "origins": names, "ismanual": [n != "model" for n in names],
                "recipe": annotation_recipe(annotation),
            }
        )

    @extend_schema(
        request=AnnotationInputSerializer,
        responses={200: AnnotationOutputSerializer, 409: OpenApiTypes.OBJECT},
    )
    def put(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        refuse_tiled_image(image, what="a save")
        refuse_oversized_body(request, image)
        serializer = self.AnnotationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            masks = decode_labels(data["masks"], expected_shape=display.spatial_shape(image.shape, image.axes))
        except ValueError as exc:
            raise ApplicationError(str(exc)) from None
        try:
            annotation = annotation_save(
                image=image,
                base_version=data["version"],
                masks=masks,
                created_by=request.user,
                origins=data.get("origins"),
                ismanual=data.get("ismanual"),
            )
        except StaleVersionError as exc:
            return stale_response(exc)
        return Response(AnnotationOutputSerializer(annotation).data)


def refuse_oversized_body(request, image: Image) -> None:
    """413 for a body larger than the image's labels could need even uncompressed (base64 of
    int32 per voxel) plus room for origins: JSON bodies are not capped by Django's form limits."""
    limit = 6 * _n_voxels(image) + 8 * 1024 * 1024
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        raise PayloadTooLargeError("The annotation is larger than any encoding of this image's masks can be.")


def _n_voxels(image: Image) -> int:
    n = 1
    for size in display.spatial_shape(image.shape, image.axes):
        n *= int(size)
    return n


def stale_response(exc: StaleVersionError) -> Response:
    """409 with the versions, so an editor can offer to reload or to save on top."""
    body = {"detail": exc.message, "current_version": exc.current_version, "base_version": exc.base_version}
    return Response(body, status=status.HTTP_409_CONFLICT)


class AnnotationVersionListApi(APIView):
    """Every saved version of the image's annotation, newest first: who saved it, when, and what
    changed against the version it was made from (masks added, removed, edited)."""

    @extend_schema(parameters=[OpenApiParameter("page", int)], responses=AnnotationOutputSerializer(many=True))
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(annotation_versions(image=image), request, view=self)
        return paginator.get_paginated_response(AnnotationOutputSerializer(page, many=True).data)


class AnnotationVersionRestoreApi(APIView):
    """Make an older version the current one again, as a new version. With ``{"version": n}`` it
    is refused (409) unless n is still the latest version."""

    class RestoreInputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=0, required=False, allow_null=True)

    @extend_schema(request=RestoreInputSerializer, responses={201: AnnotationOutputSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request, image_id, version):
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.RestoreInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            annotation = annotation_restore(
                image=image, version=version, created_by=request.user,
                base_version=serializer.validated_data.get("version"),
            )
        except StaleVersionError as exc:
            return stale_response(exc)
        return Response(AnnotationOutputSerializer(annotation).data, status=status.HTTP_201_CREATED)
