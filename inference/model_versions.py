"""Model versions: registering a model file, choosing the current model, and who may segment
with which version.

The current model changes only by compare-and-set (``model_version_make_current``); the rules of
who may use a version are installed from above (community.apps) through ``model_use_check_register``.
"""
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.db.models import Max

from annotations.files import delete_stored, file_sha256
from cellposeweb.exceptions import ApplicationError, ConflictError
from inference.engine import CellposeModel
from inference.models import ModelVersion


def model_version_create(
    *, name: str, file_path, make_current: bool = False, description: str = "", metrics: dict | None = None
) -> ModelVersion:
    """Register a model file (read by the engine first, so a bad file is refused) as the next
    version of ``name``; optionally make it the current model.

    The file is stored first, outside any transaction (``model_version_prepare``); then the row is
    added in one short transaction (``model_version_prepared_save``); the file is deleted if the
    row is not saved."""
    model_version = model_version_prepare(name=name, file_path=file_path, description=description, metrics=metrics)
    try:
        return model_version_prepared_save(model_version, make_current=make_current)
    except BaseException:
        model_version_prepared_discard(model_version)
        raise


def model_version_prepare(*, name: str, file_path, description: str = "", metrics: dict | None = None) -> ModelVersion:
    """The first half of :func:`model_version_create`, for callers that add the row inside their
    own transaction: read the model file (refused with the reason if the engine cannot) and store
    it. No transaction, no row lock. Returns the unsaved version; save it with
    :func:`model_version_prepared_save`, or drop it with :func:`model_version_prepared_discard`."""
    path = Path(file_path)
    try:
        model = CellposeModel.from_file(path, device="cpu")
    except (FileNotFoundError, ValueError) as exc:
        raise ApplicationError(f"Cannot register {path.name} as a model: {exc}") from None
    meta_metrics = model.meta.get("metrics") if isinstance(model.meta.get("metrics"), dict) else {}
    if isinstance(model.meta.get("card"), dict):  # the model card written by training (train_recipe)
        meta_metrics = {**meta_metrics, "card": model.meta["card"]}
    model_version = ModelVersion(
        name=name,
        version=_next_version(name),  # names the file; the row takes the next version when it is saved
        sha256=file_sha256(path),
        description=description,
        metrics=metrics if metrics is not None else meta_metrics,
        nbase=[int(n) for n in model.nets[0].nbase],
        diam_mean=model.diam_mean,
    )
    with open(path, "rb") as fh:
        model_version.file.save(path.name, File(fh), save=False)
    return model_version


def model_version_prepared_save(model_version: ModelVersion, *, make_current: bool = False) -> ModelVersion:
    """Add the row of a prepared version (its file already stored) as the next version of its
    name, in one short transaction with no storage I/O; optionally make it the current model."""
    with transaction.atomic():
        model_version.version = _next_version(model_version.name)
        model_version.full_clean()
        model_version.save()
        if make_current:
            model_version_make_current(model_version=model_version)
    return model_version


def _next_version(name: str) -> int:
    return (ModelVersion.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1


def model_version_prepared_discard(model_version: ModelVersion) -> None:
    """Delete the file of a prepared version whose row was not saved."""
    delete_stored([model_version.file.name])


_NOW_CURRENT = object()


@transaction.atomic
def model_version_make_current(*, model_version: ModelVersion, expected_current=_NOW_CURRENT) -> ModelVersion:
    """Compare-and-set: ``model_version`` becomes the current model only if ``expected_current``
    (a version, or None for "no current model") still is; by default whatever is current now,
    read under a row lock. ConflictError when another request changed it meanwhile. The one way
    to change the current model (bootstrap, registration, the community's release and roll-back)."""
    if expected_current is _NOW_CURRENT:
        expected_current = ModelVersion.objects.select_for_update().filter(is_current=True).first()
    if expected_current is not None and expected_current.pk == model_version.pk:
        if not ModelVersion.objects.filter(pk=model_version.pk, is_current=True).exists():
            raise ConflictError("The current model changed meanwhile; reload and try again.")
        model_version.is_current = True
        return model_version
    if expected_current is not None:
        cleared = ModelVersion.objects.filter(pk=expected_current.pk, is_current=True).update(is_current=False)
    else:
        cleared = 0 if ModelVersion.objects.filter(is_current=True).exists() else 1
    if cleared != 1 or ModelVersion.objects.filter(pk=model_version.pk, is_current=False).update(is_current=True) != 1:
        raise ConflictError("The current model changed meanwhile; reload and try again.")
    model_version.is_current = True
    return model_version


# -- who may use which version --------------------------------------------------------------------


# Who may segment with which model version is decided above this layer (community: a version never
# released is for administrators); community installs its rule at start-up (CommunityConfig.ready)
# through model_use_check_register, so every caller of segmentation_job_create is checked.
_MODEL_USE_CHECKS: list = []


def model_use_check_register(check) -> None:
    """Add ``check(*, user, model_version)`` (raises an ApplicationError subclass to refuse)."""
    if check not in _MODEL_USE_CHECKS:
        _MODEL_USE_CHECKS.append(check)


def model_use_checks() -> list:
    """The registered checks, in the order they were registered (inference.jobs runs them all)."""
    return list(_MODEL_USE_CHECKS)


def model_versions_usable(*, user, model_versions) -> list[ModelVersion]:
    """The versions of ``model_versions`` that ``user`` may segment with (every registered check
    accepts them): what a model list shows a user, so it offers nothing a job would refuse."""
    usable = []
    for model_version in model_versions:
        try:
            for check in _MODEL_USE_CHECKS:
                check(user=user, model_version=model_version)
        except ApplicationError:
            continue
        usable.append(model_version)
    return usable
