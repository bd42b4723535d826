from django.db import migrations

CURATOR_GROUP = "curator"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=CURATOR_GROUP)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=CURATOR_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [("annotations", "0002_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_group, delete_group)]
