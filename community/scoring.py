"""The automatic checks of a contribution, run in the background: the current model segments the
frozen image, its prediction is stored, and the contribution's checks and review priority are
filled (community.checks computes them from arrays).

A contribution is saved at once with its checks pending (its ``ContributionScoring`` queued); the
scoring runs on the shared lifecycle of cellposeweb.work (``SCORING``): taken by compare-and-set,
a heartbeat while it runs, progress in ``stage``/``progress``, re-queued by the recovery sweep
when its worker died (or failed after JOB_MAX_ATTEMPTS starts). A scoring that fails says why and
can be queued again (services.contribution_checks_retry).

The result is written only for the snapshot that was scored: a resubmission meanwhile (new masks)
makes the old result go unsaved, and the new snapshot is scored by its own turn.
"""
import logging
import time

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotations.files import delete_stored, load_npz, npz_content
from cellposeweb import work
from community.checks import run_checks
from community.models import Contribution, ContributionScoring
from community.snapshots import CHANNELS, channel_axis, read_image
from inference.engine import diameter_of_masks
from inference.failures import describe
from inference.loading import model_load
from inference.selectors import model_version_current

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5  # at most one progress UPDATE per interval while the model runs
# Where each engine stage sits within the scoring's progress (the model runs from 0.1 to 0.85).
_STAGE_SPANS = {"normalize": (0.1, 0.15), "size": (0.15, 0.35), "network": (0.35, 0.7), "dynamics": (0.7, 0.85),
                "done": (0.85, 0.85)}
MAX_ERROR_LENGTH = 4000

SCORING = work.WorkKind(
    name="scoring",
    model=ContributionScoring,
    task="community.contribution_score",
    queue="gpu",
    what="contribution's checks",
    advice="retry the checks, or ask an administrator to look at the workers.",
    by_id=True,
    requeue_fields=lambda row: {"progress": 0.0},
    interrupted="The server stopped while this {what} were running; retry them.",
    worker_prefix="thread-scoring-",
)


class _Stopped(Exception):
    """The scoring is no longer this worker's (re-queued by the sweep or by a resubmission)."""


def enqueue_scoring(scoring_id: int) -> None:
    """Hand the scoring to the runner once the current transaction commits."""
    work.enqueue(SCORING, scoring_id)


def scoring_queue(*, contribution: Contribution) -> ContributionScoring:
    """Queue (again) the checks of ``contribution``'s current snapshot, inside the caller's
    transaction; a scoring still running on an older snapshot stops mattering (its worker's
    result is not saved, see ``_save``). Returns the scoring row."""
    fields = dict(status=work.WorkStatus.QUEUED, stage="queued", progress=0.0, error="", attempts=0, worker="",
                  heartbeat_at=None, started_at=None, finished_at=None, created_at=timezone.now())
    scoring, created = ContributionScoring.objects.get_or_create(contribution=contribution, defaults=fields)
    if not created:
        ContributionScoring.objects.filter(pk=scoring.pk).update(**fields)
        scoring.refresh_from_db()
    enqueue_scoring(scoring.pk)
    return scoring


class _Progress:
    """The engine's ``progress(stage, fraction)`` callback: throttled UPDATEs of the scoring's
    stage and progress (never going back); _Stopped once it is not this worker's any more."""

    def __init__(self, scoring_id: int, worker: str):
        self.scoring_id, self.worker, self.last, self.value = scoring_id, worker, 0.0, 0.1

    def __call__(self, stage: str, fraction: float) -> None:
        share = work.stage_share(_STAGE_SPANS, stage, fraction)
        if share is not None:
            self.value = max(self.value, share)
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        _update(self.scoring_id, self.worker, stage=f"current model: {stage}", progress=round(self.value, 4))


def _update(scoring_id: int, worker: str, **fields) -> None:
    running = ContributionScoring.objects.filter(pk=scoring_id, status=work.WorkStatus.RUNNING, worker=worker)
    if running.update(heartbeat_at=timezone.now(), **fields) != 1:
        raise _Stopped()


def _predict(contribution: Contribution, masks: np.ndarray, progress: _Progress):
    """(model version, masks int32 (Ly, Lx), cellprob float32 (Ly, Lx)) of the current model on
    the frozen image, at the diameter of the submitted masks; (None, None, None) without a model."""
    model_version = model_version_current()
    if model_version is None:
        return None, None, None
    model = model_load(model_version)
    progress.last = 0.0
    _update(progress.scoring_id, progress.worker, stage="current model: segmenting", progress=0.1)
    array = read_image(contribution.image_file, contribution.image_shape)
    diameter = diameter_of_masks(masks) if masks.max(initial=0) > 0 else None
    result = model.segment(array, channels=CHANNELS, diameter=diameter or None, augment=False,
                           channel_axis=channel_axis(contribution.image_axes), progress=progress)
    return model_version, result.masks, result.cellprob


def _save(*, scoring_id: int, worker: str, contribution: Contribution, model_version, prediction, cellprob,
          result) -> None:
    """Store the prediction file (outside any transaction), then in one transaction fill the
    contribution's checks (only while its snapshot is the one scored) and end the scoring as
    succeeded (only while it is this worker's); the file is deleted if either is not so."""
    stored = []
    if prediction is not None:
        name = contribution.prediction_file.field.generate_filename(contribution, "prediction.npz")
        content = npz_content(masks=prediction, cellprob=cellprob.astype(np.float32))
        stored.append(contribution.prediction_file.storage.save(name, content))
    old = Contribution.objects.filter(pk=contribution.pk).values_list("prediction_file", flat=True).first()
    try:
        with transaction.atomic():
            if not ContributionScoring.objects.select_for_update().filter(
                    pk=scoring_id, status=work.WorkStatus.RUNNING, worker=worker).exists():
                raise _Stopped()
            same_snapshot = Contribution.objects.filter(pk=contribution.pk, masks_file=contribution.masks_file.name)
            changed = same_snapshot.update(
                checks=result.checks, checks_passed=result.passed, current_ap=result.ap["ap50"] if result.ap else None,
                checked_with=model_version, priority=result.priority, prediction_file=stored[0] if stored else "",
            )
            if changed != 1:
                raise _Stopped()
            work.transition(ContributionScoring, scoring_id, from_status=work.WorkStatus.RUNNING,
                            to_status=work.WorkStatus.SUCCEEDED, stage="succeeded", progress=1.0,
                            finished_at=timezone.now())
            if old and old not in stored:
                transaction.on_commit(lambda: delete_stored([old]))
    except BaseException:
        delete_stored(stored)
        raise


def contribution_score(*, scoring_id: int, worker: str = "") -> ContributionScoring | None:
    """Run queued scoring ``scoring_id`` to its end: succeeded (the contribution's checks filled)
    or failed (with the reason). None when it was not queued (another worker took it)."""
    if not work.take(ContributionScoring, scoring_id, worker=worker, stage="loading the snapshot", progress=0.0):
        return None
    scoring = ContributionScoring.objects.select_related("contribution").get(pk=scoring_id)
    contribution = scoring.contribution
    with work.Heartbeat(ContributionScoring, scoring_id):
        try:
            snapshot = load_npz(contribution.masks_file)
            masks = snapshot["masks"].astype(np.int32)
            origins = snapshot["origins"]
            progress = _Progress(scoring_id, worker)
            _update(scoring_id, worker, stage="loading the current model", progress=0.05)
            model_version, prediction, cellprob = _predict(contribution, masks, progress)
            _update(scoring_id, worker, stage="checking the masks", progress=0.9)
            result = run_checks(masks=masks, origins=origins, prediction=prediction, cellprob=cellprob)
            _save(scoring_id=scoring_id, worker=worker, contribution=contribution, model_version=model_version,
                  prediction=prediction, cellprob=cellprob, result=result)
        except _Stopped:
            logger.info("checks of contribution %s: stopped (re-queued or resubmitted meanwhile)", contribution.pk)
        except Exception as exc:
            logger.exception("checks of contribution %s failed", contribution.pk)
            error = f"The automatic checks could not run: {describe(exc)}"[:MAX_ERROR_LENGTH]
            work.transition(ContributionScoring, scoring_id, from_status=work.WorkStatus.RUNNING,
                            to_status=work.WorkStatus.FAILED, where={"worker": worker}, stage="failed", error=error,
                            finished_at=timezone.now())
    return ContributionScoring.objects.get(pk=scoring_id)
