"""What a ``_seg.npy`` download holds beside the masks: the flows, the diameter and the channels
of the segmentation behind the version (inference/recipe.py), complete after edits too.

The flows are the segmentation's where the masks are unchanged and the edited masks' own where
they changed (engine.edited_flows); the diameter is the one the segmentation used, or the masks'
median diameter for masks no segmentation made.
"""
import numpy as np

from annotations.files import load_npz
from annotations.models import Annotation
from annotations.selectors import annotation_arrays
from inference.engine import flows_after_edits, masks_diameter
from inference.recipe import annotation_made_by, annotation_recipe
from inference.selectors import job_item_with_flows


def seg_npy_extras(annotation: Annotation, masks: np.ndarray) -> dict:
    """Keyword arguments ``flows``, ``diameter`` and ``channels`` of engine.export.save_seg_npy
    for ``annotation``, whose labels are ``masks`` (int32, (Ly, Lx) or (Lz, Ly, Lx))."""
    recipe = annotation_recipe(annotation)
    diameter = recipe["diameter"] if recipe and recipe["diameter"] else masks_diameter(masks) or None
    channels = tuple(recipe["channels"]) if recipe else (0, 0)
    return {"flows": _flows(annotation, masks), "diameter": diameter, "channels": channels}


def _flows(annotation: Annotation, masks: np.ndarray):
    made = annotation_made_by(annotation)
    if made is None:
        return None
    item = job_item_with_flows(image=annotation.image, job=made.job)
    if item is None:
        return None
    stored = load_npz(item.flows)
    dP, cellprob = stored["dP"], stored["cellprob"]
    if cellprob.shape != masks.shape:
        return None
    if made.pk == annotation.pk:
        return dP, cellprob
    segmented, _ = annotation_arrays(made)
    return flows_after_edits(dP, cellprob, segmented, masks)
