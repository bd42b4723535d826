"""Migration community/0004 on a database holding contributions checked in the request (before the
checks ran in the background): each gets a succeeded scoring, so it stays reviewable."""
import pytest

from tests.web.migration_steps import latest_schema_after, migrate  # noqa: F401 (the fixture is autouse)

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("community", "0003_one_open_contribution_per_image_version")]
AFTER = [("community", "0004_contribution_scoring")]


def test_contributions_checked_before_get_a_succeeded_scoring(owner, make_image):
    image = make_image(name="checked.tif")
    old = migrate(BEFORE)
    Contribution = old.get_model("community", "Contribution")
    fields = dict(contributor_id=owner.pk, image_id=image.pk, image_name=image.name, image_file="x.tif",
                  image_axes="YX", masks_file="m.npz", license="CC0", consent=True, checks_passed=True,
                  checks=[{"name": "min_masks", "ok": True, "value": 9, "reason": "9 masks"}])
    submitted = Contribution.objects.create(annotation_version=1, status="submitted", **fields)
    approved = Contribution.objects.create(annotation_version=2, status="approved", **fields)

    new = migrate(AFTER)

    scorings = new.get_model("community", "ContributionScoring").objects.order_by("contribution_id")
    assert [(s.contribution_id, s.status, s.progress) for s in scorings] == [
        (submitted.pk, "succeeded", 1.0), (approved.pk, "succeeded", 1.0)]
