"""Model versions and segmentation jobs."""
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from cellposeweb.work import ACTIVE_STATUSES, WorkStatus


def _model_path(instance, filename):
    return f"models/{instance.name}-v{instance.version}-{uuid.uuid4().hex[:8]}.pt"


def _block_path(instance, filename):
    return f"results/blocks/{instance.item_id}-{instance.index}-{uuid.uuid4().hex[:8]}.npz"


def _result_path(instance, filename):
    return f"results/{instance.job_id}/{instance.image_id}-{uuid.uuid4().hex[:8]}-{filename}"


class ModelVersion(models.Model):
    """A file of trained weights the server can segment with (the engine's model file format)."""

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to=_model_path, max_length=500)
    sha256 = models.CharField(max_length=64, blank=True)
    is_current = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    nbase = models.JSONField(default=list, blank=True)
    diam_mean = models.FloatField(default=30.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="at_most_one_current_model_version"
            ),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"


JobStatus = WorkStatus  # one status machine for all background work (cellposeweb.work)


class SegmentationJob(models.Model):
    """Segmentation of one image, or of many (a batch), with one model and one set of options."""

    Status = JobStatus

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    stage = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Reliability: the worker running the job stamps heartbeat_at while it runs; a running job whose
    # stamp is stale lost its worker and is re-queued (attempts counts the starts) or failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that last started it.")
    images = models.ManyToManyField("annotations.Image", through="JobItem", related_name="jobs")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "owner", "created_at"], name="job_queue_order")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0.0) & Q(progress__lte=1.0), name="job_progress_between_0_and_1"
            )
        ]

    def __str__(self):
        return f"job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_STATUSES


class JobItem(models.Model):
    """One image of a job and what segmenting it produced.

    The masks segmenting the image produced are its next annotation version (annotations.Annotation).
    ``flows``: compressed ``.npz`` with ``dP`` (float32, (2, Y, X) or (3, Z, Y, X), network scale),
    ``cellprob`` (float32 logits, (Y, X) or (Z, Y, X)) and ``styles`` (float32, (D,), D = the
    network's last nbase); enough to recompute masks at other thresholds without running the network.
    """

    job = models.ForeignKey(SegmentationJob, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("annotations.Image", on_delete=models.CASCADE, related_name="job_items")
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    flows = models.FileField(upload_to=_result_path, max_length=500, blank=True)
    diameter = models.FloatField(null=True, blank=True)
    # A tiled image (annotations.slides) is segmented block by block (JobBlock): what every block
    # shares, fixed once for the item: {"block_size", "overlap", "n_blocks", "normalisation":
    # [lo, hi] (per channel), "diameter_source"}; {} for an image segmented whole.
    tiled = models.JSONField(default=dict, blank=True)
    n_masks = models.PositiveIntegerField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "image"], name="job_item_unique_image")]

    def __str__(self):
        return f"job {self.job_id} image {self.image_id} ({self.status})"


class JobBlock(models.Model):
    """One block of a tiled image's segmentation (inference.tiled_jobs): a unit of background work
    of its own on the shared lifecycle (cellposeweb.work: status, heartbeat, recovery), so blocks
    run on several workers at once and a dead worker's block is redone.

    ``index`` is the block's position in ``plan_blocks`` order (the engine's ``Block`` is rebuilt
    from the item's plan). ``labels`` is the stored compressed ``.npz`` of its local labels
    (``labels``: uint32, the padded region's shape, 0 = background, 1..n_labels), deleted once
    the image's result is saved.
    """

    Status = JobStatus

    item = models.ForeignKey(JobItem, on_delete=models.CASCADE, related_name="blocks")
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    stage = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    labels = models.FileField(upload_to=_block_path, max_length=500, blank=True)
    n_labels = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["item", "index"]
        constraints = [models.UniqueConstraint(fields=["item", "index"], name="job_block_unique_index")]

    def __str__(self):
        return f"job item {self.item_id} block {self.index} ({self.status})"
