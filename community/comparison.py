"""A candidate beside the current model on every test image, for the release dashboard.

The training run computes this where it evaluates both models on the test set
(``community.training``): per image, the AP of both, which true cells each found (matched at
IoU >= 0.5), the cells the candidate gained and lost, and both predictions, stored as one ``.npz``
per test image under the run's comparison folder through the storage API (``candidate`` and
``current``: int32 (Ly, Lx) label images). The rows go into ``TrainingRun.metrics["per_image"]``,
the folder into ``metrics["comparison_folder"]`` (``TrainingRun.stored_folders`` keeps it from the
orphan sweep), the training data's counts into ``metrics["training_data"]``.
"""
import uuid
from collections import Counter

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotations.files import npz_bytes
from inference.engine import average_precision, mask_ious

MATCH_IOU = 0.5


def found_cells(truth: np.ndarray, predicted: np.ndarray, threshold: float = MATCH_IOU) -> set[int]:
    """The labels of the true cells that some predicted cell overlaps with IoU >= ``threshold``.

    truth, predicted : ndarray of int, shape (Ly, Lx), 0 = background, 1..N = cells.
    Above IoU 0.5 a true cell can match at most one predicted cell and the other way round, so
    this is the one-to-one matching that AP@0.5 counts.
    """
    iou, labels_true, _ = mask_ious(truth, predicted)
    if iou.shape[0] == 0 or iou.shape[1] == 0:
        return set()
    coo = iou.tocoo()
    best = np.zeros(iou.shape[0])
    np.maximum.at(best, coo.row, coo.data)
    return {int(label) for label, value in zip(labels_true, best) if value >= threshold}


def _model_row(truth: np.ndarray, predicted: np.ndarray) -> dict:
    ap = average_precision(truth, predicted)[0][0]
    return {"ap50": round(float(ap[0]), 4), "ap75": round(float(ap[1]), 4), "ap90": round(float(ap[2]), 4),
            "n_cells": int(len(np.unique(predicted)) - (1 if (predicted == 0).any() else 0))}


def verdict(delta: float) -> str:
    """``better``, ``worse`` or ``same`` from the change of AP@0.5 (candidate - current)."""
    return "better" if delta > 0 else "worse" if delta < 0 else "same"


def image_comparison(truth: np.ndarray, candidate: np.ndarray, current: np.ndarray) -> dict:
    """One test image: AP of both models, cells found by each, gained (found by the candidate
    only) and lost (found by the current model only), and the verdict.

    truth, candidate, current : ndarray of int32, shape (Ly, Lx), 0 = background, 1..N = cells.
    """
    found_candidate, found_current = found_cells(truth, candidate), found_cells(truth, current)
    row = {"n_true": int(len(np.unique(truth[truth > 0]))), "candidate": _model_row(truth, candidate),
           "current": _model_row(truth, current)}
    row["candidate"]["n_found"], row["current"]["n_found"] = len(found_candidate), len(found_current)
    row["gained"] = len(found_candidate - found_current)
    row["lost"] = len(found_current - found_candidate)
    row["delta_ap50"] = round(row["candidate"]["ap50"] - row["current"]["ap50"], 4)
    row["verdict"] = verdict(row["delta_ap50"])
    return row


def comparison_store(*, items, candidate_masks, current_masks, contributions, stored: list) -> tuple[str, list[dict]]:
    """Compare the two models' predictions on every test image and store the predictions.

    ``items`` are the test set's (image, truth, tags, kind) tuples, ``candidate_masks`` and
    ``current_masks`` the two predictions in the same order, ``contributions`` the test
    contributions. Stored names are appended to ``stored`` (deleted by the caller if the run fails).
    Returns (the comparison folder, the per-image rows). Call it outside transactions.
    """
    folder = f"community/runs/{uuid.uuid4().hex}/comparison"
    rows = []
    for (_, truth, tags, kind), cand, cur, contribution in zip(items, candidate_masks, current_masks, contributions):
        cand, cur = np.asarray(cand, dtype=np.int32), np.asarray(cur, dtype=np.int32)
        name = default_storage.save(f"{folder}/{contribution.pk}.npz", ContentFile(npz_bytes(candidate=cand, current=cur)))
        stored.append(name)
        rows.append({"contribution": contribution.pk, "image_name": contribution.image_name, "kind": kind,
                     "tags": list(tags), "masks": name, **image_comparison(truth, cand, cur)})
    return folder, rows


def training_data_summary(contributions, kinds: list[str], n_cells: list[int]) -> dict:
    """What the candidate was trained on: images and cells per image kind, images per contributor."""
    per_kind: dict[str, dict] = {}
    for kind, cells in zip(kinds, n_cells):
        entry = per_kind.setdefault(kind, {"n_images": 0, "n_cells": 0})
        entry["n_images"] += 1
        entry["n_cells"] += int(cells)
    contributors = Counter(c.contributor.username for c in contributions)
    return {"n_images": len(kinds), "n_cells": int(sum(n_cells)), "per_kind": dict(sorted(per_kind.items())),
            "contributors": [{"name": name, "n_images": n} for name, n in sorted(contributors.items())]}
