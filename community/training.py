"""Running a training run: fine-tune the base model on the run's contributions with the engine's
trainer, evaluate candidate and current model on the held-out test set (and compare them per
test image, community.comparison), register the candidate.

Not atomic as a whole on purpose (progress must be visible while it trains): a sequence of short
transactions, each guarded by a compare-and-set on the run's status. A run that fails or is
cancelled leaves everything else as it was: the candidate is registered only in the final
transaction, together with the run's success.

Training runs share the segmentation jobs' lifecycle (cellposeweb.work, ``TRAINING``): the worker
stamps a heartbeat while it trains, and a run whose worker died (killed, out of memory) is
re-queued by the recovery sweep and trains again from the start, or fails after
JOB_MAX_ATTEMPTS starts, instead of staying ``running`` and blocking every later run.
"""
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from annotations.files import delete_stored, local_path
from cellposeweb import work
from community.events import training_run_event_send_on_commit
from community.comparison import comparison_store, training_data_summary
from community.models import RUN_ACTIVE, ModelCard, RunStatus, TrainingRun
from community.replay import contribution_kind, replay_mix
from community.snapshots import contribution_arrays, read_image
from inference.engine import CellposeModel, average_precision, diameter_of_masks
from inference.models import ModelVersion
from inference.selectors import model_version_current
from inference.model_versions import model_version_prepare, model_version_prepared_save

logger = logging.getLogger(__name__)

CANDIDATE_NAME = "community"
STOP_POLL_S = 1.0
MAX_ERROR_LENGTH = 4000
# per-image rows name test images and contributors: the run (administrators) keeps them, the
# model version's metrics (public once released) do not
RUN_ONLY_METRICS = ("per_image", "comparison_folder", "training_data")


class _Cancelled(Exception):
    pass


def _event(run_id: int, *args) -> None:
    training_run_event_send_on_commit(TrainingRun.objects.get(pk=run_id))


TRAINING = work.WorkKind(
    name="training",
    model=TrainingRun,
    task="training.training_run_execute",
    queue="training",
    what="training run",
    advice="try fewer epochs or smaller crops, or ask an administrator to look at the training worker.",
    by_id=True,
    requeue_fields=lambda run: {"progress": 0.0, "history": []},  # it trains again from the start
    on_requeued=_event,
    on_failed=_event,
    fail_fields={"active": None},
    worker_prefix="thread-training-",
)


def enqueue_training(run_id: int) -> None:
    """Hand the run to the runner once the current transaction commits."""
    work.enqueue(TRAINING, run_id)


def training_runs_recover(*, restarted_worker: str = "") -> dict:
    """Re-queue (or fail, after JOB_MAX_ATTEMPTS starts) runs whose worker died (work.sweep)."""
    return work.sweep(TRAINING, restarted_worker=restarted_worker)


def training_runs_fail_orphans() -> int:
    """Embedded mode: fail runs a stopped server left running, so they do not block new runs."""
    return work.pool(TRAINING.name).fail_orphans()


def training_run_fail(*, run_id: int, error: str) -> int:
    """Mark an active run failed (compare-and-set); 1 when it was active."""
    with transaction.atomic():
        changed = work.transition(TrainingRun, run_id, from_status=RUN_ACTIVE, to_status=RunStatus.FAILED,
                                  stage="failed", active=None, error=error[:MAX_ERROR_LENGTH], finished_at=timezone.now())
        if changed:
            training_run_event_send_on_commit(TrainingRun.objects.get(pk=run_id))
    return int(changed)


def _update_running(run_id: int, worker: str, **fields) -> TrainingRun:
    """Update the run this worker runs (stopping it when it was cancelled, or given to another worker
    by the sweep); every update is also a heartbeat."""
    with transaction.atomic():
        running = TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, worker=worker)
        if running.update(heartbeat_at=timezone.now(), **fields) != 1:
            raise _Cancelled()
        run = TrainingRun.objects.get(pk=run_id)
        training_run_event_send_on_commit(run, record=fields.get("history", [None])[-1] if "history" in fields else None)
    return run


def _load(model_version: ModelVersion, device: str) -> CellposeModel:
    with local_path(model_version.file, suffix=".pt") as path:
        return CellposeModel.from_file(path, device=device)


def predict(model: CellposeModel, items: list[tuple[np.ndarray, np.ndarray, list[str], str]]) -> list[np.ndarray]:
    """The masks (int32 (Ly, Lx)) ``model`` predicts on each of ``items`` (see ``evaluate``), each
    image segmented at the diameter of its true masks, without test-time augmentation."""
    return [model.segment(image, channels=(1, 2), diameter=diameter_of_masks(truth) or None, augment=False,
                          channel_axis=0).masks for image, truth, _, _ in items]


def evaluate(model: CellposeModel, items: list[tuple[np.ndarray, np.ndarray, list[str], str]],
             predicted: list[np.ndarray] | None = None) -> dict:
    """AP at IoU 0.5 / 0.75 / 0.9 of ``model`` on ``items`` ((image float32 (2, Ly, Lx), true
    masks int32 (Ly, Lx), tags, image kind)), averaged over images, overall, per tag and per image
    kind (``per_kind``: fluorescent, brightfield, stained). ``predicted``: the model's masks on
    the items when already computed (``predict``)."""
    if predicted is None:
        predicted = predict(model, items)
    rows = []
    for (_, truth, tags, kind), masks in zip(items, predicted):
        ap = average_precision(truth, masks)[0][0]
        rows.append((ap, tags, kind))

    def summary(aps) -> dict:
        mean = np.mean(aps, axis=0) if aps else np.full(3, np.nan)
        return {"ap50": round(float(mean[0]), 4), "ap75": round(float(mean[1]), 4), "ap90": round(float(mean[2]), 4),
                "n_images": len(aps)}

    per_tag = {tag: summary([ap for ap, tags, _ in rows if tag in tags])
               for tag in sorted({t for _, tags, _ in rows for t in tags})}
    per_kind = {kind: summary([ap for ap, _, k in rows if k == kind]) for kind in sorted({k for _, _, k in rows})}
    return {**summary([ap for ap, _, _ in rows]), "per_tag": per_tag, "per_kind": per_kind}


def _dataset(contributions) -> list[tuple[np.ndarray, np.ndarray, list[str], str]]:
    items = []
    for contribution in contributions:
        image, masks = contribution_arrays(contribution)
        kind = contribution_kind(read_image(contribution.image_file, contribution.image_shape),
                                 contribution.image_axes, masks)
        items.append((image, masks, list(contribution.tags), kind))
    return items


def _changelog(run: TrainingRun, metrics: dict, n_train: int) -> str:
    c, cur = metrics["candidate"], metrics["current"]
    return (
        f"Fine-tuned from {run.base} on {n_train} approved contribution(s) for {run.params['n_epochs']} epochs "
        f"(learning rate {run.params['learning_rate']}). Test set v{run.test_set.version} "
        f"({c['n_images']} images): AP@0.5 {c['ap50']:.3f} (current model {cur['ap50']:.3f}), "
        f"AP@0.75 {c['ap75']:.3f} ({cur['ap75']:.3f}), AP@0.9 {c['ap90']:.3f} ({cur['ap90']:.3f})."
        f"{_replay_note(run.params)}{_per_kind_note(c, cur)}"
    )


def _replay_note(params: dict) -> str:
    fraction = params.get("replay_fraction", 0.0)
    if not fraction:
        return ""
    return (f" {round(100 * fraction)} % of the training samples replayed the base data "
            f"({params.get('replay_synthetic_images', 0)} synthetic images"
            f"{' and the server replay folder' if getattr(settings, 'COMMUNITY_REPLAY_FOLDER', '') else ''}).")


def _per_kind_note(candidate: dict, current: dict) -> str:
    """" Per image kind, AP@0.5 before -> after: fluorescent 0.800 -> 0.850 (3 images); ..."."""
    kinds = candidate.get("per_kind", {})
    parts = [f"{kind} {current.get('per_kind', {}).get(kind, {}).get('ap50', float('nan')):.3f} -> "
             f"{row['ap50']:.3f} ({row['n_images']} image{'s' if row['n_images'] != 1 else ''})"
             for kind, row in kinds.items()]
    return f" Per image kind, AP@0.5 current -> candidate: {'; '.join(parts)}." if parts else ""


def training_run_execute(*, run_id: int, device: str = "auto", worker: str = "") -> TrainingRun | None:
    """Run a queued training run to its end: succeeded (with a registered candidate), failed
    (with the reason) or cancelled. None when the run was not queued. ``worker`` names the worker
    (its Celery node name) so that it can recover its run on restart."""
    if not work.take(TrainingRun, run_id, worker=worker, stage="loading data", history=[], progress=0.0):
        return None
    run = TrainingRun.objects.select_related("base", "test_set").get(pk=run_id)
    training_run_event_send_on_commit(run)
    with work.Heartbeat(TrainingRun, run_id):
        _train(run, device=device, worker=run.worker)
    return TrainingRun.objects.get(pk=run_id)


def _train(run: TrainingRun, *, device: str, worker: str) -> None:
    from inference.engine import TrainConfig, train

    run_id = run.pk
    stored = []
    try:
        with tempfile.TemporaryDirectory(prefix="cellposeweb-training-") as tmp:
            train_contributions = list(run.contributions.select_related("contributor").order_by("pk"))
            test_contributions = list(run.test_set.contributions.order_by("pk"))
            train_items, test_items = _dataset(train_contributions), _dataset(test_contributions)
            base = _load(run.base, device="cpu" if device == "cpu" else None)
            params = run.params
            config = TrainConfig(
                n_epochs=params["n_epochs"], learning_rate=params["learning_rate"], batch_size=params["batch_size"],
                n_samples_per_epoch=params["n_samples_per_epoch"], bsize=params["bsize"],
                warmup_epochs=params["warmup_epochs"], seed=params["seed"], val_every=params["val_every"],
                fit_size_model=params["fit_size_model"], checkpoint_every=10**6, device=device,
                precision="auto",
            )
            history: list[dict] = []
            last_poll = [0.0]

            def progress(epoch, n_epochs, record):
                history.append({k: record.get(k) for k in ("epoch", "lr", "train_loss", "val_loss", "val_ap50")})
                _update_running(run_id, worker, history=list(history), progress=0.9 * epoch / n_epochs,
                                stage=f"epoch {epoch} of {n_epochs}")

            def should_stop():
                now = time.monotonic()
                if now - last_poll[0] < STOP_POLL_S:
                    return False
                last_poll[0] = now
                return not TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, worker=worker).exists()

            _update_running(run_id, worker, stage="training")
            log_path = Path(tmp) / "training.log.jsonl"
            # the contributions mixed with a replay of the base data (community.replay)
            mix = replay_mix(images=[i[0] for i in train_items], masks=[i[1] for i in train_items],
                             kinds=[i[3] for i in train_items], params=params)
            result = train.train(
                mix.prepare(), None,
                config=config, base=base, val_images=[i[0] for i in test_items],
                val_labels=[i[1] for i in test_items], log_path=log_path,
                progress=progress, should_stop=should_stop,
                data_description={"training_run": run_id, "contributions": [c.pk for c in train_contributions],
                                  "test_set": run.test_set.version, "mix": mix.to_config()},
            )
            if result.stopped:
                raise _Cancelled()
            candidate = result.model
            if candidate.size_model is None and base.size_model is not None:  # keep the base's size model
                candidate = CellposeModel(candidate.nets, diam_mean=candidate.diam_mean, size_model=base.size_model,
                                          meta=candidate.meta)
            candidate.name = CANDIDATE_NAME
            _update_running(run_id, worker, stage="evaluating on the test set", progress=0.9)
            current_version = model_version_current() or run.base
            current = base if current_version.pk == run.base_id else _load(current_version, device=None)
            candidate_masks, current_masks = predict(candidate, test_items), predict(current, test_items)
            # both models' predictions side by side, per test image (community.comparison)
            folder, per_image = comparison_store(items=test_items, candidate_masks=candidate_masks,
                                                 current_masks=current_masks, contributions=test_contributions,
                                                 stored=stored)
            metrics = {
                "candidate": evaluate(candidate, test_items, candidate_masks),
                "current": {**evaluate(current, test_items, current_masks), "model_version": current_version.pk,
                            "name": str(current_version)},
                "test_set": run.test_set.version,
                "test_contributions": [c.pk for c in test_contributions],
                "train_contributions": [c.pk for c in train_contributions],
                "per_image": per_image,
                "comparison_folder": folder,
                "training_data": training_data_summary(
                    train_contributions, [i[3] for i in train_items],
                    [int(np.count_nonzero(np.unique(i[1]))) for i in train_items]),
            }
            out = Path(tmp) / "candidate.pt"
            candidate.meta = {**candidate.meta, "metrics": metrics["candidate"]}
            candidate.save(out)
            changelog = _changelog(run, metrics, len(train_contributions))
            _register(run_id=run_id, worker=worker, out=out, log_path=log_path, metrics=metrics, changelog=changelog,
                      contributions=train_contributions, stored=stored)
    except _Cancelled:
        delete_stored(stored)
        work.transition(TrainingRun, run_id, from_status=RunStatus.RUNNING, to_status=RunStatus.CANCELLED,
                        where={"worker": worker}, stage="cancelled", active=None, finished_at=timezone.now())
    except Exception as exc:
        delete_stored(stored)
        logger.exception("training run %s failed", run_id)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        error = f"{type(exc).__name__}: {message}"[:MAX_ERROR_LENGTH]
        with transaction.atomic():
            if work.transition(TrainingRun, run_id, from_status=RunStatus.RUNNING, to_status=RunStatus.FAILED,
                               where={"worker": worker}, stage="failed", active=None, error=error,
                               finished_at=timezone.now()):
                training_run_event_send_on_commit(TrainingRun.objects.get(pk=run_id))


def _register(*, run_id, worker, out, log_path, metrics, changelog, contributions, stored) -> None:
    """The candidate becomes a (not current) model version with its card, and the run succeeds:
    one transaction, only while the run is still running. The model file and the log are stored
    before it (no storage I/O while the run's row is locked); the caller deletes them if the
    transaction does not commit."""
    flat = {"ap50": metrics["candidate"]["ap50"], "ap75": metrics["candidate"]["ap75"],
            "ap90": metrics["candidate"]["ap90"], **{k: v for k, v in metrics.items() if k not in RUN_ONLY_METRICS}}
    model_version = model_version_prepare(name=CANDIDATE_NAME, file_path=out, metrics=flat, description=changelog)
    stored.append(model_version.file.name)
    with open(log_path, "rb") as fh:
        log_name = TrainingRun._meta.get_field("log").generate_filename(None, "training.log.jsonl")
        log_name = TrainingRun._meta.get_field("log").storage.save(log_name, File(fh))
    stored.append(log_name)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.worker != worker:
            raise _Cancelled()
        model_version_prepared_save(model_version)
        card = ModelCard.objects.create(model_version=model_version, training_run=run, test_set=run.test_set,
                                        changelog=changelog)
        card.contributions.set(contributions)
        TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, worker=worker).update(
            status=RunStatus.SUCCEEDED, stage="succeeded", active=None, progress=1.0, metrics=metrics,
            candidate=model_version, log=log_name, finished_at=timezone.now(),
        )
        training_run_event_send_on_commit(TrainingRun.objects.get(pk=run_id))
