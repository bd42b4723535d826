"""POST /api/images/{id}/annotation/import/: a file of existing annotations becomes the image's
next mask version (annotations.importing)."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cellposeweb.http import AnnotationOutputSerializer
from annotations.importing import annotation_import
from annotations.selectors import image_get


class AnnotationImportApi(APIView):
    """Import a ``_seg.npy``, label TIFF/PNG, ImageJ ROI zip/.roi, GeoJSON or COCO file as the
    next version (source "imported"). 400 with the reason for a file that cannot be read,
    409 when it holds the latest version's masks already."""

    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="The annotations; the format is recognised from the content.")

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: AnnotationOutputSerializer})
    def post(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        annotation = annotation_import(image=image, file=serializer.validated_data["file"], created_by=request.user)
        return Response(AnnotationOutputSerializer(annotation).data, status=status.HTTP_201_CREATED)
