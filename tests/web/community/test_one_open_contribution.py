"""One open contribution per image version, held by the database under concurrency, not only by
the check community.rules.check_no_open_contribution makes before the row is added."""
import pytest
from django.db import IntegrityError, transaction

from cellposeweb.exceptions import ConflictError
from community import rules
from community.models import Contribution, ContributionStatus
from community.services import contribution_create
from tests.web.conftest import stored_names

pytestmark = pytest.mark.django_db


def create(user, image):
    return contribution_create(contributor=user, image=image, license="CC0", consent=True)


def test_a_request_that_passed_the_check_while_another_contributed_gets_a_409(owner, curated_image, monkeypatch):
    image = curated_image(owner)
    check = rules.check_no_open_contribution
    calls = []

    def check_then_let_the_other_request_finish(**kwargs):
        check(**kwargs)  # nothing open yet: this request goes on ...
        calls.append(kwargs)
        if len(calls) == 1:  # ... while a second request contributes the same version first
            create(owner, image)

    monkeypatch.setattr(rules, "check_no_open_contribution", check_then_let_the_other_request_finish)

    with pytest.raises(ConflictError, match=f"Version 1 of {image.name} is already contribution"):
        create(owner, image)

    assert Contribution.objects.filter(image=image, annotation_version=1).count() == 1


def test_the_request_that_lost_the_race_leaves_no_snapshot_files(owner, curated_image, monkeypatch):
    image = curated_image(owner)
    check = rules.check_no_open_contribution
    first, started = [], []

    def racing(**kwargs):
        check(**kwargs)
        if not started:
            started.append(True)
            first.append(create(owner, image))

    monkeypatch.setattr(rules, "check_no_open_contribution", racing)
    before = set(stored_names("community/contributions"))  # S3 in the integration tier: a shared bucket
    with pytest.raises(ConflictError):
        create(owner, image)

    added = sorted(set(stored_names("community/contributions")) - before)
    kept = first[0]
    assert added == sorted(f.name for f in (kept.image_file, kept.masks_file, kept.prediction_file) if f)


def test_the_database_refuses_a_second_open_row_for_one_image_version(owner, curated_image):
    image = curated_image(owner)
    contribution = create(owner, image)
    duplicate = Contribution.objects.filter(pk=contribution.pk).values().get()
    duplicate.pop("id")

    with pytest.raises(IntegrityError), transaction.atomic():
        Contribution.objects.create(**duplicate)


def test_a_rejected_contribution_does_not_block_contributing_the_version_again(owner, curated_image):
    image = curated_image(owner)
    rejected = create(owner, image)
    Contribution.objects.filter(pk=rejected.pk).update(status=ContributionStatus.REJECTED)

    again = create(owner, image)

    assert again.pk != rejected.pk and again.status == ContributionStatus.SUBMITTED
