"""Community URLs, included at the site root (``path("", include("community.urls"))``): pages
under ``/community/`` and ``/models/``, API under ``/api/`` (no pattern here shadows another app's:
``/api/models/`` itself stays inference's list)."""
from django.urls import path

from community import apis, comparison_apis, pages

urlpatterns = [
    path("community/", pages.contributions_page, name="community-contributions"),
    path("community/review/", pages.review_page, name="community-review"),
    path("community/dashboard/", pages.dashboard_page, name="community-dashboard"),
    path("models/", pages.models_page, name="community-models"),
    path("api/contributions/", apis.ContributionListCreateApi.as_view(), name="contribution-list"),
    path("api/contributions/<int:contribution_id>/", apis.ContributionDetailApi.as_view(), name="contribution-detail"),
    path("api/contributions/<int:contribution_id>/review/", apis.ContributionReviewApi.as_view(),
         name="contribution-review"),
    path("api/contributions/<int:contribution_id>/resubmit/", apis.ContributionResubmitApi.as_view(),
         name="contribution-resubmit"),
    path("api/contributions/<int:contribution_id>/checks/retry/", apis.ContributionChecksRetryApi.as_view(),
         name="contribution-checks-retry"),
    path("api/contributions/<int:contribution_id>/split/", apis.ContributionSplitApi.as_view(),
         name="contribution-split"),
    path("api/contributions/<int:contribution_id>/image/", apis.ContributionImageApi.as_view(),
         name="contribution-image"),
    path("api/contributions/<int:contribution_id>/masks/", apis.ContributionMasksApi.as_view(),
         name="contribution-masks"),
    path("api/test-set/", apis.TestSetApi.as_view(), name="test-set"),
    path("api/training-runs/", apis.TrainingRunListCreateApi.as_view(), name="training-run-list"),
    path("api/training-runs/<int:run_id>/", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("api/training-runs/<int:run_id>/comparison/", comparison_apis.TrainingRunComparisonApi.as_view(),
         name="training-run-comparison"),
    path("api/training-runs/<int:run_id>/comparison/<int:contribution_id>/masks/",
         comparison_apis.TrainingRunComparisonMasksApi.as_view(), name="training-run-comparison-masks"),
    path("api/training-runs/<int:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
    path("api/community/models/", apis.CommunityModelListApi.as_view(), name="community-model-list"),
    path("api/models/import/", apis.ModelImportApi.as_view(), name="model-import"),
    path("api/models/<int:model_version_id>/release/", apis.ModelReleaseApi.as_view(), name="model-release"),
    path("api/models/<int:model_version_id>/rollback/", apis.ModelRollbackApi.as_view(), name="model-rollback"),
    path("api/models/<int:model_version_id>/dataset.zip", apis.ModelDatasetApi.as_view(), name="model-dataset"),
]
