"""Chunked uploads over HTTP (annotations.uploads): start, send chunks, ask where to resume,
complete (the file becomes an image) or abandon. Only the uploader sees an upload (others: 404).

``POST /api/uploads/`` ``{name, size, sha256}`` -> 201 ``{id, offset, size, chunk_size}``;
``PUT /api/uploads/<id>/`` with ``Content-Range: bytes a-b/total`` (and optionally
``X-Chunk-Sha256``) and the chunk as the body -> the new offset; ``GET``/``HEAD`` -> the offset
(also in the ``Upload-Offset`` header) and, once completed, ``status`` (receiving, ingesting, done,
failed), ``progress``, ``image`` and ``error`` (annotations.upload_ingest.upload_data);
``POST /api/uploads/<id>/complete/`` -> 201 with the image as ``POST /api/images/`` returns it for a
small image, or 202 with the upload (status "ingesting", ``url`` to poll) while a tiled image's
pyramid is built in the background; ``DELETE`` -> 204 (409 while ingesting).
"""
import tempfile

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import display
from annotations.apis import image_data
from annotations.selectors import upload_get
from annotations.models import Image
from annotations.upload_ingest import upload_complete, upload_data
from annotations.uploads import chunk_size, parse_content_range, upload_append, upload_delete, upload_start
from cellposeweb.exceptions import PayloadTooLargeError
from cellposeweb.throttles import UploadRateThrottle

UploadOutputSerializer = inline_serializer("Upload", {
    "id": serializers.UUIDField(), "name": serializers.CharField(), "size": serializers.IntegerField(),
    "offset": serializers.IntegerField(), "chunk_size": serializers.IntegerField(),
    "status": serializers.ChoiceField(choices=["receiving", "ingesting", "done", "failed"]),
    "progress": serializers.FloatField(), "image": serializers.IntegerField(allow_null=True),
    "error": serializers.CharField(), "url": serializers.CharField(),
})


def upload_response(upload, status_code=status.HTTP_200_OK) -> Response:
    body = {**upload_data(upload), "chunk_size": chunk_size()}
    response = Response(body, status=status_code)
    response["Upload-Offset"] = str(upload.offset)
    if status_code == status.HTTP_202_ACCEPTED:
        response["Location"] = body["url"]
    response["Cache-Control"] = "no-store"
    return response


class UploadStartApi(APIView):
    """Open a chunked upload for a file of ``size`` bytes whose SHA-256 is ``sha256``."""

    throttle_classes = [UploadRateThrottle]

    class UploadStartInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=1000)
        size = serializers.IntegerField(min_value=1)
        sha256 = serializers.CharField(max_length=64, min_length=64)

    @extend_schema(request=UploadStartInputSerializer, responses={201: UploadOutputSerializer})
    def post(self, request):
        serializer = self.UploadStartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = upload_start(owner=request.user, **serializer.validated_data)
        return upload_response(upload, status.HTTP_201_CREATED)


class UploadDetailApi(APIView):
    """``GET``/``HEAD``: where to resume. ``PUT``: the next chunk. ``DELETE``: abandon the upload."""

    parser_classes = []  # the body is the chunk itself, read as a stream below

    @extend_schema(responses=UploadOutputSerializer)
    def get(self, request, upload_id):
        return upload_response(upload_get(user=request.user, upload_id=upload_id))

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses=UploadOutputSerializer)
    def put(self, request, upload_id):
        upload = upload_get(user=request.user, upload_id=upload_id)
        first, last, total = parse_content_range(request.headers.get("Content-Range", ""))
        limit = chunk_size()
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as body:
            stream, received = request.stream, 0
            while stream is not None:
                block = stream.read(min(1024 * 1024, limit + 1 - received))
                if not block:
                    break
                received += len(block)
                if received > limit:
                    raise PayloadTooLargeError(f"A chunk may be at most {limit} bytes.")
                body.write(block)
            upload = upload_append(upload=upload, first=first, last=last, total=total, body=body,
                                   chunk_sha256=request.headers.get("X-Chunk-Sha256"))
        return upload_response(upload)

    @extend_schema(responses={204: None})
    def delete(self, request, upload_id):
        upload_delete(upload=upload_get(user=request.user, upload_id=upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadCompleteApi(APIView):
    """Check the whole file against its SHA-256 and register it as an image: a small one now (201,
    the image), a tiled one in the background (202, the upload to poll until its status is done)."""

    throttle_classes = [UploadRateThrottle]

    class UploadCompleteInputSerializer(serializers.Serializer):
        axes = serializers.ChoiceField(choices=display.SUPPORTED_AXES, required=False,
                                       help_text="As for POST /api/images/: for an ambiguous small image.")

    @extend_schema(request=UploadCompleteInputSerializer,
                   responses={201: OpenApiTypes.OBJECT, 202: UploadOutputSerializer})
    def post(self, request, upload_id):
        upload = upload_get(user=request.user, upload_id=upload_id)
        serializer = self.UploadCompleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = upload_complete(upload=upload, axes=serializer.validated_data.get("axes"))
        if isinstance(result, Image):
            return Response(image_data(result), status=status.HTTP_201_CREATED)
        return upload_response(result, status.HTTP_202_ACCEPTED)


__all__ = ["UploadCompleteApi", "UploadDetailApi", "UploadStartApi"]
