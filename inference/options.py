"""The options of a segmentation job, validated the same way for the API and for direct callers."""
from collections.abc import Mapping

from rest_framework import serializers

from inference.models import ModelVersion


class SegmentationOptionsSerializer(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Model version id; the current model when omitted.",
    )
    channels = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=3),
        min_length=2,
        max_length=2,
        default=[0, 0],
        help_text="[cyto, nucleus]: 0 = grayscale / none, 1, 2, 3 = R, G, B (the 1st, 2nd, 3rd channel).",
    )
    diameter = serializers.FloatField(
        min_value=0,
        max_value=10000,
        required=False,
        allow_null=True,
        default=None,
        help_text="Cell diameter in pixels; null or 0 estimates it.",
    )
    augment = serializers.BooleanField(default=True, help_text="Average the network over flipped tiles.")
    tile_overlap = serializers.FloatField(min_value=0.0, max_value=0.9, default=0.5)
    cellprob_threshold = serializers.FloatField(min_value=-6.0, max_value=6.0, default=0.0)
    flow_threshold = serializers.FloatField(
        min_value=0.0, max_value=10.0, default=0.4, help_text="Maximum flow error of a kept mask; 0 keeps all."
    )
    min_size = serializers.IntegerField(min_value=0, max_value=100000, default=15)
    do_3d = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Segment stacks in 3D; null = yes for stacks."
    )
    stitch_threshold = serializers.FloatField(
        min_value=0.01, max_value=1.0, default=0.25,
        help_text="Stacks segmented plane by plane (do_3d false): masks of successive planes that overlap "
        "by at least this IoU are one cell.",
    )
    anisotropy = serializers.FloatField(
        min_value=0.01, max_value=100.0, required=False, allow_null=True, default=None,
        help_text="Z step / XY pixel size of stacks (null = 1).",
    )

    def validate_diameter(self, value):
        return value or None


def option_bounds() -> dict[str, dict]:
    """The numeric options' bounds and defaults, for forms that render them (the segment form
    takes its ``min``, ``max`` and initial ``value`` from here, so the page and the API agree):
    ``{"flow_threshold": {"min": 0.0, "max": 10.0, "default": 0.4}, ...}``; ``default`` is None
    where the option has none (``diameter``: estimated)."""
    bounds = {}
    for name, field in SegmentationOptionsSerializer().fields.items():
        if isinstance(field, (serializers.FloatField, serializers.IntegerField)):
            default = field.default if field.default is not serializers.empty else None
            bounds[name] = {"min": _plain(field.min_value), "max": _plain(field.max_value), "default": _plain(default)}
    return bounds


def _plain(value):
    """0.0 as 0 (a form shows "0", as a person types it), other numbers as they are."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def clean_segmentation_options(options) -> dict:
    """Validated options with defaults filled in (``model_version`` a ModelVersion or None).

    Raises rest_framework's ValidationError naming the field that is wrong.
    """
    if options is not None and not isinstance(options, Mapping):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object of options."]})
    serializer = SegmentationOptionsSerializer(data=dict(options or {}))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def stitch_threshold(image, params: dict) -> float | None:
    """The IoU that links masks across planes when a stack (an ``annotations.models.Image``) is
    segmented plane by plane (the job's ``params`` say do_3d false), else None."""
    if image.is_3d and params.get("do_3d") is False:
        return float(params["stitch_threshold"])
    return None
