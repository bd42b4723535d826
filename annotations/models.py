"""Images and the saved versions of their masks."""
import uuid

from django.conf import settings
from django.db import models

from cellposeweb.work import WorkStatus


def _image_path(instance, filename):
    return f"images/{instance.owner_id}/{uuid.uuid4().hex}/{filename}"


def _thumbnail_path(instance, filename):
    return f"thumbnails/{instance.owner_id}/{uuid.uuid4().hex}.png"


def _annotation_path(instance, filename):
    return f"annotations/{instance.image_id}/v{instance.version}-{uuid.uuid4().hex[:8]}.npz"


def _cells_path(instance, filename):
    return f"annotations/{instance.image_id}/cells-{uuid.uuid4().hex[:8]}.npz"


class Image(models.Model):
    """An uploaded microscopy image, stored as the original bytes.

    ``shape`` and ``axes`` describe the array the engine reads from the file, e.g. ``[512, 512]`` /
    ``"YX"``, ``[512, 512, 3]`` / ``"YXC"`` or ``[31, 61, 57]`` / ``"ZYX"``. A ``tiled`` image
    (larger than TILED_MIN_PIXELS) is also stored as a pyramid of tiles; its axes are then those
    of the pyramid: "YX", "YXC", "ZYX" or "ZYXC" (annotations.slides).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255, help_text="The original file name, sanitised.")
    file = models.FileField(upload_to=_image_path, max_length=500)
    thumbnail = models.FileField(upload_to=_thumbnail_path, max_length=500, blank=True)
    shape = models.JSONField(default=list)
    dtype = models.CharField(max_length=16)
    axes = models.CharField(max_length=8)
    is_3d = models.BooleanField(default=False)
    n_channels = models.PositiveSmallIntegerField(default=1)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    tiled = models.BooleanField(
        default=False,
        help_text="Stored as a multiscale OME-Zarr under images/<id>/pixels.zarr/ (annotations.slides).",
    )
    display = models.JSONField(
        default=dict, blank=True,
        help_text='How to show it: {"levels": [[lo, hi], ...] per channel}, from a subsample at ingest.',
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.name} ({self.pk})"

    @classmethod
    def stored_folders(cls):
        """The storage folders of tiled images' pixels (cellposeweb.orphans keeps their files)."""
        return {f"images/{pk}/pixels.zarr" for pk in cls.objects.filter(tiled=True).values_list("pk", flat=True)}


class MaskOrigin(models.IntegerChoices):
    """Where one mask came from (the Cellpose GUI's ``ismanual``, with edits told apart)."""

    MODEL = 0, "model"
    MANUAL = 1, "manual"
    EDITED = 2, "edited"  # found by a model, then changed by a person


class Annotation(models.Model):
    """One saved version of an image's masks. Versions are never changed or deleted (except with
    their image): a save or a restore adds the next one.

    ``masks`` is a compressed ``.npz`` holding ``masks`` (int32 labels, shape (Y, X) or (Z, Y, X),
    0 = background, 1..n_masks), ``origins`` (uint8, one :class:`MaskOrigin` per label 1..n_masks)
    and ``ismanual`` (bool per label: origin is not "model"; what the Cellpose GUI's files hold).
    Files saved before ``origins`` existed hold ``ismanual`` alone (True reads as "manual").
    A tiled image's version keeps its masks as chunked OME-Zarr labels instead (``labels_key``,
    with the per-cell table in ``cells``, see annotations.tiled_masks) and ``masks`` is empty.

    ``changes`` says what this version changed against ``base_version`` (the version it was
    edited from; the previous latest for model runs and restores): counts of masks ``added``,
    ``removed``, ``edited`` and ``unchanged``, and the first labels of each (``*_labels``; added
    and edited name labels of this version, removed ones labels of the base).
    """

    class Source(models.TextChoices):
        MODEL = "model", "model"
        MANUAL = "manual", "manual"
        RESTORED = "restored", "restored"
        IMPORTED = "imported", "imported"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    version = models.PositiveIntegerField()
    masks = models.FileField(upload_to=_annotation_path, max_length=500, blank=True)
    # A tiled image's masks (annotations.tiled_masks): the OME-Zarr labels group under the
    # image's pixels (annotations.slides, key ``labels_key``) and the per-cell table ``cells``;
    # ``masks`` is then empty.
    labels_key = models.CharField(max_length=64, blank=True)
    cells = models.FileField(upload_to=_cells_path, max_length=500, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    n_masks = models.PositiveIntegerField(default=0)
    job = models.ForeignKey(
        "inference.SegmentationJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="annotations"
    )
    summary = models.JSONField(default=dict, blank=True)
    base_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version this one was made from (None for the first)."
    )
    restored_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="For a restore: the older version whose masks it holds."
    )
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["image", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["image", "version"], name="annotation_version_unique_per_image")
        ]

    def __str__(self):
        return f"{self.image_id} v{self.version}"


class Upload(models.Model):
    """A file arriving in chunks (``POST /api/uploads/``): not an image until it is completed.

    Each accepted chunk is a stored file under ``uploads/<id>/`` named in ``parts`` (in order);
    ``offset`` is the number of bytes received so far and moves only by compare-and-set, so two
    requests can never both append at the same place. ``size`` and ``sha256`` are what the client
    declared; ``complete`` checks them before the file becomes an image (annotations.uploads).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    name = models.CharField(max_length=255, help_text="The file name, sanitised.")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    offset = models.BigIntegerField(default=0)
    parts = models.JSONField(default=list, blank=True)
    completing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The ingest of a tiled image, as background work on the shared lifecycle (cellposeweb.work,
    # annotations.ingest_work): blank while chunks arrive; queued/running while the pyramid is
    # built; succeeded with ``image`` set, or failed with ``error``.
    status = models.CharField(max_length=10, choices=WorkStatus.choices, blank=True, default="", db_index=True)
    stage = models.CharField(max_length=120, blank=True)
    progress = models.FloatField(default=0.0, help_text="Share of the pyramid's bands written (0..1).")
    error = models.TextField(blank=True)
    image = models.ForeignKey("Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that last started its ingest.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["updated_at"])]

    def __str__(self):
        return f"{self.name} ({self.offset}/{self.size})"
