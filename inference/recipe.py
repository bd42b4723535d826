"""How a result was made: the segmentation behind an annotation version, for the image page to
restore (model, channels, diameter given or estimated, thresholds, the other options).

A version made by a segmentation or a re-threshold names its job; an edited version was made from
its ``base_version``, a restored one holds the masks of ``restored_from``. The recipe of a version
is that of the first version with a job found by following those links back.
"""
from annotations.models import Annotation

#: Links followed at most (a longer history of edits without a segmentation has no recipe).
MAX_STEPS = 10_000


def annotation_made_by(annotation: Annotation) -> Annotation | None:
    """The version whose segmentation ``annotation``'s masks come from (itself when it has a job)."""
    if annotation.job_id is not None:
        return annotation
    rows = {
        version: (job_id, base, restored)
        for version, job_id, base, restored in annotation.image.annotations.filter(
            version__lte=annotation.version
        ).values_list("version", "job_id", "base_version", "restored_from")
    }
    version = annotation.version
    for _ in range(MAX_STEPS):
        if version not in rows:
            return None
        job_id, base, restored = rows[version]
        if job_id is not None:
            return annotation.image.annotations.select_related("job__model_version").get(version=version)
        version = restored or base
        if not version:
            return None
    return None


def _item_diameter(made: Annotation) -> float | None:
    """The diameter the job's run on this image used (versions saved before summaries held it)."""
    item = made.job.items.filter(image_id=made.image_id).exclude(diameter=None).first()
    return item.diameter if item else None


def annotation_recipe(annotation: Annotation) -> dict | None:
    """The settings that made ``annotation``'s masks, or None for masks no segmentation made.

    Keys: version (the version the segmentation or re-threshold saved), job, model_version (id),
    model_name ("<name> v<version>"), channels [cyto, nucleus], diameter (pixels, given or estimated;
    None when unknown), diameter_source ("given" or "estimated"), diameter_method (how the engine
    chose it: "given", "size model", ...; "" when not recorded), cellprob_threshold and
    flow_threshold (a re-threshold's own), augment, tile_overlap, min_size, do_3d, anisotropy,
    stitch_threshold.
    """
    made = annotation_made_by(annotation)
    if made is None:
        return None
    job, summary = made.job, made.summary or {}
    params = job.params or {}
    given = params.get("diameter")
    diameter = given or summary.get("diameter") or _item_diameter(made)
    return {
        "version": made.version,
        "job": job.pk,
        "model_version": job.model_version_id,
        "model_name": f"{job.model_version.name} v{job.model_version.version}",
        "channels": list(params.get("channels", [0, 0])),
        "diameter": float(diameter) if diameter else None,
        "diameter_source": "given" if given else "estimated",
        "diameter_method": summary.get("diameter_source", "given" if given else ""),
        "cellprob_threshold": float(summary.get("cellprob_threshold", params.get("cellprob_threshold", 0.0))),
        "flow_threshold": float(summary.get("flow_threshold", params.get("flow_threshold", 0.4))),
        "augment": params.get("augment", True),
        "tile_overlap": params.get("tile_overlap", 0.5),
        "min_size": params.get("min_size", 15),
        "do_3d": params.get("do_3d"),
        "anisotropy": params.get("anisotropy"),
        "stitch_threshold": params.get("stitch_threshold"),
    }
