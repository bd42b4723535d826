"""Migration community/0003 on a database that already holds duplicate open contributions (added
before the rule existed): the earliest stays, later ones are rejected with a logged event, and the
constraint can then be added."""
import pytest

from tests.web.migration_steps import latest_schema_after, migrate  # noqa: F401 (the fixture is autouse)

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("community", "0002_trainingrun_heartbeat")]
AFTER = [("community", "0003_one_open_contribution_per_image_version")]


def test_later_duplicates_are_rejected_with_an_event_naming_the_one_kept(owner, make_image):
    image = make_image(name="twice.tif")
    old = migrate(BEFORE)
    Contribution = old.get_model("community", "Contribution")
    fields = dict(contributor_id=owner.pk, image_id=image.pk, image_name=image.name, image_file="x.tif",
                  image_axes="YX", masks_file="m.npz", license="CC0", consent=True)
    first = Contribution.objects.create(annotation_version=1, status="approved", **fields)
    second = Contribution.objects.create(annotation_version=1, status="submitted", **fields)
    other_version = Contribution.objects.create(annotation_version=2, status="submitted", **fields)
    rejected = Contribution.objects.create(annotation_version=1, status="rejected", **fields)

    new = migrate(AFTER)

    Contribution = new.get_model("community", "Contribution")
    statuses = dict(Contribution.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "approved", second.pk: "rejected", other_version.pk: "submitted",
                        rejected.pk: "rejected"}
    events = new.get_model("community", "ReviewEvent").objects.filter(contribution_id=second.pk)
    assert [(e.decision, e.from_status, e.to_status) for e in events] == [("reject", "submitted", "rejected")]
    assert f"contribution {first.pk}" in events.get().comment
