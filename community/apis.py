"""REST API of the community loop. Views are thin: validate, call a service or a selector,
render. Who may call what is decided in community.access."""
import shutil
import tempfile
from pathlib import Path

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import display
from annotations.encoding import encode_labels
from annotations.files import load_npz
from annotations.selectors import image_get
from cellposeweb.exceptions import ApplicationError, ConflictError, NotFoundError
from cellposeweb.http import file_download, png_response
from cellposeweb.limits import MAX_ID, is_id
from cellposeweb.pagination import Pagination
from community import rules, selectors, services
from community.access import IsCommunityAdmin, IsReviewer, can_review
from community.datasets import dataset_zip
from community.models import License
from community.snapshots import read_image


# -- serializers ----------------------------------------------------------------------------------


class ReviewEventOutputSerializer(serializers.Serializer):
    decision = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class ChecksRunOutputSerializer(serializers.Serializer):
    """The background run of a contribution's automatic checks (community.scoring)."""

    status = serializers.CharField()
    stage = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()


class ContributionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id", allow_null=True)
    image_name = serializers.CharField()
    image_shape = serializers.JSONField()
    annotation_version = serializers.IntegerField()
    n_masks = serializers.IntegerField()
    contributor = serializers.CharField(source="contributor.username")
    license = serializers.CharField()
    consent = serializers.BooleanField()
    tags = serializers.JSONField()
    note = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    split = serializers.CharField()
    checks = serializers.JSONField()
    checks_passed = serializers.BooleanField()
    checks_run = serializers.SerializerMethodField()
    current_ap = serializers.FloatField(allow_null=True)
    priority = serializers.FloatField()
    created_at = serializers.DateTimeField()
    used_in = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    masks_url = serializers.SerializerMethodField()

    @extend_schema_field(ChecksRunOutputSerializer(allow_null=True))
    def get_checks_run(self, contribution) -> dict | None:
        scoring = selectors.contribution_scoring(contribution)
        return ChecksRunOutputSerializer(scoring).data if scoring is not None else None

    def get_used_in(self, contribution) -> list:
        return [{"id": mv.pk, "name": mv.name, "version": mv.version, "label": f"used in {mv.name} v{mv.version}"}
                for mv in selectors.contribution_used_in(contribution)]

    def get_events(self, contribution) -> list:
        return ReviewEventOutputSerializer(selectors.review_events(contribution), many=True).data

    def get_image_url(self, contribution) -> str:
        return f"/api/contributions/{contribution.pk}/image/"

    def get_masks_url(self, contribution) -> str:
        return f"/api/contributions/{contribution.pk}/masks/"


class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    stage = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    params = serializers.JSONField()
    base = serializers.SerializerMethodField()
    test_set = serializers.IntegerField(source="test_set.version", allow_null=True, default=None)
    contributions = serializers.SerializerMethodField()
    history = serializers.JSONField()
    losses = serializers.SerializerMethodField()
    metrics = serializers.JSONField()
    candidate = serializers.IntegerField(source="candidate_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    websocket = serializers.SerializerMethodField()

    def get_base(self, run) -> dict:
        return {"id": run.base_id, "name": run.base.name, "version": run.base.version}

    def get_contributions(self, run) -> list:
        return list(run.contributions.order_by("pk").values_list("pk", flat=True))

    def get_losses(self, run) -> list:
        return [record.get("train_loss") for record in run.history]

    def get_websocket(self, run) -> str:
        return f"/ws/training-runs/{run.pk}/"


class CommunityModelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    is_current = serializers.BooleanField()
    description = serializers.CharField()
    metrics = serializers.JSONField()
    created_at = serializers.DateTimeField()
    changelog = serializers.SerializerMethodField()
    contributors = serializers.SerializerMethodField()
    n_contributions = serializers.SerializerMethodField()
    test_set = serializers.SerializerMethodField()
    training_run = serializers.SerializerMethodField()
    imported_from = serializers.SerializerMethodField()
    rollback_to = serializers.SerializerMethodField(help_text="The version a roll-back of the current model restores.")

    def _card(self, mv):
        return getattr(mv, "card", None)

    def get_changelog(self, mv) -> str:
        card = self._card(mv)
        return card.changelog if card else mv.description

    def get_rollback_to(self, mv) -> dict | None:
        target = rules.rollback_target(mv) if mv.is_current else None
        return None if target is None else {"id": target.pk, "name": target.name, "version": target.version}

    def get_contributors(self, mv) -> list:
        card = self._card(mv)
        if card is None or self.context.get("hide_contributors"):
            return []
        return sorted({c.contributor.username for c in card.contributions.all()})

    def get_n_contributions(self, mv) -> int:
        card = self._card(mv)
        return len(card.contributions.all()) if card else 0

    def get_test_set(self, mv) -> int | None:
        card = self._card(mv)
        return card.test_set.version if card and card.test_set_id else None

    def get_training_run(self, mv) -> int | None:
        card = self._card(mv)
        return card.training_run_id if card else None

    def get_imported_from(self, mv) -> str:
        card = self._card(mv)
        return card.imported_from if card else ""


def _model_versions_with_cards():
    from django.core.exceptions import ObjectDoesNotExist

    rows = list(selectors.model_versions_public())
    for mv in rows:
        try:
            mv.card
        except ObjectDoesNotExist:
            mv.card = None
    return rows


# -- contributions --------------------------------------------------------------------------------


class ContributionListCreateApi(APIView):
    """``GET``: your contributions; a curator gets the review queue (``scope``: mine, queue, all).
    ``POST``: contribute an image you curated (its latest masks are frozen): 201 at once, its
    automatic checks queued (``checks_run``; poll the contribution until they have run)."""

    class ContributionCreateInputSerializer(serializers.Serializer):
        image = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        license = serializers.ChoiceField(choices=License.values, error_messages={
            "required": "Choose a licence explicitly: CC0 or CC-BY.",
            "invalid_choice": "license must be CC0 or CC-BY."})
        consent = serializers.BooleanField()
        tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=10)
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    class QuerySerializer(serializers.Serializer):
        scope = serializers.ChoiceField(choices=["mine", "queue", "all"], required=False)

    @extend_schema(parameters=[QuerySerializer], responses=ContributionOutputSerializer(many=True))
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = query.validated_data.get("scope") or ("queue" if can_review(request.user) else "mine")
        if scope != "mine" and not can_review(request.user):
            raise ApplicationError("Only curators can see the review queue.")
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.contribution_list(user=request.user, scope=scope), request, view=self)
        return paginator.get_paginated_response(ContributionOutputSerializer(page, many=True).data)

    @extend_schema(request=ContributionCreateInputSerializer, responses={201: ContributionOutputSerializer})
    def post(self, request):
        serializer = self.ContributionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        image = image_get(user=request.user, image_id=data["image"])
        contribution = services.contribution_create(
            contributor=request.user, image=image, license=data["license"], consent=data["consent"],
            tags=data.get("tags", []), note=data.get("note", ""),
        )
        return Response(ContributionOutputSerializer(contribution).data, status=status.HTTP_201_CREATED)


class ContributionDetailApi(APIView):
    @extend_schema(responses=ContributionOutputSerializer)
    def get(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        return Response(ContributionOutputSerializer(contribution).data)


class ContributionResubmitApi(APIView):
    """The contributor, after a curator requested changes: freeze the image's latest masks again
    and go back in the queue."""

    class ResubmitInputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    @extend_schema(request=ResubmitInputSerializer, responses=ContributionOutputSerializer)
    def post(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id, own=True)
        serializer = self.ResubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contribution = services.contribution_resubmit(
            contribution=contribution, contributor=request.user, note=serializer.validated_data.get("note")
        )
        return Response(ContributionOutputSerializer(contribution).data)


class ContributionChecksRetryApi(APIView):
    """The contributor or a curator: run the automatic checks again after they failed (202)."""

    @extend_schema(request=None, responses={202: ContributionOutputSerializer})
    def post(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        services.contribution_checks_retry(contribution=contribution, actor=request.user)
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        return Response(ContributionOutputSerializer(contribution).data, status=status.HTTP_202_ACCEPTED)


class ContributionReviewApi(APIView):
    """Curators: approve, reject or request changes, with a comment the contributor sees."""

    permission_classes = [IsReviewer]

    class ReviewInputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject", "changes"])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    @extend_schema(request=ReviewInputSerializer, responses=ContributionOutputSerializer)
    def post(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        serializer = self.ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contribution = services.contribution_review(
            contribution=contribution, reviewer=request.user, **serializer.validated_data
        )
        return Response(ContributionOutputSerializer(contribution).data)


class ContributionSplitApi(APIView):
    """Administrators: hold an approved contribution out as test data (or back to training)."""

    permission_classes = [IsCommunityAdmin]

    class SplitInputSerializer(serializers.Serializer):
        split = serializers.ChoiceField(choices=["train", "test"])

    @extend_schema(request=SplitInputSerializer, responses=ContributionOutputSerializer)
    def post(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        serializer = self.SplitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contribution = services.contribution_set_split(
            contribution=contribution, split=serializer.validated_data["split"], actor=request.user
        )
        return Response(ContributionOutputSerializer(contribution).data)


class ContributionImageApi(APIView):
    """The frozen image as an 8-bit PNG for display."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        array = read_image(contribution.image_file, contribution.image_shape)
        return png_response(display.render_plane(array, contribution.image_axes))


class ContributionMasksApi(APIView):
    """The frozen masks and the current model's prediction at submission (encoded labels)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, contribution_id):
        contribution = selectors.contribution_get(user=request.user, contribution_id=contribution_id)
        masks = load_npz(contribution.masks_file)["masks"]
        body = {"masks": encode_labels(masks), "prediction": None}
        if contribution.prediction_file:
            body["prediction"] = encode_labels(load_npz(contribution.prediction_file)["masks"])
        return Response(body)


# -- test set, training runs ----------------------------------------------------------------------


class TestSetApi(APIView):
    """Administrators: the latest test set version (``GET``) or freeze the current one (``POST``)."""

    permission_classes = [IsCommunityAdmin]

    def _data(self, test_set):
        if test_set is None:
            return {"version": None, "contributions": []}
        return {"version": test_set.version, "contributions": list(test_set.contributions.values_list("pk", flat=True)),
                "created_at": test_set.created_at}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(self._data(selectors.test_set_latest()))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        return Response(self._data(services.test_set_freeze(created_by=request.user)), status=status.HTTP_201_CREATED)


class TrainingRunListCreateApi(APIView):
    """Administrators. ``GET``: runs, newest first. ``POST``: start a run (202): ``base`` (model
    version id, default current), ``contributions`` (ids, default all approved not yet used),
    hyper-parameters (``n_epochs``, ``learning_rate``, ``batch_size``, ``n_samples_per_epoch``,
    ``bsize``, ``val_every``, ``warmup_epochs``, ``seed``, ``fit_size_model``)."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(responses=TrainingRunOutputSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.training_run_list(), request, view=self)
        return paginator.get_paginated_response(TrainingRunOutputSerializer(page, many=True).data)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={202: TrainingRunOutputSerializer})
    def post(self, request):
        from community.models import Contribution

        if not isinstance(request.data, dict):
            raise ApplicationError("Expected a JSON object of training options.")
        data = dict(request.data)
        base_id = data.pop("base", None)
        ids = data.pop("contributions", None)
        if base_id is not None and not is_id(base_id):
            raise ApplicationError("base must be a model version id.")
        base = selectors.model_version_get(model_version_id=base_id) if base_id is not None else None
        contributions = None
        if ids is not None:
            if not isinstance(ids, list) or not all(is_id(i) for i in ids):
                raise ApplicationError("contributions must be a list of contribution ids.")
            found = {c.pk: c for c in Contribution.objects.filter(pk__in=ids)}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"Contribution(s) {', '.join(map(str, missing))} not found.")
            contributions = [found[i] for i in ids]
        run = services.training_run_create(created_by=request.user, base=base, contributions=contributions, params=data)
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    permission_classes = [IsCommunityAdmin]

    @extend_schema(responses=TrainingRunOutputSerializer)
    def get(self, request, run_id):
        return Response(TrainingRunOutputSerializer(selectors.training_run_get(run_id=run_id)).data)


class TrainingRunCancelApi(APIView):
    permission_classes = [IsCommunityAdmin]

    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request, run_id):
        run = services.training_run_cancel(run=selectors.training_run_get(run_id=run_id))
        return Response(TrainingRunOutputSerializer(run).data)


# -- models ---------------------------------------------------------------------------------------


class CommunityModelListApi(APIView):
    """Public: the released model versions (administrators: every version) with their metrics and
    changelog; contributor names only for signed-in users."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CommunityModelOutputSerializer(many=True))
    def get(self, request):
        rows = _model_versions_with_cards()
        if not request.user.is_staff:  # candidates and imports are for administrators
            released = rules.released_model_version_ids()
            rows = [mv for mv in rows if mv.pk in released]
        context = {"hide_contributors": not request.user.is_authenticated}
        return Response(CommunityModelOutputSerializer(rows, many=True, context=context).data)


class ModelReleaseApi(APIView):
    """Administrators: make this version the current community model (atomic)."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(request=None, responses=CommunityModelOutputSerializer)
    def post(self, request, model_version_id):
        mv = selectors.model_version_get(model_version_id=model_version_id)
        mv = services.model_version_release(model_version=mv, actor=request.user)
        mv.card = selectors.model_card(mv)
        return Response(CommunityModelOutputSerializer(mv).data)


class ModelRollbackApi(APIView):
    """Administrators: the version this (current) one replaced becomes current again."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(request=None, responses=CommunityModelOutputSerializer)
    def post(self, request, model_version_id):
        mv = selectors.model_version_get(model_version_id=model_version_id)
        previous = services.model_version_rollback(model_version=mv, actor=request.user)
        previous.card = selectors.model_card(previous)
        return Response(CommunityModelOutputSerializer(previous).data)


class ModelDatasetApi(APIView):
    """Administrators: the approved dataset of a model version (images, masks, licences, manifest)."""

    permission_classes = [IsCommunityAdmin]

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, model_version_id):
        mv = selectors.model_version_get(model_version_id=model_version_id)
        card = selectors.model_card(mv)
        if card is None or card.training_run_id is None:
            raise ConflictError(f"{mv} was not trained on community contributions; it has no dataset.")
        tmpdir = Path(tempfile.mkdtemp(prefix="cellposeweb-dataset-"))
        try:
            path = dataset_zip(card=card, path=tmpdir / f"{mv.name}-v{mv.version}-dataset.zip")
            return file_download(path, filename=path.name, content_type="application/zip")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


class ModelImportApi(APIView):
    """Administrators: register a Cellpose 3 ``.pth`` file as a new (not current) model version."""

    permission_classes = [IsCommunityAdmin]
    parser_classes = [MultiPartParser, FormParser]

    class ModelImportInputSerializer(serializers.Serializer):
        file = serializers.FileField()
        name = serializers.CharField(required=False, max_length=100, default="imported")
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=ModelImportInputSerializer, responses={201: CommunityModelOutputSerializer})
    def post(self, request):
        serializer = self.ModelImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        mv = services.model_version_import(uploaded_file=data["file"], name=data["name"],
                                           description=data["description"], actor=request.user)
        mv.card = selectors.model_card(mv)
        return Response(CommunityModelOutputSerializer(mv).data, status=status.HTTP_201_CREATED)
