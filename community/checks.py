"""The automatic checks of a contribution, computed from arrays (no database access).

Each check is ``{"name", "ok", "value", "reason"}``; ``reason`` is the sentence shown to the
contributor and the curator. The current model's output on the image gives two of them: regions
it calls cells that hold no mask (dense labelling), and the AP of its masks against the submitted
ones (a low AP means the contribution would teach the model most).
"""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.engine import average_precision

MIN_MASKS = 5
MIN_MANUAL_SHARE = 0.5
MAX_UNLABELLED_SHARE = 0.05  # flagged cell-like regions, as a share of the number of masks


@dataclass
class CheckResult:
    checks: list[dict]
    passed: bool
    ap: dict | None  # {"ap50", "ap75", "ap90"} of the current model's masks, None without a model
    priority: float


def _check(name, ok, value, reason) -> dict:
    return {"name": name, "ok": bool(ok), "value": value, "reason": reason}


def fragmented_labels(masks: np.ndarray) -> list[int]:
    """Labels of ``masks`` (int (Ly, Lx)) made of more than one connected piece: what overlapping
    or half-erased masks leave behind in a label image."""
    bad = []
    for label, box in enumerate(ndimage.find_objects(masks), start=1):
        if box is None:
            continue
        _, n = ndimage.label(masks[box] == label)
        if n > 1:
            bad.append(label)
    return bad


def unlabelled_regions(masks: np.ndarray, cellprob: np.ndarray, prediction: np.ndarray) -> int:
    """Number of cells the current model finds that no submitted mask covers.

    masks, prediction : int32 (Ly, Lx), the submitted and the model's labels.
    cellprob : float32 (Ly, Lx), the model's cell probability logits.

    A predicted object counts when it is at least a quarter of the median submitted mask's area
    (and 15 px), the model is confident in it (mean cellprob logit > 0) and at most 20 % of it
    lies on or within 2 px of a submitted mask (so a mask drawn a little tighter than the model's
    is not a missing cell).
    """
    areas = np.bincount(masks.ravel())[1:]
    areas = areas[areas > 0]
    min_area = max(15.0, 0.25 * float(np.median(areas))) if areas.size else 15.0
    n_pred = int(prediction.max(initial=0))
    if n_pred == 0:
        return 0
    near = ndimage.binary_dilation(masks > 0, iterations=2)
    index = np.arange(1, n_pred + 1)
    size = ndimage.sum_labels(np.ones_like(prediction), prediction, index)
    covered = ndimage.sum_labels(near, prediction, index)
    confident = ndimage.mean(cellprob, prediction, index) > 0
    flagged = (size >= min_area) & (covered <= 0.2 * size) & confident
    return int(np.sum(flagged))


def run_checks(
    *, masks: np.ndarray, origins: np.ndarray, prediction: np.ndarray | None, cellprob: np.ndarray | None,
    min_masks: int = MIN_MASKS, min_manual_share: float = MIN_MANUAL_SHARE,
) -> CheckResult:
    """Checks of submitted ``masks`` (int32 (Ly, Lx), 1..N) with ``origins`` (uint8 MaskOrigin
    per label), against the current model's ``prediction`` (int32 (Ly, Lx)) and ``cellprob``
    (float32 logits (Ly, Lx)); both None when no model is installed."""
    n = int(masks.max(initial=0))
    checks = [
        _check(
            "min_masks", n >= min_masks, n,
            f"{n} masks (at least {min_masks} needed)." if n >= min_masks
            else f"Only {n} masks; a contribution needs at least {min_masks} labelled cells.",
        )
    ]
    bad = fragmented_labels(masks)
    checks.append(_check(
        "no_overlaps", not bad, len(bad),
        "Every mask is one connected region." if not bad
        else f"{len(bad)} masks are split into pieces (overlapping or partly erased masks), e.g. "
             f"{', '.join(map(str, bad[:5]))}; redraw them as single regions.",
    ))
    if cellprob is not None and prediction is not None:
        missing = unlabelled_regions(masks, cellprob, prediction)
        allowed = max(1, int(MAX_UNLABELLED_SHARE * n))
        checks.append(_check(
            "dense_labelling", missing <= allowed, missing,
            "Every cell the current model finds is labelled." if missing == 0
            else f"{missing} cells found by the current model carry no mask"
                 + ("; label every cell in the image." if missing > allowed else " (within tolerance)."),
        ))
    share = float(np.mean(origins != 0)) if origins.size else 0.0
    checks.append(_check(
        "manual_share", share >= min_manual_share, round(share, 3),
        f"{share:.0%} of the masks were drawn or corrected by hand"
        + (" (fully manual or fully corrected data teach the model most)." if share >= min_manual_share
           else f"; at least {min_manual_share:.0%} are needed: check and correct the model's masks."),
    ))
    ap = None
    if prediction is not None:
        values = average_precision(masks, prediction)[0][0]
        ap = {"ap50": float(values[0]), "ap75": float(values[1]), "ap90": float(values[2])}
        checks.append(_check(
            "current_model_ap", True, round(ap["ap50"], 3),
            f"The current model scores AP@0.5 = {ap['ap50']:.2f} on these masks"
            + (": it would learn a lot from them." if ap["ap50"] < 0.6 else ": it already does well here."),
        ))
    passed = all(c["ok"] for c in checks)
    informative = 1.0 - (ap["ap50"] if ap else 0.5)
    priority = (1.0 if passed else -1.0) + informative
    return CheckResult(checks=checks, passed=passed, ap=ap, priority=round(priority, 4))
