from django.urls import path

from inference import apis

urlpatterns = [
    path("images/<int:image_id>/segment/", apis.ImageSegmentApi.as_view(), name="image-segment"),
    path("images/<int:image_id>/rethreshold/", apis.ImageRethresholdApi.as_view(), name="image-rethreshold"),
    path("images/<int:image_id>/flows/", apis.ImageFlowsApi.as_view(), name="image-flows"),
    path("images/<int:image_id>/cellprob/", apis.ImageCellprobApi.as_view(), name="image-cellprob"),
    path("jobs/", apis.JobListCreateApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/download.zip", apis.JobDownloadApi.as_view(), name="job-download"),
    path("models/", apis.ModelVersionListApi.as_view(), name="model-version-list"),
]
