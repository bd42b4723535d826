"""The community model loop: contributions (frozen snapshots of curated images), their reviews,
the versioned held-out test set, training runs, model cards of candidates and the release log.

Model versions themselves live in ``inference.ModelVersion`` (``is_current`` marks the community
model segmentation uses); this app only points at them.
"""
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from cellposeweb.work import ACTIVE_STATUSES, WorkStatus


def _snapshot_path(instance, filename):
    return f"community/contributions/{uuid.uuid4().hex}/{filename}"


def _run_path(instance, filename):
    return f"community/runs/{uuid.uuid4().hex}/{filename}"


class License(models.TextChoices):
    CC0 = "CC0", "CC0 1.0 (public domain)"
    CC_BY = "CC-BY", "CC BY 4.0 (attribution)"


class ContributionStatus(models.TextChoices):
    SUBMITTED = "submitted", "submitted"
    CHANGES_REQUESTED = "changes", "changes requested"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"


class Split(models.TextChoices):
    TRAIN = "train", "train"
    TEST = "test", "test"


class Contribution(models.Model):
    """An image and one version of its masks, offered for training the community model.

    The image bytes and the masks are copied at submission (``image_file``, ``masks_file``): later
    edits of the image's annotation, or deleting the image, do not change what was contributed.
    ``masks_file`` is a compressed ``.npz`` with ``masks`` (int32 (Ly, Lx), 0 = background,
    1..N) and ``origins`` (uint8 MaskOrigin per label); ``prediction_file`` holds ``masks`` and
    ``cellprob`` (float32 logits) of the current model on the image, stored by the background
    checks (``scoring``, a ContributionScoring) once they ran. ``checks`` is a list of
    ``{"name", "ok", "value", "reason"}`` (empty until they ran); ``priority`` orders the review
    queue (higher first: passing checks, then the lowest AP of the current model).
    """

    Status = ContributionStatus

    contributor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contributions")
    image = models.ForeignKey("annotations.Image", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    annotation = models.ForeignKey(
        "annotations.Annotation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    annotation_version = models.PositiveIntegerField()
    image_name = models.CharField(max_length=255)
    image_file = models.FileField(upload_to=_snapshot_path, max_length=500)
    image_axes = models.CharField(max_length=8)
    image_shape = models.JSONField(default=list)
    masks_file = models.FileField(upload_to=_snapshot_path, max_length=500)
    prediction_file = models.FileField(upload_to=_snapshot_path, max_length=500, blank=True)
    n_masks = models.PositiveIntegerField(default=0)
    license = models.CharField(max_length=8, choices=License.choices)
    consent = models.BooleanField()
    tags = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=ContributionStatus.choices, default=ContributionStatus.SUBMITTED, db_index=True
    )
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    checks = models.JSONField(default=list, blank=True)
    checks_passed = models.BooleanField(default=False)
    current_ap = models.FloatField(null=True, blank=True, help_text="AP@0.5 of the current model's prediction.")
    checked_with = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    priority = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(consent=True), name="contribution_needs_consent"),
            models.CheckConstraint(condition=Q(license__in=["CC0", "CC-BY"]), name="contribution_license_known"),
            # community.rules.check_no_open_contribution says so first; this holds under concurrency.
            models.UniqueConstraint(
                fields=["image", "annotation_version"], condition=~Q(status=ContributionStatus.REJECTED),
                name="one_open_contribution_per_image_version",
                violation_error_message="This image version is already an open contribution.",
            ),
        ]

    def __str__(self):
        return f"contribution {self.pk} ({self.image_name}, {self.status})"


class ContributionScoring(models.Model):
    """The automatic checks of a contribution, run in the background (community.scoring) on the
    shared lifecycle of cellposeweb.work: the current model segments the frozen image, its
    prediction is stored and the contribution's ``checks`` are filled. Until it has succeeded the
    contribution cannot be approved. One row per contribution; a resubmission or a retry after a
    failure puts it back in the queue."""

    Status = WorkStatus

    contribution = models.OneToOneField(Contribution, on_delete=models.CASCADE, related_name="scoring")
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.QUEUED, db_index=True)
    stage = models.CharField(max_length=64, blank=True, default="queued")
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that last started it.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0.0) & Q(progress__lte=1.0),
                                   name="scoring_progress_0_1"),
        ]

    def __str__(self):
        return f"checks of contribution {self.contribution_id} ({self.status})"


class ReviewDecision(models.TextChoices):
    SUBMIT = "submit", "submitted"
    APPROVE = "approve", "approve"
    REJECT = "reject", "reject"
    CHANGES = "changes", "request changes"
    SPLIT = "split", "moved between train and test"


class ReviewEvent(models.Model):
    """One logged decision about a contribution: who, when, what, and the comment shown to the
    contributor. Rows are only ever added."""

    contribution = models.ForeignKey(Contribution, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices)
    from_status = models.CharField(max_length=10, choices=ContributionStatus.choices)
    to_status = models.CharField(max_length=10, choices=ContributionStatus.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.decision} of contribution {self.contribution_id}"


class TestSet(models.Model):
    """A frozen, numbered list of approved contributions held out from training: every training
    run evaluates its candidate (and the current model) on the latest version."""

    version = models.PositiveIntegerField(unique=True)
    contributions = models.ManyToManyField(Contribution, related_name="test_sets")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self):
        return f"test set v{self.version}"


RunStatus = WorkStatus  # one status machine for all background work (cellposeweb.work)
RUN_ACTIVE = ACTIVE_STATUSES


class TrainingRun(models.Model):
    """Fine-tuning ``base`` on approved train contributions, evaluated on ``test_set``.

    ``active`` is True while queued or running and NULL after: the database allows one active run
    at a time. ``history`` holds the trainer's per-epoch records (epoch, lr, train_loss, val_loss,
    val_ap50); ``metrics`` the evaluation of the candidate and of the current model on the test
    set (``{"candidate": {...}, "current": {...}}``, each with ap50/ap75/ap90 and ``per_tag``),
    and the comparison of the two per test image (``per_image``, ``comparison_folder``) and what
    the candidate was trained on (``training_data``), see community.comparison.
    """

    Status = RunStatus

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    base = models.ForeignKey("inference.ModelVersion", on_delete=models.PROTECT, related_name="+")
    contributions = models.ManyToManyField(Contribution, related_name="training_runs")
    test_set = models.ForeignKey(TestSet, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    active = models.BooleanField(null=True, default=True)
    stage = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    history = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.FileField(upload_to=_run_path, max_length=500, blank=True)
    candidate = models.OneToOneField(
        "inference.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="training_run"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The shared lifecycle (cellposeweb.work), as for segmentation jobs: the worker stamps
    # heartbeat_at while it trains; a run whose stamp is stale lost its worker and is re-queued
    # (attempts counts the starts) or failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that last started it.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="at_most_one_active_training_run"),
            models.CheckConstraint(condition=Q(progress__gte=0.0) & Q(progress__lte=1.0), name="run_progress_0_1"),
        ]

    def __str__(self):
        return f"training run {self.pk} ({self.status})"

    @classmethod
    def stored_folders(cls):
        """The folders of the runs' stored predictions on the test set (community.comparison;
        cellposeweb.orphans keeps their files)."""
        folders = cls.objects.values_list("metrics", flat=True)
        return {m["comparison_folder"] for m in folders if isinstance(m, dict) and m.get("comparison_folder")}


class ModelCard(models.Model):
    """What the community knows about a model version: the run that made it (or the file it was
    imported from), the exact contributions and test set, the changelog."""

    model_version = models.OneToOneField("inference.ModelVersion", on_delete=models.CASCADE, related_name="card")
    training_run = models.ForeignKey(TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    contributions = models.ManyToManyField(Contribution, related_name="model_cards", blank=True)
    test_set = models.ForeignKey(TestSet, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    changelog = models.TextField(blank=True)
    imported_from = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"card of {self.model_version}"


class ReleaseAction(models.TextChoices):
    RELEASE = "release", "release"
    ROLLBACK = "rollback", "roll back"


class Release(models.Model):
    """The release log: which version became current, which one it replaced, who did it."""

    model_version = models.ForeignKey("inference.ModelVersion", on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=8, choices=ReleaseAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.model_version_id}"
