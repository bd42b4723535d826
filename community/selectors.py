"""Reading the community loop, already filtered by who may see it (community.access)."""
from django.db.models import QuerySet
from django.http import Http404

from annotations.files import load_stored_npz
from community.access import can_review
from community.models import (
    Contribution,
    ContributionScoring,
    ContributionStatus,
    ModelCard,
    Release,
    Split,
    TestSet,
    TrainingRun,
)
from inference.models import ModelVersion


def contribution_list(*, user, scope: str = "mine") -> QuerySet[Contribution]:
    """``mine``: the user's own, newest first. ``queue`` (reviewers): contributions waiting for a
    decision, by priority (failed checks last, then the most informative: lowest current AP).
    ``all`` (reviewers): every contribution."""
    rows = Contribution.objects.select_related("contributor", "scoring")
    if not (user and user.is_authenticated and user.is_active):
        return rows.none()
    if scope == "mine" or not can_review(user):
        return rows.filter(contributor=user)
    if scope == "queue":
        return rows.filter(status=ContributionStatus.SUBMITTED).order_by("-checks_passed", "-priority", "created_at")
    return rows


def contribution_get(*, user, contribution_id, own: bool = False) -> Contribution:
    """The contributor's own contribution, or any for a reviewer (unless ``own``); Http404 otherwise."""
    rows = Contribution.objects.select_related("contributor", "checked_with", "scoring")
    if own or not can_review(user):
        rows = rows.filter(contributor=user) if user and user.is_authenticated else rows.none()
    try:
        return rows.get(pk=contribution_id)
    except Contribution.DoesNotExist:
        raise Http404(f"Contribution {contribution_id} not found.") from None


def released_version_ids() -> set[int]:
    return set(Release.objects.values_list("model_version_id", flat=True))


def contribution_used_in(contribution: Contribution) -> list[ModelVersion]:
    """The released model versions trained on ``contribution``."""
    released = released_version_ids()
    cards = contribution.model_cards.select_related("model_version").filter(model_version_id__in=released)
    return [card.model_version for card in cards.order_by("model_version__version")]


def contributions_unused_for_training() -> QuerySet[Contribution]:
    """Approved train contributions that no released model was trained on."""
    return (
        Contribution.objects.filter(status=ContributionStatus.APPROVED, split=Split.TRAIN)
        .exclude(model_cards__model_version_id__in=released_version_ids())
        .order_by("id")
    )


def test_set_latest() -> TestSet | None:
    return TestSet.objects.order_by("-version").first()


def training_run_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("base", "candidate", "test_set", "created_by")


def training_run_get(*, run_id) -> TrainingRun:
    try:
        return training_run_list().get(pk=run_id)
    except TrainingRun.DoesNotExist:
        raise Http404(f"Training run {run_id} not found.") from None


def training_run_active() -> TrainingRun | None:
    return TrainingRun.objects.filter(active=True).first()


def model_version_get(*, model_version_id) -> ModelVersion:
    try:
        return ModelVersion.objects.get(pk=model_version_id)
    except ModelVersion.DoesNotExist:
        raise Http404(f"Model version {model_version_id} not found.") from None


def model_versions_public() -> QuerySet[ModelVersion]:
    """Every model version, newest first, with its card (contributions come along)."""
    return ModelVersion.objects.select_related("card").prefetch_related(
        "card__contributions__contributor"
    ).order_by("-created_at", "-id")


def model_card(model_version: ModelVersion) -> ModelCard | None:
    return ModelCard.objects.filter(model_version=model_version).first()


def release_log() -> QuerySet[Release]:
    return Release.objects.select_related("model_version", "previous", "actor")


def review_events(contribution: Contribution):
    return contribution.events.select_related("actor").order_by("created_at", "id")


def training_run_comparison(*, run: TrainingRun) -> dict:
    """The release decision for a run's candidate: both models' AP per test image with the cells
    gained and lost (``rows``, community.comparison), how many images got better or worse, the
    data the candidate saw, and AP per image kind over the releases, the candidate last."""
    metrics = run.metrics or {}
    rows = [{key: value for key, value in row.items() if key != "masks"} for row in metrics.get("per_image", [])]
    counts = {v: sum(1 for row in rows if row["verdict"] == v) for v in ("better", "worse", "same")}
    current = metrics.get("current", {})
    candidate = run.candidate
    return {
        "run": run.pk,
        "candidate": None if candidate is None else {"id": candidate.pk, "name": candidate.name,
                                                      "version": candidate.version, "is_current": candidate.is_current},
        "current": {"id": current.get("model_version"), "name": current.get("name")} if current else None,
        "test_set": metrics.get("test_set"),
        "rows": rows,
        "counts": counts,
        "training_data": metrics.get("training_data"),
        "releases": release_ap_per_kind(candidate=candidate),
    }


def _per_kind(model_version: ModelVersion) -> dict:
    metrics = model_version.metrics or {}
    per_kind = metrics.get("candidate", {}).get("per_kind") or metrics.get("per_kind") or {}
    return {kind: row.get("ap50") for kind, row in per_kind.items() if isinstance(row, dict)}


def release_ap_per_kind(*, candidate: ModelVersion | None = None) -> list[dict]:
    """AP@0.5 per image kind of every released version in the order they were released (each
    on the test set it was evaluated on when trained), then ``candidate`` when not yet released."""
    points, seen = [], set()
    for release in Release.objects.filter(action="release").select_related("model_version").order_by("created_at", "id"):
        mv = release.model_version
        points.append({"model": mv.pk, "label": f"{mv.name} v{mv.version}", "released_at": release.created_at,
                       "per_kind": _per_kind(mv)})
        seen.add(mv.pk)
    if candidate is not None and candidate.pk not in seen:
        points.append({"model": candidate.pk, "label": f"{candidate.name} v{candidate.version} (candidate)",
                       "released_at": None, "per_kind": _per_kind(candidate)})
    return points


def training_run_comparison_masks(*, run: TrainingRun, contribution_id: int) -> dict:
    """Both models' predicted masks on one test image of ``run`` (int32 (Ly, Lx) arrays
    ``candidate`` and ``current``); Http404 when the run has none for that image."""
    row = next((r for r in (run.metrics or {}).get("per_image", []) if r.get("contribution") == contribution_id), None)
    if row is None:
        raise Http404(f"Training run {run.pk} has no predictions for test contribution {contribution_id}.")
    return load_stored_npz(row["masks"])


def contribution_scoring(contribution: Contribution) -> ContributionScoring | None:
    """The background run of ``contribution``'s automatic checks (None for none)."""
    try:
        return contribution.scoring
    except ContributionScoring.DoesNotExist:
        return None
