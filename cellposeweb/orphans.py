"""Stored files that no database row refers to.

A worker killed between writing an image's result files and committing them, or a process that
dies mid-upload, leaves files behind that nothing lists (docs/deploy.md). ``orphan_files`` finds
them under the prefixes the models write to; ``manage.py prune_orphan_files`` lists them and,
with ``--delete``, removes them. Only files older than a cut-off count: a young file may belong to
a transaction still in flight. ``downloads/`` (made-on-request files) is left to the bucket's
lifecycle rule.
"""
from collections.abc import Iterator
from datetime import timedelta

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

__all__ = ["MANAGED_PREFIXES", "orphan_files", "referenced_folders", "referenced_names", "stored_names"]

MANAGED_PREFIXES = ("images", "thumbnails", "annotations", "results", "models", "community")
"""Where the models' FileFields store (their ``upload_to`` functions)."""


def referenced_names() -> set[str]:
    """The stored name of every file any row of any model refers to."""
    names = set()
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields).iterator():
            names.update(name for name in row if name)
    return names


def referenced_folders() -> set[str]:
    """Folders whose every file belongs to a row: what models list from a ``stored_folders()``
    classmethod (e.g. a tiled image's ``images/<id>/pixels.zarr``)."""
    folders = set()
    for model in apps.get_models():
        if hasattr(model, "stored_folders"):
            folders.update(model.stored_folders())
    return folders


def _in_folder(name: str, folders: set[str]) -> bool:
    parts = name.split("/")
    return any("/".join(parts[:n]) in folders for n in range(1, len(parts)))


def stored_names(storage, prefix: str) -> Iterator[str]:
    """Every file name under ``prefix`` in ``storage``, through the storage API (local disk and S3
    alike); nothing when nothing was ever written there."""
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:  # local storage: nothing was ever written under this prefix
        return
    for name in files:
        yield f"{prefix}/{name}"
    for sub in dirs:
        yield from stored_names(storage, f"{prefix}/{sub}")


def orphan_files(*, older_than: timedelta, storage=None) -> list[tuple[str, int]]:
    """(name, size in bytes) of every stored file under `MANAGED_PREFIXES` that no row refers to
    and that was last modified more than `older_than` ago, sorted by name."""
    if older_than < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}")
    storage = storage or default_storage
    cutoff = timezone.now() - older_than
    keep = referenced_names()  # read before listing: a file committed after this is young
    keep_folders = referenced_folders()
    found = []
    for prefix in MANAGED_PREFIXES:
        for name in stored_names(storage, prefix):
            if name in keep or _in_folder(name, keep_folders):
                continue
            if storage.get_modified_time(name) < cutoff:
                found.append((name, storage.size(name)))
    return sorted(found)
