"""REST API for segmentation: jobs, re-thresholding and the network's outputs for display.
Views are thin: validate, call a service or a selector, render."""
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.files import load_npz
from annotations.selectors import annotation_get, image_get, image_list
from cellposeweb.exceptions import ApplicationError, ConflictError, NotFoundError
from cellposeweb.http import (
    CONTENT_TYPES,
    MASK_FORMATS,
    AnnotationOutputSerializer,
    PlaneSerializer,
    file_download,
    parse_query,
    png_response,
    write_masks,
)
from cellposeweb.limits import MAX_ID
from cellposeweb.pagination import Pagination
from cellposeweb.throttles import JobRateThrottle
from inference import selectors
from inference.engine import SUFFIXES, flows_to_rgb, safe_stem, save_flows_tif
from inference.models import JobStatus, SegmentationJob
from inference.options import SegmentationOptionsSerializer
from inference.jobs import segmentation_job_cancel, segmentation_job_create
from inference.model_versions import model_versions_usable
from inference.rethreshold import masks_rethreshold


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    is_current = serializers.BooleanField()
    description = serializers.CharField()
    metrics = serializers.JSONField()
    diam_mean = serializers.FloatField()
    created_at = serializers.DateTimeField()


class JobItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="image_id")
    name = serializers.CharField(source="image.name")
    status = serializers.CharField()
    error = serializers.CharField()
    n_masks = serializers.IntegerField(allow_null=True)
    diameter = serializers.FloatField(allow_null=True)
    timings = serializers.JSONField()
    blocks = serializers.SerializerMethodField(help_text="A tiled image's blocks: {total, done}; null otherwise.")

    def get_blocks(self, item) -> dict | None:
        if not item.tiled:
            return None
        done = item.blocks.filter(status=JobStatus.SUCCEEDED).count()
        return {"total": int(item.tiled["n_blocks"]), "done": done}


class JobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    stage = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    params = serializers.JSONField()
    timings = serializers.JSONField()
    model_version = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    images = serializers.SerializerMethodField()
    websocket = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_model_version(self, job) -> dict:
        mv = job.model_version
        return {"id": mv.pk, "name": mv.name, "version": mv.version}

    @extend_schema(exclude=True)
    def get_images(self, job) -> list:
        return JobItemOutputSerializer(selectors.job_items(job=job), many=True).data

    def get_websocket(self, job) -> str:
        return f"/ws/jobs/{job.pk}/"

    def get_download_url(self, job) -> str:
        return f"/api/jobs/{job.pk}/download.zip"


def job_data(job: SegmentationJob) -> dict:
    """The job as the service or selector returned it (a new job reads "queued" even if the
    worker has already taken it; its items are read now)."""
    return JobOutputSerializer(job).data


class ThresholdsSerializer(serializers.Serializer):
    cellprob_threshold = serializers.FloatField(min_value=-6.0, max_value=6.0, default=0.0)
    flow_threshold = serializers.FloatField(min_value=0.0, max_value=10.0, default=0.4)


class ImageSegmentApi(APIView):
    """Segment one image: 202 with the queued job (follow it on ``/ws/jobs/<id>/`` or by polling)."""

    throttle_classes = [JobRateThrottle]

    @extend_schema(request=SegmentationOptionsSerializer, responses={202: JobOutputSerializer})
    def post(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        job = segmentation_job_create(owner=request.user, images=[image], options=request.data)
        return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


class JobListCreateApi(APIView):
    """``GET``: your jobs, newest first. ``POST``: segment several images as one batch job."""

    class JobCreateInputSerializer(SegmentationOptionsSerializer):
        images = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1)

    def get_throttles(self):
        if self.request.method == "POST":
            return [JobRateThrottle()]
        return super().get_throttles()

    class QuerySerializer(serializers.Serializer):
        image = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                         help_text="Only the jobs that segment this image.")
        active = serializers.BooleanField(default=False, help_text="Only queued or running jobs.")

    @extend_schema(parameters=[QuerySerializer], responses=JobOutputSerializer(many=True))
    def get(self, request):
        query = parse_query(self.QuerySerializer, request)
        jobs = selectors.job_list(user=request.user, image_id=query.get("image"), active=query["active"])
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobOutputSerializer(page, many=True).data)

    @extend_schema(request=JobCreateInputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        serializer = self.JobCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(serializer.validated_data["images"]))
        found = {image.pk: image for image in image_list(user=request.user).filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"Image(s) {', '.join(map(str, missing))} not found.")
        options = {key: value for key, value in request.data.items() if key != "images"}
        job = segmentation_job_create(owner=request.user, images=[found[i] for i in ids], options=options)
        return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id):
        return Response(job_data(selectors.job_get(user=request.user, job_id=job_id)))


class JobCancelApi(APIView):
    @extend_schema(request=None, responses=JobOutputSerializer)
    def post(self, request, job_id):
        job = segmentation_job_cancel(job=selectors.job_get(user=request.user, job_id=job_id))
        return Response(job_data(job))


class JobDownloadApi(APIView):
    """A zip of the current masks of every image the job segmented (``format``: default png, tif
    for stacks), each named after its image. With S3 storage a large zip is a 302 redirect to a
    presigned URL that expires after S3_PRESIGN_EXPIRY seconds."""

    class QuerySerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=MASK_FORMATS, required=False)

    @extend_schema(parameters=[QuerySerializer], responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, job_id):
        job = selectors.job_get(user=request.user, job_id=job_id)
        fmt = parse_query(self.QuerySerializer, request).get("format")
        items = [item for item in selectors.job_items(job=job) if item.status == JobStatus.SUCCEEDED]
        if not items:
            raise ConflictError(f"Job {job.pk} has no segmented images to download (it is {job.status}).")
        tmpdir = Path(tempfile.mkdtemp(prefix="cellposeweb-zip-"))
        try:
            zip_path = tmpdir / f"job-{job.pk}-masks.zip"
            names = set()
            with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
                for item in items:
                    annotation = annotation_get(image=item.image)
                    if annotation is None:
                        continue
                    if annotation.labels_key:  # too large for a zip made in the request
                        raise ApplicationError(
                            f"{item.image.name} is a large tiled image: its masks are not in the job's zip; download "
                            f"them from /api/images/{item.image_id}/masks/?format=geojson (or csv, zarr).")
                    item_fmt = fmt or "png"
                    if item.image.is_3d and item_fmt in ("png", "txt", "coco"):
                        item_fmt = "tif"
                    folder = tmpdir / str(item.image_id)
                    folder.mkdir()
                    try:
                        path = write_masks(annotation, item_fmt, folder)
                    except ValueError as exc:
                        raise ApplicationError(f"{item.image.name}: {exc}") from None
                    name = path.name if path.name not in names else f"{item.image_id}-{path.name}"
                    names.add(name)
                    archive.write(path, arcname=name)
            # Large archives on S3: a redirect to a short-lived presigned URL (cellposeweb.downloads).
            return file_download(zip_path, filename=zip_path.name, content_type="application/zip")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _flows_or_404(image):
    item = selectors.job_item_with_flows(image=image)
    if item is None:
        raise NotFoundError(f"{image.name} has no flows yet; segment it first.")
    return item, load_npz(item.flows)


def _plane(array: np.ndarray, plane, is_3d: bool) -> np.ndarray:
    """array (Lz, ...) for stacks: the plane (default middle); 2D arrays unchanged."""
    if not is_3d:
        return array
    index = array.shape[0] // 2 if plane is None else plane
    if not 0 <= index < array.shape[0]:
        raise ApplicationError(f"plane must be between 0 and {array.shape[0] - 1}")
    return array[index]


class ImageFlowsApi(APIView):
    """The flows of the latest segmentation: ``format=tif`` (float32: flow Y, flow X[, Z], cellprob,
    as a download) or ``png`` (direction as hue, magnitude as brightness, for display)."""

    class QuerySerializer(PlaneSerializer):
        format = serializers.ChoiceField(choices=["tif", "png"], default="tif")

    @extend_schema(parameters=[QuerySerializer], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        query = parse_query(self.QuerySerializer, request)
        _, flows = _flows_or_404(image)
        if query["format"] == "png":
            return png_response(_plane(flows_to_rgb(flows["dP"]), query.get("plane"), image.is_3d))
        tmpdir = Path(tempfile.mkdtemp(prefix="cellposeweb-flows-"))
        try:
            path = tmpdir / f"{safe_stem(image.name)}{SUFFIXES['flows']}"
            save_flows_tif(path, flows["dP"], flows["cellprob"])
            return file_download(path, filename=path.name, content_type=CONTENT_TYPES["flows"])
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


class ImageCellprobApi(APIView):
    """The cell probability of the latest segmentation as a grey PNG (sigmoid of the logit: 128 is
    the default threshold 0)."""

    @extend_schema(parameters=[PlaneSerializer], responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        plane = parse_query(PlaneSerializer, request).get("plane")
        _, flows = _flows_or_404(image)
        logits = _plane(flows["cellprob"], plane, image.is_3d).astype(np.float32)
        picture = (255.0 / (1.0 + np.exp(-np.clip(logits, -20, 20))) + 0.5).astype(np.uint8)
        return png_response(picture)


class ImageRethresholdApi(APIView):
    """Recompute the masks from the stored flows at new thresholds (no network), saved as the next
    annotation version."""

    @extend_schema(request=ThresholdsSerializer, responses={201: AnnotationOutputSerializer})
    def post(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        serializer = ThresholdsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        annotation = masks_rethreshold(image=image, created_by=request.user, **serializer.validated_data)
        return Response(AnnotationOutputSerializer(annotation).data, status=status.HTTP_201_CREATED)


class ModelVersionListApi(APIView):
    """The model versions the user may segment with (administrators: every version)."""

    @extend_schema(responses=ModelVersionOutputSerializer(many=True))
    def get(self, request):
        rows = model_versions_usable(user=request.user, model_versions=selectors.model_version_list())
        return Response(ModelVersionOutputSerializer(rows, many=True).data)
