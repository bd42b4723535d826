"""The zarr store of tiled images on S3 (django-storages against moto's in-process S3): what
production uses, with the same code as local disk."""
import numpy as np
import pytest
import zarr

moto = pytest.importorskip("moto")

from annotations.zarr_store import StorageStore  # noqa: E402


@pytest.fixture
def s3_storage(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        import boto3
        from storages.backends.s3 import S3Storage

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cells")
        yield S3Storage(bucket_name="cells", file_overwrite=False, default_acl=None)


def test_an_array_written_through_the_store_reads_back_from_s3(s3_storage):
    store = StorageStore("images/5/pixels.zarr", storage=s3_storage)
    array = zarr.open_array(store, path="0", mode="w", shape=(700, 600), chunks=(512, 512), dtype=np.uint16)
    data = np.arange(700 * 600, dtype=np.uint16).reshape(700, 600)
    array[...] = data
    reader = StorageStore("images/5/pixels.zarr", storage=s3_storage, read_only=True)
    again = zarr.open_array(reader, path="0", mode="r")
    np.testing.assert_array_equal(again[...], data)
    assert s3_storage.exists("images/5/pixels.zarr/0/1.1")


def test_a_chunk_never_written_reads_as_the_fill_value(s3_storage):
    store = StorageStore("images/6/pixels.zarr", storage=s3_storage)
    array = zarr.open_array(store, path="0", mode="w", shape=(1024, 1024), chunks=(512, 512), dtype=np.uint32)
    array[:10, :10] = 7
    assert array[600:, 600:].max() == 0 and array[0, 0] == 7
    assert "0/1.1" not in store and "0/0.0" in store


def test_rewriting_a_chunk_replaces_it_without_a_renamed_copy(s3_storage):
    store = StorageStore("images/7/pixels.zarr", storage=s3_storage)
    store["0/0.0"] = b"first"
    store["0/0.0"] = b"second"
    assert store["0/0.0"] == b"second"
    assert store.listdir("0") == ["0.0"]


def test_rmdir_deletes_every_object_under_the_prefix(s3_storage):
    store = StorageStore("images/8/pixels.zarr", storage=s3_storage)
    for key in [".zgroup", "0/.zarray", "0/0.0", "labels/v1/0/0.0"]:
        store[key] = b"x"
    store.rmdir()
    assert list(store) == [] and s3_storage.listdir("images/8")[1] == []
