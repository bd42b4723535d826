"""Re-thresholding: new masks from the stored flows of an image's segmentation, at new thresholds,
without running the network."""
from annotations.files import load_npz
from annotations.models import Annotation, Image
from annotations.services import annotation_create
from cellposeweb.exceptions import ConflictError
from inference.engine import recompute_masks
from inference.models import JobItem
from inference.options import stitch_threshold
from inference.selectors import job_item_with_flows


def masks_rethreshold(
    *,
    image: Image,
    cellprob_threshold: float,
    flow_threshold: float,
    created_by=None,
    job_item: JobItem | None = None,
) -> Annotation:
    """Masks recomputed from the stored flows of the image's latest segmentation (or ``job_item``)
    at new thresholds, saved as the next annotation version. No network is run.

    The computation (about a second) runs outside any transaction; only the save is atomic.
    """
    item = job_item or job_item_with_flows(image=image)
    if item is None or not item.flows:
        raise ConflictError(f"{image.name} has no stored flows to re-threshold; segment it first.")
    flows = load_npz(item.flows)
    masks = recompute_masks(
        flows["dP"],
        flows["cellprob"],
        cellprob_threshold=float(cellprob_threshold),
        flow_threshold=float(flow_threshold),
        min_size=int(item.job.params.get("min_size", 15)),
        niter=int(flows["niter"]) if "niter" in flows else None,
        stitch_threshold=stitch_threshold(image, item.job.params),
    )
    return annotation_create(
        image=image,
        masks=masks,
        source=Annotation.Source.MODEL,
        created_by=created_by,
        job=item.job,
        summary={
            "rethreshold_of_job": item.job_id,
            "cellprob_threshold": float(cellprob_threshold),
            "flow_threshold": float(flow_threshold),
            "diameter": item.diameter,
        },
    )
