"""The release decision's API (administrators): a finished run's candidate beside the current
model on every test image. Thin views over community.selectors."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.encoding import encode_labels
from community import selectors
from community.access import IsCommunityAdmin


class TrainingRunComparisonApi(APIView):
    """Per test image: AP@0.5 / 0.75 / 0.9 of the candidate and of the model that was current when
    the run evaluated, cells gained and lost (matched at IoU 0.5), ``verdict`` (better, worse,
    same); ``counts`` of each verdict; ``training_data`` (images and cells per image kind, images
    per contributor); ``releases``: AP@0.5 per image kind of every release, the candidate last."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, run_id):
        run = selectors.training_run_get(run_id=run_id)
        return Response(selectors.training_run_comparison(run=run))


class TrainingRunComparisonMasksApi(APIView):
    """Both models' predictions on one test image (encoded labels ``candidate`` and ``current``);
    the image itself is ``/api/contributions/<id>/image/``."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, run_id, contribution_id):
        run = selectors.training_run_get(run_id=run_id)
        masks = selectors.training_run_comparison_masks(run=run, contribution_id=contribution_id)
        return Response({"contribution": contribution_id, "candidate": encode_labels(masks["candidate"]),
                         "current": encode_labels(masks["current"])})
