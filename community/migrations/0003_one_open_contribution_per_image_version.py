"""One open (not rejected) contribution per image version, as a database constraint.

Databases from before community.rules.check_no_open_contribution may hold duplicates: the earliest
open contribution of each image version stays; later ones are rejected, with a logged review event
that names the one kept, so the constraint can be added.
"""
from django.db import migrations, models


def reject_duplicates(apps, schema_editor):
    Contribution = apps.get_model("community", "Contribution")
    ReviewEvent = apps.get_model("community", "ReviewEvent")
    kept = {}
    rows = Contribution.objects.exclude(status="rejected").exclude(image=None).order_by("id")
    for contribution in rows.only("id", "image_id", "annotation_version", "status"):
        key = (contribution.image_id, contribution.annotation_version)
        if key not in kept:
            kept[key] = contribution.pk
            continue
        ReviewEvent.objects.create(
            contribution=contribution, actor=None, decision="reject", from_status=contribution.status,
            to_status="rejected",
            comment=f"rejected automatically: the same image version is already contribution {kept[key]}",
        )
        Contribution.objects.filter(pk=contribution.pk).update(status="rejected")


class Migration(migrations.Migration):

    dependencies = [
        ("community", "0002_trainingrun_heartbeat"),
    ]

    operations = [
        migrations.RunPython(reject_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="contribution",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "rejected"), _negated=True),
                fields=("image", "annotation_version"),
                name="one_open_contribution_per_image_version",
                violation_error_message="This image version is already an open contribution.",
            ),
        ),
    ]
