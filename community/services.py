"""Changing the community loop: contributions, reviews, the test set, training runs, releases.

Shared rows (a contribution's status, a run's status, which model is current) move only by
compare-and-set inside a transaction; a change subscribers should see is sent after commit.
"""
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.files import delete_stored, npz_content
from annotations.models import Image
from annotations.selectors import annotation_get, annotation_load
from cellposeweb.exceptions import ApplicationError, ConflictError
from cellposeweb.work import WorkStatus
from community import rules
from community.events import training_run_event_send_on_commit
from community.models import (
    RUN_ACTIVE,
    Contribution,
    ContributionScoring,
    ContributionStatus,
    License,
    ModelCard,
    Release,
    ReleaseAction,
    ReviewDecision,
    ReviewEvent,
    RunStatus,
    Split,
    TestSet,
    TrainingRun,
)
from community.scoring import scoring_queue
from community.training import enqueue_training, training_runs_fail_orphans
from inference.models import ModelVersion
from inference.model_versions import (
    model_version_make_current,
    model_version_prepare,
    model_version_prepared_discard,
    model_version_prepared_save,
)
from inference.selectors import model_version_current

logger = logging.getLogger(__name__)

MAX_TAGS = 10
DECISIONS = {
    ReviewDecision.APPROVE: ContributionStatus.APPROVED,
    ReviewDecision.REJECT: ContributionStatus.REJECTED,
    ReviewDecision.CHANGES: ContributionStatus.CHANGES_REQUESTED,
}
REVIEWABLE = (ContributionStatus.SUBMITTED, ContributionStatus.CHANGES_REQUESTED)


# -- contributions --------------------------------------------------------------------------------


def _clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, (list, tuple)) or len(tags) > MAX_TAGS:
        raise ApplicationError(f"tags must be a list of at most {MAX_TAGS} words (modality, stain, ...).")
    cleaned = []
    for tag in tags:
        tag = str(tag).strip().lower()[:40]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _freeze(image: Image):
    """(annotation, masks, origins) of the image's latest annotation, after the rules a
    contribution must pass at once (2D, saved masks, not already open, minimum quality). The
    model's checks run later, in the background (community.scoring)."""
    if image.is_3d:
        raise ApplicationError(f"{image.name} is a 3D stack; contributions are 2D images for now.")
    annotation = annotation_get(image=image)
    if annotation is None:
        raise ApplicationError(f"{image.name} has no saved masks; curate them in the editor first.")
    masks, origins = annotation_load(annotation)
    rules.check_no_open_contribution(image=image, annotation_version=annotation.version)
    rules.check_minimum_quality(masks=masks, name=image.name)
    return annotation, masks, origins


def _snapshot_fields(image, annotation, masks) -> dict:
    """The snapshot's fields, with its checks pending (community.scoring fills them)."""
    return dict(
        image=image, annotation=annotation, annotation_version=annotation.version, image_name=image.name,
        image_axes=image.axes, image_shape=list(image.shape), n_masks=int(masks.max(initial=0)),
        checks=[], checks_passed=False, current_ap=None, checked_with=None, priority=0.0,
    )


def _store_snapshot(contribution, image, masks, origins) -> list[str]:
    """Copy the image and save the masks file (outside any transaction); returns their names (the
    caller deletes them if the row is not saved). The prediction comes with the checks."""
    stored = []
    try:
        with image.file.open("rb") as fh:
            contribution.image_file.save(image.name, File(fh), save=False)
        stored.append(contribution.image_file.name)
        contribution.masks_file.save("masks.npz", npz_content(masks=masks, origins=origins), save=False)
        stored.append(contribution.masks_file.name)
        contribution.prediction_file = ""
    except BaseException:
        delete_stored(stored)
        raise
    return stored


@contextmanager
def _one_open_contribution(image: Image, annotation_version: int):
    """Turn the database's "one open contribution per image version" constraint, violated by a
    request that passed rules.check_no_open_contribution at the same time as another, into the
    rule's 409. Wrap it around the transaction that adds or reopens the row."""
    try:
        yield
    except IntegrityError as exc:
        if "one_open_contribution_per_image_version" not in str(exc) and not _open_contribution_exists(
            image, annotation_version
        ):
            raise
        rules.check_no_open_contribution(image=image, annotation_version=annotation_version)
        raise ConflictError(f"Version {annotation_version} of {image.name} was just contributed by another "
                            "request; reload to see it.") from None


def _open_contribution_exists(image: Image, annotation_version: int) -> bool:
    return Contribution.objects.filter(image=image, annotation_version=annotation_version,
                                       status__in=rules.OPEN_STATUSES).exists()


def contribution_create(
    *, contributor, image: Image, license: str, consent: bool, tags=None, note: str = ""
) -> Contribution:
    """Freeze ``image`` and its latest annotation version as a contribution, its automatic checks
    queued (community.scoring runs the current model on the snapshot in the background).

    The files are stored first, then the row (with its queued scoring) is added in one short
    transaction; the files are deleted if it is not.
    """
    if license not in License.values:
        raise ApplicationError(f"license must be chosen explicitly: one of {', '.join(License.values)}.")
    if consent is not True:
        raise ApplicationError("consent: confirm that you may share this image and its masks under the licence.")
    tags = _clean_tags(tags)
    annotation, masks, origins = _freeze(image)
    contribution = Contribution(
        contributor=contributor, license=license, consent=True, tags=tags, note=str(note or "")[:4000],
        **_snapshot_fields(image, annotation, masks),
    )
    stored = _store_snapshot(contribution, image, masks, origins)
    try:
        with _one_open_contribution(image, annotation.version), transaction.atomic():
            contribution.full_clean(validate_constraints=False)  # the database checks them, race-free
            contribution.save()
            ReviewEvent.objects.create(
                contribution=contribution, actor=contributor, decision=ReviewDecision.SUBMIT,
                from_status=ContributionStatus.SUBMITTED, to_status=ContributionStatus.SUBMITTED,
                comment=f"submitted (annotation version {annotation.version})",
            )
            scoring_queue(contribution=contribution)
    except BaseException:
        delete_stored(stored)
        raise
    return contribution


def contribution_resubmit(*, contribution: Contribution, contributor, note: str | None = None) -> Contribution:
    """After a curator requested changes: freeze the image's latest masks again, queue the checks
    again and put the contribution back in the queue (its old snapshot files are deleted)."""
    if contribution.contributor_id != contributor.pk:
        raise ConflictError("Only the contributor can resubmit a contribution.")
    if contribution.status != ContributionStatus.CHANGES_REQUESTED:
        raise ConflictError(f"Contribution {contribution.pk} is {contribution.get_status_display()}; only "
                            "contributions with changes requested can be resubmitted.")
    image = Image.objects.filter(pk=contribution.image_id).first()
    if image is None:
        raise ConflictError("The contributed image was deleted; contribute it again.")
    annotation, masks, origins = _freeze(image)
    old = [contribution.image_file.name, contribution.masks_file.name, contribution.prediction_file.name]
    fields = _snapshot_fields(image, annotation, masks)
    stored = _store_snapshot(contribution, image, masks, origins)
    fields.update(image_file=contribution.image_file.name, masks_file=contribution.masks_file.name,
                  prediction_file=contribution.prediction_file.name or "")
    if note is not None:
        fields["note"] = str(note)[:4000]
    try:
        with _one_open_contribution(image, annotation.version), transaction.atomic():
            changed = Contribution.objects.filter(
                pk=contribution.pk, status=ContributionStatus.CHANGES_REQUESTED
            ).update(status=ContributionStatus.SUBMITTED, updated_at=timezone.now(), **fields)
            if changed != 1:
                raise ConflictError(f"Contribution {contribution.pk} changed meanwhile; reload it.")
            ReviewEvent.objects.create(
                contribution=contribution, actor=contributor, decision=ReviewDecision.SUBMIT,
                from_status=ContributionStatus.CHANGES_REQUESTED, to_status=ContributionStatus.SUBMITTED,
                comment=f"resubmitted (annotation version {annotation.version})",
            )
            scoring_queue(contribution=contribution)
            transaction.on_commit(lambda: delete_stored(old))
    except BaseException:
        delete_stored(stored)
        raise
    contribution.refresh_from_db()
    return contribution


@transaction.atomic
def contribution_review(*, contribution: Contribution, reviewer, decision: str, comment: str = "") -> Contribution:
    """Approve, reject or request changes (with a comment the contributor sees); logged."""
    if decision not in DECISIONS:
        raise ApplicationError("decision must be approve, reject or changes.")
    rules.check_not_own_contribution(contribution=contribution, reviewer=reviewer)
    comment = str(comment or "").strip()
    if decision in (ReviewDecision.REJECT, ReviewDecision.CHANGES) and not comment:
        raise ApplicationError("comment: tell the contributor why (it is shown to them).")
    before = contribution.status
    reviewable = Contribution.objects.filter(pk=contribution.pk, status__in=REVIEWABLE)
    if decision == ReviewDecision.APPROVE:  # only once the automatic checks have run on this snapshot
        reviewable = reviewable.filter(scoring__status=WorkStatus.SUCCEEDED)
    changed = reviewable.update(status=DECISIONS[decision], updated_at=timezone.now())
    contribution.refresh_from_db()
    if changed != 1 and contribution.status in REVIEWABLE:
        raise ConflictError(_checks_not_run(contribution))
    if changed != 1:
        raise ConflictError(
            f"Contribution {contribution.pk} is already {contribution.get_status_display()}; only submitted "
            "contributions can be reviewed."
        )
    ReviewEvent.objects.create(
        contribution=contribution, actor=reviewer, decision=decision, from_status=before,
        to_status=contribution.status, comment=comment[:4000],
    )
    return contribution


def _checks_not_run(contribution: Contribution) -> str:
    scoring = ContributionScoring.objects.filter(contribution=contribution).first()
    state = {WorkStatus.FAILED: f"failed ({scoring.error}); retry them first" if scoring else "",
             WorkStatus.QUEUED: "are queued", WorkStatus.RUNNING: "are running"}.get(
        scoring.status if scoring else None, "have not run")
    return (f"Contribution {contribution.pk} cannot be approved yet: its automatic checks {state}. "
            "Approve it once they have finished.")


@transaction.atomic
def contribution_checks_retry(*, contribution: Contribution, actor) -> ContributionScoring:
    """Queue the automatic checks of ``contribution`` again after they failed (who may is decided
    by selectors.contribution_get: its contributor or a curator); ConflictError when they did not
    fail. ``actor`` is logged."""
    failed = ContributionScoring.objects.select_for_update().filter(
        contribution=contribution, status__in=(WorkStatus.FAILED, WorkStatus.CANCELLED)).first()
    if failed is None:
        raise ConflictError(f"The checks of contribution {contribution.pk} have not failed; nothing to retry.")
    logger.info("checks of contribution %s retried by %s", contribution.pk, getattr(actor, "pk", None))
    return scoring_queue(contribution=contribution)


@transaction.atomic
def contribution_set_split(*, contribution: Contribution, split: str, actor) -> Contribution:
    """Mark an approved contribution as held-out test data, or as training data again.
    Contributions a candidate was trained on cannot become test data (it would have seen them)."""
    if split not in Split.values:
        raise ApplicationError("split must be train or test.")
    if split == Split.TEST and contribution.model_cards.exists():
        raise ConflictError(f"Contribution {contribution.pk} was trained on; it cannot become test data.")
    before = contribution.split
    changed = Contribution.objects.filter(pk=contribution.pk, status=ContributionStatus.APPROVED).update(split=split)
    contribution.refresh_from_db()
    if changed != 1:
        raise ConflictError("Only approved contributions can be moved between the training and the test set.")
    if before != split:
        ReviewEvent.objects.create(
            contribution=contribution, actor=actor, decision=ReviewDecision.SPLIT, from_status=contribution.status,
            to_status=contribution.status, comment=f"{before} -> {split}",
        )
    return contribution


@transaction.atomic
def test_set_freeze(*, created_by=None) -> TestSet:
    """The test set as it stands (every approved contribution marked test), as a new version when
    it differs from the latest one."""
    members = set(
        Contribution.objects.filter(status=ContributionStatus.APPROVED, split=Split.TEST).values_list("pk", flat=True)
    )
    latest = TestSet.objects.select_for_update().order_by("-version").first()
    if latest is not None and set(latest.contributions.values_list("pk", flat=True)) == members:
        return latest
    test_set = TestSet.objects.create(version=(latest.version if latest else 0) + 1, created_by=created_by)
    test_set.contributions.set(members)
    return test_set


# -- training runs --------------------------------------------------------------------------------

PARAM_LIMITS = {  # name: (type, default, low, high)
    "n_epochs": (int, 10, 1, 2000),
    "learning_rate": (float, 0.05, 1e-6, 1.0),
    "batch_size": (int, 8, 1, 64),
    "n_samples_per_epoch": (int, 16, 1, 100000),
    "bsize": (int, 224, 64, 512),
    "val_every": (int, 1, 1, 1000),
    "warmup_epochs": (int, 1, 0, 100),
    "seed": (int, 0, 0, 2**31 - 1),
    # community.replay: the share of samples drawn from the base model's data, and how many
    # synthetic images that replay generates
    "replay_fraction": (float, 0.5, 0.0, 0.95),
    "replay_synthetic_images": (int, 48, 0, 2000),
}


def clean_training_params(params: dict | None) -> dict:
    """Hyper-parameters with defaults filled in; ApplicationError names the bad one."""
    params = dict(params or {})
    cleaned = {}
    for name, (kind, default, low, high) in PARAM_LIMITS.items():
        value = params.pop(name, default)
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise ApplicationError(f"{name} must be a number; got {type(value).__name__} {value!r:.40}.") from None
        if not low <= value <= high:
            raise ApplicationError(f"{name} must lie between {low} and {high}; got {value}.")
        cleaned[name] = value
    if cleaned["bsize"] % 16:
        raise ApplicationError("bsize must be a multiple of 16.")
    fit = params.pop("fit_size_model", False)
    if not isinstance(fit, bool):
        raise ApplicationError("fit_size_model must be true or false.")
    cleaned["fit_size_model"] = fit
    if params:
        raise ApplicationError(f"Unknown training option(s): {', '.join(sorted(str(k)[:40] for k in params)[:10])}.")
    return cleaned


@transaction.atomic
def training_run_create(*, created_by, base: ModelVersion | None = None, contributions=None, params=None) -> TrainingRun:
    """Queue a run fine-tuning ``base`` (default: the current model) on ``contributions``
    (default: every approved train contribution no released model used), evaluated on the test
    set frozen now. At most one run is queued or running at a time (409 otherwise)."""
    from community.selectors import contributions_unused_for_training

    params = clean_training_params(params)
    training_runs_fail_orphans()
    if TrainingRun.objects.filter(active=True).exists():
        raise ConflictError("A training run is already in progress; wait for it or cancel it.")
    base = base or model_version_current()
    if base is None:
        raise ConflictError("No current model to fine-tune; register one first.")
    if contributions is None:
        contributions = list(contributions_unused_for_training())
    else:
        contributions = list(contributions)
        bad = [c.pk for c in contributions if c.status != ContributionStatus.APPROVED or c.split != Split.TRAIN]
        if bad:
            raise ApplicationError(
                f"contributions: {', '.join(map(str, bad))} are not approved training data "
                "(only approved contributions marked train can be trained on)."
            )
    if not contributions:
        raise ConflictError("No approved training contributions to train on.")
    test_set = test_set_freeze(created_by=created_by)
    if not test_set.contributions.exists():
        raise ConflictError("The test set is empty: mark at least one approved contribution as test first.")
    run = TrainingRun(created_by=created_by, base=base, test_set=test_set, params=params, stage="queued")
    run.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        raise ConflictError("A training run is already in progress; wait for it or cancel it.") from None
    run.contributions.set(contributions)
    training_run_event_send_on_commit(run)
    enqueue_training(run.pk)
    return run


@transaction.atomic
def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Cancel a queued or running run; a running one stops before its next batch. Nothing it
    made is kept."""
    changed = TrainingRun.objects.filter(pk=run.pk, status__in=RUN_ACTIVE).update(
        status=RunStatus.CANCELLED, stage="cancelled", active=None, finished_at=timezone.now()
    )
    run.refresh_from_db()
    if changed != 1:
        raise ConflictError(f"Training run {run.pk} has already {run.status}.")
    training_run_event_send_on_commit(run)
    return run


# -- releases -------------------------------------------------------------------------------------


@transaction.atomic
def model_version_release(*, model_version: ModelVersion, actor) -> ModelVersion:
    """Make ``model_version`` the current community model in one step (new segmentation jobs use
    it); the one it replaces is remembered for a roll-back."""
    previous = ModelVersion.objects.select_for_update().filter(is_current=True).first()
    if previous is not None and previous.pk == model_version.pk:
        raise ConflictError(f"{model_version} is already the current model.")
    model_version_make_current(model_version=model_version, expected_current=previous)
    Release.objects.create(model_version=model_version, previous=previous, action=ReleaseAction.RELEASE, actor=actor)
    return model_version


@transaction.atomic
def model_version_rollback(*, model_version: ModelVersion, actor) -> ModelVersion:
    """Undo the release of the current ``model_version``: the version it replaced becomes current
    again (returned)."""
    current = ModelVersion.objects.select_for_update().filter(is_current=True).first()
    done = Release.objects.order_by("-created_at", "-id").first()
    if current is not None and done is not None and done.action == ReleaseAction.ROLLBACK and \
            done.previous_id == model_version.pk and done.model_version_id == current.pk:
        return current  # this roll-back already happened (a second click): nothing more to do
    if current is None or current.pk != model_version.pk:
        raise ConflictError(f"{model_version} is not the current model; only the current model can be rolled back.")
    previous = rules.rollback_target(model_version)
    if previous is None:
        raise ConflictError(f"{model_version} has no earlier version to roll back to.")
    model_version_make_current(model_version=previous, expected_current=current)
    Release.objects.create(model_version=previous, previous=current, action=ReleaseAction.ROLLBACK, actor=actor)
    return previous


def model_version_import(*, uploaded_file, name: str = "imported", description: str = "", actor=None) -> ModelVersion:
    """Register a Cellpose 3 ``.pth`` state dict (or one of our model files) as a new, not current
    model version (converted to our file format)."""
    from inference.engine import CellposeModel

    with tempfile.TemporaryDirectory(prefix="cellposeweb-import-") as tmp:
        raw = Path(tmp) / "upload.pth"
        with open(raw, "wb") as out:
            for chunk in uploaded_file.chunks():
                out.write(chunk)
        try:
            model = CellposeModel.from_file(raw, device="cpu")
        except (ValueError, FileNotFoundError) as exc:
            reason = str(exc).replace(f"{raw} is not a readable model file: ", "").replace(f"{raw} is ", "it is ")
            raise ApplicationError(f"{uploaded_file.name} is not a Cellpose model file: "
                                   f"{reason.replace(str(raw), uploaded_file.name)}") from None
        model.meta = {**model.meta, "imported_from": uploaded_file.name}
        converted = Path(tmp) / "model.pt"
        model.save(converted)
        # the file is stored first; the version and its card are added in one short transaction
        model_version = model_version_prepare(name=name, file_path=converted, description=description, metrics={})
    try:
        with transaction.atomic():
            model_version_prepared_save(model_version)
            ModelCard.objects.create(model_version=model_version, imported_from=uploaded_file.name[:255],
                                     changelog=description or f"Imported from {uploaded_file.name}.")
    except BaseException:
        model_version_prepared_discard(model_version)
        raise
    return model_version
