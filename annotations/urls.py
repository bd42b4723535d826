from django.urls import path

from annotations import apis, region_apis, slide_apis, upload_apis
from annotations.import_api import AnnotationImportApi

urlpatterns = [
    path("uploads/", upload_apis.UploadStartApi.as_view(), name="upload-start"),
    path("uploads/<uuid:upload_id>/", upload_apis.UploadDetailApi.as_view(), name="upload-detail"),
    path("uploads/<uuid:upload_id>/complete/", upload_apis.UploadCompleteApi.as_view(), name="upload-complete"),
    path("images/", apis.ImageListUploadApi.as_view(), name="image-list"),
    path("images/<int:image_id>/", apis.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/thumbnail/", apis.ImageThumbnailApi.as_view(), name="image-thumbnail"),
    path("images/<int:image_id>/data/", apis.ImageDataApi.as_view(), name="image-data"),
    path("images/<int:image_id>/pyramid/", slide_apis.ImagePyramidApi.as_view(), name="image-pyramid"),
    path(
        "images/<int:image_id>/tiles/<int:level>/<int:z>/<int:col>/<int:row>.png",
        slide_apis.ImageTileApi.as_view(),
        name="image-tile",
    ),
    path("images/<int:image_id>/channels/", apis.ImageChannelsApi.as_view(), name="image-channels"),
    path(
        "images/<int:image_id>/labels/<str:key>/tiles/<int:level>/<int:z>/<int:col>/<int:row>.bin",
        slide_apis.ImageLabelTileApi.as_view(),
        name="image-label-tile",
    ),
    path("images/<int:image_id>/region.png", region_apis.ImageRegionPictureApi.as_view(), name="image-region"),
    path(
        "images/<int:image_id>/annotation/region/",
        region_apis.ImageRegionLabelsApi.as_view(),
        name="image-annotation-region",
    ),
    path("images/<int:image_id>/masks/", apis.ImageMasksApi.as_view(), name="image-masks"),
    path("images/<int:image_id>/annotation/", apis.ImageAnnotationApi.as_view(), name="image-annotation"),
    path("images/<int:image_id>/annotation/import/", AnnotationImportApi.as_view(), name="image-annotation-import"),
    path(
        "images/<int:image_id>/annotation/versions/",
        apis.AnnotationVersionListApi.as_view(),
        name="image-annotation-versions",
    ),
    path(
        "images/<int:image_id>/annotation/versions/<int:version>/restore/",
        apis.AnnotationVersionRestoreApi.as_view(),
        name="image-annotation-restore",
    ),
]
