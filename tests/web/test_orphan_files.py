"""Files left in storage by a killed worker are found and pruned; files rows refer to, files made
on request (downloads/), and files younger than the cut-off are kept. Storage-agnostic: the
integration tier runs this on S3."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from cellposeweb.orphans import orphan_files, referenced_names

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(image):
    def stored(name):
        return default_storage.save(name, ContentFile(b"x" * 10))

    return {
        "referenced": image.file.name,
        "orphan_masks": stored("results/7/3-deadbeef-masks.npz"),
        "orphan_flows": stored("results/7/3-deadbeef-flows.npz"),
        "download": stored("downloads/abc/export.zip"),
    }


def test_unreferenced_files_under_the_models_prefixes_are_orphans_once_old_enough(files):
    assert files["referenced"] in referenced_names()
    found = dict(orphan_files(older_than=timedelta(0)))
    assert found.get(files["orphan_masks"]) == 10 and found.get(files["orphan_flows"]) == 10
    assert files["referenced"] not in found and files["download"] not in found
    young = dict(orphan_files(older_than=timedelta(hours=1)))  # just written: may be in flight
    assert files["orphan_masks"] not in young and files["orphan_flows"] not in young


def test_the_command_lists_without_deleting_unless_told(files):
    out = StringIO()
    call_command("prune_orphan_files", "--older-than-hours", "0", stdout=out)
    assert f"orphan {files['orphan_masks']} (10 bytes)" in out.getvalue()
    assert "run with --delete" in out.getvalue()
    assert all(default_storage.exists(name) for name in files.values())

    out = StringIO()
    call_command("prune_orphan_files", "--older-than-hours", "0", "--delete", stdout=out)
    assert f"deleted {files['orphan_flows']}" in out.getvalue()
    assert not default_storage.exists(files["orphan_masks"]) and not default_storage.exists(files["orphan_flows"])
    assert default_storage.exists(files["referenced"]) and default_storage.exists(files["download"])


def test_by_default_only_files_a_day_old_are_touched(files):
    out = StringIO()
    call_command("prune_orphan_files", "--delete", stdout=out)
    assert files["orphan_masks"] not in out.getvalue()
    assert all(default_storage.exists(name) for name in files.values())


def test_the_command_refuses_a_negative_age():
    with pytest.raises(CommandError, match="--older-than-hours must be 0 or more"):
        call_command("prune_orphan_files", "--older-than-hours", "-1")
