"""A zarr (v2) store kept in Django's storage: the local disk in embedded mode, S3 in production.

Every key of the store (``.zgroup``, ``.zattrs``, ``0/.zarray``, ``0/3.7``, ...) is one stored
file under a prefix such as ``images/12/pixels.zarr``. zarr reads and writes through its
``Store`` (a ``MutableMapping``) interface; ``listdir`` lets it list a group without walking every chunk.

A write replaces a whole file (delete, then save under the same name), so a reader can briefly
miss a chunk being rewritten and see the array's fill value; the ingest writes each chunk once.
"""
from collections.abc import Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from zarr.storage import Store

from cellposeweb.orphans import stored_names

__all__ = ["StorageStore"]


class StorageStore(Store):
    """zarr store mapping each key to the stored file ``<prefix>/<key>``.

    prefix : str, the folder in ``storage`` (no leading or trailing slash).
    storage : a Django ``Storage`` (default: ``default_storage``).
    read_only : refuse writes and deletes (``PermissionError``).
    """

    def __init__(self, prefix: str, *, storage: Storage | None = None, read_only: bool = False):
        prefix = prefix.strip("/")
        if not prefix or ".." in prefix.split("/"):
            raise ValueError(f"a store needs a folder such as 'images/1/pixels.zarr', got {prefix!r}")
        self.prefix = prefix
        self.storage = storage or default_storage
        self.read_only = read_only

    def _name(self, key: str) -> str:
        key = str(key).strip("/")
        if not key or ".." in key.split("/"):
            raise KeyError(key)
        return f"{self.prefix}/{key}"

    def __getitem__(self, key: str) -> bytes:
        name = self._name(key)
        try:
            with self.storage.open(name, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:  # S3: a missing object is reported as an OSError by some backends
            if not self.storage.exists(name):
                raise KeyError(key) from None
            raise exc

    def __setitem__(self, key: str, value) -> None:
        if self.read_only:
            raise PermissionError(f"{self.prefix} is opened read-only")
        name = self._name(key)
        if self.storage.exists(name):
            self.storage.delete(name)
        saved = self.storage.save(name, ContentFile(bytes(value)))
        if saved != name:  # the storage renamed it (a concurrent writer): never leave a stray copy
            self.storage.delete(saved)
            raise RuntimeError(f"{name} was written concurrently; stored as {saved} instead")

    def __delitem__(self, key: str) -> None:
        if self.read_only:
            raise PermissionError(f"{self.prefix} is opened read-only")
        name = self._name(key)
        if not self.storage.exists(name):
            raise KeyError(key)
        self.storage.delete(name)

    def __contains__(self, key) -> bool:
        try:
            return self.storage.exists(self._name(key))
        except KeyError:
            return False

    def listdir(self, path: str = "") -> list[str]:
        """The names (files and folders) directly under ``path`` of the store, sorted."""
        folder = f"{self.prefix}/{path.strip('/')}".rstrip("/")
        try:
            dirs, files = self.storage.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(set(dirs) | set(files))

    def _walk(self, path: str) -> Iterator[str]:
        folder = f"{self.prefix}/{path}".rstrip("/")
        for name in stored_names(self.storage, folder):
            yield name[len(self.prefix) + 1:]

    def __iter__(self) -> Iterator[str]:
        return self._walk("")

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def is_writeable(self) -> bool:
        return not self.read_only

    def is_erasable(self) -> bool:
        return not self.read_only

    def rmdir(self, path: str = "") -> None:
        """Delete every file under ``path`` of the store (all of it by default)."""
        if self.read_only:
            raise PermissionError(f"{self.prefix} is opened read-only")
        path = path.strip("/")
        for key in list(self._walk(f"{path}/" if path else "")):
            self.storage.delete(self._name(key))
